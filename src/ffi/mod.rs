//! The C ABI: a thin layer that converts, checks and catches.
//!
//! Every fallible function returns an [`MvsStatus`]; on failure the message is
//! available from [`mvs_last_error_message`] on the same thread and the objects
//! involved are unchanged. No panic crosses this boundary.
//!
//! Ownership and threads: an `MvsModel` is immutable and may be used by sessions
//! on any number of threads at once; a session keeps its model alive, so the model
//! handle may be freed before its sessions. An `MvsSession` must be used by one
//! thread at a time.

#![allow(clippy::missing_safety_doc, non_camel_case_types)]

mod util;

use crate::context_io;
use crate::model::{BackendKind, Model, ModelOptions};
use crate::preprocess::{ImageView, Pixels, Window, MAX_SIDE};
use crate::session::Session;
use crate::Error;
use std::ffi::{c_char, c_int};
use std::path::PathBuf;
pub use util::mvs_last_error_message;
use util::{guard, out_ptr, path_arg};

/// Status codes returned by every fallible function.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsStatus {
    /// Success.
    MVS_OK = 0,
    /// An argument is invalid (null pointer, bad size, NaN pixel, point outside the image).
    MVS_ERR_INVALID_ARGUMENT = 1,
    /// A file could not be read or written.
    MVS_ERR_IO = 2,
    /// A file is not in the expected format (not a model, truncated, corrupt).
    MVS_ERR_FORMAT = 3,
    /// An id does not exist (e.g. an unknown context entry).
    MVS_ERR_NOT_FOUND = 4,
    /// The call is not valid now (e.g. predict before set_image, commit before predict).
    MVS_ERR_STATE = 5,
    /// The inference backend failed.
    MVS_ERR_BACKEND = 6,
    /// An internal error (a bug); the message says more.
    MVS_ERR_INTERNAL = 7,
}

/// Pixel types accepted for images.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsPixelType {
    /// uint8_t
    MVS_PIXEL_U8 = 0,
    /// uint16_t
    MVS_PIXEL_U16 = 1,
    /// int16_t
    MVS_PIXEL_I16 = 2,
    /// float (NaN and Inf are rejected)
    MVS_PIXEL_F32 = 3,
}

/// Backend choice for mvs_model_load.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsBackend {
    /// A hardware GPU when one is available (Vulkan, Metal or DX12), else the CPU.
    MVS_BACKEND_AUTO = 0,
    /// The CPU.
    MVS_BACKEND_CPU = 1,
    /// The GPU (software adapters such as lavapipe included); loading fails with
    /// MVS_ERR_BACKEND when there is none. A GPU that fails later (lost device, out of
    /// memory) falls back to the CPU, with the reason on stderr and in the backend name.
    MVS_BACKEND_GPU = 2,
}

/// A 2D single-channel image in caller memory.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MvsImage {
    /// First pixel; rows are `stride` pixels apart.
    pub data: *const std::ffi::c_void,
    /// Pixel type of `data`: one of the MvsPixelType values (a plain integer, so that an
    /// unknown value is an error rather than undefined behaviour).
    pub pixel_type: u32,
    /// Width in pixels (1..=32768).
    pub width: u32,
    /// Height in pixels (1..=32768).
    pub height: u32,
    /// Row stride in pixels; 0 means `width`.
    pub stride: u32,
    /// Non-zero: map [window_lo, window_hi] to [0, 1] and clip; zero: min-max of the image.
    pub use_window: c_int,
    /// Lower end of the intensity window.
    pub window_lo: f32,
    /// Upper end of the intensity window.
    pub window_hi: f32,
}

/// A loaded model (opaque). Thread-safe; shared by sessions.
pub struct MvsModel(Model);

/// One segmentation task (opaque). Use from one thread at a time.
pub struct MvsSession(Session);

