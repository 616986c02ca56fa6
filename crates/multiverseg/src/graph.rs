//! Builds both networks as ONNX graphs in memory from the weights.
//!
//! The same graph feeds tract (the CPU backend) and `mvs export-onnx`, so other
//! runtimes see what we run. Fixed H and W and a symbolic number of context entries `S`.
//! The tract flavor has batch 1 and our fused ops; the standard flavor (for export) uses
//! standard operators only and a symbolic batch `B`, each batch item with its own context.

use crate::arch::{BlockSpec, MultiverSegArch, UNetArch};
use crate::tensor::Tensor;
use crate::weights::Weights;
use tract_onnx::pb;

/// ONNX opset the graphs use (ReduceMean still takes `axes` as an attribute).
pub const OPSET: i64 = 17;
/// Name of the symbolic context-size dimension.
pub const S_DIM: &str = "S";
/// Name of the symbolic batch dimension of exported (standard) graphs.
pub const B_DIM: &str = "B";
/// Negative slope of every LeakyReLU in MultiverSegNet.
pub const LEAKY_SLOPE: f32 = 0.01;
/// GroupNorm epsilon (PyTorch default).
pub const GN_EPS: f32 = 1e-5;

const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;

/// Which network a graph computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// MultiverSegNet: target plus context set.
    MultiverSeg,
    /// ScribblePrompt-UNet: target only.
    ScribblePrompt,
}

enum Dim {
    Fixed(i64),
    Sym(&'static str),
}

/// Who will run a graph: tract (with our f64-accurate GroupNorm op) or any
/// ONNX runtime (standard operators only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFlavor {
    /// For the CPU backend.
    Tract,
    /// Standard ONNX for `mvs export-onnx`.
    Standard,
}

impl GraphFlavor {
    /// The batch dimension of the graph's inputs and output.
    fn dim(self) -> Dim {
        match self {
            GraphFlavor::Tract => Dim::Fixed(1),
            GraphFlavor::Standard => Dim::Sym(B_DIM),
        }
    }
}

struct Builder {
    flavor: GraphFlavor,
    nodes: Vec<pb::NodeProto>,
    init: Vec<pb::TensorProto>,
    n: usize,
    /// `[B, S]` of the context inputs, once the standard flavor has computed it.
    batch_dims: Option<String>,
}

