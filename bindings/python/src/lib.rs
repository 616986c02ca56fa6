//! The extension module `multiverseg._native`: a thin PyO3 layer over the Rust API of the
//! `multiverseg` crate. It converts numpy arrays and Python values, releases the GIL while
//! the networks run and maps library errors onto the exception classes of
//! `multiverseg._errors`. No numerics live here.

mod errors;
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
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("NET_SIZE", multiverseg::NET_SIZE)?;
    Ok(())
}
