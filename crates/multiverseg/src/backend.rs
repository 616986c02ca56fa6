//! The one trait every inference backend implements, the checked network input both
//! backends take, and the per-session state a backend may keep between calls.

use crate::error::{Error, ErrorKind, Result};
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Per-session state a backend keeps between predictions: the GPU backend holds the
/// session's device buffers and its uploaded context here. Opaque to callers; a
/// default (empty) state is always valid and only costs a rebuild.
#[derive(Default)]
pub struct BackendState(pub(crate) Option<Box<dyn Any + Send>>);

impl BackendState {
    /// The state as `T`, created with `T::default()` if it is empty or of another type.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn get<T: Any + Send + Default>(&mut self) -> &mut T {
        if !self.0.as_ref().is_some_and(|b| b.is::<T>()) {
            self.0 = Some(Box::new(T::default()));
        }
        self.0
            .as_mut()
            .and_then(|b| b.downcast_mut::<T>())
            .expect("the state was just set to a T")
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

/// A flag another thread sets to stop a running prediction. Cheap to clone (shared); a
/// backend checks it between layers and inside long layers, and the call then fails with
/// [`ErrorKind::Cancelled`], changing nothing. The flag stays set until [`CancelToken::reset`];
/// a [`crate::Session`] resets it when a call starts.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the call that watches this token to stop as soon as it can (any thread).
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
    /// Whether [`CancelToken::cancel`] was called since the last reset.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    /// Clears the flag.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Release);
    }
    /// `Err(Cancelled)` when the flag is set.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::cancelled())
        } else {
            Ok(())
        }
    }
}

/// The context set as the networks see it: `s` entries of `[H, W]` images in [0, 1] and
/// labels in {0, 1}, row-major, entry after entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContextRef<'a> {
    pub images: &'a [f32],
    pub labels: &'a [f32],
    pub s: usize,
    /// Identifies the contents: a backend that keeps the context on its device re-uploads
    /// it only when the version changes. `None`: unknown, always taken from the slices.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub version: Option<u64>,
}

/// One checked network input: target `[5, H, W]` and a context of `S >= 1` entries (the
/// caller substitutes the 0.5 dummy for an empty one), all finite, H and W positive
/// multiples of 16. Both backends take only this, so the checks live in one place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NetInput<'a> {
    pub target: &'a [f32],
    pub context: Option<ContextRef<'a>>,
    pub h: usize,
    pub w: usize,
}

impl<'a> NetInput<'a> {
    /// Checks shapes and values. `context` is None for the UNet.
    pub fn new(
        target: &'a [f32],
        context: Option<ContextRef<'a>>,
        h: usize,
        w: usize,
    ) -> Result<Self> {
        if h == 0 || w == 0 || !h.is_multiple_of(16) || !w.is_multiple_of(16) {
            return Err(Error::arg(format!(
                "network input size {h}x{w} must be a positive multiple of 16 \
                 (both networks halve the resolution four times)"
            )));
        }
        let px = h * w;
        if target.len() != 5 * px {
            return Err(Error::arg(format!(
                "target: holds {} values, expected 5x{h}x{w} = {}",
                target.len(),
                5 * px
            )));
        }
        finite(target, "target")?;
        if let Some(c) = &context {
            if c.s == 0 {
                return Err(Error::arg(
                    "context: the network needs at least one entry (use the 0.5 dummy for none)",
                ));
            }
            for (v, name) in [(c.images, "context images"), (c.labels, "context labels")] {
                if v.len() != c.s * px {
                    return Err(Error::arg(format!(
                        "{name}: hold {} values, expected {}x{h}x{w} = {}",
                        v.len(),
                        c.s,
                        c.s * px
                    )));
                }
                finite(v, name)?;
            }
        }
        Ok(NetInput {
            target,
            context,
            h,
            w,
        })
    }

    /// The context (MultiverSegNet inputs only).
    pub fn context(&self) -> Result<&ContextRef<'a>> {
        self.context.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                "MultiverSegNet called without a context",
            )
        })
    }
}

