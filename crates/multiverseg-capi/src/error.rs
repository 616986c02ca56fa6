//! Status codes, the thread's last error message, and the panic boundary every entry point
//! runs in.

use crate::core::{Error, ErrorKind};
use crate::types::MvsStatus;
use std::cell::RefCell;
use std::ffi::{c_char, CString};

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
    // Nothing here can panic (a thread-local borrow of a string), but the rule holds for
    // every entry point.
    std::panic::catch_unwind(|| LAST_ERROR.with(|e| e.borrow().as_ptr()))
        .unwrap_or(c"internal error: the error message is unavailable".as_ptr())
}

/// The C status of an error kind.
pub fn status(kind: ErrorKind) -> MvsStatus {
    match kind {
        ErrorKind::InvalidArgument => MvsStatus::MVS_ERR_INVALID_ARGUMENT,
        ErrorKind::Io => MvsStatus::MVS_ERR_IO,
        ErrorKind::Format => MvsStatus::MVS_ERR_FORMAT,
        ErrorKind::NotFound => MvsStatus::MVS_ERR_NOT_FOUND,
        ErrorKind::State => MvsStatus::MVS_ERR_STATE,
        ErrorKind::Backend => MvsStatus::MVS_ERR_BACKEND,
        ErrorKind::Internal => MvsStatus::MVS_ERR_INTERNAL,
        ErrorKind::Cancelled => MvsStatus::MVS_ERR_CANCELLED,
        ErrorKind::OutOfMemory => MvsStatus::MVS_ERR_OUT_OF_MEMORY,
    }
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs the body of a fallible entry point: converts its error to a status and this
/// thread's message, and a panic to MVS_ERR_INTERNAL.
pub fn guard(f: impl FnOnce() -> Result<(), Error>) -> MvsStatus {
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
            set_error(&format!(
                "internal error (panic caught at the C boundary): {}",
                panic_message(p)
            ));
            MvsStatus::MVS_ERR_INTERNAL
        }
    }
}

/// Runs the body of an entry point that returns nothing (the free functions): a panic is
/// caught and logged, never propagated into C.
pub fn guard_void(f: impl FnOnce()) {
    if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        ::log::error!("panic caught at the C boundary: {}", panic_message(p));
    }
}
