//! Downloading a named model (feature `fetch`): HTTP(S) with ureq and rustls, redirects
//! followed, interrupted transfers resumed with a `Range` request, each file checked to
//! be a PyTorch checkpoint of the expected network, then converted to the library's
//! weights file. Nothing half-written is left under the final names: downloads go to
//! `<file>.part` (kept for the next attempt to resume), the weights file is written
//! crash-safely, and files that turn out not to be checkpoints are removed.

use super::{by_hand, default_cache_dir, named_model, NamedModel, RemoteFile, WEIGHTS_FILE};
use crate::checkpoint::hex;
use crate::error::{Error, ErrorKind, Result};
use crate::weights::Weights;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many times one file's transfer is resumed after a broken connection before
/// [`fetch`] gives up (the `.part` file stays for a later call).
const ATTEMPTS: u32 = 5;

/// Progress of one file's download, given to [`FetchOptions::progress`].
#[derive(Debug, Clone, Copy)]
pub struct FetchProgress<'a> {
    /// The official file name being downloaded.
    pub file_name: &'a str,
    /// Which of the model's files this is (0-based) and how many there are.
    pub file_index: usize,
    /// Number of files of the model.
    pub file_count: usize,
    /// Bytes of this file on disk so far (a resumed transfer starts above 0).
    pub done: u64,
    /// The file's size when the server says it (Content-Length), else `None`.
    pub total: Option<u64>,
}

/// Options of [`fetch`].
#[derive(Default)]
pub struct FetchOptions<'a> {
    /// The cache folder (default: [`default_cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// A base URL that holds the official file names (e.g. an institution's mirror,
    /// `https://intranet.example/weights`): each file is then downloaded from
    /// `<mirror>/<file_name>` instead of the official URL.
    pub mirror: Option<String>,
    /// Download and convert again even when the weights file exists.
    pub force: bool,
    /// Called as bytes arrive (at most every 64 KiB and at the end of each file).
    pub progress: Option<&'a mut dyn FnMut(&FetchProgress)>,
}

/// One downloaded checkpoint.
#[derive(Debug, Clone)]
pub struct FetchedFile {
    /// The official file name.
    pub file_name: String,
    /// The URL it was requested from (before redirects).
    pub url: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// What [`fetch`] produced.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// The weights file: `<cache>/<name>/model.safetensors`.
    pub path: PathBuf,
    /// SHA-256 of the weights file, lowercase hex.
    pub sha256: String,
    /// The checkpoints downloaded (empty when the weights file was already there).
    pub files: Vec<FetchedFile>,
    /// True when the weights file was already in the cache and nothing was downloaded.
    pub cached: bool,
}

