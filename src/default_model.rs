//! The default model shipped with the library (weights/, see weights/MODEL_CARD.md).

use std::path::PathBuf;

use crate::error::{Error, ErrorKind, Result};
use crate::weights::Weights;

/// File name of the shipped model inside `weights/`.
pub const FILE_NAME: &str = "multiverseg-default.safetensors";

/// Where the shipped model lies in the source tree this library was built from.
pub fn source_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("weights")
        .join(FILE_NAME)
}

/// The default model's weights: `MVS_MODEL` if set, else the shipped file.
pub fn weights() -> Result<Weights> {
    if let Some(p) = std::env::var_os("MVS_MODEL") {
        return Weights::load(std::path::Path::new(&p));
    }
    let p = source_path();
    if !p.exists() {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no default model: {} does not exist and MVS_MODEL is not set",
                p.display()
            ),
        ));
    }
    Weights::load(&p)
}
