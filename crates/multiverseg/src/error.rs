//! Error type shared by the whole library; each kind maps to one C status code.

use std::fmt;

/// What went wrong, coarse enough to become a C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ErrorKind {
    /// An argument is invalid (null, wrong size, NaN pixel, out-of-range value).
    InvalidArgument = 1,
    /// Reading or writing a file failed.
    Io = 2,
    /// A file is not in the expected format (truncated, corrupt, wrong tensors).
    Format = 3,
    /// An id (context entry, prompt) does not exist.
    NotFound = 4,
    /// The call is not valid in the current state (e.g. predict before an image is set).
    State = 5,
    /// The inference backend failed.
    Backend = 6,
    /// A bug: an internal invariant broke or a panic was caught.
    Internal = 7,
    /// The call was cancelled (a cancel token, or a progress callback asking to stop);
    /// nothing was changed.
    Cancelled = 8,
    /// The call would need more memory than the model's `memory_limit` allows.
    OutOfMemory = 9,
}

/// Library error: a kind and a message that names the offending argument or file.
#[derive(Debug, Clone)]
pub struct Error {
    /// The category, mapped to a C status code.
    pub kind: ErrorKind,
    /// Human-readable explanation.
    pub message: String,
}

impl Error {
    /// Builds an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// Shorthand for [`ErrorKind::InvalidArgument`].
    pub fn arg(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// Shorthand for [`ErrorKind::Format`].
    pub fn format(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Format, message)
    }
    /// Shorthand for [`ErrorKind::Io`], naming the path.
    pub fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{}: {}", path.display(), e))
    }
    /// Shorthand for [`ErrorKind::State`].
    pub fn state(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::State, message)
    }
    /// Shorthand for [`ErrorKind::Cancelled`].
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "cancelled: nothing was changed")
    }
    /// Shorthand for [`ErrorKind::Backend`].
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backend, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
