//! Context folders: `image_N.png` / `mask_N.png` pairs, as SlicerMultiverSeg writes them.

use super::png::{read_gray, read_mask, GrayImage, MaskImage, MaskLabel};
use crate::error::{Error, Result};
use std::path::Path;

/// Reads every `image_N.png` with its `mask_N.png` from `dir`, in N order (N a
/// non-negative integer). Returns (image, mask, file name) triples.
///
/// Errors: `InvalidArgument` when there is no pair, a mask is missing, its size differs
/// from its image's, or its values are ambiguous (see [`read_mask`]); `Io` / `Format`
/// naming the file.
pub fn read_context_pairs(
    dir: &Path,
    label: MaskLabel,
) -> Result<Vec<(GrayImage, MaskImage, String)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut ns: Vec<u64> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_prefix("image_")?.strip_suffix(".png")?.parse().ok()
        })
        .collect();
    ns.sort_unstable();
    if ns.is_empty() {
        return Err(Error::arg(format!(
            "{}: no image_N.png files (a context folder holds image_N.png / mask_N.png pairs)",
            dir.display()
        )));
    }
    let mut out = Vec::with_capacity(ns.len());
    for n in ns {
        let ipath = dir.join(format!("image_{n}.png"));
        let mpath = dir.join(format!("mask_{n}.png"));
        if !mpath.exists() {
            return Err(Error::arg(format!(
                "{}: missing (every image_N.png needs its mask_N.png)",
                mpath.display()
            )));
        }
        let img = read_gray(&ipath)?;
        let mask = read_mask(&mpath, label)?;
        if (mask.width, mask.height) != (img.width, img.height) {
            return Err(Error::arg(format!(
                "{}: {}x{}, but image_{n}.png is {}x{}",
                mpath.display(),
                mask.width,
                mask.height,
                img.width,
                img.height
            )));
        }
        out.push((img, mask, format!("image_{n}.png")));
    }
    Ok(out)
}
