//! `mvs export-onnx`: a network as standard ONNX.

use crate::common::load_weights;
use clap::ValueEnum;
use multiverseg::export::{onnx, ExportNetwork};
use std::path::PathBuf;

/// `--network`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Net {
    /// MultiverSegNet (target + context).
    Multiverseg,
    /// ScribblePrompt-UNet (target only).
    Scribbleprompt,
}

/// Arguments of `mvs export-onnx`.
#[derive(clap::Args)]
pub struct Args {
    /// Weights file or fetched model name (default: $MVS_MODEL if set, else the model
    /// shipped in the library).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, value_enum)]
    network: Net,
    /// Output .onnx file (written crash-safely).
    #[arg(short, long)]
    out: PathBuf,
}

/// Writes the graph.
pub fn run(a: Args) -> Result<(), String> {
    let w = load_weights(a.model.as_deref())?;
    let net = match a.network {
        Net::Multiverseg => ExportNetwork::MultiverSeg,
        Net::Scribbleprompt => ExportNetwork::ScribblePrompt,
    };
    let bytes = onnx(&w, net, multiverseg::NET_SIZE).map_err(|e| e.message)?;
    multiverseg::io::atomic_write(&a.out, &bytes).map_err(|e| e.message)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
