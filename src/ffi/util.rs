//! Error plumbing for the C ABI: the thread-local message and the panic guard.

use super::MvsStatus;
use crate::{Error, ErrorKind};
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The message of the last failed call on this thread ("" after a success). The pointer is
/// valid until the next mvs_* call on the same thread.
#[no_mangle]
pub extern "C" fn mvs_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn status(kind: ErrorKind) -> MvsStatus {
    match kind {
        ErrorKind::InvalidArgument => MvsStatus::MVS_ERR_INVALID_ARGUMENT,
        ErrorKind::Io => MvsStatus::MVS_ERR_IO,
        ErrorKind::Format => MvsStatus::MVS_ERR_FORMAT,
        ErrorKind::NotFound => MvsStatus::MVS_ERR_NOT_FOUND,
        ErrorKind::State => MvsStatus::MVS_ERR_STATE,
        ErrorKind::Backend => MvsStatus::MVS_ERR_BACKEND,
        ErrorKind::Internal => MvsStatus::MVS_ERR_INTERNAL,
    }
}

/// Runs `f`, converting errors and panics to a status and the thread's message.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), Error>) -> MvsStatus {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            set_error("");
            MvsStatus::MVS_OK
        }
        Ok(Err(e)) => {
            set_error(&e.message);
            status(e.kind)
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_error(&format!(
                "internal error (panic caught at the C boundary): {what}"
            ));
            MvsStatus::MVS_ERR_INTERNAL
        }
    }
}

/// A non-null out pointer as a mutable reference.
pub(crate) unsafe fn out_ptr<'a, T>(p: *mut T, name: &str) -> Result<&'a mut T, Error> {
    unsafe { p.as_mut() }.ok_or_else(|| Error::arg(format!("{name}: null pointer")))
}

/// A NUL-terminated UTF-8 path argument.
pub(crate) unsafe fn path_arg(p: *const c_char, name: &str) -> Result<PathBuf, Error> {
    if p.is_null() {
        return Err(Error::arg(format!("{name}: null pointer")));
    }
    let s = unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::arg(format!("{name}: not valid UTF-8")))?;
    if s.is_empty() {
        return Err(Error::arg(format!("{name}: empty path")));
    }
    Ok(PathBuf::from(s))
}
