//! `mvs infer`: raw tensor mode (.npy in, logits .npy out, no preprocessing).

use crate::common::ModelArgs;
use clap::ValueEnum;
use multiverseg::io::npy;
use multiverseg::{NetworkChoice, RawInput, Tensor};
use std::path::{Path, PathBuf};

/// `--network`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Net {
    /// As a session does: the UNet while the context is smaller than --min-context.
    Auto,
    /// MultiverSegNet (the 0.5 dummy entry when there is no context).
    Multiverseg,
    /// ScribblePrompt-UNet.
    Scribbleprompt,
}

/// Arguments of `mvs infer`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Target [B, 5, H, W] float32 .npy (image, box, positive, negative, previous logits).
    #[arg(long)]
    target: PathBuf,
    /// Context images [B, S, 1, H, W] float32 .npy.
    #[arg(long)]
    context_images: Option<PathBuf>,
    /// Context labels [B, S, 1, H, W] float32 .npy.
    #[arg(long)]
    context_labels: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "auto")]
    network: Net,
    #[arg(long, default_value_t = 1)]
    min_context: usize,
    /// Output logits [B, 1, H, W] float32 .npy (written crash-safely).
    #[arg(long)]
    out: PathBuf,
}

/// Reads a .npy and rejects NaN/Inf, naming the flag, the file and the first bad index.
fn read_finite(flag: &str, path: &Path) -> Result<Tensor, String> {
    let t = npy::read(path).map_err(|e| format!("{flag}: {}", e.message))?;
    if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
        let mut idx = vec![0usize; t.shape.len()];
        let mut r = i;
        for (d, &n) in t.shape.iter().enumerate().rev() {
            idx[d] = r % n;
            r /= n;
        }
        return Err(format!(
            "{flag} {}: value {} at index {idx:?} is not finite (NaN and Inf are not accepted)",
            path.display(),
            t.data[i]
        ));
    }
    Ok(t)
}

/// Runs the network on each batch item.
pub fn run(a: Args) -> Result<(), String> {
    let t = read_finite("--target", &a.target)?;
    if t.shape.len() != 4 || t.shape[1] != 5 {
        return Err(format!(
            "--target: shape {:?}, expected [B, 5, H, W]",
            t.shape
        ));
    }
    let (b, h, w) = (t.shape[0], t.shape[2], t.shape[3]);
    let (ci, cl) = match (&a.context_images, &a.context_labels) {
        (Some(x), Some(y)) => (
            Some(read_finite("--context-images", x)?),
            Some(read_finite("--context-labels", y)?),
        ),
        (None, None) => (None, None),
        _ => return Err("--context-images and --context-labels go together".into()),
    };
    let s = match (&ci, &cl) {
        (Some(x), Some(y)) => {
            if x.shape.len() != 5
                || x.shape[0] != b
                || x.shape[2] != 1
                || x.shape[3] != h
                || x.shape[4] != w
            {
                return Err(format!(
                    "--context-images: shape {:?}, expected [{b}, S, 1, {h}, {w}]",
                    x.shape
                ));
            }
            if y.shape != x.shape {
                return Err("--context-labels must have the shape of --context-images".into());
            }
            x.shape[1]
        }
        _ => 0,
    };
    let m = a.model.load()?;
    let network = match a.network {
        Net::Auto => NetworkChoice::Auto,
        Net::Multiverseg => NetworkChoice::MultiverSeg,
        Net::Scribbleprompt => NetworkChoice::ScribblePrompt,
    };
    let px = h * w;
    let mut logits = Vec::with_capacity(b * px);
    for i in 0..b {
        let ctx = |c: &Option<Tensor>| match c {
            Some(x) => x.data[i * s * px..(i + 1) * s * px].to_vec(),
            None => Vec::new(),
        };
        let (ci_i, cl_i) = (ctx(&ci), ctx(&cl));
        let input = RawInput {
            target: &t.data[i * 5 * px..(i + 1) * 5 * px],
            context_images: &ci_i,
            context_labels: &cl_i,
            height: h,
            width: w,
        };
        logits.extend(
            m.infer(network, a.min_context, &input)
                .map_err(|e| e.message)?,
        );
    }
    npy::write(&a.out, &[b, 1, h, w], &logits).map_err(|e| e.message)?;
    println!("wrote {} [{b}, 1, {h}, {w}]", a.out.display());
    Ok(())
}
