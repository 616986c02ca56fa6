//! Model functions: options, loading, the backend's name, freeing.
//!
//! Options follow whisper.cpp's `whisper_context_params` (a plain struct with a defaults
//! function) with one change for ABI evolution: the struct starts with its own size, which
//! `mvs_model_options_init` takes from the caller. A newer library reads only the fields
//! that fit in an older caller's struct and uses defaults for the rest; an older library
//! ignores fields it does not know. An opaque builder (one setter per option) would evolve
//! as well, but every language binding would then need a call per field; a struct maps
//! directly onto C++, JNA and ctypes.

use crate::arg;
use crate::core::{BackendKind, CpuConv, Error, Model, ModelOptions};
use crate::error::{guard, guard_void};
use crate::types::{MvsBackend, MvsCpuConv, MvsModel, MvsModelOptions, MvsStatus};
use std::ffi::c_char;
use std::mem::{offset_of, size_of};

/// The library's defaults, with `struct_size` = the library's own size.
fn defaults() -> MvsModelOptions {
    MvsModelOptions {
        struct_size: size_of::<MvsModelOptions>() as u32,
        backend: MvsBackend::MVS_BACKEND_AUTO as u32,
        threads: 0,
        gpu_conv_tile_rows: 0,
        gpu_conv_tile_cols: 0,
        cpu_conv: MvsCpuConv::MVS_CPU_CONV_WINOGRAD_4X4 as u32,
        gpu_adapter: std::ptr::null(),
        gpu_max_chunk: 0,
        gpu_memory_limit: 0,
        memory_limit: 0,
    }
}

/// Whether the field at `offset` of `len` bytes lies within `size` bytes.
fn fits(offset: usize, len: usize, size: usize) -> bool {
    offset + len <= size
}

macro_rules! fields {
    ($m:ident) => {
        $m!(backend, u32);
        $m!(threads, u32);
        $m!(gpu_conv_tile_rows, u32);
        $m!(gpu_conv_tile_cols, u32);
        $m!(cpu_conv, u32);
        $m!(gpu_adapter, *const c_char);
        $m!(gpu_max_chunk, u64);
        $m!(gpu_memory_limit, u64);
        $m!(memory_limit, u64);
    };
}

/// Fills `*opts` with the defaults. `struct_size` is sizeof(MvsModelOptions) as the caller
/// compiled it (at least the size of `struct_size` itself); only that many bytes are
/// written.
///
/// # Safety
/// `opts` is null or valid for `struct_size` bytes of writes.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_options_init(
    opts: *mut MvsModelOptions,
    struct_size: usize,
) -> MvsStatus {
    guard(|| {
        if opts.is_null() {
            return Err(Error::arg("opts: null pointer"));
        }
        if struct_size < size_of::<u32>() {
            return Err(Error::arg(format!(
                "struct_size: {struct_size} is too small for an MvsModelOptions"
            )));
        }
        let d = defaults();
        let base = opts as *mut u8;
        // SAFETY: the caller gave struct_size writable bytes; each write is within them.
        unsafe {
            (base as *mut u32).write_unaligned(struct_size.min(u32::MAX as usize) as u32);
            macro_rules! put {
                ($f:ident, $t:ty) => {
                    if fits(
                        offset_of!(MvsModelOptions, $f),
                        size_of::<$t>(),
                        struct_size,
                    ) {
                        (base.add(offset_of!(MvsModelOptions, $f)) as *mut $t)
                            .write_unaligned(d.$f);
                    }
                };
            }
            fields!(put);
        }
        Ok(())
    })
}

/// The options a caller's struct asks for (fields beyond its struct_size: defaults).
///
/// # Safety
/// `opts` is null (all defaults) or an MvsModelOptions of at least `struct_size` bytes.
unsafe fn read_options(opts: *const MvsModelOptions) -> Result<ModelOptions, Error> {
    let mut o = defaults();
    if !opts.is_null() {
        let base = opts as *const u8;
        // SAFETY: struct_size is the first field; each read stays within struct_size.
        let size = unsafe { (base as *const u32).read_unaligned() } as usize;
        if size < size_of::<u32>() {
            return Err(Error::arg(format!(
                "opts: struct_size {size} is invalid (initialize with mvs_model_options_init)"
            )));
        }
        unsafe {
            macro_rules! get {
                ($f:ident, $t:ty) => {
                    if fits(offset_of!(MvsModelOptions, $f), size_of::<$t>(), size) {
                        o.$f = (base.add(offset_of!(MvsModelOptions, $f)) as *const $t)
                            .read_unaligned();
                    }
                };
            }
            fields!(get);
        }
    }
    convert(&o)
}

/// The core options for a checked C struct.
fn convert(o: &MvsModelOptions) -> Result<ModelOptions, Error> {
    let backend = match o.backend {
        b if b == MvsBackend::MVS_BACKEND_AUTO as u32 => BackendKind::Auto,
        b if b == MvsBackend::MVS_BACKEND_CPU as u32 => BackendKind::Cpu,
        b if b == MvsBackend::MVS_BACKEND_GPU as u32 => BackendKind::Gpu,
        b => return Err(Error::arg(format!("backend: unknown value {b}"))),
    };
    let cpu_conv = match o.cpu_conv {
        c if c == MvsCpuConv::MVS_CPU_CONV_WINOGRAD_4X4 as u32 => CpuConv::Winograd4x4,
        c if c == MvsCpuConv::MVS_CPU_CONV_WINOGRAD_2X2 as u32 => CpuConv::Winograd2x2,
        c => return Err(Error::arg(format!("cpu_conv: unknown value {c}"))),
    };
    let gpu_conv_tile = match (o.gpu_conv_tile_rows, o.gpu_conv_tile_cols) {
        (0, 0) => None,
        (r, c) => Some((r, c)),
    };
    let gpu_adapter = if o.gpu_adapter.is_null() {
        None
    } else {
        // SAFETY: a non-null adapter is a NUL-terminated string (documented).
        Some(unsafe { arg::string(o.gpu_adapter, "gpu_adapter") }?)
    };
    Ok(ModelOptions {
        backend,
        threads: o.threads as usize,
        cpu_conv,
        gpu_adapter,
        gpu_conv_tile,
        gpu_max_chunk: usize::try_from(o.gpu_max_chunk).unwrap_or(usize::MAX),
        gpu_batch_targets: 0,
        gpu_memory_limit: o.gpu_memory_limit,
        memory_limit: o.memory_limit,
    })
}

