//! `Model`: immutable weights plus a backend, shared by many sessions and threads.

use crate::backend::{Backend, BackendState, CancelToken, ContextRef, NetInput};
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::weights::Weights;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Side length of the networks' input (both official models work at 128x128).
pub const NET_SIZE: usize = 128;

/// Which network to run for a raw inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkChoice {
    /// As a session does: the UNet while the context is smaller than `min_context`.
    Auto,
    /// MultiverSegNet (the 0.5 dummy entry when the context is empty).
    MultiverSeg,
    /// ScribblePrompt-UNet (the context is ignored).
    ScribblePrompt,
}

/// How the CPU backend computes the networks' 3x3 convolutions (all of their convolutions
/// but the 1x1 output layers). Both are Winograd's minimal filtering over a tuned GEMM;
/// they differ in the output tile, hence in speed and rounding. The GPU backend is not
/// affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuConv {
    /// Winograd F(4x4, 3x3) (Lavin & Gray, CVPR 2016), with the interpolation points
    /// 0, 1, -1, 2, -1/2 that Barabasz et al. (ACM TOMS 2020) showed round less than
    /// Lavin's: 4x fewer multiplications than the direct convolution. Logits within 3e-5
    /// of an f64 reference at full size (`tools/check_full_size.sh`: worst 2.8e-5; PyTorch's
    /// own f32 forward: 1.0e-5). Full size, S = 8, 2 threads: about 3/4 of the time of
    /// [`CpuConv::Winograd2x2`] (0.73-0.78 measured; BENCHMARKS.md).
    #[default]
    Winograd4x4,
    /// Winograd F(2x2, 3x3): 2.25x fewer multiplications than the direct convolution,
    /// transforms with only 0, +-1 and 1/2, so it rounds about as PyTorch does (logits
    /// within 1.1e-5 of f64 at full size). For the closest agreement with the official code.
    Winograd2x2,
}

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// A hardware GPU when wgpu finds one, else the CPU. Software adapters (lavapipe)
    /// are not chosen: tract on the CPU is faster than them. Without the `gpu` feature:
    /// the CPU.
    #[default]
    Auto,
    /// tract on the CPU.
    Cpu,
    /// wgpu on the best adapter, software adapters included; an error if there is none
    /// (or if the library was built without the `gpu` feature).
    Gpu,
}

/// Options for [`Model::load_with`] and [`Model::from_weights`]. `Default` gives the
/// defaults documented on each field. The library reads no environment variables; the
/// `mvs` CLI maps `MVS_GPU_ADAPTER` and `MVS_GPU_CONV_TILE` onto these fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelOptions {
    /// Backend choice (default [`BackendKind::Auto`]).
    pub backend: BackendKind,
    /// CPU threads (0 = all cores); also used by the GPU backend's CPU fallback.
    pub threads: usize,
    /// CPU: the algorithm of the 3x3 convolutions (default [`CpuConv::Winograd4x4`]);
    /// also used by the GPU backend's CPU fallback.
    pub cpu_conv: CpuConv,
    /// GPU only: use only adapters whose name contains this (case-insensitive), e.g.
    /// "NVIDIA" or "llvmpipe"; None = the best adapter.
    pub gpu_adapter: Option<String>,
    /// GPU only: the conv kernel's register block per thread, (rows, columns), each 4 or 8;
    /// None = by device (8x8 on hardware GPUs, 4x4 on software ones). For tuning.
    pub gpu_conv_tile: Option<(u32, u32)>,
    /// GPU only: most context entries processed at once (0 = as the device's limits
    /// allow). Smaller chunks need less memory; the result is the same.
    pub gpu_max_chunk: usize,
    /// GPU only: most images of a [`crate::Session::predict_batch`] encoded in one command
    /// buffer (0 = 16). Larger saves submissions; smaller reports progress and sees a
    /// cancel sooner. The results are the same. (Rust API only.)
    pub gpu_batch_targets: usize,
    /// GPU only: most bytes of GPU memory one session's activations may take (0 = no
    /// limit); a prediction that needs more runs on the CPU.
    pub gpu_memory_limit: u64,
    /// CPU: most bytes of activations one prediction may need (estimated from the
    /// architecture, the image size and the context size before anything is allocated);
    /// a prediction over it fails with [`ErrorKind::OutOfMemory`] instead of being killed
    /// by the operating system. 0 = three quarters of the physical memory (Linux; no limit
    /// where that cannot be read); `u64::MAX` = no limit.
    pub memory_limit: u64,
}

