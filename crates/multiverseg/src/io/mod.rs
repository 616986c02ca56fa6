//! File formats, kept apart from the numerics: they read and write plain pixels, masks and
//! tensors, and know nothing of networks or sessions. The CLI, the C ABI and the bindings
//! use them through [`crate::Session`] or directly.
//!
//! * [`npy`]: NumPy `.npy` arrays (float32 / float64, C order) for raw tensors.
//! * [`png`]: grayscale images and label masks from PNG files, with the library's one rule
//!   for masks (nonzero = foreground).
//! * [`context_file`]: the saved context set of a session (checksummed, versioned).
//! * [`folder`]: context folders of image_N.png / mask_N.png pairs (SlicerMultiverSeg's).
//! * `series` (feature `volumes`): image folders, multi-page TIFF stacks and NIfTI volumes
//!   as 2D slices, and masks written back in the same form.

pub mod context_file;
pub mod folder;
pub mod npy;
pub mod png;
#[cfg(feature = "volumes")]
pub mod series;

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` so that a crash or a kill at any moment leaves either the old
/// file or the new one: a temporary file in the same folder, `fsync`, rename over `path`,
/// then `fsync` of the folder (on Unix). On error the temporary file is removed and the old
/// file is untouched. Errors: [`crate::ErrorKind::Io`] naming the path.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_name(path);
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_parent(path);
    Ok(())
}

/// A temporary name next to `path`, unique within this process.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Makes a rename durable (the folder's entry); best effort, Unix only.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
