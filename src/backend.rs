//! The one trait every inference backend implements.

use crate::error::Result;

/// Runs the two networks on raw tensors (no preprocessing).
///
/// Layouts are row-major f32: `target` is [5, H, W]; `context_images` and
/// `context_labels` are [S, H, W] with S >= 1 (callers substitute the 0.5 dummy
/// entry for an empty context). The result is the logits, [H, W].
pub trait Backend: Send + Sync {
    /// A short description (e.g. "cpu (tract, 2 threads)").
    fn describe(&self) -> String;

    /// MultiverSegNet logits for one target and its context set.
    fn multiverseg(
        &self,
        target: &[f32],
        context_images: &[f32],
        context_labels: &[f32],
        s: usize,
        h: usize,
        w: usize,
    ) -> Result<Vec<f32>>;

    /// ScribblePrompt-UNet logits for one target.
    fn scribbleprompt(&self, target: &[f32], h: usize, w: usize) -> Result<Vec<f32>>;
}