/// Raw network input of [`Model::infer`]: row-major f32, no preprocessing.
#[derive(Debug, Clone, Copy)]
pub struct RawInput<'a> {
    /// Target `[5, H, W]`: image in [0, 1], box, positive and negative prompts, the mask
    /// input (previous logits).
    pub target: &'a [f32],
    /// Context images `[S, H, W]` in [0, 1]; S may be 0.
    pub context_images: &'a [f32],
    /// Context labels `[S, H, W]` in {0, 1}.
    pub context_labels: &'a [f32],
    /// H: a positive multiple of 16 (128 for the official models).
    pub height: usize,
    /// W: a positive multiple of 16.
    pub width: usize,
}

/// Loaded weights of MultiverSegNet and optionally ScribblePrompt-UNet, with a backend.
/// Immutable after loading; `Model` is `Send + Sync` and cheap to clone (shared).
#[derive(Clone)]
pub struct Model {
    inner: Arc<ModelInner>,
}

struct ModelInner {
    weights: Arc<Weights>,
    backend: Box<dyn Backend>,
    /// Backend state for raw calls ([`Model::infer`]), which belong to no session.
    raw_state: Mutex<BackendState>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Model({})", self.backend_name())
    }
}

impl Model {
    /// Loads a weights file (safetensors, see [`Weights`]) with default options.
    ///
    /// Errors: `Io` (unreadable), `Format` (not a weights file, missing tensors).
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &ModelOptions::default())
    }

    /// Loads a weights file with `opts`. Errors as [`Model::load`], and `Backend` when
    /// [`BackendKind::Gpu`] finds no adapter.
    pub fn load_with(path: &Path, opts: &ModelOptions) -> Result<Self> {
        Self::from_weights(Weights::load(path)?, opts)
    }

    /// Loads the model shipped in the library (see [`crate::default_model`] and
    /// weights/MODEL_CARD.md).
    pub fn load_default(opts: &ModelOptions) -> Result<Self> {
        Self::from_weights(crate::default_model::weights()?, opts)
    }

    /// Loads the named model `name` (e.g. `"official-v1"`, see [`crate::named`]) from the
    /// cache folder ([`crate::named::default_cache_dir`]), where `mvs fetch` or
    /// [`crate::named::fetch`] put it. Never touches the network.
    ///
    /// Errors: `InvalidArgument` (unknown name), `NotFound` (not fetched yet; the message
    /// says how to fetch it or place it by hand), then as [`Model::load_with`].
    pub fn load_named(name: &str, opts: &ModelOptions) -> Result<Self> {
        Self::load_with(&crate::named::resolve(name, None)?, opts)
    }

    /// Wraps already-loaded weights. Fails only for [`BackendKind::Gpu`] when no GPU
    /// can be opened (or an option is invalid); `Auto` then uses the CPU.
    pub fn from_weights(weights: Weights, opts: &ModelOptions) -> Result<Self> {
        if let Some(t) = opts.gpu_conv_tile {
            if ![4, 8].contains(&t.0) || ![4, 8].contains(&t.1) {
                return Err(Error::arg(format!(
                    "gpu_conv_tile: {}x{} is not supported (each side 4 or 8)",
                    t.0, t.1
                )));
            }
        }
        let weights = Arc::new(weights);
        let backend = make_backend(&weights, opts)?;
        log::debug!(
            "model loaded: MultiverSegNet {}, ScribblePrompt-UNet {}, backend {}",
            if weights.multiverseg.is_some() {
                "yes"
            } else {
                "no"
            },
            if weights.unet.is_some() { "yes" } else { "no" },
            backend.describe()
        );
        Ok(Model {
            inner: Arc::new(ModelInner {
                weights,
                backend,
                raw_state: Mutex::new(BackendState::default()),
            }),
        })
    }

    /// The weights.
    pub fn weights(&self) -> &Weights {
        &self.inner.weights
    }

    /// Whether the model has a ScribblePrompt-UNet.
    pub fn has_unet(&self) -> bool {
        self.inner.weights.unet.is_some()
    }

    /// Whether the model has a MultiverSegNet.
    pub fn has_multiverseg(&self) -> bool {
        self.inner.weights.multiverseg.is_some()
    }

    /// The backend's description, e.g. "cpu (tract, 2 threads, winograd 4x4)" or
    /// "gpu (wgpu: NVIDIA H100 (Vulkan))".
    pub fn backend_name(&self) -> String {
        self.inner.backend.describe()
    }

    /// Which network `choice` means for a context of `s` entries and `min_context`.
    /// Errors: `State` when the model lacks that network.
    pub fn resolve(
        &self,
        choice: NetworkChoice,
        s: usize,
        min_context: usize,
    ) -> Result<NetworkChoice> {
        let r = match choice {
            NetworkChoice::Auto => {
                if (s < min_context || !self.has_multiverseg()) && self.has_unet() {
                    NetworkChoice::ScribblePrompt
                } else {
                    NetworkChoice::MultiverSeg
                }
            }
            c => c,
        };
        match r {
            NetworkChoice::MultiverSeg if !self.has_multiverseg() => {
                Err(Error::state("the model has no MultiverSegNet"))
            }
            NetworkChoice::ScribblePrompt if !self.has_unet() => {
                Err(Error::state("the model has no ScribblePrompt-UNet"))
            }
            r => Ok(r),
        }
    }

    /// Bytes of activations a MultiverSegNet prediction with `s` entries at `h`x`w` needs
    /// at its peak on the CPU, as checked against [`ModelOptions::memory_limit`] before it
    /// allocates (0 without the network).
    pub fn estimated_activation_bytes(&self, h: usize, w: usize, s: usize) -> u64 {
        self.inner
            .weights
            .multiverseg
            .as_ref()
            .map_or(0, |a| crate::cpu::estimated_peak_bytes(a, h, w, s))
    }

    /// `OutOfMemory` when a MultiverSegNet prediction with `s` entries at `h`x`w` would
    /// exceed [`ModelOptions::memory_limit`] on this model's backend (the GPU backend checks
    /// its own limit and falls back to the CPU, which checks this one).
    pub fn check_memory(&self, h: usize, w: usize, s: usize) -> Result<()> {
        self.inner.backend.check_memory(s, h, w)
    }

    /// Raw inference (no preprocessing): the logits `[H, W]` of `network` on `input`.
    /// Raw calls share one backend state per model, so they run one at a time.
    ///
    /// Errors: `InvalidArgument` naming the array (wrong length, NaN/Inf, size not a
    /// multiple of 16), `State` (the model lacks the network), `OutOfMemory`, `Backend`.
    pub fn infer(
        &self,
        network: NetworkChoice,
        min_context: usize,
        input: &RawInput,
    ) -> Result<Vec<f32>> {
        let mut st = self
            .inner
            .raw_state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.infer_in(
            &mut st,
            None,
            network,
            min_context,
            input,
            &CancelToken::new(),
        )
    }

    /// [`Model::infer`] with a caller-held backend state (a session's): `context_version`
    /// names the context's contents (bump it on every change), so a backend that keeps
    /// the context on its device uploads it only when it changed. `cancel`, set from
    /// another thread, stops the call with `Cancelled`.
    pub fn infer_in(
        &self,
        state: &mut BackendState,
        context_version: Option<u64>,
        network: NetworkChoice,
        min_context: usize,
        input: &RawInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>> {
        let mut r = self.infer_batch_in(
            state,
            context_version,
            network,
            min_context,
            input,
            &[input.target],
            cancel,
            &mut |_| true,
        )?;
        Ok(r.swap_remove(0))
    }

    /// [`Model::infer_in`] for several targets sharing `input`'s context: `targets[i]` is
    /// a `[5, H, W]` target like `input.target` (which is not used). `done(k)` is called
    /// when the first `k` are finished and returns `false` to cancel. Each result equals
    /// `infer_in` on its target on the same backend; the GPU submits them in chunks.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn infer_batch_in(
        &self,
        state: &mut BackendState,
        context_version: Option<u64>,
        network: NetworkChoice,
        min_context: usize,
        input: &RawInput,
        targets: &[&[f32]],
        cancel: &CancelToken,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        let (h, w) = (input.height, input.width);
        let px = h * w;
        let (ci, cl) = (input.context_images, input.context_labels);
        if ci.len() != cl.len() || ci.len() % px.max(1) != 0 {
            return Err(Error::arg(format!(
                "context images and labels must both be [S, {h}, {w}] (they hold {} and {} values)",
                ci.len(),
                cl.len()
            )));
        }
        let s = ci.len() / px.max(1);
        let backend = &self.inner.backend;
        match self.resolve(network, s, min_context)? {
            NetworkChoice::ScribblePrompt => {
                let xs = targets
                    .iter()
                    .map(|t| NetInput::new(t, None, h, w))
                    .collect::<Result<Vec<_>>>()?;
                backend.scribbleprompt_batch(state, &xs, cancel, done)
            }
            _ => {
                // The network needs one entry; an empty context becomes one image and one
                // label of 0.5, a context of its own: never the version of a real one.
                let dummy;
                let ctx = if s == 0 {
                    dummy = vec![0.5f32; px];
                    ContextRef {
                        images: &dummy,
                        labels: &dummy,
                        s: 1,
                        version: None,
                    }
                } else {
                    ContextRef {
                        images: ci,
                        labels: cl,
                        s,
                        version: context_version,
                    }
                };
                // Check the context once, then each target against it.
                NetInput::new(
                    targets.first().copied().unwrap_or(input.target),
                    Some(ctx),
                    h,
                    w,
                )?;
                let xs = targets
                    .iter()
                    .map(|t| {
                        NetInput::new(t, None, h, w).map(|x| NetInput {
                            context: Some(ctx),
                            ..x
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                backend.multiverseg_batch(state, &xs, cancel, done)
            }
        }
    }
}

fn make_backend(weights: &Arc<Weights>, opts: &ModelOptions) -> Result<Box<dyn Backend>> {
    let limit = resolve_memory_limit(opts.memory_limit);
    let cpu = || -> Box<dyn Backend> {
        Box::new(CpuBackend::new(
            weights.clone(),
            opts.threads,
            limit,
            opts.cpu_conv,
        ))
    };
    #[cfg(feature = "gpu")]
    {
        let gpu = |allow_software| {
            let o = crate::gpu::GpuOptions {
                allow_software,
                adapter: opts.gpu_adapter.clone(),
                conv_tile: opts.gpu_conv_tile,
                max_chunk: opts.gpu_max_chunk,
                batch_targets: opts.gpu_batch_targets,
                memory_limit: opts.gpu_memory_limit,
                cpu_conv: opts.cpu_conv,
            };
            crate::gpu::GpuBackend::new(weights.clone(), opts.threads, limit, &o)
        };
        Ok(match opts.backend {
            BackendKind::Cpu => cpu(),
            BackendKind::Gpu => Box::new(gpu(true)?),
            BackendKind::Auto => match gpu(false) {
                Ok(g) => Box::new(g),
                Err(e) => {
                    log::info!("backend auto: using the CPU ({})", e.message);
                    cpu()
                }
            },
        })
    }
    #[cfg(not(feature = "gpu"))]
    match opts.backend {
        BackendKind::Gpu => Err(Error::backend(
            "this build of multiverseg has no GPU backend (built without the `gpu` feature)",
        )),
        _ => Ok(cpu()),
    }
}

/// [`ModelOptions::memory_limit`] in bytes: 0 means 3/4 of the physical memory.
fn resolve_memory_limit(opt: u64) -> u64 {
    if opt != 0 {
        return opt;
    }
    physical_memory().map_or(u64::MAX, |m| m / 4 * 3)
}

/// Total physical memory in bytes (Linux: /proc/meminfo), None elsewhere.
fn physical_memory() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}