unsafe fn image_view<'a>(img: *const MvsImage) -> Result<(ImageView<'a>, Window), Error> {
    let img = unsafe { img.as_ref() }.ok_or_else(|| Error::arg("image: null pointer"))?;
    let (w, h) = (img.width as usize, img.height as usize);
    let stride = if img.stride == 0 {
        w
    } else {
        img.stride as usize
    };
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(Error::arg(format!(
            "image: size {w}x{h} must be within 1..={MAX_SIDE}"
        )));
    }
    if stride < w {
        return Err(Error::arg(format!(
            "image: stride {stride} is smaller than width {w}"
        )));
    }
    if stride > 4 * MAX_SIDE {
        return Err(Error::arg(format!("image: stride {stride} is too large")));
    }
    if img.data.is_null() {
        return Err(Error::arg("image: data is null"));
    }
    let n = (h - 1) * stride + w;
    // SAFETY: the caller guarantees `data` holds n pixels of `pixel_type` (documented contract).
    let pixels = unsafe {
        match img.pixel_type {
            t if t == MvsPixelType::MVS_PIXEL_U8 as u32 => {
                Pixels::U8(std::slice::from_raw_parts(img.data as *const u8, n))
            }
            t if t == MvsPixelType::MVS_PIXEL_U16 as u32 => {
                Pixels::U16(std::slice::from_raw_parts(img.data as *const u16, n))
            }
            t if t == MvsPixelType::MVS_PIXEL_I16 as u32 => {
                Pixels::I16(std::slice::from_raw_parts(img.data as *const i16, n))
            }
            t if t == MvsPixelType::MVS_PIXEL_F32 as u32 => {
                Pixels::F32(std::slice::from_raw_parts(img.data as *const f32, n))
            }
            t => return Err(Error::arg(format!("image: unknown pixel_type {t}"))),
        }
    };
    let window = if img.use_window != 0 {
        Window::Range(img.window_lo, img.window_hi)
    } else {
        Window::MinMax
    };
    Ok((
        ImageView {
            pixels,
            width: w,
            height: h,
            stride,
        },
        window,
    ))
}

unsafe fn mask_slice<'a>(
    mask: *const u8,
    stride: u32,
    w: usize,
    h: usize,
    name: &str,
) -> Result<(&'a [u8], usize), Error> {
    if mask.is_null() {
        return Err(Error::arg(format!("{name}: null pointer")));
    }
    let stride = if stride == 0 { w } else { stride as usize };
    if stride < w || stride > 4 * MAX_SIDE {
        return Err(Error::arg(format!(
            "{name}: stride {stride} is invalid for width {w}"
        )));
    }
    // SAFETY: the caller guarantees the mask covers the image (documented contract).
    Ok((
        unsafe { std::slice::from_raw_parts(mask, (h - 1) * stride + w) },
        stride,
    ))
}

/// The current image's size, or the state error every image-dependent call reports.
fn image_size(s: &Session) -> Result<(usize, usize), Error> {
    s.target_size()
        .ok_or_else(|| Error::state("no image is set: call mvs_session_set_image first"))
}

unsafe fn session_mut<'a>(s: *mut MvsSession) -> Result<&'a mut Session, Error> {
    unsafe { s.as_mut() }
        .map(|s| &mut s.0)
        .ok_or_else(|| Error::arg("session: null handle"))
}

unsafe fn session_ref<'a>(s: *const MvsSession) -> Result<&'a Session, Error> {
    unsafe { s.as_ref() }
        .map(|s| &s.0)
        .ok_or_else(|| Error::arg("session: null handle"))
}

/// The library version as a static NUL-terminated string (e.g. "0.1.0").
#[no_mangle]
pub extern "C" fn mvs_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

fn model_options(backend: u32, threads: u32) -> Result<ModelOptions, Error> {
    let kind = match backend {
        b if b == MvsBackend::MVS_BACKEND_AUTO as u32 => BackendKind::Auto,
        b if b == MvsBackend::MVS_BACKEND_CPU as u32 => BackendKind::Cpu,
        b if b == MvsBackend::MVS_BACKEND_GPU as u32 => BackendKind::Gpu,
        b => return Err(Error::arg(format!("backend: unknown value {b}"))),
    };
    Ok(ModelOptions {
        backend: kind,
        threads: threads as usize,
        ..Default::default()
    })
}