/// Stores a new handle in `*out` after a successful load.
///
/// # Safety
/// `out` is null or valid for a write.
unsafe fn load_into(
    out: *mut *mut MvsModel,
    opts: Result<ModelOptions, Error>,
    load: impl FnOnce(&ModelOptions) -> Result<Model, Error>,
) -> Result<(), Error> {
    let out = unsafe { arg::out(out, "out") }?;
    let m = load(&opts?)?;
    *out = Box::into_raw(Box::new(MvsModel(m)));
    Ok(())
}

/// Loads a weights file (safetensors from `mvs convert` or tools/train) with `opts` (null:
/// all defaults). On success `*out` owns a new model; free it with mvs_model_free.
///
/// # Safety
/// `path` is a NUL-terminated string, `opts` null or initialized by
/// mvs_model_options_init, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load_with(
    path: *const c_char,
    opts: *const MvsModelOptions,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| {
        let path = unsafe { arg::path(path, "path") }?;
        unsafe { load_into(out, read_options(opts), |o| Model::load_with(&path, o)) }
    })
}

/// Loads a named model (`"official-v1"`, `"official-v0"`) from the user cache folder
/// (`$MVS_CACHE_DIR`, else the platform's cache folder + `multiverseg`), where `mvs fetch`
/// or the Python `multiverseg.fetch` put it, with `opts` (null: all defaults). Never
/// touches the network.
///
/// Errors: MVS_ERR_INVALID_ARGUMENT (null or unknown `name`), MVS_ERR_NOT_FOUND (not
/// fetched yet; the message says how to fetch it or place the files by hand), then as
/// mvs_model_load_with.
///
/// # Safety
/// `name` is a NUL-terminated UTF-8 string, `opts` null or initialized by
/// mvs_model_options_init, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load_named(
    name: *const c_char,
    opts: *const MvsModelOptions,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| {
        let name = unsafe { arg::string(name, "name") }?;
        unsafe { load_into(out, read_options(opts), |o| Model::load_named(&name, o)) }
    })
}

/// Loads the model shipped with the library with `opts` (null: all defaults).
///
/// # Safety
/// As mvs_model_load_with.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load_default_with(
    opts: *const MvsModelOptions,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| unsafe { load_into(out, read_options(opts), Model::load_default) })
}

/// The options of the short forms: `backend` and `threads`, the rest defaults.
fn short_options(backend: u32, threads: u32) -> Result<ModelOptions, Error> {
    convert(&MvsModelOptions {
        backend,
        threads,
        ..defaults()
    })
}

/// Loads a weights file; short for mvs_model_load_with with only `backend` (an MvsBackend
/// value) and `threads` (0 = all cores) set.
///
/// # Safety
/// `path` is a NUL-terminated string, `out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load(
    path: *const c_char,
    backend: u32,
    threads: u32,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| {
        let path = unsafe { arg::path(path, "path") }?;
        unsafe {
            load_into(out, short_options(backend, threads), |o| {
                Model::load_with(&path, o)
            })
        }
    })
}

/// Loads the model shipped with the library; arguments as mvs_model_load.
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_load_default(
    backend: u32,
    threads: u32,
    out: *mut *mut MvsModel,
) -> MvsStatus {
    guard(|| unsafe { load_into(out, short_options(backend, threads), Model::load_default) })
}

/// Writes the model's backend description (e.g. "cpu (tract, 2 threads, winograd 4x4)") as a
/// NUL-terminated string into `buf` of `capacity` bytes, truncated to fit, and its full
/// length without the NUL to `*out_len` (may be null). `buf` may be null when `capacity`
/// is 0 (to query the length).
///
/// # Safety
/// `model` is a live handle; `buf` is null or valid for `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_backend_name(
    model: *const MvsModel,
    buf: *mut c_char,
    capacity: usize,
    out_len: *mut usize,
) -> MvsStatus {
    guard(|| {
        let m = unsafe { arg::model(model) }?;
        if buf.is_null() && capacity > 0 {
            return Err(Error::arg("buf: null with a non-zero capacity"));
        }
        let name = m.backend_name();
        if capacity > 0 {
            let n = name.len().min(capacity - 1);
            // SAFETY: the caller gives `capacity` writable bytes at `buf`.
            unsafe {
                std::ptr::copy_nonoverlapping(name.as_ptr(), buf as *mut u8, n);
                *buf.add(n) = 0;
            }
        }
        unsafe { arg::set_opt(out_len, name.len()) };
        Ok(())
    })
}

/// Frees a model (null is ignored). Sessions created from it stay valid.
///
/// # Safety
/// `model` is null or a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn mvs_model_free(model: *mut MvsModel) {
    guard_void(|| {
        if !model.is_null() {
            drop(unsafe { Box::from_raw(model) });
        }
    })
}