fn attr_i(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}
fn attr_f(name: &str, f: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}
fn attr_ints(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}
fn attr_s(name: &str, s: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Dim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as DV, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(v) => DV::DimValue(*v),
                Dim::Sym(s) => DV::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: FLOAT,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Builder {
    fn new(flavor: GraphFlavor) -> Self {
        Builder {
            flavor,
            nodes: Vec::new(),
            init: Vec::new(),
            n: 0,
            batch_dims: None,
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.n += 1;
        format!("{hint}_{}", self.n)
    }

    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
        hint: &str,
    ) -> String {
        let out = self.fresh(hint);
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    fn constant(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.init.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            name: name.into(),
            ..Default::default()
        });
        name.into()
    }

    fn constant_i64(&mut self, name: &str, data: &[i64]) -> String {
        self.init.push(pb::TensorProto {
            dims: vec![data.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            name: name.into(),
            ..Default::default()
        });
        name.into()
    }

    fn weight(&mut self, w: &Weights, name: &str) -> String {
        let t = w.get(name);
        self.constant(name, &t.shape, &t.data)
    }

    fn conv(&mut self, x: &str, weight: &str, bias: Option<&str>, k: usize) -> String {
        let pad = (k / 2) as i64;
        let mut inputs = vec![x, weight];
        if let Some(b) = bias {
            inputs.push(b);
        }
        let attrs = vec![
            attr_ints("kernel_shape", &[k as i64, k as i64]),
            attr_ints("pads", &[pad, pad, pad, pad]),
        ];
        self.node("Conv", &inputs, attrs, "conv")
    }

    /// Our fused 3x3 conv (tract only): conv + bias, `+ add` broadcast over the
    /// entries, then LeakyReLU with slope `leaky` if given.
    /// `parts` are concatenated along channels inside the op.
    fn fused_conv3x3(
        &mut self,
        parts: &[&str],
        weight: &str,
        bias: &str,
        add: Option<&str>,
        leaky: Option<f32>,
    ) -> String {
        let mut inputs = parts.to_vec();
        inputs.extend([weight, bias]);
        inputs.extend(add);
        let mut attrs = vec![attr_i("parts", parts.len() as i64)];
        if let Some(slope) = leaky {
            attrs.push(attr_f("leaky", slope));
        }
        self.node(crate::cpu::CONV3X3_OP, &inputs, attrs, "conv3x3")
    }

    fn leaky(&mut self, x: &str) -> String {
        self.node(
            "LeakyRelu",
            &[x],
            vec![attr_f("alpha", LEAKY_SLOPE)],
            "leaky",
        )
    }

    /// Mean over C, H and W of each entry, reduced one axis at a time: every
    /// partial sum covers at most max(C, H, W) values, which keeps f32 accurate
    /// where one flat sum over millions of values would not (DESIGN.md section 2).
    fn mean_chw(&mut self, x: &str) -> String {
        let a = self.node(
            "ReduceMean",
            &[x],
            vec![attr_ints("axes", &[3]), attr_i("keepdims", 1)],
            "mean_w",
        );
        let b = self.node(
            "ReduceMean",
            &[&a],
            vec![attr_ints("axes", &[2]), attr_i("keepdims", 1)],
            "mean_h",
        );
        self.node(
            "ReduceMean",
            &[&b],
            vec![attr_ints("axes", &[1]), attr_i("keepdims", 1)],
            "mean_c",
        )
    }

    /// GroupNorm with one group, per entry of the batch axis, then the affine map.
    fn group_norm(&mut self, x: &str, gamma: &Tensor, beta: &Tensor, prefix: &str) -> String {
        let c = gamma.data.len();
        if self.flavor == GraphFlavor::Tract {
            // tract runs our own op, which accumulates in f64 (see cpu/group_norm.rs).
            let g = self.constant(&format!("{prefix}.gamma"), &[c], &gamma.data);
            let b = self.constant(&format!("{prefix}.beta"), &[c], &beta.data);
            return self.node(
                crate::cpu::GROUP_NORM_OP,
                &[x, &g, &b],
                vec![attr_f("epsilon", GN_EPS)],
                "gn_out",
            );
        }
        // Standard ONNX: statistics reduced one axis at a time so that no f32 sum
        // covers more than max(C, H, W) values in runtimes that reduce axis by axis.
        let g = self.constant(&format!("{prefix}.gamma4d"), &[1, c, 1, 1], &gamma.data);
        let b = self.constant(&format!("{prefix}.beta4d"), &[1, c, 1, 1], &beta.data);
        let eps = self.constant(&format!("{prefix}.eps"), &[], &[GN_EPS]);
        let mean = self.mean_chw(x);
        let d = self.node("Sub", &[x, &mean], vec![], "gn_d");
        let d2 = self.node("Mul", &[&d, &d], vec![], "gn_d2");
        let var = self.mean_chw(&d2);
        let ve = self.node("Add", &[&var, &eps], vec![], "gn_ve");
        let sd = self.node("Sqrt", &[&ve], vec![], "gn_sd");
        let scale = self.node("Div", &[&g, &sd], vec![], "gn_scale");
        let y = self.node("Mul", &[&d, &scale], vec![], "gn_y");
        self.node("Add", &[&y, &b], vec![], "gn_out")
    }

    /// ConvOp: conv 3x3 + bias -> LeakyReLU -> GroupNorm(1).
    fn conv_op(&mut self, w: &Weights, x: &str, prefix: &str) -> String {
        let wt = self.weight(w, &format!("{prefix}.conv.weight"));
        let bs = self.weight(w, &format!("{prefix}.conv.bias"));
        let k = w.get(&format!("{prefix}.conv.weight")).shape[2];
        let y = if self.flavor == GraphFlavor::Tract && k == 3 {
            self.fused_conv3x3(&[x], &wt, &bs, None, Some(LEAKY_SLOPE))
        } else {
            let y = self.conv(x, &wt, Some(&bs), k);
            self.leaky(&y)
        };
        self.group_norm(
            &y,
            w.get(&format!("{prefix}.norml.weight")),
            w.get(&format!("{prefix}.norml.bias")),
            prefix,
        )
    }

    /// CrossBlock on the channel concatenations of `t` and `s`; returns the new target
    /// and, unless `skip_context`, the new context.
    fn cross_block(
        &mut self,
        w: &Weights,
        spec: &BlockSpec,
        t: &[&str],
        s: &[&str],
        prefix: &str,
        skip_context: bool,
    ) -> (String, Option<String>) {
        let full = w.get(&format!("{prefix}.cross.cross_conv.weight"));
        let (f, cin) = (full.shape[0], full.shape[1]);
        let mut wt = Vec::with_capacity(f * spec.in_target * 9);
        let mut ws = Vec::with_capacity(f * spec.in_context * 9);
        for o in 0..f {
            let row = &full.data[o * cin * 9..(o + 1) * cin * 9];
            wt.extend_from_slice(&row[..spec.in_target * 9]);
            ws.extend_from_slice(&row[spec.in_target * 9..]);
        }
        let wt = self.constant(
            &format!("{prefix}.cross.weight_target"),
            &[f, spec.in_target, 3, 3],
            &wt,
        );
        let ws = self.constant(
            &format!("{prefix}.cross.weight_context"),
            &[f, spec.in_context, 3, 3],
            &ws,
        );
        let b = self.weight(w, &format!("{prefix}.cross.cross_conv.bias"));
        // The bias is added once, on the target half.
        let (z, t2) = if self.flavor == GraphFlavor::Tract {
            let zt = self.fused_conv3x3(t, &wt, &b, None, None);
            let zero = self.constant(&format!("{prefix}.cross.no_bias"), &[f], &vec![0.0; f]);
            let z = self.fused_conv3x3(s, &ws, &zero, Some(&zt), Some(LEAKY_SLOPE));
            let t2 = self.node(crate::cpu::MEAN_ENTRIES_OP, &[&z], vec![], "cross_mean");
            (z, t2)
        } else {
            let t = self.concat_all(t);
            let s = self.concat_all(s);
            let zt = self.conv(&t, &wt, Some(&b), 3);
            let zs = self.conv(&s, &ws, None, 3);
            self.cross_sum_batched(&zt, &zs)
        };
        let t3 = self.conv_op(w, &t2, &format!("{prefix}.target.vmapped"));
        let s3 = if skip_context {
            None
        } else {
            Some(self.conv_op(w, &z, &format!("{prefix}.support.vmapped")))
        };
        (t3, s3)
    }

    /// Standard flavor, batch B: `zt` [B,F,H,W] is the target half, `zs` [B*S,F,H,W] the
    /// context half. Returns LeakyReLU(zs + zt) as [B*S,F,H,W] and its mean over each
    /// batch item's S entries, [B,F,H,W].
    fn cross_sum_batched(&mut self, zt: &str, zs: &str) -> (String, String) {
        let zs_shape = self.node("Shape", &[zs], vec![], "zs_shape");
        let (one, four) = (
            self.const_i64_once("i64.1", &[1]),
            self.const_i64_once("i64.4", &[4]),
        );
        let fhw = self.node("Slice", &[&zs_shape, &one, &four], vec![], "fhw");
        let bs = self.batch_and_context_dims();
        let shape5 = self.node("Concat", &[&bs, &fhw], vec![attr_i("axis", 0)], "shape5");
        let zs5 = self.node("Reshape", &[zs, &shape5], vec![], "zs5");
        let zt5 = self.node("Unsqueeze", &[zt, &one], vec![], "zt5");
        let z5 = self.node("Add", &[&zs5, &zt5], vec![], "cross_sum");
        let z5 = self.leaky(&z5);
        let t2 = self.node(
            "ReduceMean",
            &[&z5],
            vec![attr_ints("axes", &[1]), attr_i("keepdims", 0)],
            "cross_mean",
        );
        let z = self.node("Reshape", &[&z5, &zs_shape], vec![], "z");
        (z, t2)
    }

    /// `[B, S]` of the context inputs, computed once.
    fn batch_and_context_dims(&mut self) -> String {
        if let Some(bs) = &self.batch_dims {
            return bs.clone();
        }
        let shape = self.node("Shape", &["context_images"], vec![], "ci_shape");
        let zero = self.const_i64_once("i64.0", &[0]);
        let two = self.const_i64_once("i64.2", &[2]);
        let bs = self.node("Slice", &[&shape, &zero, &two], vec![], "bs");
        self.batch_dims = Some(bs.clone());
        bs
    }

    /// An int64 constant under a fixed name, added on first use.
    fn const_i64_once(&mut self, name: &str, data: &[i64]) -> String {
        if !self.init.iter().any(|t| t.name == name) {
            self.constant_i64(name, data);
        }
        name.into()
    }

    fn pool(&mut self, x: &str) -> String {
        if self.flavor == GraphFlavor::Tract {
            return self.node(crate::cpu::MAX_POOL_OP, &[x], vec![], "pool");
        }
        self.node(
            "MaxPool",
            &[x],
            vec![
                attr_ints("kernel_shape", &[2, 2]),
                attr_ints("strides", &[2, 2]),
            ],
            "pool",
        )
    }

    fn upsample(&mut self, x: &str) -> String {
        if self.flavor == GraphFlavor::Tract {
            return self.node(crate::cpu::UPSAMPLE_OP, &[x], vec![], "up");
        }
        if !self.init.iter().any(|t| t.name == "upsample.scales") {
            self.constant("upsample.scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
        }
        let attrs = vec![
            attr_s("mode", "linear"),
            attr_s("coordinate_transformation_mode", "align_corners"),
        ];
        self.node("Resize", &[x, "", "upsample.scales"], attrs, "up")
    }

    /// The channel concatenation of `parts` (the part itself if there is one).
    fn concat_all(&mut self, parts: &[&str]) -> String {
        match parts {
            [one] => one.to_string(),
            [a, b] => self.concat(a, b),
            _ => unreachable!("the networks concatenate at most two tensors"),
        }
    }

    fn concat(&mut self, a: &str, b: &str) -> String {
        self.node("Concat", &[a, b], vec![attr_i("axis", 1)], "cat")
    }

    fn finish(
        self,
        inputs: Vec<pb::ValueInfoProto>,
        output: &str,
        out_dims: &[Dim],
        name: &str,
    ) -> pb::ModelProto {
        let mut nodes = self.nodes;
        // Rename the last node's output to the public name.
        for n in nodes.iter_mut() {
            for o in n.output.iter_mut() {
                if o == output {
                    *o = "logits".into();
                }
            }
        }
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "multiverseg".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(pb::GraphProto {
                node: nodes,
                name: name.into(),
                initializer: self.init,
                input: inputs,
                output: vec![value_info("logits", out_dims)],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// MultiverSegNet at `h`x`w`: inputs `target` [B,5,H,W], `context_images` and
/// `context_labels` [B,S,1,H,W] (S >= 1); output `logits` [B,1,H,W]. B is 1 in the tract
/// flavor and symbolic in the standard one, where each batch item has its own context.
pub fn multiverseg_graph(
    w: &Weights,
    arch: &MultiverSegArch,
    h: usize,
    wd: usize,
    flavor: GraphFlavor,
) -> pb::ModelProto {
    let mut g = Builder::new(flavor);
    let batch = flavor;
    let (hi, wi) = (h as i64, wd as i64);
    let shape = g.constant_i64("context.shape", &[-1, 1, hi, wi]);
    let ci = g.node("Reshape", &["context_images", &shape], vec![], "ci");
    let cl = g.node("Reshape", &["context_labels", &shape], vec![], "cl");
    // The first block's context input is [image, label]; later blocks take one tensor.
    let mut s_parts = vec![ci, cl];
    let mut s = String::new();
    let mut t = "target".to_string();
    let mut skips = Vec::new();
    let n_enc = arch.encoder.len();
    for (i, spec) in arch.encoder.iter().enumerate() {
        let parts: Vec<&str> = s_parts.iter().map(|p| p.as_str()).collect();
        let prefix = format!("enc_blocks.{i}");
        let (t2, s2) = g.cross_block(w, spec, &[&t], &parts, &prefix, n_enc == 1);
        t = t2;
        if i + 1 == n_enc {
            if let Some(s2) = s2 {
                s = s2;
            }
            break;
        }
        let s2 = s2.unwrap();
        skips.push((t.clone(), s2.clone()));
        t = g.pool(&t);
        s = g.pool(&s2);
        s_parts = vec![s.clone()];
    }
    let n_dec = arch.decoder.len();
    for (i, spec) in arch.decoder.iter().enumerate() {
        let (ts, ss) = skips.pop().unwrap();
        let tu = g.upsample(&t);
        let su = g.upsample(&s);
        // MultiverSegNet concatenates [upsampled, skip].
        // The last block's context output feeds nothing: skip it.
        let (t2, s2) = g.cross_block(
            w,
            spec,
            &[&tu, &ts],
            &[&su, &ss],
            &format!("dec_blocks.{i}"),
            i + 1 == n_dec,
        );
        t = t2;
        if let Some(s2) = s2 {
            s = s2;
        }
    }
    let ow = g.weight(w, "out_conv.conv.weight");
    let ob = g.weight(w, "out_conv.conv.bias");
    let out = g.conv(&t, &ow, Some(&ob), 1);
    let inputs = vec![
        value_info(
            "target",
            &[batch.dim(), Dim::Fixed(5), Dim::Fixed(hi), Dim::Fixed(wi)],
        ),
        value_info(
            "context_images",
            &[
                batch.dim(),
                Dim::Sym(S_DIM),
                Dim::Fixed(1),
                Dim::Fixed(hi),
                Dim::Fixed(wi),
            ],
        ),
        value_info(
            "context_labels",
            &[
                batch.dim(),
                Dim::Sym(S_DIM),
                Dim::Fixed(1),
                Dim::Fixed(hi),
                Dim::Fixed(wi),
            ],
        ),
    ];
    g.finish(
        inputs,
        &out,
        &[batch.dim(), Dim::Fixed(1), Dim::Fixed(hi), Dim::Fixed(wi)],
        "MultiverSegNet",
    )
}

/// ScribblePrompt-UNet at `h`x`w`: input `target` [B,5,H,W]; output `logits` [B,1,H,W]
/// (B as in [`multiverseg_graph`]).
pub fn unet_graph(
    w: &Weights,
    arch: &UNetArch,
    h: usize,
    wd: usize,
    flavor: GraphFlavor,
) -> pb::ModelProto {
    let mut g = Builder::new(flavor);
    let batch = flavor;
    let (hi, wi) = (h as i64, wd as i64);
    // Conv 3x3 + bias, then PReLU with its single learned slope, over the channel
    // concatenation of `parts`.
    let conv_prelu = |g: &mut Builder, parts: &[&str], p: &str| -> String {
        let wt = g.weight(w, &format!("{p}.conv.0.weight"));
        let b = g.weight(w, &format!("{p}.conv.0.bias"));
        let slope = w.get(&format!("{p}.conv.1.weight"));
        if g.flavor == GraphFlavor::Tract && slope.data.len() == 1 {
            // A single-slope PReLU is a LeakyReLU with that slope: fused into the conv.
            return g.fused_conv3x3(parts, &wt, &b, None, Some(slope.data[0]));
        }
        let x = g.concat_all(parts);
        let y = g.conv(&x, &wt, Some(&b), 3);
        let slope = g.weight(w, &format!("{p}.conv.1.weight"));
        g.node("PRelu", &[&y, &slope], vec![], "prelu")
    };
    let mut x = "target".to_string();
    let mut skips = Vec::new();
    for i in 0..arch.features.len() {
        x = conv_prelu(&mut g, &[&x], &format!("downs.{i}"));
        skips.push(x.clone());
        x = g.pool(&x);
    }
    x = conv_prelu(&mut g, &[&x], "bottleneck");
    for j in 0..arch.features.len() {
        let u = g.upsample(&x);
        let skip = skips.pop().unwrap();
        // The UNet concatenates [skip, upsampled], the opposite of MultiverSegNet.
        x = conv_prelu(&mut g, &[&skip, &u], &format!("ups.{}", 2 * j + 1));
    }
    let fw = g.weight(w, "final_conv.conv.0.weight");
    let fb = g.weight(w, "final_conv.conv.0.bias");
    let out = g.conv(&x, &fw, Some(&fb), 1);
    let inputs = vec![value_info(
        "target",
        &[batch.dim(), Dim::Fixed(5), Dim::Fixed(hi), Dim::Fixed(wi)],
    )];
    g.finish(
        inputs,
        &out,
        &[batch.dim(), Dim::Fixed(1), Dim::Fixed(hi), Dim::Fixed(wi)],
        "ScribblePromptUNet",
    )
}

/// Serializes a graph to ONNX bytes.
pub fn to_onnx_bytes(m: &pb::ModelProto) -> Vec<u8> {
    use prost::Message;
    m.encode_to_vec()
}
