//! `mvs fetch`: download the official weights by name into the user cache folder.

use indicatif::{ProgressBar, ProgressStyle};
use multiverseg::named::{self, FetchOptions, FetchProgress, NAMED_MODELS, TERMS_NOTICE};
use std::path::PathBuf;

/// Arguments of `mvs fetch`.
#[derive(clap::Args)]
pub struct Args {
    /// The model: official-v1 (the ICCV 2025 weights) or official-v0 (the first release).
    /// `--list` shows them.
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// Cache folder (default: $MVS_CACHE_DIR, else the user cache folder + multiverseg).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Download the official file names from this base URL instead (a local mirror).
    #[arg(long)]
    mirror: Option<String>,
    /// Download and convert again even when the model is in the cache.
    #[arg(long)]
    force: bool,
    /// List the named models and where they are cached.
    #[arg(long)]
    list: bool,
}

/// Lists, or downloads, checks and converts one named model; prints the weights file,
/// the SHA-256 of every file and the weights' terms.
pub fn run(a: Args) -> Result<(), String> {
    let cache = match &a.cache_dir {
        Some(c) => c.clone(),
        None => named::default_cache_dir().map_err(|e| e.message)?,
    };
    if a.list {
        for m in &NAMED_MODELS {
            let state = match named::resolve(m.name, Some(&cache)) {
                Ok(p) => format!("cached: {}", p.display()),
                Err(_) => "not fetched".to_string(),
            };
            println!("{:<12} {} ({state})", m.name, m.about);
        }
        return Ok(());
    }
    let name = a.name.as_deref().unwrap_or_default();
    named::named_model(name).map_err(|e| e.message)?;
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} (eta {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let mut progress = |p: &FetchProgress| {
        pb.set_message(format!(
            "{}/{} {}",
            p.file_index + 1,
            p.file_count,
            p.file_name
        ));
        pb.set_length(p.total.unwrap_or(p.done));
        pb.set_position(p.done);
    };
    let report = named::fetch(
        name,
        FetchOptions {
            cache_dir: Some(cache),
            mirror: a.mirror.clone(),
            force: a.force,
            progress: Some(&mut progress),
        },
    );
    pb.finish_and_clear();
    let report = report.map_err(|e| e.message)?;
    if report.cached {
        println!("{name} is already in the cache (--force fetches it again)");
    }
    for f in &report.files {
        println!("downloaded {} ({} bytes)", f.file_name, f.bytes);
        println!("  from   {}", f.url);
        println!("  sha256 {}", f.sha256);
    }
    println!("wrote {}", report.path.display());
    println!("  sha256 {}", report.sha256);
    println!("use it with --model {name} (mvs), Model.load(\"{name}\") (Python), mvs_model_load_named (C)");
    println!("{TERMS_NOTICE}");
    Ok(())
}
