// The structured fuzz target: random sequences of valid and invalid calls on one session
// through the C ABI. Shared by fuzz_targets/session_capi.rs and the stable replay test
// (crates/multiverseg-capi/tests/fuzz_replay.rs), which include this file after naming
// the C ABI crate `mvs_capi` and the core crate `core_api`.
//
// Invalid calls are the ones the API promises to catch (null pointers, zero or huge sizes,
// strides below the width, unknown enum values, NaN pixels, points outside the image, bad
// ids, damaged files); buffers are always as large as the documented contract says, since
// a caller that breaks the contract gets undefined behaviour in any C library.
//
// Checked after every call: no MVS_ERR_INTERNAL (a caught panic); a failed call leaves the
// context ids and the image size unchanged and, when the step asks for it, the next
// prediction bit-identical to the one before the call.

use arbitrary::Arbitrary;
use mvs_capi::{context::*, error::*, model::*, session::*, types::*};
use std::ffi::{c_int, CString};
use std::path::PathBuf;

#[derive(Arbitrary, Debug, Clone)]
pub struct Img {
    w: u8,
    h: u8,
    /// 0..=3 are valid MvsPixelType values; 4.. must be refused.
    pixel_type: u8,
    stride_extra: u8,
    /// Non-zero: a window; `window` as (lo, hi).
    use_window: bool,
    window: (f32, f32),
    seed: u16,
    /// For f32 images: a NaN at this index (must be refused).
    nan_at: Option<u16>,
    null_data: bool,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct MaskArg {
    null: bool,
    /// Stride in bytes: 0 (= width) or width + extra, or below the width when `short`.
    stride_extra: u8,
    short: bool,
    seed: u16,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    SetImage(Img),
    ContextAdd(Img, MaskArg),
    ContextRemove(u8),
    ContextClear,
    Click(f32, f32, bool),
    Box(f32, f32, f32, f32),
    Scribble(MaskArg, bool),
    Polyline(Vec<(f32, f32)>, f32, bool, bool),
    Undo,
    ClearPrompts,
    Predict { probs: bool, mask: bool, short_len: bool },
    Uncertainty,
    Batch(Vec<Img>, Option<u8>),
    Commit,
    CommitMask(MaskArg),
    Policy(u8, u8),
    MinContext(u8),
    SaveLoad(Option<(u16, u8)>),
    ImportFolder(u8),
    Cancel,
    NullSession(u8),
    /// An MvsAfterPrompt value, or (4) an unknown one.
    AfterPrompt(u8),
    /// Flip averaging of the UNet on or off.
    UnetFlipAverage(bool),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Step {
    pub op: Op,
    /// Check that a failed call leaves the prediction bit-identical (costs two predicts).
    pub check_prediction: bool,
}

/// Pixel bytes for `img` as the contract requires, and the MvsImage pointing at them.
struct ImgBuf {
    bytes: Vec<u8>,
    c: MvsImage,
}

fn rand_bytes(seed: u16, n: usize) -> Vec<u8> {
    let mut s = u32::from(seed).wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 24) as u8
        })
        .collect()
}

fn image(img: &Img) -> ImgBuf {
    let (w, h) = (usize::from(img.w % 80), usize::from(img.h % 80));
    let stride = w + usize::from(img.stride_extra % 4);
    let bpp = match img.pixel_type {
        0 => 1,
        1 | 2 => 2,
        _ => 4,
    };
    let n = if w == 0 || h == 0 { 1 } else { (h - 1) * stride + w };
    let mut bytes = rand_bytes(img.seed, n * bpp);
    if img.pixel_type == 3 {
        // Finite floats: small integers, then the requested NaN.
        for (i, c) in bytes.chunks_exact_mut(4).enumerate() {
            let v = (i % 97) as f32 * 0.5;
            c.copy_from_slice(&v.to_ne_bytes());
        }
        if let Some(k) = img.nan_at {
            let k = usize::from(k) % n;
            bytes[k * 4..k * 4 + 4].copy_from_slice(&f32::NAN.to_ne_bytes());
        }
    }
    let c = MvsImage {
        data: if img.null_data { std::ptr::null() } else { bytes.as_ptr().cast() },
        pixel_type: u32::from(img.pixel_type % 6),
        width: w as u32,
        height: h as u32,
        stride: if img.stride_extra.is_multiple_of(4) { 0 } else { stride as u32 },
        use_window: img.use_window as i32,
        window_lo: img.window.0,
        window_hi: img.window.1,
    };
    ImgBuf { bytes, c }
}

