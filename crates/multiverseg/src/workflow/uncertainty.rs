//! An uncertainty score per prediction, to rank which images a user should review first.
//!
//! Definition: the mean binary entropy, in bits, of the foreground probabilities
//! p = sigmoid(logits) over a region of the network-size (128x128) prediction:
//!
//! * the region is the bounding box of the predicted object (p > 0.5) grown by a quarter of
//!   its width (height) on the left and right (top and bottom), at least 2 pixels, clipped
//!   to the part of the grid that shows the image (the padding to a square is excluded);
//! * when nothing is predicted, the whole image part of the grid.
//!
//! H(p) = -p log2 p - (1 - p) log2 (1 - p) is 0 for p in {0, 1} and 1 for p = 0.5, so the
//! score is in [0, 1]. Restricting it to the object's neighbourhood keeps a large, easy
//! background from diluting an unsure boundary; BENCHMARKS.md reports how it ranks real
//! predictions (Spearman correlation with 1 - Dice).

use crate::preprocess::square_side;
use crate::NET_SIZE;

/// Binary entropy in bits of the probability sigmoid(`logit`), computed stably.
fn entropy_bits(logit: f32) -> f64 {
    let l = logit as f64;
    // p = 1/(1+e^-l); H = ln(1+e^-|l|) + |l| e^-|l| / (1+e^-|l|), in nats.
    let a = l.abs();
    let e = (-a).exp();
    let h = (1.0 + e).ln() + a * e / (1.0 + e);
    h / std::f64::consts::LN_2
}

/// The score of 128x128 `logits` predicted for a `width`x`height` image (see the module
/// docs), in [0, 1].
pub fn score(logits: &[f32], width: usize, height: usize) -> f32 {
    let n = NET_SIZE;
    debug_assert_eq!(logits.len(), n * n);
    // The image occupies the top-left (w/side, h/side) of the grid (padding at the
    // bottom/right); at least one row and column.
    let side = square_side(width, height) as f64;
    let vw = ((width as f64 / side * n as f64).ceil() as usize).clamp(1, n);
    let vh = ((height as f64 / side * n as f64).ceil() as usize).clamp(1, n);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..vh {
        for x in 0..vw {
            if logits[y * n + x] > 0.0 {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    let (x0, y0, x1, y1) = if x0 == usize::MAX {
        (0, 0, vw, vh)
    } else {
        let gx = ((x1 - x0) / 4).max(2);
        let gy = ((y1 - y0) / 4).max(2);
        (
            x0.saturating_sub(gx),
            y0.saturating_sub(gy),
            (x1 + gx).min(vw),
            (y1 + gy).min(vh),
        )
    };
    let mut sum = 0.0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += entropy_bits(logits[y * n + x]);
        }
    }
    (sum / ((x1 - x0) * (y1 - y0)) as f64).clamp(0.0, 1.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_one_at_half_and_zero_when_sure() {
        assert!((entropy_bits(0.0) - 1.0).abs() < 1e-12);
        assert!(entropy_bits(40.0) < 1e-15 && entropy_bits(-40.0) < 1e-15);
        // Against the direct formula at p = sigmoid(1.3).
        let p = 1.0 / (1.0 + (-(1.3f32 as f64)).exp());
        let h = -(p * p.log2() + (1.0 - p) * (1.0 - p).log2());
        assert!((entropy_bits(1.3) - h).abs() < 1e-12);
    }

    #[test]
    fn a_sure_object_scores_low_and_a_blurry_one_high() {
        let n = NET_SIZE;
        let disk = |sharp: f32| -> Vec<f32> {
            (0..n * n)
                .map(|i| {
                    let (x, y) = ((i % n) as f32 - 64.0, (i / n) as f32 - 64.0);
                    sharp * (20.0 - (x * x + y * y).sqrt())
                })
                .collect()
        };
        let sure = score(&disk(10.0), 300, 300);
        let blurry = score(&disk(0.2), 300, 300);
        assert!(
            sure < 0.1 && blurry > 0.5 && (0.0..=1.0).contains(&blurry),
            "{sure} {blurry}"
        );
        // Nothing predicted, all logits -0.1 (p = 0.475): the whole image is unsure.
        let empty = score(&vec![-0.1; n * n], 300, 300);
        assert!(empty > 0.99, "{empty}");
        // Padding does not count: a 300x100 image shows in the top third of the grid.
        let mut l = vec![-30.0f32; n * n];
        l[100 * n..].iter_mut().for_each(|v| *v = 0.0);
        assert!(score(&l, 300, 100) < 1e-6);
    }
}