/// NaN or Inf in a network input is an error naming the array and the first bad index.
fn finite(v: &[f32], name: &str) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::arg(format!(
            "{name}: value {} at flat index {i} is not finite",
            v[i]
        ))),
        None => Ok(()),
    }
}

/// Runs the two networks on checked raw tensors (no preprocessing); returns the logits,
/// `[H, W]` row-major.
pub(crate) trait Backend: Send + Sync {
    /// A short description (e.g. "cpu (tract, 2 threads, winograd 4x4)").
    fn describe(&self) -> String;

    /// MultiverSegNet logits for one target and its context set (`input.context` is set).
    fn multiverseg(
        &self,
        state: &mut BackendState,
        input: &NetInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>>;

    /// Fails with `OutOfMemory` when a MultiverSegNet prediction with `s` entries at
    /// `h`x`w` would need more memory than allowed (checked before anything is allocated).
    fn check_memory(&self, _s: usize, _h: usize, _w: usize) -> Result<()> {
        Ok(())
    }

    /// ScribblePrompt-UNet logits for one target (the context is ignored).
    fn scribbleprompt(
        &self,
        state: &mut BackendState,
        input: &NetInput,
        cancel: &CancelToken,
    ) -> Result<Vec<f32>>;

    /// MultiverSegNet logits for several targets that share one context (every
    /// `inputs[i].context` is the same). Calls `done(k)` when the first `k` are finished;
    /// `false` from it stops the call with `Cancelled`. Each result equals
    /// [`Backend::multiverseg`] on its input on the same backend. The default runs them
    /// one by one; the GPU submits them in chunks.
    fn multiverseg_batch(
        &self,
        state: &mut BackendState,
        inputs: &[NetInput],
        cancel: &CancelToken,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        one_by_one(inputs, done, |x| self.multiverseg(state, x, cancel))
    }

    /// [`Backend::multiverseg_batch`] for the ScribblePrompt-UNet.
    fn scribbleprompt_batch(
        &self,
        state: &mut BackendState,
        inputs: &[NetInput],
        cancel: &CancelToken,
        done: &mut dyn FnMut(usize) -> bool,
    ) -> Result<Vec<Vec<f32>>> {
        one_by_one(inputs, done, |x| self.scribbleprompt(state, x, cancel))
    }
}

/// Runs `f` on each input in turn, reporting to `done` after each.
fn one_by_one(
    inputs: &[NetInput],
    done: &mut dyn FnMut(usize) -> bool,
    mut f: impl FnMut(&NetInput) -> Result<Vec<f32>>,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(inputs.len());
    for x in inputs {
        out.push(f(x)?);
        if !done(out.len()) {
            return Err(Error::cancelled());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_once_with_names() {
        let t = vec![0.0f32; 5 * 16 * 16];
        assert!(NetInput::new(&t, None, 16, 16).is_ok());
        let e = NetInput::new(&t, None, 16, 17).unwrap_err();
        assert!(e.message.contains("multiple of 16"), "{}", e.message);
        let mut bad = t.clone();
        bad[300] = f32::NAN;
        let e = NetInput::new(&bad, None, 16, 16).unwrap_err();
        assert!(
            e.message.contains("target") && e.message.contains("300"),
            "{}",
            e.message
        );
        let ci = vec![0.5f32; 2 * 256];
        let mut cl = ci.clone();
        cl[257] = f32::INFINITY;
        let c = ContextRef {
            images: &ci,
            labels: &cl,
            s: 2,
            version: None,
        };
        let e = NetInput::new(&t, Some(c), 16, 16).unwrap_err();
        assert!(
            e.message.contains("context labels") && e.message.contains("257"),
            "{}",
            e.message
        );
        let c = ContextRef { s: 3, ..c };
        let e = NetInput::new(&t, Some(c), 16, 16).unwrap_err();
        assert!(e.message.contains("context images"), "{}", e.message);
    }

    #[test]
    fn a_cancelled_token_fails_until_reset() {
        let c = CancelToken::new();
        assert!(c.check().is_ok());
        c.clone().cancel();
        assert_eq!(c.check().unwrap_err().kind, ErrorKind::Cancelled);
        c.reset();
        assert!(c.check().is_ok());
    }
}