/// Checks `out` and the options, loads, and stores the new handle in `*out`.
unsafe fn load_into(
    out: *mut *mut MvsModel,
    backend: u32,
    threads: u32,
    load: impl FnOnce(&ModelOptions) -> Result<Model, Error>,
) -> Result<(), Error> {
    let out = unsafe { out_ptr(out, "out")? };
    let m = load(&model_options(backend, threads)?)?;
    *out = Box::into_raw(Box::new(MvsModel(m)));
    Ok(())
}

/// Loads a weights file. `backend` is one of the MvsBackend values; `threads` = 0 uses all
/// cores. On success `*out` owns a new model; free it with mvs_model_free.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load(
    path: *const c_char,
    backend: u32,
    threads: u32,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| {
        let path = unsafe { path_arg(path, "path")? };
        unsafe { load_into(out, backend, threads, |o| Model::load_with(&path, o)) }
    })
}

/// Loads the default model: the file named by the MVS_MODEL environment variable if set,
/// else the model shipped with the library. Arguments as mvs_model_load.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load_default(
    backend: u32,
    threads: u32,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| unsafe { load_into(out, backend, threads, Model::load_default) })
}

/// Writes the model's backend description (e.g. "cpu (tract, 2 threads)") as a
/// NUL-terminated string into `buf` of `capacity` bytes, truncated to fit, and its full
/// length without the NUL to `*out_len` (may be null). `buf` may be null when `capacity`
/// is 0 (to query the length).
#[no_mangle]
pub unsafe extern "C" fn mvs_model_backend_name(
    model: *const MvsModel,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> MvsStatus {
    guard(|| {
        let m = unsafe { model.as_ref() }.ok_or_else(|| Error::arg("model: null handle"))?;
        if buf.is_null() && capacity > 0 {
            return Err(Error::arg("buf: null with a non-zero capacity"));
        }
        let name = m.0.backend_name();
        if capacity > 0 {
            let n = name.len().min(capacity - 1);
            // SAFETY: the caller gives `capacity` writable bytes at `buf`.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr(), buf as *mut u8, n);
                *buf.add(n) = 0;
            }
        }
        if let Some(o) = unsafe { out_len.as_mut() } {
            *o = name.len();
        }
        Ok(())
    })
}

/// Frees a model (null is ignored). Sessions created from it stay valid.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_free(model: *mut MvsModel) {
    if !model.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(model) })
        }));
    }
}

/// Creates a session on `model`. On success `*out` owns a new session.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_create(
    model: *const MvsModel,
    out: *mut *mut MvsSession,
) -> MvsStatus {
    guard(|| {
        let out = unsafe { out_ptr(out, "out")? };
        let m = unsafe { model.as_ref() }.ok_or_else(|| Error::arg("model: null handle"))?;
        *out = Box::into_raw(Box::new(MvsSession(Session::new(m.0.clone()))));
        Ok(())
    })
}

/// Frees a session (null is ignored).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_free(session: *mut MvsSession) {
    if !session.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(session) })
        }));
    }
}

/// Uses ScribblePrompt-UNet while the context has fewer than `n` entries (default 1).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_min_context(
    session: *mut MvsSession,
    n: u32,
) -> MvsStatus {
    guard(|| {
        unsafe { session_mut(session)? }.set_min_context(n as usize);
        Ok(())
    })
}

/// Adds an image and its mask (uint8, nonzero = foreground, same width and height as the
/// image, row stride `mask_stride` bytes or 0 for width) to the context. `*out_id` (may be
/// null) receives the new entry's id.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_add(
    session: *mut MvsSession,
    image: *const MvsImage,
    mask: *const u8,
    mask_stride: u32,
    out_id: *mut u64,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        let (view, window) = unsafe { image_view(image)? };
        let (m, ms) = unsafe { mask_slice(mask, mask_stride, view.width, view.height, "mask")? };
        let id = s.context_add(&view, window, m, ms)?;
        if let Some(o) = unsafe { out_id.as_mut() } {
            *o = id;
        }
        Ok(())
    })
}

