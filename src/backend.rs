//! The one trait every inference backend implements, and the per-session state a
//! backend may keep between calls.

use crate::error::{Error, Result};
use std::any::Any;

/// Per-session state a backend keeps between predictions: the GPU backend holds the
/// session's device buffers and its uploaded context here. Opaque to callers; a
/// default (empty) state is always valid and only costs a rebuild.
#[derive(Default)]
pub struct BackendState(pub(crate) Option<Box<dyn Any + Send>>);

impl BackendState {
    /// The state as `T`, created with `T::default()` if it is empty or of another type.
    pub(crate) fn get<T: Any + Send + Default>(&mut self) -> &mut T {
        if !self.0.as_ref().is_some_and(|b| b.is::<T>()) {
            self.0 = Some(Box::new(T::default()));
        }
        self.0.as_mut().unwrap().downcast_mut::<T>().unwrap()
    }

    /// Drops whatever the backend kept (its buffers are freed).
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl std::fmt::Debug for BackendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BackendState(..)"
        } else {
            "BackendState(empty)"
        })
    }
}

/// Runs the two networks on raw tensors (no preprocessing).
///
/// Layouts are row-major f32: `target` is [5, H, W]; `context_images` and
/// `context_labels` are [S, H, W] with S >= 1 (callers substitute the 0.5 dummy
/// entry for an empty context). The result is the logits, [H, W].
pub trait Backend: Send + Sync {
    /// A short description (e.g. "cpu (tract, 2 threads)").
    fn describe(&self) -> String;

    /// MultiverSegNet logits for one target and its context set.
    ///
    /// `context_version` identifies the context's contents: a backend that keeps the
    /// context in `state` may skip re-uploading it when the version is the one it
    /// holds. `None` means "unknown": the context is always taken from the arguments.
    #[allow(clippy::too_many_arguments)]
    fn multiverseg(
        &self,
        state: &mut BackendState,
        context_version: Option<u64>,
        target: &[f32],
        context_images: &[f32],
        context_labels: &[f32],
        s: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>>;

    /// ScribblePrompt-UNet logits for one target.
    fn scribbleprompt(
        &self,
        state: &mut BackendState,
        target: &[f32],
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>>;
}

/// Both networks halve the resolution four times (the official configs); every backend
/// accepts the same sizes.
pub(crate) fn check_dims(h: usize, w: usize) -> Result<()> {
    if h == 0 || w == 0 || h % 16 != 0 || w % 16 != 0 {
        return Err(Error::arg(format!(
            "network input size {h}x{w} must be a positive multiple of 16"
        )));
    }
    Ok(())
}