/// A mask for a w x h image: (bytes, stride to pass); the bytes cover the stride asked for.
fn mask(m: &MaskArg, w: usize, h: usize) -> (Vec<u8>, u32) {
    let stride = if m.short && w > 1 { w - 1 } else { w + usize::from(m.stride_extra % 3) };
    let n = if h == 0 { 1 } else { (h - 1) * stride.max(w) + w.max(1) };
    let bytes = rand_bytes(m.seed, n).iter().map(|b| b & 1).collect();
    (bytes, if stride == w { 0 } else { stride as u32 })
}

/// One fuzzing run on a fresh session of `model`.
pub struct Runner {
    s: *mut MvsSession,
    dir: PathBuf,
    /// The current image's size as the library reported it (0, 0: none).
    size: (u32, u32),
}

impl Runner {
    /// A session on `model`; files go to `dir`.
    ///
    /// # Safety
    /// `model` must be a live model from `mvs_model_load*`.
    pub unsafe fn new(model: *const MvsModel, dir: PathBuf) -> Self {
        let mut s = std::ptr::null_mut();
        assert_eq!(unsafe { mvs_session_create(model, &mut s) }, MvsStatus::MVS_OK);
        Runner { s, dir, size: (0, 0) }
    }

    fn ids(&self) -> Vec<u64> {
        let mut n = 0usize;
        assert_eq!(unsafe { mvs_session_context_list(self.s, std::ptr::null_mut(), 0, &mut n) }, MvsStatus::MVS_OK);
        let mut v = vec![0u64; n];
        assert_eq!(unsafe { mvs_session_context_list(self.s, v.as_mut_ptr(), n, &mut n) }, MvsStatus::MVS_OK);
        v
    }

    fn image_size(&self) -> (u32, u32) {
        let (mut w, mut h) = (0, 0);
        assert_eq!(unsafe { mvs_session_image_size(self.s, &mut w, &mut h) }, MvsStatus::MVS_OK);
        (w, h)
    }

    /// The probabilities of a prediction now, or None when predict fails (no image).
    fn predict_now(&self) -> Option<Vec<f32>> {
        let (w, h) = self.image_size();
        let n = (w * h) as usize;
        let mut p = vec![0f32; n.max(1)];
        let st = unsafe { mvs_session_predict(self.s, p.as_mut_ptr(), std::ptr::null_mut(), n) };
        assert_ne!(st, MvsStatus::MVS_ERR_INTERNAL, "predict: {}", last_error());
        (st == MvsStatus::MVS_OK).then_some(p)
    }

    /// Runs one step and checks the promises.
    pub fn step(&mut self, step: &Step) {
        let before_ids = self.ids();
        let before_size = self.image_size();
        let before_pred = if step.check_prediction { self.predict_now() } else { None };
        let st = self.run(&step.op);
        assert_ne!(st, MvsStatus::MVS_ERR_INTERNAL, "{:?}: {}", step.op, last_error());
        if st != MvsStatus::MVS_OK {
            assert_eq!(self.ids(), before_ids, "a failed {:?} changed the context", step.op);
            assert_eq!(self.image_size(), before_size, "a failed {:?} changed the image", step.op);
            if step.check_prediction {
                assert_eq!(self.predict_now(), before_pred, "a failed {:?} changed the prediction", step.op);
            }
        }
        self.size = self.image_size();
    }

