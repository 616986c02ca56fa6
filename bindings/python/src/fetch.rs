//! `multiverseg._native.fetch`: the official weights by name, downloaded into the user
//! cache folder (the library's `named::fetch`; the Python wrapper prints the report).

use crate::errors::IntoPy;
use multiverseg::named::{self, FetchOptions, FetchProgress};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Downloads, checks and converts the named model (see `multiverseg.fetch`); returns a
/// dict with path, sha256, cached, files (list of dicts: file_name, url, bytes, sha256).
/// `progress(file_name, done, total_or_None)` is called with the GIL held; an exception
/// it raises is raised once the download has finished.
#[pyfunction]
#[pyo3(signature = (name, cache_dir=None, mirror=None, force=false, progress=None))]
pub fn fetch<'py>(
    py: Python<'py>,
    name: &str,
    cache_dir: Option<PathBuf>,
    mirror: Option<String>,
    force: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mut callback_error: Option<PyErr> = None;
    let report = py.detach(|| {
        let mut report = |p: &FetchProgress| {
            let Some(cb) = &progress else { return };
            if callback_error.is_some() {
                return;
            }
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (p.file_name, p.done, p.total)) {
                    callback_error = Some(e);
                }
            });
        };
        named::fetch(
            name,
            FetchOptions {
                cache_dir,
                mirror,
                force,
                progress: Some(&mut report),
            },
        )
    });
    let report = report.py_err()?;
    if let Some(e) = callback_error {
        return Err(e);
    }
    let d = PyDict::new(py);
    d.set_item("path", report.path.to_string_lossy().into_owned())?;
    d.set_item("sha256", report.sha256)?;
    d.set_item("cached", report.cached)?;
    let files = report
        .files
        .into_iter()
        .map(|f| {
            let e = PyDict::new(py);
            e.set_item("file_name", f.file_name)?;
            e.set_item("url", f.url)?;
            e.set_item("bytes", f.bytes)?;
            e.set_item("sha256", f.sha256)?;
            Ok(e)
        })
        .collect::<PyResult<Vec<_>>>()?;
    d.set_item("files", files)?;
    Ok(d)
}

/// The weights file of a named model in the cache, without the network (see
/// `multiverseg.resolve`). Raises NotFoundError when it has not been fetched.
#[pyfunction]
#[pyo3(signature = (name, cache_dir=None))]
pub fn resolve(name: &str, cache_dir: Option<PathBuf>) -> PyResult<String> {
    let p = named::resolve(name, cache_dir.as_deref()).py_err()?;
    Ok(p.to_string_lossy().into_owned())
}
