//! A task folder on disk: `images/<id>.png` and `masks/<id>.png` (nonzero = label), as in
//! ../shared/data; images listed in name order.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
use crate::simulate::Mask;

/// One image of a task with its ground truth.
#[derive(Debug, Clone)]
pub struct TaskImage {
    /// File stem, shared by the image and the mask.
    pub id: String,
    /// 8-bit grayscale pixels, row-major.
    pub pixels: Vec<u8>,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Ground-truth mask.
    pub mask: Mask,
}

/// A task: one structure across related images.
#[derive(Debug, Clone)]
pub struct Task {
    /// The folder's name.
    pub name: String,
    /// The images in name order.
    pub images: Vec<TaskImage>,
}

fn read_luma8(path: &Path) -> Result<(Vec<u8>, usize, usize)> {
    let img = image::open(path)
        .map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", path.display())))?;
    let g = img.to_luma8();
    let (w, h) = (g.width() as usize, g.height() as usize);
    Ok((g.into_raw(), w, h))
}

/// Whether `dir` looks like a task folder (has `images/` and `masks/`).
pub fn is_task_dir(dir: &Path) -> bool {
    dir.join("images").is_dir() && dir.join("masks").is_dir()
}

/// The task folders directly under `root`, in name order.
pub fn task_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_task_dir(p))
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(Error::arg(format!(
            "--all {}: no task folders (with images/ and masks/) found",
            root.display()
        )));
    }
    Ok(v)
}

/// Loads a task folder. Every image needs a mask of the same size that is neither empty
/// nor full.
pub fn load_task(dir: &Path) -> Result<Task> {
    if !is_task_dir(dir) {
        return Err(Error::arg(format!(
            "task {}: expected images/ and masks/ folders",
            dir.display()
        )));
    }
    let img_dir = dir.join("images");
    let rd = std::fs::read_dir(&img_dir).map_err(|e| Error::io(&img_dir, e))?;
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".png"))
        .collect();
    names.sort();
    let mut images = Vec::with_capacity(names.len());
    for n in names {
        let id = n.trim_end_matches(".png").to_string();
        let (pixels, width, height) = read_luma8(&img_dir.join(&n))?;
        let mp = dir.join("masks").join(&n);
        let (m, mw, mh) = read_luma8(&mp)?;
        if (mw, mh) != (width, height) {
            return Err(Error::format(format!(
                "{}: mask is {mw}x{mh}, image is {width}x{height}",
                mp.display()
            )));
        }
        let mask = Mask::from_u8(&m, width, height);
        let c = mask.count();
        if c == 0 || c == width * height {
            return Err(Error::format(format!(
                "{}: mask is empty or full",
                mp.display()
            )));
        }
        images.push(TaskImage {
            id,
            pixels,
            width,
            height,
            mask,
        });
    }
    if images.len() < 2 {
        return Err(Error::arg(format!(
            "task {}: needs at least 2 images, found {}",
            dir.display(),
            images.len()
        )));
    }
    let name = dir
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Task { name, images })
}
