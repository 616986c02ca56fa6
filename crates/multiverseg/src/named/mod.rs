//! Named models: the official MultiverSeg weights by name (`official-v1`, `official-v0`),
//! kept as converted weights files in the user's cache folder.
//!
//! Resolving a name ([`resolve`], [`crate::Model::load_named`], the C
//! `mvs_model_load_named`) never touches the network: it finds
//! `<cache>/<name>/model.safetensors` or fails with a message that says how to get it.
//! Downloading is [`fetch`] (feature `fetch`, used by `mvs fetch` and the Python
//! package): it downloads the official checkpoints from the URLs the official code
//! publishes, checks and converts them (the checks of [`crate::Weights::from_checkpoints`]),
//! and writes the weights file there.
//!
//! The cache folder is `$MVS_CACHE_DIR` when set, else the platform's user cache folder
//! with `multiverseg` appended (`$XDG_CACHE_HOME` or `~/.cache` on Linux,
//! `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows). This is the one place where
//! the library reads the environment, so that the CLI, the C ABI and the bindings agree
//! on where named models live.

#[cfg(feature = "fetch")]
mod download;

#[cfg(feature = "fetch")]
pub use download::{fetch, FetchOptions, FetchProgress, FetchReport, FetchedFile};

use crate::error::{Error, ErrorKind, Result};
use std::path::{Path, PathBuf};

/// Which network a downloaded checkpoint holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A MultiverSegNet checkpoint (the in-context network).
    MultiverSeg,
    /// A ScribblePrompt-UNet checkpoint (segments while the context set is empty).
    ScribblePrompt,
}

/// One file of a named model as the official code publishes it.
#[derive(Debug, Clone, Copy)]
pub struct RemoteFile {
    /// The network it holds.
    pub role: Role,
    /// The official file name, e.g. `MultiverSeg_v1_nf256_res128.pt`; also its name under
    /// a mirror (`<mirror>/<file_name>`).
    pub file_name: &'static str,
    /// The download URL (a Dropbox link that redirects to the file).
    pub url: &'static str,
}

/// A model known by name: one MultiverSegNet and one ScribblePrompt-UNet checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct NamedModel {
    /// The name users type (`official-v1`).
    pub name: &'static str,
    /// One line on what it is and where it comes from.
    pub about: &'static str,
    /// The checkpoints: first the MultiverSegNet, then the ScribblePrompt-UNet.
    pub files: [RemoteFile; 2],
}

/// The ScribblePrompt-UNet that both official MultiverSeg versions use (the official
/// repository's checkpoints/download.sh and SlicerMultiverSeg's InstallLogic.py).
const SCRIBBLEPROMPT_V1: RemoteFile = RemoteFile {
    role: Role::ScribblePrompt,
    file_name: "ScribblePrompt_unet_v1_nf192_res128.pt",
    url: "https://www.dropbox.com/scl/fi/pnw88n05irnv5z1snlklr/ScribblePrompt_unet_v1_nf192_res128.pt?rlkey=dr8xvkf0wj2r082h1zzpcmz5o&dl=1",
};

/// The models [`resolve`] and [`fetch`] know. URLs as published by github.com/halleewong/
/// MultiverSeg (checkpoints/download.sh, README) and dalcalab/SlicerMultiverSeg (v0).
pub const NAMED_MODELS: [NamedModel; 2] = [
    NamedModel {
        name: "official-v1",
        about: "MultiverSeg v1 (nf=256, the ICCV 2025 paper's weights) with ScribblePrompt-UNet v1 (nf=192)",
        files: [
            RemoteFile {
                role: Role::MultiverSeg,
                file_name: "MultiverSeg_v1_nf256_res128.pt",
                url: "https://www.dropbox.com/scl/fi/pcf7kgz87bqfrathbri63/MultiverSeg_v1_nf256_res128.pt?rlkey=j646jh2b1wocvptpeascrzrt0&dl=1",
            },
            SCRIBBLEPROMPT_V1,
        ],
    },
    NamedModel {
        name: "official-v0",
        about: "MultiverSeg v0 (nf=256, first release, SlicerMultiverSeg's default) with ScribblePrompt-UNet v1 (nf=192)",
        files: [
            RemoteFile {
                role: Role::MultiverSeg,
                file_name: "MultiverSeg_v0_nf256_res128.pt",
                url: "https://www.dropbox.com/scl/fi/5sup9s5l9xkp28wbwkm9g/MultiverSeg_v0_nf256_res128.pt?rlkey=tquwxhezdgl2v8a2akvco5jim&dl=1",
            },
            SCRIBBLEPROMPT_V1,
        ],
    },
];

