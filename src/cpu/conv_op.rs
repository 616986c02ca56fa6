//! The 3x3 convolution of [`super::winograd`] as a tract op, with its epilogue fused:
//! bias, an optional map added to every entry (the CrossConv's target half) and an
//! optional LeakyReLU. Fusing them saves three passes over the largest tensors.

use super::winograd::{conv3x3, transform_filters, ConvDims, Epilogue};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_hir::internal::*;

/// ONNX op type the tract graphs use for this op. Inputs: `x [N,Cin,H,W]`, the weight
/// `[Cout,Cin,3,3]` and bias `[Cout]` (constants), optionally `add [1,Cout,H,W]`.
/// Attribute `leaky` (float): the LeakyReLU slope; absent, no activation.
pub const OP_TYPE: &str = "MvsConv3x3";

/// The typed op: filters already in the Winograd domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Conv3x3 {
    /// `[16, Cout, Cin]`, from [`transform_filters`].
    pub u: Arc<Tensor>,
    /// `[Cout]`.
    pub bias: Arc<Tensor>,
    /// LeakyReLU slope as f32 bits (bits keep the op `Eq` and `Hash`).
    pub leaky_bits: Option<u32>,
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
        let x = &inputs[0];
        let shape = x.shape();
        ensure!(
            shape.len() == 4 && shape[1] == cin && x.datum_type() == f32::datum_type(),
            "Conv3x3: input must be f32 [N, {cin}, H, W], got {:?} {shape:?}",
            x.datum_type()
        );
        let d = ConvDims {
            n: shape[0],
            cin,
            cout,
            h: shape[2],
            w: shape[3],
        };
        let add = match inputs.get(1) {
            Some(a) => {
                ensure!(
                    a.shape() == [1, cout, d.h, d.w] && a.datum_type() == f32::datum_type(),
                    "Conv3x3: the added map must be f32 [1, {cout}, {}, {}], got {:?}",
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
        conv3x3(
            f32s(x)?,
            f32s(&self.u)?,
            d,
            ep,
            // SAFETY: created as f32 just above.
            unsafe { out.as_slice_mut_unchecked::<f32>() },
        );
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
        if inputs.len() != 3 && inputs.len() != 4 {
            bail!("{OP_TYPE} takes 3 or 4 inputs, got {}", inputs.len());
        }
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], &inputs[1].shape[0])?;
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
        let (wt, bias) = (konst(inputs[1])?, konst(inputs[2])?);
        let ws = wt.shape();
        ensure!(
            ws.len() == 4 && ws[2] == 3 && ws[3] == 3 && bias.shape() == [ws[0]],
            "Conv3x3: weight {ws:?} and bias {:?} do not fit a 3x3 conv",
            bias.shape()
        );
        let (cout, cin) = (ws[0], ws[1]);
        let u = transform_filters(f32s(&wt)?, cout, cin);
        let op = Conv3x3 {
            u: Arc::new(Tensor::from_shape(&[16, cout, cin], &u)?),
            bias,
            leaky_bits: self.leaky.map(f32::to_bits),
        };
        let mut wired = vec![inputs[0]];
        wired.extend(inputs.get(3).copied());
        model.wire_node(prefix, op, &wired)
    }
}
