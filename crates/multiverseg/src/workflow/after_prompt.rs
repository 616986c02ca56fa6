//! Which network predicts an image once it has a prompt, while the context is large enough
//! for MultiverSegNet (opt-in; the default is MultiverSegNet, as in the paper).
//!
//! Experiments of issue 14 with version 10's weights: MultiverSegNet follows clicks less well
//! than ScribblePrompt-UNet, but its clicks with a context save clicks on some tasks.
//! [`AfterPrompt::Unet`] hands every prompt to the UNet (declared and measured in
//! weights/eval/v10_refine/: it keeps the UNet's clicks on ultrasound and loses the saving on
//! the 12 evaluation tasks); [`AfterPrompt::Mean`] runs both and takes the mean of their logits
//! (declared in weights/eval/v10_mean/PURPOSE.md, measured in weights/eval/v10_mean/README.md:
//! 21.2% fewer clicks than the UNet alone on the 12 tasks, against version 10's 8.4% with
//! MultiverSegNet alone, but more steps than MultiverSegNet alone with scribbles);
//! [`AfterPrompt::MeanForClicks`] uses the mean only while the prompts are clicks. The prediction before any prompt is always MultiverSegNet's: that is
//! where the context acts without a prompt.

/// The network, or networks, that predict an image with at least one prompt (click, box,
/// scribble) when the context has at least `min_context` entries. Below `min_context`, and
/// with a model that lacks the UNet, MultiverSegNet's or the UNet's rule of
/// [`crate::Model::resolve`] applies unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterPrompt {
    /// MultiverSegNet with the context (the paper; the default).
    #[default]
    MultiverSeg,
    /// ScribblePrompt-UNet alone, on the same 5-channel input; its previous-logits channel
    /// holds the previous prediction (at the first prompt, MultiverSegNet's prompt-free
    /// logits if the image was predicted before it, else zeros). Departs from the paper.
    Unet,
    /// Both networks on the same 5-channel input, then the elementwise mean of their logits
    /// (equal weights): one UNet pass more per prediction, small beside MultiverSegNet's (4.4
    /// against 284 ms at S = 16 on 2 CPU threads, weights/eval/v10_mean/README.md). Departs
    /// from the paper.
    Mean,
    /// [`AfterPrompt::Mean`] while every prompt of the image is a click, MultiverSegNet alone
    /// once it has a box or a scribble: the mean saved clicks on the 12 evaluation tasks but
    /// cost steps with scribbles, where MultiverSegNet's own corrections do better
    /// (weights/eval/v10_mean/README.md). Departs from the paper.
    MeanForClicks,
}

impl AfterPrompt {
    /// Every value, in the order of the C enum `MvsAfterPrompt` (0..=3).
    pub const ALL: [AfterPrompt; 4] = [
        AfterPrompt::MultiverSeg,
        AfterPrompt::Unet,
        AfterPrompt::Mean,
        AfterPrompt::MeanForClicks,
    ];

    /// The value's name in the command line and the Python binding: "multiverseg", "unet",
    /// "mean" or "mean-for-clicks" (as `mvs eval --after-prompt`).
    pub fn name(self) -> &'static str {
        match self {
            AfterPrompt::MultiverSeg => "multiverseg",
            AfterPrompt::Unet => "unet",
            AfterPrompt::Mean => "mean",
            AfterPrompt::MeanForClicks => "mean-for-clicks",
        }
    }

    /// The value named `name` ([`AfterPrompt::name`]). Errors: `InvalidArgument` naming the
    /// value and the known names.
    pub fn from_name(name: &str) -> crate::Result<AfterPrompt> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|a| a.name()).collect();
                crate::Error::arg(format!(
                    "after_prompt: {name:?} is not one of {}",
                    known.join(", ")
                ))
            })
    }
}

/// Replaces `a` by the elementwise mean of two logit maps of the same length, `a / 2 + b / 2`
/// (halved first, so that it never overflows), in place.
///
/// Panics if the lengths differ (both come from one network input).
pub fn mean_into(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "mean: logit maps of different sizes");
    a.iter_mut()
        .zip(b)
        .for_each(|(x, y)| *x = 0.5 * *x + 0.5 * y);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_elementwise_and_in_f32() {
        let a = [1.0f32, -3.0, 0.25, f32::MAX];
        let b = [3.0f32, 1.0, -0.25, f32::MAX];
        // MAX + MAX overflows in f32; halving first keeps the mean finite.
        let mut m = a;
        mean_into(&mut m, &b);
        assert_eq!(&m[..3], &[2.0, -1.0, 0.0]);
        assert_eq!(m[3], f32::MAX);
        assert_eq!(AfterPrompt::default(), AfterPrompt::MultiverSeg);
    }

    #[test]
    fn names_round_trip_and_a_bad_one_is_refused() {
        for a in AfterPrompt::ALL {
            assert_eq!(AfterPrompt::from_name(a.name()).unwrap(), a);
        }
        let e = AfterPrompt::from_name("Mean").unwrap_err().to_string();
        assert!(
            e.contains("after_prompt") && e.contains("mean-for-clicks"),
            "{e}"
        );
    }
}
