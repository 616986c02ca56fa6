//! Session functions: creating and freeing, the current image and its prompts, prediction
//! (single and batch), commit, cancellation. Context functions are in [`crate::context`].

use crate::arg;
use crate::core::{AfterPrompt, Error, ImageView, Session, Window};
use crate::error::{guard, guard_void};
use crate::types::{MvsAfterPrompt, MvsImage, MvsModel, MvsProgressFn, MvsSession, MvsStatus};
use std::ffi::{c_int, c_void};

/// The current image's size, or the state error every image-dependent call reports.
fn image_size(s: &Session) -> Result<(usize, usize), Error> {
    s.target_size()
        .ok_or_else(|| Error::state("no image is set: call mvs_session_set_image first"))
}

/// Creates a session on `model`. On success `*out` owns a new session; free it with
/// mvs_session_free.
///
/// # Safety
/// `model` is a live handle, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_create(
    model: *const MvsModel,
    out: *mut *mut MvsSession,
) -> MvsStatus {
    guard(|| {
        let out = unsafe { arg::out(out, "out") }?;
        let m = unsafe { arg::model(model) }?;
        let session = Session::new(m.clone());
        let cancel = session.cancel_token();
        *out = Box::into_raw(Box::new(MvsSession {
            session: std::sync::Mutex::new(session),
            cancel,
        }));
        Ok(())
    })
}

/// Frees a session (null is ignored).
///
/// # Safety
/// `session` is null or a live handle, not used afterwards (no call may be running on it).
#[no_mangle]
pub unsafe extern "C" fn mvs_session_free(session: *mut MvsSession) {
    guard_void(|| {
        if !session.is_null() {
            drop(unsafe { Box::from_raw(session) });
        }
    })
}

/// Uses ScribblePrompt-UNet while the context has fewer than `n` entries (default 1).
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_min_context(
    session: *mut MvsSession,
    n: u32,
) -> MvsStatus {
    guard(|| {
        unsafe { arg::session(session) }?.set_min_context(n as usize);
        Ok(())
    })
}

/// The C value of an AfterPrompt (an exhaustive match: a new Rust value must get one).
fn after_prompt_to_c(a: AfterPrompt) -> MvsAfterPrompt {
    match a {
        AfterPrompt::MultiverSeg => MvsAfterPrompt::MVS_AFTER_PROMPT_MULTIVERSEG,
        AfterPrompt::Unet => MvsAfterPrompt::MVS_AFTER_PROMPT_UNET,
        AfterPrompt::Mean => MvsAfterPrompt::MVS_AFTER_PROMPT_MEAN,
        AfterPrompt::MeanForClicks => MvsAfterPrompt::MVS_AFTER_PROMPT_MEAN_FOR_CLICKS,
    }
}

/// Sets which network predicts an image once it has a prompt (click, box or scribble) while
/// the context has at least min_context entries: `after_prompt` is an MvsAfterPrompt value
/// (default MVS_AFTER_PROMPT_MULTIVERSEG, the paper). Not affected by it: the prediction of
/// an image without a prompt, mvs_session_predict_batch, and the UNet's predictions while the
/// context has fewer than min_context entries; a model without a UNet behaves as
/// MVS_AFTER_PROMPT_MULTIVERSEG whatever the value (mvs_session_get_after_prompt still
/// returns the value set). The next mvs_session_predict uses the new value; nothing else
/// changes. Unknown value: MVS_ERR_INVALID_ARGUMENT naming `after_prompt`, and the setting
/// is unchanged.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_after_prompt(
    session: *mut MvsSession,
    after_prompt: u32,
) -> MvsStatus {
    guard(|| {
        // The inverse of the one mapping, after_prompt_to_c.
        let a = AfterPrompt::ALL
            .into_iter()
            .find(|&a| after_prompt_to_c(a) as u32 == after_prompt)
            .ok_or_else(|| Error::arg(format!("after_prompt: unknown value {after_prompt}")))?;
        unsafe { arg::session(session) }?.set_after_prompt(a);
        Ok(())
    })
}

