//! The 3x3 convolution of [`super::winograd`] as a tract op, with its epilogue fused:
//! bias, an optional map added to every entry (the CrossConv's target half) and an
//! optional LeakyReLU. Fusing them saves three passes over the largest tensors.

use super::winograd::{conv3x3, transform_filters, ConvDims, Epilogue, Tile};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// ONNX op type the tract graphs use for this op. Inputs: `parts` tensors `[N,C_i,H,W]`
/// whose concatenation along channels is the conv's input, the weight `[Cout,Cin,3,3]`
/// and bias `[Cout]` (constants), optionally `add [1,Cout,H,W]`. Attributes: `parts`
/// (int, default 1); `leaky` (float), the LeakyReLU slope, absent for no activation.
pub const OP_TYPE: &str = "MvsConv3x3";

/// The typed op: filters already in the Winograd domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conv3x3 {
    /// `[points, Cout, Cin]` (16 for F(2x2, 3x3), 36 for F(4x4, 3x3)), from
    /// [`transform_filters`].
    pub u: Arc<Tensor>,
    /// `[Cout]`.
    pub bias: Arc<Tensor>,
    /// LeakyReLU slope as f32 bits (bits keep the op `Eq` and `Hash`).
    pub leaky_bits: Option<u32>,
    /// How many leading inputs are concatenated along channels.
    pub parts: usize,
}

impl Conv3x3 {
    fn channels(&self) -> (usize, usize) {
        (self.u.shape()[1], self.u.shape()[2])
    }
}

impl Op for Conv3x3 {
    fn name(&self) -> StaticName {
        "Conv3x3Winograd".into()
    }
    op_as_typed_op!();
}

impl EvalOp for Conv3x3 {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (cout, cin) = self.channels();
        ensure!(
            inputs.len() == self.parts || inputs.len() == self.parts + 1,
            "Conv3x3: {} inputs for {} parts",
            inputs.len(),
            self.parts
        );
        let first = inputs[0].shape();
        ensure!(
            first.len() == 4,
            "Conv3x3: rank-4 input expected, got {first:?}"
        );
        let (n, h, w) = (first[0], first[2], first[3]);
        let mut parts = Vec::with_capacity(self.parts);
        let mut channels = 0;
        for x in &inputs[..self.parts] {
            let s = x.shape();
            ensure!(
                s.len() == 4 && s[0] == n && s[2] == h && s[3] == w,
                "Conv3x3: parts must share N, H and W: {first:?} vs {s:?}"
            );
            channels += s[1];
            parts.push(f32s(x)?);
        }
        ensure!(
            channels == cin,
            "Conv3x3: {channels} input channels, the filters take {cin}"
        );
        let d = ConvDims { n, cin, cout, h, w };
        let add = match inputs.get(self.parts) {
            Some(a) => {
                ensure!(
                    a.shape() == [1, cout, d.h, d.w],
                    "Conv3x3: the added map must be [1, {cout}, {}, {}], got {:?}",
                    d.h,
                    d.w,
                    a.shape()
                );
                Some(f32s(a)?)
            }
            None => None,
        };
        let ep = Epilogue {
            bias: f32s(&self.bias)?,
            add,
            leaky: self.leaky_bits.map(f32::from_bits),
        };
        // SAFETY: every element is written by conv3x3 before it is read.
        let mut out = unsafe { Tensor::uninitialized::<f32>(&[d.n, cout, d.h, d.w])? };
        let u = f32s(&self.u)?;
        // SAFETY: created as f32 just above.
        let dst = unsafe { out.as_slice_mut_unchecked::<f32>() };
        let cancel = super::run_cancel_token();
        super::check_cancel(cancel.as_ref())?;
        super::in_ops_pool(|| conv3x3(&parts, u, d, ep, dst, cancel.as_ref()));
        // A cancelled conv left its output incomplete: stop the plan here.
        super::check_cancel(cancel.as_ref())?;
        Ok(tvec![out.into_tvalue()])
    }
}

/// The f32 elements of a plain tensor, or an error naming its type.
fn f32s(t: &Tensor) -> TractResult<&[f32]> {
    t.try_as_plain_ram()?.as_slice::<f32>()
}

impl TypedOp for Conv3x3 {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let s = &inputs[0].shape;
        ensure!(s.rank() == 4, "Conv3x3: rank-4 input expected");
        let shape: TVec<TDim> = tvec![
            s[0].clone(),
            self.channels().0.into(),
            s[2].clone(),
            s[3].clone()
        ];
        Ok(tvec!(f32::fact(shape)))
    }
    as_op!();
}

/// The ONNX-side wrapper: reads the weight and bias from constant inputs.
#[derive(Debug, Clone)]
pub(super) struct Conv3x3Expansion {
    pub(super) leaky: Option<f32>,
    pub(super) parts: usize,
    /// The Winograd variant the typed op runs.
    pub(super) tile: Tile,
}

impl Expansion for Conv3x3Expansion {
    fn name(&self) -> StaticName {
        OP_TYPE.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        let k = self.parts;
        if k == 0 || (inputs.len() != k + 2 && inputs.len() != k + 3) {
            bail!(
                "{OP_TYPE} with {k} parts takes {} or {} inputs, got {}",
                k + 2,
                k + 3,
                inputs.len()
            );
        }
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], &inputs[k].shape[0])?;
        s.equals(&outputs[0].shape[2], &inputs[0].shape[2])?;
        s.equals(&outputs[0].shape[3], &inputs[0].shape[3])?;
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
                .context("Conv3x3: weight and bias must be constants")
        };
        let k = self.parts;
        let (wt, bias) = (konst(inputs[k])?, konst(inputs[k + 1])?);
        let ws = wt.shape();
        ensure!(
            ws.len() == 4 && ws[2] == 3 && ws[3] == 3 && bias.shape() == [ws[0]],
            "Conv3x3: weight {ws:?} and bias {:?} do not fit a 3x3 conv",
            bias.shape()
        );
        let (cout, cin) = (ws[0], ws[1]);
        let u = transform_filters(f32s(&wt)?, cout, cin, self.tile);
        let op = Conv3x3 {
            u: Arc::new(Tensor::from_shape(&[self.tile.points(), cout, cin], &u)?),
            bias,
            leaky_bits: self.leaky.map(f32::to_bits),
            parts: k,
        };
        let mut wired = inputs[..k].to_vec();
        wired.extend(inputs.get(k + 2).copied());
        model.wire_node(prefix, op, &wired)
    }
}
