//! `mvs convert`: official PyTorch checkpoints to the library's safetensors file.

use multiverseg::Weights;
use std::path::PathBuf;

/// Arguments of `mvs convert`.
#[derive(clap::Args)]
pub struct Args {
    /// The MultiverSeg checkpoint (e.g. MultiverSeg_v1_nf256_res128.pt).
    #[arg(long)]
    multiverseg: PathBuf,
    /// The ScribblePrompt-UNet checkpoint (e.g. ScribblePrompt_unet_v1_nf192_res128.pt).
    #[arg(long)]
    scribbleprompt: Option<PathBuf>,
    /// Output .safetensors file (written crash-safely).
    #[arg(short, long)]
    out: PathBuf,
}

/// Reads the checkpoints (zip + pickle, no Python), checks them, writes the weights file.
pub fn run(a: Args) -> Result<(), String> {
    let w = Weights::from_checkpoints(&a.multiverseg, a.scribbleprompt.as_deref())
        .map_err(|e| e.message)?;
    w.save(&a.out).map_err(|e| e.message)?;
    println!("wrote {} ({} tensors)", a.out.display(), w.tensors.len());
    for (k, v) in &w.metadata {
        println!("  {k}: {v}");
    }
    Ok(())
}