/// Writes the session's after-prompt setting (an MvsAfterPrompt value) to `*out`.
///
/// # Safety
/// `session` is a live handle, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_get_after_prompt(
    session: *const MvsSession,
    out: *mut u32,
) -> MvsStatus {
    guard(|| {
        let out = unsafe { arg::out(out, "out") }?;
        *out = after_prompt_to_c(unsafe { arg::session(session) }?.after_prompt()) as u32;
        Ok(())
    })
}

/// Turns flip averaging of ScribblePrompt-UNet on (`on` non-zero) or off (zero; the default:
/// one pass, the official code's output). On, every UNet prediction is the mean of the UNet's
/// logits over its 128 x 128 input as it is and flipped left-right, up-down and both (image,
/// prompts and mask input flipped together), each flipped back: four UNet passes per
/// prediction (about 4 ms each on a 2-core CPU), and no directional bias. MultiverSegNet's
/// predictions never change; with MVS_AFTER_PROMPT_UNET or _MEAN the UNet's part is averaged
/// too. Departs from the paper (an experiment of issue 14: weights/eval/v10_tta). Every later
/// UNet prediction (mvs_session_predict, mvs_session_predict_batch below min_context) uses
/// it; nothing else changes. Null session: MVS_ERR_INVALID_ARGUMENT.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_unet_flip_average(
    session: *mut MvsSession,
    on: c_int,
) -> MvsStatus {
    guard(|| {
        unsafe { arg::session(session) }?.set_unet_flip_average(on != 0);
        Ok(())
    })
}

/// Writes 1 to `*out` if flip averaging of the UNet is on, 0 if it is off. Null session or
/// null `out`: MVS_ERR_INVALID_ARGUMENT naming the argument, nothing written.
///
/// # Safety
/// `session` is a live handle, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_get_unet_flip_average(
    session: *const MvsSession,
    out: *mut c_int,
) -> MvsStatus {
    guard(|| {
        let out = unsafe { arg::out(out, "out") }?;
        *out = c_int::from(unsafe { arg::session(session) }?.unet_flip_average());
        Ok(())
    })
}

/// Asks the call now running on `session` (a predict or a batch predict, on another
/// thread) to stop: it returns MVS_ERR_CANCELLED between two layers of the network and
/// changes nothing. A cancel while no call runs has no effect (each call clears it when it
/// starts). Safe to call from any thread while the session is in use.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_cancel(session: *const MvsSession) -> MvsStatus {
    guard(|| {
        // Only the token: the session itself is locked by the running call.
        unsafe { arg::handle(session, "session") }?.cancel.cancel();
        Ok(())
    })
}

/// Sets the image to segment; clears the prompts, the mask input and the last prediction.
///
/// # Safety
/// `session` is a live handle, `image` an MvsImage per its contract.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_image(
    session: *mut MvsSession,
    image: *const MvsImage,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        let (view, window) = unsafe { arg::image(image, "image") }?;
        s.set_image(&view, window)
    })
}

/// Writes the current image's width and height (0, 0 when no image is set); either
/// pointer may be null.
///
/// # Safety
/// `session` is a live handle; the pointers are null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_image_size(
    session: *const MvsSession,
    out_width: *mut u32,
    out_height: *mut u32,
) -> MvsStatus {
    guard(|| {
        let (w, h) = unsafe { arg::session(session) }?
            .target_size()
            .unwrap_or((0, 0));
        unsafe {
            arg::set_opt(out_width, w as u32);
            arg::set_opt(out_height, h as u32);
        }
        Ok(())
    })
}

/// Adds a click at (x, y) in image pixels; `positive` non-zero = foreground. Coordinates
/// are continuous: pixel (i, j) covers [i, i+1) x [j, j+1), so its centre is (i+0.5, j+0.5);
/// x runs to the right, y down. A point outside [0, width) x [0, height) is an error.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_click(
    session: *mut MvsSession,
    x: f64,
    y: f64,
    positive: c_int,
) -> MvsStatus {
    guard(|| unsafe { arg::session(session) }?.add_click(x, y, positive != 0))
}

