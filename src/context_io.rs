//! Saving and loading a session's context set, and importing SlicerMultiverSeg folders.
//!
//! File layout (little-endian), version 1:
//! `b"MVSCTX\0\0"`, u32 version, u32 side (128), u64 next id hint, u32 count, then per
//! entry u64 id, side*side f32 image, side*side u8 label (0/1).

use crate::error::{Error, ErrorKind, Result};
use crate::model::NET_SIZE;
use crate::preprocess::{
    mask_to_network, mask_to_unit, to_network, to_unit, ImageView, Pixels, Window,
};
use crate::session::{ContextEntry, Session};
use std::path::Path;

const MAGIC: &[u8; 8] = b"MVSCTX\0\0";
/// Version of the context file this library writes.
pub const CONTEXT_FILE_VERSION: u32 = 1;

/// Writes the session's context set to `path`.
pub fn save_context(s: &Session, path: &Path) -> Result<()> {
    let px = NET_SIZE * NET_SIZE;
    let mut b = Vec::with_capacity(32 + s.context_count() * (8 + 5 * px));
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&CONTEXT_FILE_VERSION.to_le_bytes());
    b.extend_from_slice(&(NET_SIZE as u32).to_le_bytes());
    b.extend_from_slice(
        &s.context_ids()
            .iter()
            .max()
            .map(|m| m + 1)
            .unwrap_or(1)
            .to_le_bytes(),
    );
    b.extend_from_slice(&(s.context_count() as u32).to_le_bytes());
    for e in s.context() {
        b.extend_from_slice(&e.id.to_le_bytes());
        for v in &e.image {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend(e.label.iter().map(|&v| (v > 0.5) as u8));
    }
    // Write then rename, so a failed write never leaves a truncated file behind.
    let tmp = path.with_extension("tmp-mvsctx");
    std::fs::write(&tmp, &b).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Reads a context file; the session is changed only if the whole file is valid.
pub fn load_context(s: &mut Session, path: &Path) -> Result<()> {
    let b = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let entries =
        parse(&b).map_err(|e| Error::new(e.kind, format!("{}: {}", path.display(), e.message)))?;
    s.context_replace(entries);
    Ok(())
}

fn parse(b: &[u8]) -> Result<Vec<ContextEntry>> {
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = b
            .get(pos..pos + n)
            .ok_or_else(|| Error::format("context file is truncated"))?;
        pos += n;
        Ok(s)
    };
    if take(8)? != MAGIC {
        return Err(Error::format("not a multiverseg context file"));
    }
    let version = u32::from_le_bytes(take(4)?.try_into().unwrap());
    if version != CONTEXT_FILE_VERSION {
        return Err(Error::format(format!("context file version {version} is not supported (this library reads {CONTEXT_FILE_VERSION})")));
    }
    let side = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
    if side != NET_SIZE {
        return Err(Error::format(format!(
            "context file is at {side}x{side}, expected {NET_SIZE}"
        )));
    }
    let _next = u64::from_le_bytes(take(8)?.try_into().unwrap());
    let count = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
    let px = side * side;
    let mut out = Vec::new();
    for _ in 0..count {
        let id = u64::from_le_bytes(take(8)?.try_into().unwrap());
        let image: Vec<f32> = take(4 * px)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if image.iter().any(|v| !v.is_finite()) {
            return Err(Error::format(format!(
                "context entry {id} holds NaN or Inf"
            )));
        }
        let label: Vec<f32> = take(px)?.iter().map(|&v| (v != 0) as u8 as f32).collect();
        if out.iter().any(|e: &ContextEntry| e.id == id) {
            return Err(Error::format(format!(
                "context entry id {id} appears twice"
            )));
        }
        out.push(ContextEntry { id, image, label });
    }
    if pos != b.len() {
        return Err(Error::format("context file has trailing bytes"));
    }
    Ok(out)
}

/// Reads a PNG as a grayscale f32 image in [0,1] (min-max) and returns (pixels, width, height).
pub fn read_png_gray(path: &Path) -> Result<(Vec<f32>, usize, usize)> {
    let img = image::open(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", path.display())))?;
    let g = img.to_luma32f();
    let (w, h) = (g.width() as usize, g.height() as usize);
    Ok((g.into_raw(), w, h))
}

/// Imports `image_N.png` / `mask_N.png` pairs (as SlicerMultiverSeg writes them) in N order.
/// Returns the new ids; on any error nothing is added.
pub fn import_folder(s: &mut Session, dir: &Path) -> Result<Vec<u64>> {
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
            "{}: no image_N.png files",
            dir.display()
        )));
    }
    let mut staged = Vec::new();
    for n in ns {
        let (img, w, h) = read_png_gray(&dir.join(format!("image_{n}.png")))?;
        let mpath = dir.join(format!("mask_{n}.png"));
        let (m, mw, mh) = read_png_gray(&mpath)?;
        if (mw, mh) != (w, h) {
            return Err(Error::arg(format!(
                "{}: {mw}x{mh}, but image_{n}.png is {w}x{h}",
                mpath.display()
            )));
        }
        let unit = to_unit(
            &ImageView::packed(Pixels::F32(&img), w, h),
            Window::MinMax,
            "image",
        )?;
        let mb: Vec<u8> = m.iter().map(|&v| (v > 0.5) as u8).collect();
        let mu = mask_to_unit(&mb, w, h, w, "mask")?;
        staged.push((to_network(&unit, w, h), mask_to_network(&mu, w, h)));
    }
    Ok(staged
        .into_iter()
        .map(|(i, l)| s.context_add_network(i, l))
        .collect())
}
