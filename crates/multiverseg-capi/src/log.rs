//! Logging: the library writes nothing to stderr. Its messages (e.g. why the GPU fell back
//! to the CPU) go through the `log` facade to the callback set here, or nowhere.

use crate::error::guard;
use crate::types::{MvsLogFn, MvsLogLevel, MvsStatus};
use std::ffi::{c_int, c_void, CString};
use std::sync::{Once, RwLock};

struct Callback {
    f: unsafe extern "C" fn(c_int, *const std::ffi::c_char, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the host promises that the callback may be called from any thread with its
// user_data (documented on mvs_set_log_callback).
unsafe impl Send for Callback {}
unsafe impl Sync for Callback {}

static CALLBACK: RwLock<Option<Callback>> = RwLock::new(None);
static INSTALL: Once = Once::new();

struct Forward;

impl log::Log for Forward {
    fn enabled(&self, _: &log::Metadata) -> bool {
        CALLBACK.read().map(|c| c.is_some()).unwrap_or(false)
    }

    fn log(&self, record: &log::Record) {
        let Ok(guard) = CALLBACK.read() else { return };
        let Some(cb) = guard.as_ref() else { return };
        let level = match record.level() {
            log::Level::Error => MvsLogLevel::MVS_LOG_ERROR,
            log::Level::Warn => MvsLogLevel::MVS_LOG_WARN,
            log::Level::Info => MvsLogLevel::MVS_LOG_INFO,
            log::Level::Debug => MvsLogLevel::MVS_LOG_DEBUG,
            log::Level::Trace => MvsLogLevel::MVS_LOG_TRACE,
        };
        let msg = CString::new(format!("{}", record.args()).replace('\0', " ")).unwrap_or_default();
        // SAFETY: the host's callback with its own user_data; the message outlives the call.
        unsafe { (cb.f)(level as c_int, msg.as_ptr(), cb.user_data) };
    }

    fn flush(&self) {}
}

/// Sends the library's log messages to `callback` (with `user_data`) from now on; null
/// turns logging off (the default: nothing is logged anywhere). Messages at every level
/// (MvsLogLevel) are passed; filter in the callback. The callback may be called from any
/// thread that runs library code, concurrently; it must not call back into the library.
/// If the process already installed another `log` logger (a Rust host), the library's
/// messages go to that logger instead.
///
/// # Safety
/// `callback` is null or a function valid for the life of the process (or until replaced),
/// safe to call from any thread with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn mvs_set_log_callback(
    callback: MvsLogFn,
    user_data: *mut c_void,
) -> MvsStatus {
    guard(|| {
        INSTALL.call_once(|| {
            static FORWARD: Forward = Forward;
            if log::set_logger(&FORWARD).is_ok() {
                log::set_max_level(log::LevelFilter::Trace);
            }
        });
        let mut slot = CALLBACK.write().unwrap_or_else(|e| e.into_inner());
        *slot = callback.map(|f| Callback { f, user_data });
        Ok(())
    })
}