/// Adds a box with corners (x0, y0) and (x1, y1) in image pixels, in any order; the far
/// edges are exclusive (the whole image is 0, 0, width, height).
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_box(
    session: *mut MvsSession,
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
) -> MvsStatus {
    guard(|| unsafe { arg::session(session) }?.add_box(x0, y0, x1, y1))
}

/// Adds a scribble given as a brush mask of the image's size (uint8, nonzero = painted,
/// row stride `stride` bytes or 0 for width). Every painted pixel reaches the network,
/// however much the image is downscaled.
///
/// # Safety
/// `session` is a live handle; `mask` covers the image.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_scribble(
    session: *mut MvsSession,
    mask: *const u8,
    stride: u32,
    positive: c_int,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        let (w, h) = image_size(&s)?;
        let (m, st) = unsafe { arg::mask(mask, stride, w, h, "mask") }?;
        s.add_scribble_mask(m, st, positive != 0)
    })
}

/// Adds a scribble as a polyline of `n_points` points (`xy` = x0, y0, x1, y1, ... in image
/// pixels, as clicks) painted with a round brush of `radius` pixels (0: the pixels the line
/// passes through).
///
/// # Safety
/// `session` is a live handle; `xy` holds 2 * n_points doubles.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_add_scribble_polyline(
    session: *mut MvsSession,
    xy: *const f64,
    n_points: usize,
    radius: f64,
    positive: c_int,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
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

/// Removes the last prompt and restores the mask input and last prediction from before it.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_undo(session: *mut MvsSession) -> MvsStatus {
    guard(|| unsafe { arg::session(session) }?.undo())
}

/// Removes all prompts, the mask input and the last prediction of the current image.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_clear_prompts(session: *mut MvsSession) -> MvsStatus {
    guard(|| {
        unsafe { arg::session(session) }?.clear_prompts();
        Ok(())
    })
}

/// Predicts the current image with its prompts and the context. Writes width*height values
/// (row-major, the image's size) to `probabilities` (float in [0,1]) and/or `mask` (uint8
/// 0/1); either may be null. `len` is the capacity of each non-null buffer in elements and
/// must be >= width*height. Predict is a pure function of the session's state: two calls
/// with nothing in between give the same result. Cancellable with mvs_session_cancel.
///
/// # Safety
/// `session` is a live handle; the buffers are null or hold `len` elements.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_predict(
    session: *mut MvsSession,
    probabilities: *mut f32,
    mask: *mut u8,
    len: usize,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        let (w, h) = image_size(&s)?;
        if (!probabilities.is_null() || !mask.is_null()) && len < w * h {
            return Err(Error::arg(format!(
                "len: {len} is smaller than the image's {w}x{h} = {} pixels",
                w * h
            )));
        }
        let p = s.predict()?;
        unsafe {
            if !probabilities.is_null() {
                arg::copy_out(&p.probabilities(), probabilities, len);
            }
            if !mask.is_null() {
                arg::copy_out(&p.mask(), mask, len);
            }
        }
        Ok(())
    })
}

/// Writes the uncertainty of the last prediction on the current image to `*out`: a score
/// in [0, 1], the mean binary entropy of the probabilities around the predicted object
/// (README, "Uncertainty"). MVS_ERR_STATE when there is no prediction.
///
/// # Safety
/// `session` is a live handle, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_uncertainty(
    session: *const MvsSession,
    out: *mut f32,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { arg::session(session) }?;
        let out = unsafe { arg::out(out, "out") }?;
        let p = s.last_prediction().ok_or_else(|| {
            Error::state("no prediction on the current image: call mvs_session_predict first")
        })?;
        *out = p.uncertainty();
        Ok(())
    })
}