    fn run(&mut self, op: &Op) -> MvsStatus {
        let s = self.s;
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        unsafe {
            match op {
                Op::SetImage(img) => {
                    let b = image(img);
                    let st = mvs_session_set_image(s, &b.c);
                    drop(b.bytes);
                    st
                }
                Op::ContextAdd(img, m) => {
                    let b = image(img);
                    let (mb, stride) = mask(m, b.c.width as usize, b.c.height as usize);
                    let mp = if m.null { std::ptr::null() } else { mb.as_ptr() };
                    let mut id = 0;
                    mvs_session_context_add(s, &b.c, mp, stride, &mut id)
                }
                Op::ContextRemove(k) => {
                    let ids = self.ids();
                    let id = if ids.is_empty() || k % 4 == 0 { 9999 } else { ids[usize::from(*k) % ids.len()] };
                    mvs_session_context_remove(s, id)
                }
                Op::ContextClear => mvs_session_context_clear(s),
                Op::Click(x, y, p) => mvs_session_add_click(s, f64::from(*x), f64::from(*y), *p as i32),
                Op::Box(a, b, c, d) => mvs_session_add_box(s, f64::from(*a), f64::from(*b), f64::from(*c), f64::from(*d)),
                Op::Scribble(m, p) => {
                    let (mb, stride) = mask(m, w.max(1), h.max(1));
                    let mp = if m.null { std::ptr::null() } else { mb.as_ptr() };
                    mvs_session_add_scribble(s, mp, stride, *p as i32)
                }
                Op::Polyline(pts, r, p, null) => {
                    let xy: Vec<f64> = pts.iter().take(64).flat_map(|&(x, y)| [f64::from(x), f64::from(y)]).collect();
                    let ptr = if *null { std::ptr::null() } else { xy.as_ptr() };
                    mvs_session_add_scribble_polyline(s, ptr, xy.len() / 2, f64::from(*r), *p as i32)
                }
                Op::Undo => mvs_session_undo(s),
                Op::ClearPrompts => mvs_session_clear_prompts(s),
                Op::Predict { probs, mask, short_len } => {
                    let n = w * h;
                    let len = if *short_len { n.saturating_sub(1) } else { n };
                    let mut p = vec![0f32; n.max(1)];
                    let mut m = vec![0u8; n.max(1)];
                    let st = mvs_session_predict(
                        s,
                        if *probs { p.as_mut_ptr() } else { std::ptr::null_mut() },
                        if *mask { m.as_mut_ptr() } else { std::ptr::null_mut() },
                        len,
                    );
                    if st == MvsStatus::MVS_OK && *probs && *mask {
                        for i in 0..n {
                            assert!((0.0..=1.0).contains(&p[i]));
                            assert!(m[i] <= 1);
                        }
                    }
                    st
                }
                Op::Uncertainty => {
                    let mut u = -1.0f32;
                    let st = mvs_session_uncertainty(s, &mut u);
                    if st == MvsStatus::MVS_OK {
                        assert!((0.0..=1.0).contains(&u), "uncertainty {u}");
                    }
                    st
                }
                Op::Batch(imgs, stop) => {
                    let bufs: Vec<ImgBuf> = imgs.iter().take(4).map(image).collect();
                    let cs: Vec<MvsImage> = bufs.iter().map(|b| b.c).collect();
                    let mut outs: Vec<Vec<u8>> = cs
                        .iter()
                        .map(|c| vec![0u8; (c.width as usize * c.height as usize).max(1)])
                        .collect();
                    let ptrs: Vec<*mut u8> = outs.iter_mut().map(|o| o.as_mut_ptr()).collect();
                    let mut u = vec![0f32; cs.len().max(1)];
                    let mut limit = stop.map(usize::from).unwrap_or(usize::MAX);
                    unsafe extern "C" fn progress(done: usize, _: usize, ud: *mut std::ffi::c_void) -> i32 {
                        (done > unsafe { *(ud as *const usize) }) as i32
                    }
                    mvs_session_predict_batch(
                        s,
                        if cs.is_empty() { std::ptr::null() } else { cs.as_ptr() },
                        cs.len(),
                        ptrs.as_ptr(),
                        u.as_mut_ptr(),
                        Some(progress),
                        (&mut limit as *mut usize).cast(),
                    )
                }
                Op::Commit => mvs_session_commit(s, std::ptr::null_mut()),
                Op::CommitMask(m) => {
                    let (mb, stride) = mask(m, w.max(1), h.max(1));
                    let mp = if m.null { std::ptr::null() } else { mb.as_ptr() };
                    mvs_session_commit_mask(s, mp, stride, std::ptr::null_mut())
                }
                Op::Policy(cap, sel) => mvs_session_set_context_policy(s, u32::from(*cap % 8), u32::from(*sel % 3)),
                Op::MinContext(n) => mvs_session_set_min_context(s, u32::from(*n % 4)),
                Op::SaveLoad(corrupt) => {
                    let path = self.dir.join("ctx.mvsctx");
                    let c = CString::new(path.to_str().unwrap()).unwrap();
                    let st = mvs_session_context_save(s, c.as_ptr());
                    if st != MvsStatus::MVS_OK {
                        return st;
                    }
                    if let Some((at, x)) = corrupt {
                        let mut b = std::fs::read(&path).unwrap();
                        if !b.is_empty() {
                            let i = usize::from(*at) % b.len();
                            b[i] ^= x | 1;
                            std::fs::write(&path, &b).unwrap();
                        }
                    }
                    mvs_session_context_load(s, c.as_ptr())
                }
                Op::ImportFolder(k) => {
                    let c = CString::new(self.dir.to_str().unwrap()).unwrap();
                    let mut n = 0usize;
                    if k % 2 == 0 {
                        mvs_session_context_import_folder(s, c.as_ptr(), &mut n)
                    } else {
                        mvs_session_context_import_folder_label(s, c.as_ptr(), u32::from(*k), &mut n)
                    }
                }
                Op::Cancel => mvs_session_cancel(s),
                Op::NullSession(k) => match k % 4 {
                    0 => mvs_session_predict(std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0),
                    1 => mvs_session_add_click(std::ptr::null_mut(), 1.0, 1.0, 1),
                    2 => mvs_session_context_clear(std::ptr::null_mut()),
                    _ => mvs_session_cancel(std::ptr::null()),
                },
                Op::AfterPrompt(a) => mvs_session_set_after_prompt(s, u32::from(*a % 5)),
                Op::UnetFlipAverage(on) => mvs_session_set_unet_flip_average(s, c_int::from(*on)),
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        unsafe { mvs_session_free(self.s) };
    }
}

fn last_error() -> String {
    unsafe { std::ffi::CStr::from_ptr(mvs_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// The tiny random model (8 features per block) the session target runs, written once to
/// `dir` and loaded through the C ABI.
pub fn tiny_model(dir: &std::path::Path) -> *mut MvsModel {
    use core_api::{BlockSpec, MultiverSegArch, Tensor, UNetArch};
    let b = |in_target, in_context| BlockSpec { in_target, in_context, cross: 8, conv: 8 };
    let mvs = MultiverSegArch {
        encoder: vec![b(5, 2), b(8, 8), b(8, 8), b(8, 8)],
        decoder: vec![b(16, 16); 3],
    };
    let unet = UNetArch { in_channels: 5, features: vec![8; 4], out_channels: 1 };
    let mut seed = 7u64;
    let mut tensors = std::collections::BTreeMap::new();
    for (name, shape) in mvs.expected_tensors().into_iter().chain(unet.expected_tensors()) {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
            })
            .collect();
        tensors.insert(name, Tensor::new(shape, data));
    }
    let w = core_api::Weights::from_tensors(tensors, Default::default()).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("tiny.safetensors");
    w.save(&path).unwrap();
    let c = CString::new(path.to_str().unwrap()).unwrap();
    let mut opts = std::mem::MaybeUninit::<MvsModelOptions>::uninit();
    unsafe {
        assert_eq!(mvs_model_options_init(opts.as_mut_ptr(), std::mem::size_of::<MvsModelOptions>()), MvsStatus::MVS_OK);
        let mut o = opts.assume_init();
        o.backend = MvsBackend::MVS_BACKEND_CPU as u32;
        o.threads = 1;
        let mut m = std::ptr::null_mut();
        assert_eq!(mvs_model_load_with(c.as_ptr(), &o, &mut m), MvsStatus::MVS_OK);
        m
    }
}
