//! The networks as standard ONNX (opset 17), for ONNX Runtime or TensorRT users.

use crate::error::{Error, Result};
use crate::graph::{multiverseg_graph, to_onnx_bytes, unet_graph, GraphFlavor};
use crate::weights::Weights;

/// Which network to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportNetwork {
    /// MultiverSegNet: inputs `target` [B,5,H,W], `context_images` and `context_labels`
    /// [B,S,1,H,W] (B and S dynamic, S >= 1; each batch item has its own context); output
    /// `logits` [B,1,H,W].
    MultiverSeg,
    /// ScribblePrompt-UNet: input `target` [B,5,H,W]; output `logits` [B,1,H,W].
    ScribblePrompt,
}

/// The ONNX bytes of `network` at `size`x`size` (128 for the official models), with
/// standard operators only. GroupNorm is written as ReduceMean/Sub/Mul, which reduces in
/// f32: expect up to 2e-4 from the f64 reference on the logits (the CPU backend: 1e-5).
///
/// Errors: `State` when the weights lack the network, `InvalidArgument` for a size that is
/// not a positive multiple of 16.
pub fn onnx(weights: &Weights, network: ExportNetwork, size: usize) -> Result<Vec<u8>> {
    if size == 0 || !size.is_multiple_of(16) {
        return Err(Error::arg(format!(
            "size: {size} must be a positive multiple of 16"
        )));
    }
    let proto = match network {
        ExportNetwork::ScribblePrompt => unet_graph(
            weights,
            weights
                .unet
                .as_ref()
                .ok_or_else(|| Error::state("the model has no ScribblePrompt-UNet"))?,
            size,
            size,
            GraphFlavor::Standard,
        ),
        ExportNetwork::MultiverSeg => multiverseg_graph(
            weights,
            weights
                .multiverseg
                .as_ref()
                .ok_or_else(|| Error::state("the model has no MultiverSegNet"))?,
            size,
            size,
            GraphFlavor::Standard,
        ),
    };
    Ok(to_onnx_bytes(&proto))
}
