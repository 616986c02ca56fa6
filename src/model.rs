//! `Model`: immutable weights plus a backend, shared by many sessions and threads.

use crate::backend::{Backend, BackendState};
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::gpu::{GpuBackend, GpuOptions};
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

/// Which backend to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// A hardware GPU when wgpu finds one, else the CPU. Software adapters (lavapipe)
    /// are not chosen: tract on the CPU is faster than them.
    #[default]
    Auto,
    /// tract on the CPU.
    Cpu,
    /// wgpu on the best adapter, software adapters included; an error if there is none.
    Gpu,
}

/// Options for [`Model::load_with`].
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Backend choice.
    pub backend: BackendKind,
    /// CPU threads (0 = all cores); also used by the GPU backend's CPU fallback.
    pub threads: usize,
    /// Most context entries the GPU processes at once (0 = as its limits allow).
    /// Smaller chunks need less memory; the result is the same.
    pub gpu_max_chunk: usize,
    /// Most bytes of GPU memory one session's activations may take (0 = no limit);
    /// a prediction that needs more runs on the CPU.
    pub gpu_memory_limit: u64,
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

impl Model {
    /// Loads a weights file with default options.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &ModelOptions::default())
    }

    /// Loads a weights file.
    pub fn load_with(path: &Path, opts: &ModelOptions) -> Result<Self> {
        Self::from_weights(Weights::load(path)?, opts)
    }

    /// Loads the default model: the file named by the `MVS_MODEL` environment variable if it
    /// is set, else the model shipped in `weights/` (see [`crate::default_model`]).
    pub fn load_default(opts: &ModelOptions) -> Result<Self> {
        Self::from_weights(crate::default_model::weights()?, opts)
    }

    /// Wraps already-loaded weights. Fails only for [`BackendKind::Gpu`] when no GPU
    /// can be opened; `Auto` then uses the CPU.
    pub fn from_weights(weights: Weights, opts: &ModelOptions) -> Result<Self> {
        let weights = Arc::new(weights);
        let gpu = |allow_software| {
            let o = GpuOptions {
                allow_software,
                max_chunk: opts.gpu_max_chunk,
                memory_limit: opts.gpu_memory_limit,
            };
            GpuBackend::new(weights.clone(), opts.threads, &o)
        };
        let backend: Box<dyn Backend> = match opts.backend {
            BackendKind::Cpu => Box::new(CpuBackend::new(weights.clone(), opts.threads)),
            BackendKind::Gpu => Box::new(gpu(true)?),
            BackendKind::Auto => match gpu(false) {
                Ok(g) => Box::new(g),
                Err(_) => Box::new(CpuBackend::new(weights.clone(), opts.threads)),
            },
        };
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

    /// The backend's description.
    pub fn backend_name(&self) -> String {
        self.inner.backend.describe()
    }

    /// Which network `choice` means for a context of `s` entries and `min_context`.
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

    /// Raw inference: `target` [5,H,W], context [S,H,W] each (S may be 0); returns logits [H,W].
    /// Raw calls share one backend state per model, so they run one at a time.
    #[allow(clippy::too_many_arguments)]
    pub fn infer(
        &self,
        choice: NetworkChoice,
        min_context: usize,
        target: &[f32],
        ci: &[f32],
        cl: &[f32],
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>> {
        let mut st = self
            .inner
            .raw_state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.infer_in(&mut st, None, choice, min_context, target, ci, cl, h, w)
    }

    /// [`Model::infer`] with a session's backend state: `context_version` names the
    /// context's contents (a session bumps it on every change), so a backend that keeps
    /// the context on its device uploads it only when it changed.
    #[allow(clippy::too_many_arguments)]
    pub fn infer_in(
        &self,
        state: &mut BackendState,
        context_version: Option<u64>,
        choice: NetworkChoice,
        min_context: usize,
        target: &[f32],
        ci: &[f32],
        cl: &[f32],
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>> {
        let px = h * w;
        if target.len() != 5 * px {
            return Err(Error::arg(format!(
                "target holds {} values, expected 5x{h}x{w}",
                target.len()
            )));
        }
        if ci.len() != cl.len() || ci.len() % px.max(1) != 0 {
            return Err(Error::arg(
                "context images and labels must both be [S, H, W]",
            ));
        }
        let s = ci.len() / px.max(1);
        match self.resolve(choice, s, min_context)? {
            NetworkChoice::ScribblePrompt => self.inner.backend.scribbleprompt(state, target, h, w),
            _ if s == 0 => {
                // The network needs one entry; an empty context becomes one image and one label of 0.5.
                let dummy = vec![0.5f32; px];
                // The dummy is a context of its own: never the version of a real one.
                self.inner
                    .backend
                    .multiverseg(state, None, target, &dummy, &dummy, 1, h, w)
            }
            _ => self
                .inner
                .backend
                .multiverseg(state, context_version, target, ci, cl, s, h, w),
        }
    }
}
