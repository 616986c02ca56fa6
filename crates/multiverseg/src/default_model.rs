//! The default model shipped with the library (weights/, see weights/MODEL_CARD.md). It is
//! compiled into the library, so a program linking it finds the model wherever the library
//! is installed.

use crate::error::Result;
use crate::weights::Weights;

/// File name of the shipped model inside `weights/`.
pub const FILE_NAME: &str = "multiverseg-default.safetensors";

/// The shipped model's bytes (safetensors).
pub static SHIPPED: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../weights/multiverseg-default.safetensors"
));

/// The default model's weights: the file named by `MVS_MODEL` if that variable is set,
/// else the shipped model.
pub fn weights() -> Result<Weights> {
    match std::env::var_os("MVS_MODEL") {
        Some(p) => Weights::load(std::path::Path::new(&p)),
        None => Weights::from_bytes(SHIPPED),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_model_loads_with_both_networks() {
        let w = crate::weights::Weights::from_bytes(super::SHIPPED).unwrap();
        assert!(w.multiverseg.is_some() && w.unet.is_some());
        assert_eq!(
            w.metadata.get("format_version").map(String::as_str),
            Some("1")
        );
    }
}
