//! Flip averaging for ScribblePrompt-UNet (opt-in; off by default, where a prediction is one
//! pass of the network, as in the official code).
//!
//! Every shipped UNet since version 4 of the default model has a directional bias (a clean
//! disk's mask a few pixels low after a centre click; weights/MODEL_HISTORY.md). The mean of the
//! logits over the four flips of the input (as is, left-right, up-down, both), each flipped
//! back, is equivariant to those flips whatever the network, so such a bias cancels. It costs
//! four UNet passes per prediction. An experiment of issue 14, declared in
//! weights/eval/v10_tta/PURPOSE.md; measured in weights/eval/v10_tta/README.md.
//!
//! The flips act on the network's input, the image padded at the bottom and right to a square
//! and resized to 128 x 128: for a non-square image the padding moves to the top or left in
//! three of the four passes, so the cancellation holds in that padded square, not in the
//! image's own frame.

use crate::NET_SIZE;

const PX: usize = NET_SIZE * NET_SIZE;

/// Flips every 128 x 128 plane of `x` (planes back to back): left-right when `lr`, up-down
/// when `ud`. Its own inverse.
///
/// Panics if `x.len()` is not a multiple of 128 * 128 (every caller passes whole planes).
pub fn flip_planes(x: &[f32], lr: bool, ud: bool) -> Vec<f32> {
    assert!(
        x.len().is_multiple_of(PX),
        "flip_planes: whole 128 x 128 planes only"
    );
    let n = NET_SIZE;
    let mut out = vec![0.0f32; x.len()];
    for (src, dst) in x.chunks_exact(PX).zip(out.chunks_exact_mut(PX)) {
        for y in 0..n {
            let sy = if ud { n - 1 - y } else { y };
            for xx in 0..n {
                let sx = if lr { n - 1 - xx } else { xx };
                dst[y * n + xx] = src[sy * n + sx];
            }
        }
    }
    out
}

/// The four flips (lr, ud) in the order the inputs and outputs use.
pub const FLIPS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

/// The four flipped copies of a network input `x` ([C, 128, 128]), in [`FLIPS`] order.
pub fn flipped_inputs(x: &[f32]) -> Vec<Vec<f32>> {
    FLIPS
        .iter()
        .map(|&(lr, ud)| flip_planes(x, lr, ud))
        .collect()
}

/// The mean of four logit maps (each 128 x 128, in [`FLIPS`] order), each flipped back
/// first; 128 x 128.
///
/// Panics unless there are exactly four maps of 128 * 128 values.
pub fn average_back(outs: &[Vec<f32>]) -> Vec<f32> {
    assert_eq!(outs.len(), FLIPS.len(), "one output per flip");
    let mut acc = vec![0.0f32; PX];
    for (o, &(lr, ud)) in outs.iter().zip(&FLIPS) {
        assert_eq!(o.len(), PX, "average_back: 128 x 128 maps only");
        for (a, v) in acc.iter_mut().zip(flip_planes(o, lr, ud)) {
            *a += v;
        }
    }
    acc.iter_mut().for_each(|a| *a /= FLIPS.len() as f32);
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(c: usize) -> Vec<f32> {
        (0..c * PX)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect()
    }

    #[test]
    fn flips_are_their_own_inverse_and_move_the_right_pixels() {
        let x = ramp(2);
        for (lr, ud) in FLIPS {
            assert_eq!(flip_planes(&flip_planes(&x, lr, ud), lr, ud), x);
        }
        let f = flip_planes(&x, true, false);
        assert_eq!(f[3 * NET_SIZE], x[3 * NET_SIZE + NET_SIZE - 1]);
        let f = flip_planes(&x, false, true);
        assert_eq!(f[PX + 5], x[PX + (NET_SIZE - 1) * NET_SIZE + 5]);
    }

    /// A "network" that is not equivariant (it reads a shifted pixel) becomes equivariant to
    /// every flip once averaged; the identity stays the identity.
    #[test]
    fn the_average_is_flip_equivariant() {
        let net = |x: &[f32]| -> Vec<f32> {
            (0..PX)
                .map(|i| x[(i + NET_SIZE + 1) % PX] * 2.0 - 1.0)
                .collect()
        };
        let avg =
            |x: &[f32]| average_back(&flipped_inputs(x).iter().map(|v| net(v)).collect::<Vec<_>>());
        let x = ramp(1);
        for (lr, ud) in FLIPS {
            let a = avg(&flip_planes(&x, lr, ud));
            let b = flip_planes(&avg(&x), lr, ud);
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() < 1e-6);
            }
        }
        let ident = |x: &[f32]| average_back(&flipped_inputs(x));
        let y: Vec<f32> = ident(&x);
        for (u, v) in y.iter().zip(&x) {
            assert!((u - v).abs() < 1e-6);
        }
    }
}