/// Removes the context entry `id` (MVS_ERR_NOT_FOUND if there is none).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_remove(
    session: *mut MvsSession,
    id: u64,
) -> MvsStatus {
    guard(|| unsafe { session_mut(session)? }.context_remove(id))
}

/// Writes the number of context entries to `*out`.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_count(
    session: *const MvsSession,
    out: *mut usize,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_ref(session)? };
        *unsafe { out_ptr(out, "out")? } = s.context_count();
        Ok(())
    })
}

/// Writes up to `capacity` context ids (insertion order) to `ids` and the total count to
/// `*out_count`. `ids` may be null when `capacity` is 0 (to query the count).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_list(
    session: *const MvsSession,
    ids: *mut u64,
    capacity: usize,
    out_count: *mut usize,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_ref(session)? };
        let out_count = unsafe { out_ptr(out_count, "out_count")? };
        let all = s.context_ids();
        if capacity > 0 {
            if ids.is_null() {
                return Err(Error::arg("ids: null pointer with capacity > 0"));
            }
            let n = capacity.min(all.len());
            // SAFETY: the caller provides `capacity` slots.
            unsafe { std::ptr::copy_nonoverlapping(all.as_ptr(), ids, n) };
        }
        *out_count = all.len();
        Ok(())
    })
}

/// Removes every context entry.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_clear(session: *mut MvsSession) -> MvsStatus {
    guard(|| {
        unsafe { session_mut(session)? }.context_clear();
        Ok(())
    })
}

/// Saves the context set to a versioned file.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_save(
    session: *const MvsSession,
    path: *const c_char,
) -> MvsStatus {
    guard(|| {
        context_io::save_context(unsafe { session_ref(session)? }, &unsafe {
            path_arg(path, "path")?
        })
    })
}

/// Replaces the context set with one saved by mvs_session_context_save.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_load(
    session: *mut MvsSession,
    path: *const c_char,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        context_io::load_context(s, &unsafe { path_arg(path, "path")? })
    })
}

/// Adds every image_N.png / mask_N.png pair of a folder (as SlicerMultiverSeg writes them);
/// `*out_added` (may be null) receives how many were added. All or nothing.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_import_folder(
    session: *mut MvsSession,
    dir: *const c_char,
    out_added: *mut usize,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        let dir: PathBuf = unsafe { path_arg(dir, "dir")? };
        let ids = context_io::import_folder(s, &dir)?;
        if let Some(o) = unsafe { out_added.as_mut() } {
            *o = ids.len();
        }
        Ok(())
    })
}

/// Sets the image to segment; clears the prompts and the previous prediction.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_image(
    session: *mut MvsSession,
    image: *const MvsImage,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        let (view, window) = unsafe { image_view(image)? };
        s.set_image(&view, window)
    })
}

/// Adds a click at (x, y) in image pixels; `positive` non-zero = foreground.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_click(
    session: *mut MvsSession,
    x: f64,
    y: f64,
    positive: c_int,
) -> MvsStatus {
    guard(|| unsafe { session_mut(session)? }.add_click(x, y, positive != 0))
}

/// Adds a box with corners (x0, y0) and (x1, y1) in image pixels (corners may lie on the far edges).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_box(
    session: *mut MvsSession,
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
) -> MvsStatus {
    guard(|| unsafe { session_mut(session)? }.add_box(x0, y0, x1, y1))
}

/// Adds a scribble given as a brush mask of the image's size (uint8, nonzero = painted,
/// row stride `stride` bytes or 0 for width).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_scribble(
    session: *mut MvsSession,
    mask: *const u8,
    stride: u32,
    positive: c_int,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        let (w, h) = image_size(s)?;
        let (m, st) = unsafe { mask_slice(mask, stride, w, h, "mask")? };
        s.add_scribble_mask(m, st, positive != 0)
    })
}

