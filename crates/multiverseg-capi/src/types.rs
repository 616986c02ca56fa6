//! The C types: status codes, enums, structs and callbacks. Integers that carry an enum
//! value are plain `uint32_t` in the structs and arguments, so an unknown value is an error
//! with a message rather than undefined behaviour.

use std::ffi::{c_char, c_int, c_void};

/// Status codes returned by every fallible function.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsStatus {
    /// Success.
    MVS_OK = 0,
    /// An argument is invalid (null pointer, bad size, NaN pixel, point outside the image).
    MVS_ERR_INVALID_ARGUMENT = 1,
    /// A file could not be read or written.
    MVS_ERR_IO = 2,
    /// A file is not in the expected format (not a model, truncated, corrupt).
    MVS_ERR_FORMAT = 3,
    /// An id does not exist (e.g. an unknown context entry).
    MVS_ERR_NOT_FOUND = 4,
    /// The call is not valid now (e.g. predict before set_image, commit before predict).
    MVS_ERR_STATE = 5,
    /// The inference backend failed.
    MVS_ERR_BACKEND = 6,
    /// An internal error (a bug); the message says more.
    MVS_ERR_INTERNAL = 7,
    /// The call was cancelled (mvs_session_cancel, or a progress callback returned
    /// non-zero); nothing was changed.
    MVS_ERR_CANCELLED = 8,
    /// The call would need more memory than the model's memory_limit allows (checked
    /// before allocating); the message names the context size and the estimate.
    MVS_ERR_OUT_OF_MEMORY = 9,
}

/// Pixel types accepted for images.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsPixelType {
    /// uint8_t
    MVS_PIXEL_U8 = 0,
    /// uint16_t
    MVS_PIXEL_U16 = 1,
    /// int16_t
    MVS_PIXEL_I16 = 2,
    /// float (NaN and Inf are rejected)
    MVS_PIXEL_F32 = 3,
}

/// Backend choice (MvsModelOptions.backend, mvs_model_load).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsBackend {
    /// A hardware GPU when one is available (Vulkan, Metal or DX12), else the CPU.
    MVS_BACKEND_AUTO = 0,
    /// The CPU.
    MVS_BACKEND_CPU = 1,
    /// The GPU (software adapters such as lavapipe included); loading fails with
    /// MVS_ERR_BACKEND when there is none. A GPU that fails later (lost device, out of
    /// memory) falls back to the CPU, with the reason in the log and the backend name.
    MVS_BACKEND_GPU = 2,
}

/// How the CPU computes the networks' 3x3 convolutions (MvsModelOptions.cpu_conv).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsCpuConv {
    /// Winograd F(4x4, 3x3): the fastest; logits within 3e-5 of an f64 reference.
    MVS_CPU_CONV_WINOGRAD_4X4 = 0,
    /// Winograd F(2x2, 3x3): rounds as PyTorch does (within 1.1e-5 of f64); slower.
    MVS_CPU_CONV_WINOGRAD_2X2 = 1,
}

/// How a capped context is filled (mvs_session_set_context_policy).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsContextSelect {
    /// The most recently added entries.
    MVS_SELECT_LATEST = 0,
    /// The entries whose images are most similar to the target's (cosine similarity of
    /// 16x16 mean-pooled, centred intensities).
    MVS_SELECT_SIMILAR = 1,
}

/// Which network predicts an image once it has a prompt, while the context has at least
/// min_context entries (mvs_session_set_after_prompt). The prediction before any prompt is
/// not affected by it. Measured on the shipped model in weights/eval/v10_mean/ (issue 14).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsAfterPrompt {
    /// MultiverSegNet with the context (the paper; the default).
    MVS_AFTER_PROMPT_MULTIVERSEG = 0,
    /// ScribblePrompt-UNet alone on the same input; its mask input is the previous prediction.
    MVS_AFTER_PROMPT_UNET = 1,
    /// Both networks on the same input; the prediction is the mean of their logits (one UNet
    /// pass more, a few ms on the CPU).
    MVS_AFTER_PROMPT_MEAN = 2,
    /// MVS_AFTER_PROMPT_MEAN while every prompt of the image is a click, MultiverSegNet alone
    /// once it has a box or a scribble.
    MVS_AFTER_PROMPT_MEAN_FOR_CLICKS = 3,
}

