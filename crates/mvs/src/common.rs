//! What the subcommands share: backend flags, model loading with the environment
//! overrides, number parsing, writing masks, logging to stderr.

use clap::ValueEnum;
use multiverseg::{named, BackendKind, CpuConv, Model, ModelOptions};
use std::path::{Path, PathBuf};

/// `--backend`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// A hardware GPU if there is one, else the CPU.
    Auto,
    /// tract on the CPU.
    Cpu,
    /// wgpu on the best adapter (software ones such as lavapipe included).
    Gpu,
}

/// `--cpu-conv`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Conv {
    /// Winograd F(4x4, 3x3): the fastest; logits within 3e-5 of f64.
    Winograd4x4,
    /// Winograd F(2x2, 3x3): rounds as PyTorch does (within 1.1e-5 of f64), slower.
    Winograd2x2,
}

/// The flags every model-loading command takes.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// Weights file, or the name of a fetched model (official-v1, official-v0; see
    /// `mvs fetch`). Default: $MVS_MODEL if set, else the model shipped in the library.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where to run the networks.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: Backend,
    /// CPU threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// How the CPU computes the 3x3 convolutions (ModelOptions::cpu_conv).
    #[arg(long, value_enum, default_value = "winograd4x4")]
    pub cpu_conv: Conv,
}

impl ModelArgs {
    /// Loads the model these flags name.
    pub fn load(&self) -> Result<Model, String> {
        load_model(self.model.as_deref(), &self.options(self.threads)?)
    }

    /// The model options of these flags, with `threads` threads.
    pub fn options(&self, threads: usize) -> Result<ModelOptions, String> {
        let mut o = options(self.backend, threads)?;
        o.cpu_conv = match self.cpu_conv {
            Conv::Winograd4x4 => CpuConv::Winograd4x4,
            Conv::Winograd2x2 => CpuConv::Winograd2x2,
        };
        Ok(o)
    }
}

/// Model options for the flags, with `MVS_GPU_ADAPTER` and `MVS_GPU_CONV_TILE` applied.
pub fn options(backend: Backend, threads: usize) -> Result<ModelOptions, String> {
    let gpu_conv_tile = match std::env::var("MVS_GPU_CONV_TILE") {
        Ok(s) => {
            let v = parse_nums(&s.replace('x', ","), 2, "MVS_GPU_CONV_TILE")?;
            Some((v[0] as u32, v[1] as u32))
        }
        Err(_) => None,
    };
    Ok(ModelOptions {
        backend: match backend {
            Backend::Auto => BackendKind::Auto,
            Backend::Cpu => BackendKind::Cpu,
            Backend::Gpu => BackendKind::Gpu,
        },
        threads,
        gpu_adapter: std::env::var("MVS_GPU_ADAPTER")
            .ok()
            .filter(|s| !s.is_empty()),
        gpu_conv_tile,
        ..Default::default()
    })
}

/// The weights file that `path` (else `$MVS_MODEL`) names: a file, or a named model
/// resolved in the cache when no such file exists. `None`: the shipped default.
fn model_file(path: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let env = std::env::var_os("MVS_MODEL").map(PathBuf::from);
    let Some(p) = path.or(env.as_deref()) else {
        return Ok(None);
    };
    named::file_or_name(p).map(Some).map_err(|e| e.message)
}

/// The model at `path` (a file or a fetched model's name), else `$MVS_MODEL`, else the
/// shipped default.
pub fn load_model(path: Option<&Path>, o: &ModelOptions) -> Result<Model, String> {
    match model_file(path)? {
        Some(p) => Model::load_with(&p, o),
        None => Model::load_default(o),
    }
    .map_err(|e| e.message)
}

/// The weights the flags name (no backend), for commands that only read them.
pub fn load_weights(path: Option<&Path>) -> Result<multiverseg::Weights, String> {
    match model_file(path)? {
        Some(p) => multiverseg::Weights::load(&p),
        None => multiverseg::default_model::weights(),
    }
    .map_err(|e| e.message)
}

/// `n` comma-separated numbers, or an error naming `what`.
pub fn parse_nums(s: &str, n: usize, what: &str) -> Result<Vec<f64>, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{what}: cannot parse \"{s}\""))?;
    if v.len() != n {
        return Err(format!(
            "{what}: expected {n} comma-separated numbers, got \"{s}\""
        ));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(format!("{what}: \"{s}\" holds a non-finite number"));
    }
    Ok(v)
}

/// Comma-separated non-negative integers, or an error naming `what`.
pub fn parse_list(s: &str, what: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|x| x.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{what}: cannot parse \"{s}\" as comma-separated integers"))
}

/// Writes a 0/1 mask as an 8-bit 0/255 PNG, crash-safely (temporary file, then rename).
pub fn write_mask_png(path: &Path, mask: &[u8], w: usize, h: usize) -> Result<(), String> {
    let v: Vec<u8> = mask.iter().map(|&m| if m != 0 { 255 } else { 0 }).collect();
    let img = image::GrayImage::from_raw(w as u32, h as u32, v)
        .ok_or_else(|| format!("{}: mask size", path.display()))?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    multiverseg::io::atomic_write(path, &bytes).map_err(|e| e.message)
}

struct Stderr(log::LevelFilter);

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("mvs: {}: {}", r.level().as_str().to_lowercase(), r.args());
        }
    }
    fn flush(&self) {}
}

/// The CLI prints the library's log messages (warnings and up; `MVS_LOG=info|debug|trace`
/// for more) on stderr.
pub fn init_logging() {
    let level = match std::env::var("MVS_LOG").as_deref() {
        Ok("error") => log::LevelFilter::Error,
        Ok("info") => log::LevelFilter::Info,
        Ok("debug") => log::LevelFilter::Debug,
        Ok("trace") => log::LevelFilter::Trace,
        Ok("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Warn,
    };
    if log::set_boxed_logger(Box::new(Stderr(level))).is_ok() {
        log::set_max_level(level);
    }
}
