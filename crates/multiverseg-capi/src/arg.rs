//! Converting and checking C arguments (rustls-ffi style): handles, optional and required
//! out-pointers, images, masks and paths. Each error names the argument.

use crate::core::{Error, ImageView, Pixels, Session, Window, MAX_SIDE};
use crate::types::{MvsImage, MvsModel, MvsPixelType, MvsSession};
use std::ffi::{c_char, CStr};
use std::path::PathBuf;
use std::sync::MutexGuard;

/// A required handle as a shared reference.
///
/// # Safety
/// `p` is null or a pointer this library returned and that was not freed.
pub unsafe fn handle<'a, T>(p: *const T, name: &str) -> Result<&'a T, Error> {
    unsafe { p.as_ref() }.ok_or_else(|| Error::arg(format!("{name}: null handle")))
}

/// The model behind a handle.
///
/// # Safety
/// As [`handle`].
pub unsafe fn model<'a>(p: *const MvsModel) -> Result<&'a crate::core::Model, Error> {
    Ok(&unsafe { handle(p, "model") }?.0)
}

/// The session behind a handle, locked for this call (a poisoned lock is taken over: a
/// panic inside a call leaves the session as it was, since every call is all-or-nothing).
///
/// # Safety
/// As [`handle`].
pub unsafe fn session<'a>(p: *const MvsSession) -> Result<MutexGuard<'a, Session>, Error> {
    let s = unsafe { handle(p, "session") }?;
    Ok(s.session.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A required out-pointer as a mutable reference.
///
/// # Safety
/// `p` is null or valid for writes of a `T`.
pub unsafe fn out<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Error> {
    unsafe { p.as_mut() }.ok_or_else(|| Error::arg(format!("{name}: null pointer")))
}

/// Writes `v` through an optional out-pointer (null: ignored).
///
/// # Safety
/// `p` is null or valid for writes of a `T`.
pub unsafe fn set_opt<T>(p: *mut T, v: T) {
    if let Some(o) = unsafe { p.as_mut() } {
        *o = v;
    }
}

/// A NUL-terminated UTF-8 string argument (non-empty).
///
/// # Safety
/// `p` is null or a NUL-terminated string.
pub unsafe fn string(p: *const c_char, name: &str) -> Result<String, Error> {
    if p.is_null() {
        return Err(Error::arg(format!("{name}: null pointer")));
    }
    let s = unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::arg(format!("{name}: not valid UTF-8")))?;
    if s.is_empty() {
        return Err(Error::arg(format!("{name}: empty string")));
    }
    Ok(s.to_string())
}

/// A NUL-terminated UTF-8 path argument.
///
/// # Safety
/// As [`string`].
pub unsafe fn path(p: *const c_char, name: &str) -> Result<PathBuf, Error> {
    Ok(PathBuf::from(unsafe { string(p, name) }?))
}

/// An `MvsImage` as an [`ImageView`] and its window, checked (sizes, stride, pixel type).
///
/// # Safety
/// `img` is null or points to an MvsImage whose `data` holds `(height-1)*stride + width`
/// pixels of `pixel_type` (the documented contract).
pub unsafe fn image<'a>(
    img: *const MvsImage,
    name: &str,
) -> Result<(ImageView<'a>, Window), Error> {
    let img = unsafe { img.as_ref() }.ok_or_else(|| Error::arg(format!("{name}: null pointer")))?;
    let (w, h) = (img.width as usize, img.height as usize);
    let stride = if img.stride == 0 {
        w
    } else {
        img.stride as usize
    };
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(Error::arg(format!(
            "{name}: size {w}x{h} must be within 1..={MAX_SIDE}"
        )));
    }
    if stride < w {
        return Err(Error::arg(format!(
            "{name}: stride {stride} is smaller than width {w}"
        )));
    }
    if stride > 4 * MAX_SIDE {
        return Err(Error::arg(format!("{name}: stride {stride} is too large")));
    }
    if img.data.is_null() {
        return Err(Error::arg(format!("{name}: data is null")));
    }
    let n = (h - 1) * stride + w;
    // SAFETY: the caller guarantees `data` holds n pixels of `pixel_type`.
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
            t => return Err(Error::arg(format!("{name}: unknown pixel_type {t}"))),
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

/// A uint8 mask of `w`x`h` with row stride `stride` bytes (0 = `w`).
///
/// # Safety
/// `mask` is null or holds `(h-1)*stride + w` bytes (the documented contract).
pub unsafe fn mask<'a>(
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
    // SAFETY: the caller guarantees the mask covers the image.
    Ok((
        unsafe { std::slice::from_raw_parts(mask, (h - 1) * stride + w) },
        stride,
    ))
}

/// Copies `v` into a caller buffer of `capacity` elements at `dst` (null: skipped).
///
/// # Safety
/// `dst` is null or valid for `capacity` writes.
pub unsafe fn copy_out<T: Copy>(v: &[T], dst: *mut T, capacity: usize) {
    if !dst.is_null() {
        let n = v.len().min(capacity);
        unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), dst, n) };
    }
}
