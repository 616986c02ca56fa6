//! Three memory-bound steps as tract ops that work plane by plane in parallel: the mean
//! over the context entries, the 2x bilinear upsampling (align_corners=True) and the 2x2
//! max-pool.
//!
//! Why: tract's ReduceMean over the batch axis and its Resize took 23% and 7% of a
//! full-size prediction at S=8 (perf, 2 threads); both ran on one thread and the
//! reduction copied the tensor to bring the reduced axis inward first. Its MaxPool took
//! 4.7% of the CPU time with F(4x4, 3x3) convolutions, on one thread.

use rayon::prelude::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// ONNX op type of the mean over axis 0 of `[N,C,H,W]`, giving `[1,C,H,W]`.
pub const MEAN_ENTRIES_OP: &str = "MvsMeanEntries";
/// ONNX op type of the 2x bilinear upsampling with align_corners=True.
pub const UPSAMPLE_OP: &str = "MvsUpsample2x";
/// ONNX op type of the 2x2 max-pool with stride 2 (`[N,C,H,W]` to `[N,C,H/2,W/2]`, rounded
/// down, as PyTorch's `MaxPool2d(2)` and ONNX's MaxPool without padding).
pub const MAX_POOL_OP: &str = "MvsMaxPool2x2";

/// The 2x2 max-pool, stride 2, of `planes` planes of `h`x`w`, into `(h/2)`x`(w/2)` planes
/// (an odd last row or column is dropped). NaN propagates, as in PyTorch.
pub fn max_pool2x2(x: &[f32], planes: usize, h: usize, w: usize, out: &mut [f32]) {
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(x.len(), planes * h * w, "input length");
    assert_eq!(out.len(), planes * oh * ow, "output length");
    if oh == 0 || ow == 0 {
        return;
    }
    let max = |a: f32, b: f32| if b > a || b.is_nan() { b } else { a };
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(o, p)| {
            for (y, dst) in o.chunks_exact_mut(ow).enumerate() {
                let r0 = &p[2 * y * w..2 * y * w + 2 * ow];
                let r1 = &p[(2 * y + 1) * w..(2 * y + 1) * w + 2 * ow];
                for ((d, a), b) in dst
                    .iter_mut()
                    .zip(r0.chunks_exact(2))
                    .zip(r1.chunks_exact(2))
                {
                    *d = max(max(a[0], a[1]), max(b[0], b[1]));
                }
            }
        });
}

/// The mean over axis 0: each output value is the f32 sum of its N inputs, in entry
/// order, divided by N (the order PyTorch's `mean(dim=1)` uses for small N).
pub fn mean_entries(x: &[f32], n: usize, plane: usize, out: &mut [f32]) {
    assert_eq!(x.len(), n * plane, "input length");
    assert_eq!(out.len(), plane, "output length");
    const CHUNK: usize = 4096;
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, o)| {
        let at = i * CHUNK;
        o.copy_from_slice(&x[at..at + o.len()]);
        for e in 1..n {
            let src = &x[e * plane + at..e * plane + at + o.len()];
            for (a, b) in o.iter_mut().zip(src) {
                *a += b;
            }
        }
        let inv = n as f32;
        for a in o.iter_mut() {
            *a /= inv;
        }
    });
}

/// Source index and weight of the next one for each of `out` positions sampling `inp`
/// positions with align_corners=True; computed in f64 and rounded once.
fn taps(inp: usize, out: usize) -> Vec<(usize, usize, f32)> {
    let scale = if out > 1 {
        (inp as f64 - 1.0) / (out as f64 - 1.0)
    } else {
        0.0
    };
    (0..out)
        .map(|i| {
            let src = i as f64 * scale;
            let i0 = (src.floor() as usize).min(inp - 1);
            let i1 = (i0 + 1).min(inp - 1);
            (i0, i1, (src - i0 as f64) as f32)
        })
        .collect()
}

