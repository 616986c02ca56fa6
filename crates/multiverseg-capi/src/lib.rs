//! The C ABI of multiverseg: a thin layer that converts, checks and catches.
//!
//! Every fallible function returns an [`MvsStatus`]; on failure the message is available
//! from [`mvs_last_error_message`] on the same thread and the objects involved are
//! unchanged. Every entry point, the `void` ones included, runs inside one panic boundary
//! ([`error::guard`], [`error::guard_void`]): no panic crosses into C.
//!
//! Ownership and threads: an `MvsModel` is immutable and may be used by sessions on any
//! number of threads at once; a session keeps its model alive, so the model handle may be
//! freed before its sessions. An `MvsSession` must be used by one thread at a time, except
//! for `mvs_session_cancel`, which any thread may call while the session runs.
//!
//! Layout: [`types`] (the C types), [`error`] (status, message, panic boundary), [`arg`]
//! (argument conversion: handles, out-pointers, images, masks, paths), then one module per
//! object: [`model`], [`session`], [`context`], [`log`].

#![allow(non_camel_case_types)]
#![warn(missing_docs)]

use multiverseg_core as core;

pub mod arg;
pub mod context;
pub mod error;
pub mod log;
pub mod model;
pub mod session;
pub mod types;

pub use types::*;

/// The library version as a static NUL-terminated string (e.g. "0.1.0"); the header's
/// MVS_VERSION_MAJOR/MINOR/PATCH give the version it was generated for.
#[no_mangle]
pub extern "C" fn mvs_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const std::ffi::c_char
}
