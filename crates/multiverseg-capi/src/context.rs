//! Context-set functions of a session: add, remove, list, clear, save, load, import, and
//! the context policy.

use crate::arg;
use crate::core::io::png::MaskLabel;
use crate::core::{ContextPolicy, Error, Select};
use crate::error::guard;
use crate::types::{MvsContextSelect, MvsImage, MvsSession, MvsStatus};
use std::ffi::c_char;

/// Adds an image and its mask (uint8, nonzero = foreground, same width and height as the
/// image, row stride `mask_stride` bytes or 0 for width) to the context. `*out_id` (may be
/// null) receives the new entry's id.
///
/// # Safety
/// `session` is a live handle; `image` and `mask` follow their contracts.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_add(
    session: *mut MvsSession,
    image: *const MvsImage,
    mask: *const u8,
    mask_stride: u32,
    out_id: *mut u64,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        let (view, window) = unsafe { arg::image(image, "image") }?;
        let (m, ms) = unsafe { arg::mask(mask, mask_stride, view.width, view.height, "mask") }?;
        let id = s.context_add(&view, window, m, ms)?;
        unsafe { arg::set_opt(out_id, id) };
        Ok(())
    })
}

/// Removes the context entry `id` (MVS_ERR_NOT_FOUND if there is none).
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_remove(
    session: *mut MvsSession,
    id: u64,
) -> MvsStatus {
    guard(|| unsafe { arg::session(session) }?.context_remove(id))
}

/// Writes the number of context entries to `*out`.
///
/// # Safety
/// `session` is a live handle, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_count(
    session: *const MvsSession,
    out: *mut usize,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { arg::session(session) }?;
        *unsafe { arg::out(out, "out") }? = s.context_count();
        Ok(())
    })
}

/// Writes up to `capacity` context ids (insertion order) to `ids` and the total count to
/// `*out_count`. `ids` may be null when `capacity` is 0 (to query the count).
///
/// # Safety
/// `session` is a live handle; `ids` null or valid for `capacity` writes.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_list(
    session: *const MvsSession,
    ids: *mut u64,
    capacity: usize,
    out_count: *mut usize,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { arg::session(session) }?;
        let out_count = unsafe { arg::out(out_count, "out_count") }?;
        if capacity > 0 && ids.is_null() {
            return Err(Error::arg("ids: null pointer with capacity > 0"));
        }
        let all = s.context_ids();
        unsafe { arg::copy_out(&all, ids, capacity) };
        *out_count = all.len();
        Ok(())
    })
}

/// Removes every context entry.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_clear(session: *mut MvsSession) -> MvsStatus {
    guard(|| {
        unsafe { arg::session(session) }?.context_clear();
        Ok(())
    })
}

/// Saves the context set to a file, crash-safely (a temporary file, synced, renamed): after
/// a crash at any moment the file holds the old context or the new one. The file carries a
/// checksum; files of older versions still load.
///
/// # Safety
/// `session` is a live handle, `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_save(
    session: *const MvsSession,
    path: *const c_char,
) -> MvsStatus {
    guard(|| {
        let s = unsafe { arg::session(session) }?;
        s.context_save(&unsafe { arg::path(path, "path") }?)
    })
}

/// Replaces the context set with one saved by mvs_session_context_save. A truncated or
/// corrupted file is MVS_ERR_FORMAT with a message saying what is wrong; the session is
/// then unchanged.
///
/// # Safety
/// `session` is a live handle, `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_load(
    session: *mut MvsSession,
    path: *const c_char,
) -> MvsStatus {
    guard(|| {
        let mut s = unsafe { arg::session(session) }?;
        s.context_load(&unsafe { arg::path(path, "path") }?)
    })
}

/// Adds every image_N.png / mask_N.png pair of a folder (as SlicerMultiverSeg writes them);
/// masks: nonzero = foreground (a mask with more than two values is an error naming the
/// file; see mvs_session_context_import_folder_label). RGB images become gray by the
/// ITU-R 601-2 luma weights. `*out_added` (may be null) receives how many were added. All
/// or nothing.
///
/// # Safety
/// `session` is a live handle, `dir` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_import_folder(
    session: *mut MvsSession,
    dir: *const c_char,
    out_added: *mut usize,
) -> MvsStatus {
    guard(|| unsafe { import(session, dir, MaskLabel::Nonzero, out_added) })
}

/// As mvs_session_context_import_folder, but the masks are label maps: pixels equal to
/// `label` (in the file's units, e.g. 0..65535 for 16-bit PNGs) are the foreground.
///
/// # Safety
/// As mvs_session_context_import_folder.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_context_import_folder_label(
    session: *mut MvsSession,
    dir: *const c_char,
    label: u32,
    out_added: *mut usize,
) -> MvsStatus {
    guard(|| unsafe { import(session, dir, MaskLabel::Value(label), out_added) })
}

/// # Safety
/// As mvs_session_context_import_folder.
unsafe fn import(
    session: *mut MvsSession,
    dir: *const c_char,
    label: MaskLabel,
    out_added: *mut usize,
) -> Result<(), Error> {
    let mut s = unsafe { arg::session(session) }?;
    let dir = unsafe { arg::path(dir, "dir") }?;
    let ids = s.context_import_folder(&dir, label)?;
    unsafe { arg::set_opt(out_added, ids.len()) };
    Ok(())
}

/// Which context entries a prediction uses: `cap` = 0 for all of them (the default), else
/// at most `cap`, chosen by `select` (an MvsContextSelect value). A cap bounds the latency
/// as the context grows to hundreds of images.
///
/// # Safety
/// `session` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn mvs_session_set_context_policy(
    session: *mut MvsSession,
    cap: u32,
    select: u32,
) -> MvsStatus {
    guard(|| {
        let select = match select {
            x if x == MvsContextSelect::MVS_SELECT_LATEST as u32 => Select::Latest,
            x if x == MvsContextSelect::MVS_SELECT_SIMILAR as u32 => Select::Similar,
            x => return Err(Error::arg(format!("select: unknown value {x}"))),
        };
        let policy = match cap {
            0 => ContextPolicy { cap: None, select },
            k => ContextPolicy::capped(k as usize, select),
        };
        unsafe { arg::session(session) }?.set_context_policy(policy)
    })
}