/// Downloads the named model `name` (see [`super::NAMED_MODELS`]) into the cache and
/// converts it to `<cache>/<name>/model.safetensors`, which [`super::resolve`] and
/// [`crate::Model::load_named`] then find. When that file exists already (and not
/// `force`), only checks that it loads.
///
/// The checkpoints are downloaded to `<cache>/<name>/`, following redirects; a broken
/// transfer is resumed (HTTP `Range`) up to 5 times, and a `.part` file left by an
/// earlier call is resumed too. Each file must be a PyTorch checkpoint (zip) of the
/// expected network with the official tensor names and shapes; the checkpoints are
/// removed once converted.
///
/// Errors: `InvalidArgument` (unknown name, a mirror that is not http(s)), `Io` (network
/// or disk; the message names the URL and says how to place the files by hand; `.part`
/// files stay to be resumed), `Format` (the server sent something that is not the
/// expected checkpoint, e.g. an HTML page; that file is removed, nothing is left under
/// the final names).
pub fn fetch(name: &str, mut opts: FetchOptions) -> Result<FetchReport> {
    let model = named_model(name)?;
    if let Some(m) = &opts.mirror {
        if !(m.starts_with("http://") || m.starts_with("https://")) {
            return Err(Error::arg(format!(
                "mirror: \"{m}\" is not an http:// or https:// URL"
            )));
        }
    }
    let cache = match opts.cache_dir.take() {
        Some(c) => c,
        None => default_cache_dir()?,
    };
    let dir = cache.join(model.name);
    let out = dir.join(WEIGHTS_FILE);
    if out.is_file() && !opts.force {
        let bytes = std::fs::read(&out).map_err(|e| Error::io(&out, e))?;
        Weights::from_bytes(&bytes).map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "{}: {} (remove it, or fetch again with force)",
                    out.display(),
                    e.message
                ),
            )
        })?;
        return Ok(FetchReport {
            path: out,
            sha256: hex(&Sha256::digest(&bytes)),
            files: Vec::new(),
            cached: true,
        });
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let agent = agent();
    let mut files = Vec::new();
    let mut paths = Vec::new();
    for (i, f) in model.files.iter().enumerate() {
        let url = match &opts.mirror {
            Some(m) => format!("{}/{}", m.trim_end_matches('/'), f.file_name),
            None => f.url.to_string(),
        };
        let path = dir.join(f.file_name);
        let mut report = |done: u64, total: Option<u64>| {
            if let Some(p) = opts.progress.as_mut() {
                p(&FetchProgress {
                    file_name: f.file_name,
                    file_index: i,
                    file_count: model.files.len(),
                    done,
                    total,
                });
            }
        };
        download(&agent, &url, &path, &mut report)
            .map_err(|e| Error::new(e.kind, format!("{}; {}", e.message, by_hand(model, &out))))?;
        let fetched = check_checkpoint(f, &url, &path)?;
        files.push(fetched);
        paths.push(path);
    }
    let converted = convert(model, &paths, &files, &out);
    // The checkpoints are not needed once converted; after a failed conversion they are
    // not what we asked for. Either way nothing but the weights file stays.
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    let sha256 = converted?;
    Ok(FetchReport {
        path: out,
        sha256,
        files,
        cached: false,
    })
}

/// An agent with timeouts that fail a dead connection instead of hanging, and HTTP error
/// statuses returned as responses (so that a 416 can restart a transfer).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        // No data for this long mid-body counts as a broken transfer (resumed).
        .timeout_per_read(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .max_redirects(10)
        .user_agent(concat!("multiverseg/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Downloads `url` to `path` via `<path>.part`, resuming a broken transfer.
fn download(
    agent: &ureq::Agent,
    url: &str,
    path: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<()> {
    let part = part_name(path);
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match transfer(agent, url, &part, progress) {
            Ok(()) => {
                return std::fs::rename(&part, path).map_err(|e| Error::io(path, e));
            }
            // The server's answer will not change on a retry.
            Err(Transfer::Fatal(e)) => return Err(e),
            Err(Transfer::Broken(msg)) => {
                log::warn!("download of {url} interrupted ({msg}); resuming");
                last = msg;
            }
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        format!(
            "downloading {url} failed {ATTEMPTS} times (last: {last}); if this machine is \
             offline or the link has moved, place the files by hand (the partial download {} \
             is resumed by the next fetch)",
            part.display()
        ),
    ))
}

/// Why one transfer attempt ended early.
enum Transfer {
    /// Worth resuming (connection broken, timeout, short body).
    Broken(String),
    /// Not worth retrying (HTTP error status, disk error).
    Fatal(Error),
}

/// One request: appends to `part` after a `206 Partial Content`, starts over after a
/// `200`, and checks the final size against the announced one.
fn transfer(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> std::result::Result<(), Transfer> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = agent.get(url);
    if have > 0 {
        req = req.header("Range", format!("bytes={have}-"));
    }
    let mut resp = req
        .call()
        .map_err(|e| Transfer::Broken(format!("{url}: {e}")))?;
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let length: Option<u64> = header("content-length").and_then(|v| v.parse().ok());
    let (start, total) = match status {
        200 => (0, length),
        206 => {
            // "bytes START-END/TOTAL": append only if it continues where we stopped.
            let range = header("content-range").unwrap_or_default();
            let start: Option<u64> = range
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse().ok());
            if start != Some(have) {
                let _ = std::fs::remove_file(part);
                return Err(Transfer::Broken(format!(
                    "{url}: the server resumed at \"{range}\", not at byte {have}; starting over"
                )));
            }
            (have, length.map(|l| l + have))
        }
        416 => {
            // The partial file does not fit the server's file (it changed): start over.
            let _ = std::fs::remove_file(part);
            return Err(Transfer::Broken(format!(
                "{url}: HTTP 416 for a resume at byte {have}; starting over"
            )));
        }
        s => {
            return Err(Transfer::Fatal(Error::new(
                ErrorKind::Io,
                format!("{url}: the server answered HTTP {s}"),
            )))
        }
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(start > 0)
        .truncate(start == 0)
        .open(part)
        .map_err(|e| Transfer::Fatal(Error::io(part, e)))?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut reader = resp.body_mut().as_reader();
    let mut buf = vec![0u8; 64 << 10];
    let mut done = start;
    progress(done, total);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.flush();
                return Err(Transfer::Broken(format!("{url}: {e} after {done} bytes")));
            }
        };
        file.write_all(&buf[..n])
            .map_err(|e| Transfer::Fatal(Error::io(part, e)))?;
        done += n as u64;
        progress(done, total);
    }
    file.into_inner()
        .map_err(|e| Transfer::Fatal(Error::io(part, e.into_error())))?
        .sync_all()
        .map_err(|e| Transfer::Fatal(Error::io(part, e)))?;
    if let Some(t) = total {
        if done != t {
            return Err(Transfer::Broken(format!(
                "{url}: the transfer ended at byte {done} of {t}"
            )));
        }
    }
    Ok(())
}