/// Log levels passed to the log callback.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MvsLogLevel {
    /// A failure the library recovered from (e.g. a GPU failure, running on the CPU).
    MVS_LOG_ERROR = 1,
    /// Something the host should know (e.g. a fallback).
    MVS_LOG_WARN = 2,
    /// Progress and choices (e.g. the backend picked).
    MVS_LOG_INFO = 3,
    /// Details for debugging.
    MVS_LOG_DEBUG = 4,
    /// Very detailed tracing.
    MVS_LOG_TRACE = 5,
}

/// A 2D single-channel image in caller memory.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MvsImage {
    /// First pixel; rows are `stride` pixels apart.
    pub data: *const c_void,
    /// Pixel type of `data`: one of the MvsPixelType values.
    pub pixel_type: u32,
    /// Width in pixels (1..=32768).
    pub width: u32,
    /// Height in pixels (1..=32768).
    pub height: u32,
    /// Row stride in pixels; 0 means `width`.
    pub stride: u32,
    /// Non-zero: map [window_lo, window_hi] to [0, 1] and clip; zero: min-max of the image.
    pub use_window: c_int,
    /// Lower end of the intensity window.
    pub window_lo: f32,
    /// Upper end of the intensity window.
    pub window_hi: f32,
}

/// Options for mvs_model_load_with. Initialize with mvs_model_options_init(&o, sizeof o),
/// then change fields. `struct_size` lets the struct grow: a library reads only the fields
/// that fit in the caller's struct_size and uses defaults for newer ones, so a program
/// compiled against an older header keeps working with a newer library.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct MvsModelOptions {
    /// sizeof(MvsModelOptions) as the caller compiled it (set by mvs_model_options_init).
    pub struct_size: u32,
    /// One of the MvsBackend values (default MVS_BACKEND_AUTO).
    pub backend: u32,
    /// CPU threads, 0 = all cores (default 0).
    pub threads: u32,
    /// GPU conv kernel register block rows, 4 or 8; 0 = by device (default 0). Tuning only.
    pub gpu_conv_tile_rows: u32,
    /// GPU conv kernel register block columns, 4 or 8; 0 = by device (default 0).
    pub gpu_conv_tile_cols: u32,
    /// How the CPU computes the 3x3 convolutions: one of the MvsCpuConv values (default
    /// MVS_CPU_CONV_WINOGRAD_4X4 = 0). Earlier builds named this field `reserved` and
    /// required 0, so callers compiled against them get the default.
    pub cpu_conv: u32,
    /// GPU adapter: only adapters whose name contains this (case-insensitive), e.g.
    /// "NVIDIA"; NULL = the best adapter (default NULL). Read during the load call only.
    pub gpu_adapter: *const c_char,
    /// Most context entries the GPU processes at once, 0 = as its limits allow (default 0).
    pub gpu_max_chunk: u64,
    /// Most bytes of GPU memory one session's activations may take, 0 = no limit
    /// (default 0); a prediction that needs more runs on the CPU.
    pub gpu_memory_limit: u64,
    /// Most bytes of activations one CPU prediction may need; a prediction estimated above
    /// it fails with MVS_ERR_OUT_OF_MEMORY before allocating. 0 = three quarters of the
    /// physical memory (default 0); UINT64_MAX = no limit.
    pub memory_limit: u64,
}

/// Progress of a long call: `done` of `total` items finished. Return non-zero to cancel the
/// call (it then returns MVS_ERR_CANCELLED and changes nothing). Called on the calling
/// thread.
pub type MvsProgressFn =
    Option<unsafe extern "C" fn(done: usize, total: usize, user_data: *mut c_void) -> c_int>;

/// Receives the library's log messages: `level` is an MvsLogLevel value, `message` a
/// NUL-terminated UTF-8 string valid during the call. May be called from any thread that
/// runs library code, concurrently; it must not call back into the library.
pub type MvsLogFn =
    Option<unsafe extern "C" fn(level: c_int, message: *const c_char, user_data: *mut c_void)>;

/// A loaded model (opaque). Thread-safe; shared by sessions.
pub struct MvsModel(pub(crate) multiverseg_core::Model);

/// One segmentation task (opaque). Use from one thread at a time; mvs_session_cancel may
/// be called from any thread.
pub struct MvsSession {
    /// The session; the mutex makes concurrent misuse block instead of corrupting it.
    pub(crate) session: std::sync::Mutex<multiverseg_core::Session>,
    /// The session's cancel token, reachable without the lock (for mvs_session_cancel).
    pub(crate) cancel: multiverseg_core::CancelToken,
}