/// Bilinear upsampling of `planes` planes from `h`x`w` to `2h`x`2w`, align_corners=True.
pub fn upsample2x(x: &[f32], planes: usize, h: usize, w: usize, out: &mut [f32]) {
    assert_eq!(x.len(), planes * h * w, "input length");
    assert_eq!(out.len(), planes * 4 * h * w, "output length");
    if h == 0 || w == 0 {
        return;
    }
    let (ty, tx) = (taps(h, 2 * h), taps(w, 2 * w));
    out.par_chunks_mut(4 * h * w)
        .zip(x.par_chunks(h * w))
        .for_each_init(
            || (vec![0f32; 2 * w], vec![0f32; 2 * w]),
            |(r0, r1), (o, p)| {
                // Interpolate along x into two rows, then between them.
                let row = |y: usize, dst: &mut [f32]| {
                    let src = &p[y * w..(y + 1) * w];
                    for (d, &(a, b, f)) in dst.iter_mut().zip(&tx) {
                        *d = src[a] + f * (src[b] - src[a]);
                    }
                };
                let mut loaded = (usize::MAX, usize::MAX);
                for (oy, &(a, b, f)) in ty.iter().enumerate() {
                    if loaded != (a, b) {
                        row(a, r0);
                        row(b, r1);
                        loaded = (a, b);
                    }
                    let dst = &mut o[oy * 2 * w..(oy + 1) * 2 * w];
                    for ((d, u), v) in dst.iter_mut().zip(r0.iter()).zip(r1.iter()) {
                        *d = u + f * (v - u);
                    }
                }
            },
        );
}

/// Which of the two plane ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaneOp {
    /// [`mean_entries`].
    MeanEntries,
    /// [`upsample2x`].
    Upsample2x,
    /// [`max_pool2x2`].
    MaxPool2x2,
}

impl Op for PlaneOp {
    fn name(&self) -> StaticName {
        match self {
            PlaneOp::MeanEntries => MEAN_ENTRIES_OP.into(),
            PlaneOp::Upsample2x => UPSAMPLE_OP.into(),
            PlaneOp::MaxPool2x2 => MAX_POOL_OP.into(),
        }
    }
    op_as_typed_op!();
}

impl EvalOp for PlaneOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        super::check_cancel(super::run_cancel_token().as_ref())?;
        let x = &inputs[0];
        let s = x.shape().to_vec();
        ensure!(
            s.len() == 4 && x.datum_type() == f32::datum_type(),
            "{}: f32 [N, C, H, W] expected, got {:?} {s:?}",
            self.name(),
            x.datum_type()
        );
        let xs = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let out = match self {
            PlaneOp::MeanEntries => {
                let mut out = unsafe { Tensor::uninitialized::<f32>(&[1, s[1], s[2], s[3]])? };
                // SAFETY: f32, created just above; mean_entries writes every element.
                let o = unsafe { out.as_slice_mut_unchecked::<f32>() };
                if s[0] == 0 {
                    bail!("{MEAN_ENTRIES_OP}: no entries");
                }
                super::in_ops_pool(|| mean_entries(xs, s[0], s[1] * s[2] * s[3], o));
                out
            }
            PlaneOp::Upsample2x => {
                let mut out =
                    unsafe { Tensor::uninitialized::<f32>(&[s[0], s[1], 2 * s[2], 2 * s[3]])? };
                // SAFETY: f32, created just above; upsample2x writes every element.
                let o = unsafe { out.as_slice_mut_unchecked::<f32>() };
                super::in_ops_pool(|| upsample2x(xs, s[0] * s[1], s[2], s[3], o));
                out
            }
            PlaneOp::MaxPool2x2 => {
                let mut out =
                    unsafe { Tensor::uninitialized::<f32>(&[s[0], s[1], s[2] / 2, s[3] / 2])? };
                // SAFETY: f32, created just above; max_pool2x2 writes every element.
                let o = unsafe { out.as_slice_mut_unchecked::<f32>() };
                super::in_ops_pool(|| max_pool2x2(xs, s[0] * s[1], s[2], s[3], o));
                out
            }
        };
        Ok(tvec![out.into_tvalue()])
    }
}

impl TypedOp for PlaneOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let s = &inputs[0].shape;
        ensure!(s.rank() == 4, "{}: rank-4 input expected", self.name());
        let shape: TVec<TDim> = match self {
            PlaneOp::MeanEntries => tvec![1.into(), s[1].clone(), s[2].clone(), s[3].clone()],
            PlaneOp::Upsample2x => tvec![
                s[0].clone(),
                s[1].clone(),
                s[2].clone() * 2,
                s[3].clone() * 2
            ],
            PlaneOp::MaxPool2x2 => tvec![
                s[0].clone(),
                s[1].clone(),
                s[2].clone() / 2,
                s[3].clone() / 2
            ],
        };
        Ok(tvec!(f32::fact(shape)))
    }
    as_op!();
}

/// The ONNX-side wrapper (no constant inputs to fold).
#[derive(Debug, Clone)]
pub(super) struct PlaneOpExpansion(pub(super) PlaneOp);

