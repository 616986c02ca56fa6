//! The extension module `multiverseg._native`: a thin PyO3 layer over the Rust API of the
//! `multiverseg` crate. It converts numpy arrays and Python values, releases the GIL while
//! the networks run and maps library errors onto the exception classes of
//! `multiverseg._errors`. No numerics live here.

mod errors;
mod fetch;
mod image;
mod model;
mod session;

use pyo3::prelude::*;

/// The module's contents; `multiverseg/__init__.py` re-exports them.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::PyModel>()?;
    m.add_class::<session::PySession>()?;
    m.add_class::<session::PyPrediction>()?;
    m.add_function(wrap_pyfunction!(fetch::fetch, m)?)?;
    m.add_function(wrap_pyfunction!(fetch::resolve, m)?)?;
    m.add("TERMS_NOTICE", multiverseg::named::TERMS_NOTICE)?;
    m.add(
        "MODEL_NAMES",
        multiverseg::named::NAMED_MODELS
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("NET_SIZE", multiverseg::NET_SIZE)?;
    Ok(())
}
