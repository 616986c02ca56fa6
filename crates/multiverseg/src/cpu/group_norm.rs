//! GroupNorm with one group as a tract op with f64 accumulation.
//!
//! tract's reductions sum f32 sequentially (and fuse chains of reductions), which
//! loses ~1e-5 relative over the 4M values of a full-size feature map; the
//! normalization then amplifies it (DESIGN.md section 2). This op computes each
//! entry's mean and variance with f64 sums in one pass and normalizes in a second.

use rayon::prelude::*;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// ONNX op type the graph uses for this op when built for tract.
pub const OP_TYPE: &str = "MvsGroupNorm1";

/// `y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]`, statistics over (C, H, W) per entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupNorm1 {
    /// Per-channel scale.
    pub gamma: Arc<Tensor>,
    /// Per-channel shift.
    pub beta: Arc<Tensor>,
    /// Epsilon as f32 bits (kept as bits so the op is `Eq` and `Hash`).
    pub eps_bits: u32,
}

impl Op for GroupNorm1 {
    fn name(&self) -> StaticName {
        "GroupNorm1".into()
    }
    op_as_typed_op!();
}

impl EvalOp for GroupNorm1 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        super::check_cancel(super::run_cancel_token().as_ref())?;
        let input = args_1!(inputs);
        let mut x = input.into_tensor();
        let shape = x.shape().to_vec();
        ensure!(
            shape.len() == 4,
            "GroupNorm1 expects [N, C, H, W], got {shape:?}"
        );
        let (n, c, plane) = (shape[0], shape[1], shape[2] * shape[3]);
        for t in [&x, &*self.gamma, &*self.beta] {
            ensure!(
                t.datum_type() == f32::datum_type(),
                "GroupNorm1 works on f32 only"
            );
        }
        // SAFETY: the datum types were checked just above.
        let gamma = unsafe { self.gamma.as_slice_unchecked::<f32>() };
        let beta = unsafe { self.beta.as_slice_unchecked::<f32>() };
        ensure!(
            gamma.len() == c && beta.len() == c,
            "GroupNorm1: {c} channels, {} scales",
            gamma.len()
        );
        let eps = f32::from_bits(self.eps_bits) as f64;
        // SAFETY: checked f32 above.
        let data = unsafe { x.as_slice_mut_unchecked::<f32>() };
        // Per-plane f64 sums, in parallel; then per-entry statistics.
        let sums: Vec<(f64, f64)> = super::in_ops_pool(|| {
            data.par_chunks(plane)
                .map(|p| {
                    p.iter().fold((0.0f64, 0.0f64), |(s, q), &v| {
                        (s + v as f64, q + (v as f64) * (v as f64))
                    })
                })
                .collect()
        });
        let count = (c * plane) as f64;
        let stats: Vec<(f32, Vec<f32>)> = (0..n)
            .map(|i| {
                let (s, q) = sums[i * c..(i + 1) * c]
                    .iter()
                    .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
                let mean = s / count;
                // f64 keeps E[x^2] - mean^2 exact enough: |mean| / std stays far below 1e6 here.
                let var = (q / count - mean * mean).max(0.0);
                let inv = 1.0 / (var + eps).sqrt();
                (
                    mean as f32,
                    gamma.iter().map(|&g| (g as f64 * inv) as f32).collect(),
                )
            })
            .collect();
        super::in_ops_pool(|| {
            data.par_chunks_mut(plane).enumerate().for_each(|(k, p)| {
                let (i, ch) = (k / c, k % c);
                let (mean, scales) = &stats[i];
                let (a, b) = (scales[ch], beta[ch]);
                for v in p.iter_mut() {
                    *v = (*v - mean) * a + b;
                }
            })
        });
        Ok(tvec![x.into_tvalue()])
    }
}

impl TypedOp for GroupNorm1 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }
    as_op!();
}

/// The ONNX-side wrapper: reads gamma and beta from constant inputs.
#[derive(Debug, Clone)]
pub(super) struct GroupNorm1Expansion {
    pub(super) eps: f32,
}

impl Expansion for GroupNorm1Expansion {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 3)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let konst = |o: OutletId| -> TractResult<Arc<Tensor>> {
            model
                .outlet_fact(o)?
                .konst
                .clone()
                .context("GroupNorm1: gamma and beta must be constants")
        };
        let op = GroupNorm1 {
            gamma: konst(inputs[1])?,
            beta: konst(inputs[2])?,
            eps_bits: self.eps.to_bits(),
        };
        model.wire_node(prefix, op, &inputs[0..1])
    }
}