/// Adds a scribble as a polyline of `n_points` points (`xy` = x0, y0, x1, y1, ... in image
/// pixels) painted with a round brush of `radius` pixels.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_scribble_polyline(
    session: *mut MvsSession,
    xy: *const f64,
    n_points: usize,
    radius: f64,
    positive: c_int,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        if xy.is_null() {
            return Err(Error::arg("xy: null pointer"));
        }
        if n_points == 0 || n_points > 1 << 20 {
            return Err(Error::arg(format!(
                "n_points: {n_points} must be within 1..=1048576"
            )));
        }
        // SAFETY: the caller provides 2 * n_points doubles.
        let v = unsafe { std::slice::from_raw_parts(xy, 2 * n_points) };
        let pts: Vec<(f64, f64)> = v.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        s.add_scribble_polyline(&pts, radius, positive != 0)
    })
}

/// Removes the last prompt and restores the prediction input that preceded it.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_undo(session: *mut MvsSession) -> MvsStatus {
    guard(|| unsafe { session_mut(session)? }.undo())
}

/// Removes all prompts and the previous prediction of the current image.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_clear_prompts(session: *mut MvsSession) -> MvsStatus {
    guard(|| {
        unsafe { session_mut(session)? }.clear_prompts();
        Ok(())
    })
}

/// Predicts the current image. Writes width*height values (row-major, the image's size)
/// to `probabilities` (float in [0,1]) and/or `mask` (uint8 0/1); either may be null.
/// `len` is the capacity of each non-null buffer in elements and must be >= width*height.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_predict(
    session: *mut MvsSession,
    probabilities: *mut f32,
    mask: *mut u8,
    len: usize,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        let (w, h) = image_size(s)?;
        if (!probabilities.is_null() || !mask.is_null()) && len < w * h {
            return Err(Error::arg(format!(
                "len: {len} is smaller than the image's {w}x{h} = {} pixels",
                w * h
            )));
        }
        let p = s.predict()?;
        if !probabilities.is_null() {
            let v = p.probabilities();
            // SAFETY: len >= w*h checked above.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), probabilities, v.len()) };
        }
        if !mask.is_null() {
            let v = p.mask();
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), mask, v.len()) };
        }
        Ok(())
    })
}

/// Adds the current image with its binarized last prediction to the context, then clears
/// the image and prompts. `*out_id` (may be null) receives the new id.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_commit(
    session: *mut MvsSession,
    out_id: *mut u64,
) -> MvsStatus {
    guard(|| {
        let id = unsafe { session_mut(session)? }.commit()?;
        if let Some(o) = unsafe { out_id.as_mut() } {
            *o = id;
        }
        Ok(())
    })
}

/// Adds the current image with a caller-given mask (uint8, nonzero = foreground, the
/// image's size, row stride `stride` bytes or 0 for width) to the context, e.g. after the
/// user corrected the prediction by hand; then clears the image and prompts. `*out_id`
/// (may be null) receives the new id.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_commit_mask(
    session: *mut MvsSession,
    mask: *const u8,
    stride: u32,
    out_id: *mut u64,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { session_mut(session)? };
        let (w, h) = image_size(s)?;
        let (m, stride) = unsafe { mask_slice(mask, stride, w, h, "mask")? };
        let id = s.commit_mask(m, stride)?;
        if let Some(o) = unsafe { out_id.as_mut() } {
            *o = id;
        }
        Ok(())
    })
}

/// Writes the current image's width and height (0, 0 when no image is set); either
/// pointer may be null.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_image_size(
    session: *const MvsSession,
    out_width: *mut u32,
    out_height: *mut u32,
) -> MvsStatus {
    guard(|| {
        let (w, h) = unsafe { session_ref(session)? }
            .target_size()
            .unwrap_or((0, 0));
        if let Some(o) = unsafe { out_width.as_mut() } {
            *o = w as u32;
        }
        if let Some(o) = unsafe { out_height.as_mut() } {
            *o = h as u32;
        }
        Ok(())
    })
}
