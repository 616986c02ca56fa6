//! `Model`: immutable weights plus a backend, shared by many sessions and threads.

use crate::backend::Backend;
use crate::cpu::CpuBackend;
use crate::error::{Error, Result};
use crate::weights::Weights;
use std::path::Path;
use std::sync::Arc;

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
    /// The GPU when one is available, else the CPU (only the CPU exists in this build).
    #[default]
    Auto,
    /// tract on the CPU.
    Cpu,
}

/// Options for [`Model::load_with`].
#[derive(Debug, Clone, Default)]
pub struct ModelOptions {
    /// Backend choice.
    pub backend: BackendKind,
    /// CPU threads (0 = all cores).
    pub threads: usize,
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
}

impl Model {
    /// Loads a weights file with default options.
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_with(path, &ModelOptions::default())
    }

    /// Loads a weights file.
    pub fn load_with(path: &Path, opts: &ModelOptions) -> Result<Self> {
        Ok(Self::from_weights(Weights::load(path)?, opts))
    }

    /// Loads the default model: the file named by the `MVS_MODEL` environment variable if it
    /// is set, else the model shipped in `weights/` (see [`crate::default_model`]).
    pub fn load_default(opts: &ModelOptions) -> Result<Self> {
        Ok(Self::from_weights(crate::default_model::weights()?, opts))
    }

    /// Wraps already-loaded weights.
    pub fn from_weights(weights: Weights, opts: &ModelOptions) -> Self {
        let weights = Arc::new(weights);
        let backend: Box<dyn Backend> = match opts.backend {
            BackendKind::Auto | BackendKind::Cpu => {
                Box::new(CpuBackend::new(weights.clone(), opts.threads))
            }
        };
        Model {
            inner: Arc::new(ModelInner { weights, backend }),
        }
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
            NetworkChoice::ScribblePrompt => self.inner.backend.scribbleprompt(target, h, w),
            _ if s == 0 => {
                // The network needs one entry; an empty context becomes one image and one label of 0.5.
                let dummy = vec![0.5f32; px];
                self.inner
                    .backend
                    .multiverseg(target, &dummy, &dummy, 1, h, w)
            }
            _ => self.inner.backend.multiverseg(target, ci, cl, s, h, w),
        }
    }
}