impl Expansion for PlaneOpExpansion {
    fn name(&self) -> StaticName {
        self.0.name()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[1], &inputs[0].shape[1])?;
        match self.0 {
            PlaneOp::MeanEntries => {
                s.equals(&outputs[0].shape[0], 1.to_dim())?;
                s.equals(&outputs[0].shape[2], &inputs[0].shape[2])?;
                s.equals(&outputs[0].shape[3], &inputs[0].shape[3])?;
            }
            PlaneOp::Upsample2x => {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                s.given(&inputs[0].shape[2], move |s, d| {
                    s.equals(&outputs[0].shape[2], d * 2)
                })?;
                s.given(&inputs[0].shape[3], move |s, d| {
                    s.equals(&outputs[0].shape[3], d * 2)
                })?;
            }
            PlaneOp::MaxPool2x2 => {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                s.given(&inputs[0].shape[2], move |s, d| {
                    s.equals(&outputs[0].shape[2], d / 2)
                })?;
                s.given(&inputs[0].shape[3], move |s, d| {
                    s.equals(&outputs[0].shape[3], d / 2)
                })?;
            }
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_rng::lcg;

    #[test]
    fn mean_entries_matches_f64() {
        let mut seed = 7;
        let (n, plane) = (5, 4099 * 3);
        let x: Vec<f32> = (0..n * plane).map(|_| lcg(&mut seed) * 10.0).collect();
        let mut out = vec![f32::NAN; plane];
        mean_entries(&x, n, plane, &mut out);
        for (p, &o) in out.iter().enumerate() {
            let want = (0..n).map(|e| x[e * plane + p] as f64).sum::<f64>() / n as f64;
            assert!((o as f64 - want).abs() < 1e-5, "{p}: {o} vs {want}");
        }
    }

    #[test]
    fn upsample_matches_f64_align_corners() {
        let mut seed = 11;
        for &(planes, h, w) in &[(3, 5, 7), (2, 1, 4), (1, 8, 8), (2, 3, 1)] {
            let x: Vec<f32> = (0..planes * h * w).map(|_| lcg(&mut seed)).collect();
            let mut out = vec![f32::NAN; planes * 4 * h * w];
            upsample2x(&x, planes, h, w, &mut out);
            let (oh, ow) = (2 * h, 2 * w);
            for p in 0..planes {
                for oy in 0..oh {
                    for ox in 0..ow {
                        // PyTorch's align_corners=True mapping, in f64.
                        let sy = if oh > 1 {
                            oy as f64 * (h - 1) as f64 / (oh - 1) as f64
                        } else {
                            0.0
                        };
                        let sx = if ow > 1 {
                            ox as f64 * (w - 1) as f64 / (ow - 1) as f64
                        } else {
                            0.0
                        };
                        let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
                        let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                        let (fy, fx) = (sy - y0 as f64, sx - x0 as f64);
                        let v = |yy: usize, xx: usize| x_at(&x, p, h, w, yy, xx);
                        let want = (1.0 - fy) * ((1.0 - fx) * v(y0, x0) + fx * v(y0, x1))
                            + fy * ((1.0 - fx) * v(y1, x0) + fx * v(y1, x1));
                        let got = out[(p * oh + oy) * ow + ox] as f64;
                        assert!(
                            (got - want).abs() < 1e-6,
                            "{planes}x{h}x{w} at {p},{oy},{ox}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn max_pool_matches_a_direct_max_on_odd_sizes() {
        let mut seed = 13;
        for &(planes, h, w) in &[(3, 5, 7), (2, 2, 2), (1, 8, 6), (2, 1, 4), (1, 9, 3)] {
            let mut x: Vec<f32> = (0..planes * h * w).map(|_| lcg(&mut seed)).collect();
            if x.len() > 5 {
                x[5] = f32::NAN;
            }
            let (oh, ow) = (h / 2, w / 2);
            let mut out = vec![0f32; planes * oh * ow];
            max_pool2x2(&x, planes, h, w, &mut out);
            for p in 0..planes {
                for y in 0..oh {
                    for xx in 0..ow {
                        let win = [(0, 0), (0, 1), (1, 0), (1, 1)]
                            .map(|(a, b)| x_at(&x, p, h, w, 2 * y + a, 2 * xx + b));
                        let got = out[(p * oh + y) * ow + xx] as f64;
                        if win.iter().any(|v| v.is_nan()) {
                            assert!(got.is_nan(), "{planes}x{h}x{w} at {p},{y},{xx}: NaN lost");
                        } else {
                            let want = win.iter().cloned().fold(f64::MIN, f64::max);
                            assert_eq!(got, want, "{planes}x{h}x{w} at {p},{y},{xx}");
                        }
                    }
                }
            }
        }
    }

    fn x_at(x: &[f32], p: usize, h: usize, w: usize, y: usize, xx: usize) -> f64 {
        x[(p * h + y) * w + xx] as f64
    }
}