/// `<path>.part`.
fn part_name(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".part");
    PathBuf::from(s)
}

/// Checks that the downloaded `path` is a PyTorch checkpoint (a zip file) and hashes it;
/// otherwise removes it and says what the server sent (an HTML page is the usual case:
/// an expired or changed share link).
fn check_checkpoint(f: &RemoteFile, url: &str, path: &Path) -> Result<FetchedFile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if !bytes.starts_with(b"PK\x03\x04") {
        let _ = std::fs::remove_file(path);
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>();
        let what = if head.trim_start().starts_with('<') {
            "an HTML page, not a checkpoint (the link may have expired or need a browser)"
        } else {
            "not a PyTorch checkpoint (no zip header)"
        };
        return Err(Error::format(format!(
            "{url} sent {what} for {}: \"{}\"; nothing was kept",
            f.file_name,
            head.trim()
        )));
    }
    Ok(FetchedFile {
        file_name: f.file_name.to_string(),
        url: url.to_string(),
        bytes: bytes.len() as u64,
        sha256: hex(&Sha256::digest(&bytes)),
    })
}

/// Converts the two checkpoints with convert's checks and writes the weights file
/// crash-safely; returns its SHA-256.
fn convert(
    model: &NamedModel,
    paths: &[PathBuf],
    files: &[FetchedFile],
    out: &Path,
) -> Result<String> {
    let mut w = Weights::from_checkpoints(&paths[0], Some(&paths[1])).map_err(|e| {
        Error::new(
            e.kind,
            format!(
                "the files downloaded for {} are not the expected checkpoints: {}; nothing was kept",
                model.name, e.message
            ),
        )
    })?;
    w.metadata.insert("source".into(), model.name.into());
    for f in files {
        w.metadata
            .insert(format!("source.{}.sha256", f.file_name), f.sha256.clone());
    }
    w.save(out)?;
    let bytes = std::fs::read(out).map_err(|e| Error::io(out, e))?;
    Ok(hex(&Sha256::digest(&bytes)))
}
