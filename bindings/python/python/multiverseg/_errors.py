"""The exceptions of multiverseg: one class per C status code (include/multiverseg.h),
all derived from MultiverSegError and, where one fits, from the matching built-in."""


class MultiverSegError(Exception):
    """Base class of every error the library raises; ``status`` is the C status code."""

    status = 0


class InvalidArgumentError(MultiverSegError, ValueError):
    """An argument is invalid (wrong size, NaN pixel, point outside the image); the
    message names it. MVS_ERR_INVALID_ARGUMENT."""

    status = 1


class IoError(MultiverSegError, OSError):
    """Reading or writing a file failed; the message names the file. MVS_ERR_IO."""

    status = 2


class FormatError(MultiverSegError, ValueError):
    """A file is not in the expected format (truncated, corrupt, wrong tensors).
    MVS_ERR_FORMAT."""

    status = 3


class NotFoundError(MultiverSegError, LookupError):
    """A context entry id does not exist. MVS_ERR_NOT_FOUND."""

    status = 4


class StateError(MultiverSegError, RuntimeError):
    """The call is not valid now (e.g. predict before set_image). MVS_ERR_STATE."""

    status = 5


class BackendError(MultiverSegError, RuntimeError):
    """The inference backend failed. MVS_ERR_BACKEND."""

    status = 6


class InternalError(MultiverSegError, RuntimeError):
    """A bug in the library (a caught panic); please report it. MVS_ERR_INTERNAL."""

    status = 7


class CancelledError(MultiverSegError):
    """The call was cancelled (Session.cancel or a progress callback); nothing changed.
    MVS_ERR_CANCELLED."""

    status = 8


class OutOfMemoryError(MultiverSegError, MemoryError):
    """The prediction would need more memory than the model's memory_limit allows.
    MVS_ERR_OUT_OF_MEMORY."""

    status = 9