/// Predicts each of `n` images with the session's context and no prompts, without changing
/// the session. `masks[i]` receives images[i].width * images[i].height bytes (0/1);
/// `uncertainty` (may be null) receives n scores in [0, 1]; `progress` (may be null) is
/// called as images finish (after each on the CPU, after each chunk of up to 16 on the GPU)
/// with (done, n, user_data) and cancels the call by returning
/// non-zero (MVS_ERR_CANCELLED; nothing is written then, and mvs_session_cancel does the
/// same). The results equal n single predictions with no prompts.
///
/// # Safety
/// `session` is a live handle; `images` holds n MvsImage; `masks` holds n pointers, each to
/// a buffer of its image's size; `uncertainty` is null or holds n floats.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_predict_batch(
    session: *mut MvsSession,
    images: *const MvsImage,
    n: usize,
    masks: *const *mut u8,
    uncertainty: *mut f32,
    progress: MvsProgressFn,
    user_data: *mut c_void,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        if n == 0 {
            return Ok(());
        }
        if images.is_null() {
            return Err(Error::arg("images: null pointer"));
        }
        if masks.is_null() {
            return Err(Error::arg("masks: null pointer"));
        }
        // SAFETY: the caller gives n images and n mask pointers.
        let (imgs, outs) = unsafe {
            (
                std::slice::from_raw_parts(images, n),
                std::slice::from_raw_parts(masks, n),
            )
        };
        let mut views: Vec<ImageView> = Vec::with_capacity(n);
        let mut window = None;
        for (i, img) in imgs.iter().enumerate() {
            let (v, w) = unsafe { arg::image(img, &format!("images[{i}]")) }?;
            if outs[i].is_null() {
                return Err(Error::arg(format!("masks[{i}]: null pointer")));
            }
            // One window for the batch keeps the Rust API simple; every image's own
            // window must then agree.
            if window.is_some_and(|first| first != w) {
                let msg = format!("images[{i}]: its window differs from images[0]'s");
                return Err(Error::arg(msg + "; one batch takes one window"));
            }
            window = Some(w);
            views.push(v);
        }
        let mut cb = |done: usize, total: usize| match progress {
            // SAFETY: the caller's callback, called as documented.
            Some(f) => unsafe { f(done, total, user_data) == 0 },
            None => true,
        };
        let preds = s.predict_batch(&views, window.unwrap_or(Window::MinMax), Some(&mut cb))?;
        for (i, p) in preds.iter().enumerate() {
            let m = p.mask();
            unsafe { arg::copy_out(&m, outs[i], m.len()) };
            if !uncertainty.is_null() {
                unsafe { *uncertainty.add(i) = p.uncertainty() };
            }
        }
        Ok(())
    })
}

/// Adds the current image with its binarized last prediction to the context, then clears
/// the image and prompts. `*out_id` (may be null) receives the new id.
///
/// # Safety
/// `session` is a live handle; `out_id` null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_commit(
    session: *mut MvsSession,
    out_id: *mut u64,
) -> MvsStatus {
    guard(|| {
        let id = unsafe { arg::session(session) }?.commit()?;
        unsafe { arg::set_opt(out_id, id) };
        Ok(())
    })
}

/// Adds the current image with a caller-given mask (uint8, nonzero = foreground, the
/// image's size, row stride `stride` bytes or 0 for width) to the context, e.g. after the
/// user corrected the prediction by hand; then clears the image and prompts. `*out_id`
/// (may be null) receives the new id.
///
/// # Safety
/// `session` is a live handle; `mask` covers the image; `out_id` null or writable.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_commit_mask(
    session: *mut MvsSession,
    mask: *const u8,
    stride: u32,
    out_id: *mut u64,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        let (w, h) = image_size(&s)?;
        let (m, stride) = unsafe { arg::mask(mask, stride, w, h, "mask") }?;
        let id = s.commit_mask(m, stride)?;
        unsafe { arg::set_opt(out_id, id) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `AfterPrompt::ALL` is documented to be in the order of the C values 0..=3.
    #[test]
    fn c_values_follow_the_order_of_after_prompt_all() {
        for (i, a) in AfterPrompt::ALL.into_iter().enumerate() {
            assert_eq!(after_prompt_to_c(a) as u32, i as u32, "{a:?}");
        }
    }
}
