//! `multiverseg.Model`: loaded weights with a backend, shared by any number of sessions
//! and threads.

use crate::errors::IntoPy;
use multiverseg::{BackendKind, CpuConv, Model, ModelOptions};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// Loaded MultiverSegNet (and ScribblePrompt-UNet) weights with a backend. Immutable;
/// share one model between sessions and threads.
#[pyclass(name = "Model", module = "multiverseg", frozen)]
pub struct PyModel {
    pub(crate) inner: Model,
}

fn options(
    backend: &str,
    threads: usize,
    gpu_adapter: Option<String>,
    memory_limit: u64,
    cpu_conv: &str,
) -> PyResult<ModelOptions> {
    let cpu_conv = match cpu_conv {
        "winograd4x4" => CpuConv::Winograd4x4,
        "winograd2x2" => CpuConv::Winograd2x2,
        other => {
            return Err(PyValueError::new_err(format!(
                "cpu_conv: '{other}' is not one of 'winograd4x4', 'winograd2x2'"
            )))
        }
    };
    let backend = match backend {
        "auto" => BackendKind::Auto,
        "cpu" => BackendKind::Cpu,
        "gpu" => BackendKind::Gpu,
        other => {
            return Err(PyValueError::new_err(format!(
                "backend: '{other}' is not one of 'auto', 'cpu', 'gpu'"
            )))
        }
    };
    Ok(ModelOptions {
        backend,
        threads,
        gpu_adapter,
        memory_limit,
        cpu_conv,
        ..Default::default()
    })
}

/// Runs `load` without the GIL (reading and preparing weights takes a while).
fn loaded(
    py: Python<'_>,
    load: impl FnOnce() -> multiverseg::Result<Model> + Send,
) -> PyResult<PyModel> {
    let inner = py.detach(load).py_err()?;
    Ok(PyModel { inner })
}

#[pymethods]
impl PyModel {
    /// Loads a weights file (.safetensors written by `mvs convert`, `mvs fetch` or
    /// tools/train), or a fetched model by name ("official-v1", "official-v0": see
    /// `multiverseg.fetch`; a name is used when no file of that name exists). `backend`: "auto" (a hardware GPU if wgpu finds one, else the CPU),
    /// "cpu" or "gpu". `threads`: CPU threads, 0 = all cores. `gpu_adapter`: only GPU
    /// adapters whose name contains this. `memory_limit`: most bytes of activations one
    /// prediction may need (0 = three quarters of the RAM). `cpu_conv`: how the CPU computes
    /// the 3x3 convolutions, "winograd4x4" (fastest; logits within 3e-5 of f64) or
    /// "winograd2x2" (rounds as PyTorch does, within 1.1e-5; slower).
    ///
    /// Raises IoError, FormatError, BackendError, NotFoundError (a model name not fetched
    /// yet); ValueError for an unknown backend or cpu_conv.
    #[staticmethod]
    #[pyo3(signature = (path, backend="auto", threads=0, gpu_adapter=None, memory_limit=0, cpu_conv="winograd4x4"))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        backend: &str,
        threads: usize,
        gpu_adapter: Option<String>,
        memory_limit: u64,
        cpu_conv: &str,
    ) -> PyResult<Self> {
        let opts = options(backend, threads, gpu_adapter, memory_limit, cpu_conv)?;
        loaded(py, || {
            Model::load_with(&multiverseg::named::file_or_name(&path)?, &opts)
        })
    }

    /// The default model built into the library (small, trained by this project; see
    /// MODEL_CARD.md). Same options as `load`.
    #[staticmethod]
    #[pyo3(signature = (backend="auto", threads=0, gpu_adapter=None, memory_limit=0, cpu_conv="winograd4x4"))]
    fn default(
        py: Python<'_>,
        backend: &str,
        threads: usize,
        gpu_adapter: Option<String>,
        memory_limit: u64,
        cpu_conv: &str,
    ) -> PyResult<Self> {
        let opts = options(backend, threads, gpu_adapter, memory_limit, cpu_conv)?;
        loaded(py, || Model::load_default(&opts))
    }

    /// The backend in use, e.g. "cpu (tract, 2 threads, winograd 4x4)" or the GPU
    /// adapter's name.
    #[getter]
    fn backend(&self) -> String {
        self.inner.backend_name()
    }

    /// Whether the model has a ScribblePrompt-UNet (used while the context is empty).
    #[getter]
    fn has_unet(&self) -> bool {
        self.inner.has_unet()
    }

    fn __repr__(&self) -> String {
        format!("multiverseg.Model(backend={:?})", self.inner.backend_name())
    }
}