/// The file name of a named model's converted weights inside `<cache>/<name>/`.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The terms the official weights come with; printed by `mvs fetch` and the Python
/// `multiverseg.fetch`.
pub const TERMS_NOTICE: &str = "The official MultiverSeg and ScribblePrompt weights are \
published by their authors (github.com/halleewong/MultiverSeg, Apache-2.0 license; \
ScribblePrompt: github.com/halleewong/ScribblePrompt). They are downloaded from the authors' \
links, not redistributed by multiverseg. Cite Wong et al., ICCV 2025 (MultiverSeg) and \
ECCV 2024 (ScribblePrompt) when you use them.";

/// The named model `name`. Errors: `InvalidArgument` listing the known names.
pub fn named_model(name: &str) -> Result<&'static NamedModel> {
    NAMED_MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        Error::arg(format!(
            "name: unknown model \"{name}\" (known: {})",
            known_names()
        ))
    })
}

/// True when `s` is the name of a known model (callers that take "a file or a name"
/// treat `s` as a name when this holds and no file `s` exists).
pub fn is_model_name(s: &str) -> bool {
    NAMED_MODELS.iter().any(|m| m.name == s)
}

fn known_names() -> String {
    NAMED_MODELS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cache folder for named models: `$MVS_CACHE_DIR` if set and not empty, else the
/// platform's user cache folder joined with `multiverseg`. Errors: `Io` when neither
/// exists (no home folder).
pub fn default_cache_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("MVS_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    dirs::cache_dir()
        .map(|d| d.join("multiverseg"))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                "no user cache folder (no home folder): set MVS_CACHE_DIR",
            )
        })
}

/// Where the weights file of model `name` lives in `cache` (which need not exist):
/// `<cache>/<name>/model.safetensors`. Errors: `InvalidArgument` for an unknown name.
pub fn weights_path(name: &str, cache: &Path) -> Result<PathBuf> {
    let m = named_model(name)?;
    Ok(cache.join(m.name).join(WEIGHTS_FILE))
}

/// The weights file of model `name` in `cache` (or [`default_cache_dir`] when `None`),
/// which must exist. Never touches the network.
///
/// Errors: `InvalidArgument` (unknown name), `NotFound` when the model has not been
/// fetched; its message names the folder, the command that fetches it and the URLs of
/// the files for a download by hand.
pub fn resolve(name: &str, cache: Option<&Path>) -> Result<PathBuf> {
    let m = named_model(name)?;
    let cache = match cache {
        Some(c) => c.to_path_buf(),
        None => default_cache_dir()?,
    };
    let path = cache.join(m.name).join(WEIGHTS_FILE);
    if path.is_file() {
        return Ok(path);
    }
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "model \"{name}\" is not in the cache ({} does not exist): fetch it with \
             `mvs fetch {name}` or, in Python, multiverseg.fetch(\"{name}\"); {}",
            path.display(),
            by_hand(m, &path)
        ),
    ))
}

/// The weights file for an argument that is "a file or a model name" (`--model`, the
/// Python `Model.load`): `p` itself when it exists or is not a known name, else the named
/// model resolved in the default cache (see [`resolve`] for its errors).
pub fn file_or_name(p: &Path) -> Result<PathBuf> {
    match p.to_str() {
        Some(s) if !p.exists() && is_model_name(s) => resolve(s, None),
        _ => Ok(p.to_path_buf()),
    }
}

/// How to place a named model's files by hand (offline machines).
pub(crate) fn by_hand(m: &NamedModel, weights: &Path) -> String {
    let [a, b] = &m.files;
    format!(
        "by hand: download {} as {} and {} as {}, then run `mvs convert --multiverseg {} \
         --scribbleprompt {} -o {}`",
        a.url,
        a.file_name,
        b.url,
        b.file_name,
        a.file_name,
        b.file_name,
        weights.display()
    )
}
