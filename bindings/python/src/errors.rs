//! Library errors to Python exceptions. The classes live in `multiverseg/_errors.py` (so
//! that they can also derive from the matching built-in: ValueError, OSError, ...); each
//! carries the C status code of its kind as `status`.

use multiverseg::{Error, ErrorKind};
use pyo3::prelude::*;

/// The exception class name for a kind; the same names as the C status codes.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Io => "IoError",
        ErrorKind::Format => "FormatError",
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::State => "StateError",
        ErrorKind::Backend => "BackendError",
        ErrorKind::Internal => "InternalError",
        ErrorKind::Cancelled => "CancelledError",
        ErrorKind::OutOfMemory => "OutOfMemoryError",
    }
}

/// Converts a library error into the matching `multiverseg` exception.
pub fn to_py(e: Error) -> PyErr {
    Python::attach(|py| {
        let made = py
            .import("multiverseg._errors")
            .and_then(|m| m.getattr(class_name(e.kind)))
            .and_then(|cls| cls.call1((e.message.clone(),)));
        match made {
            Ok(obj) => PyErr::from_value(obj),
            // Only if the package is broken (the module missing): still an error, still
            // with the message.
            Err(_) => pyo3::exceptions::PyRuntimeError::new_err(e.to_string()),
        }
    })
}

/// `Result<T, Error>` to `PyResult<T>`.
pub trait IntoPy<T> {
    /// Maps the error with [`to_py`].
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for multiverseg::Result<T> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
