//! Architecture descriptions of the two networks, inferred from tensor shapes.
//!
//! Sizes are never hard-coded: the official nf=256 / nf=192 and any smaller
//! test configuration go through the same code.

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// Channels of one context entry (image, label); fixed by the method.
pub const CONTEXT_CHANNELS: usize = 2;
/// Channels of the target input (image, box, pos, neg, previous logits).
pub const TARGET_CHANNELS: usize = 5;

/// One CrossBlock's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSpec {
    /// Target input channels of the CrossConv.
    pub in_target: usize,
    /// Context input channels of the CrossConv.
    pub in_context: usize,
    /// CrossConv output channels.
    pub cross: usize,
    /// ConvOp output channels.
    pub conv: usize,
}

/// MultiverSegNet sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiverSegArch {
    /// Encoder CrossBlocks, top resolution first.
    pub encoder: Vec<BlockSpec>,
    /// Decoder CrossBlocks, coarsest first.
    pub decoder: Vec<BlockSpec>,
}

/// ScribblePrompt-UNet sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UNetArch {
    /// Input channels (5).
    pub in_channels: usize,
    /// Features per level, top resolution first.
    pub features: Vec<usize>,
    /// Output channels (1).
    pub out_channels: usize,
}

type Tensors = BTreeMap<String, Tensor>;

fn shape_of<'a>(t: &'a Tensors, name: &str) -> Result<&'a [usize]> {
    t.get(name)
        .map(|x| x.shape.as_slice())
        .ok_or_else(|| Error::format(format!("missing tensor {name}")))
}

fn count_indexed(t: &Tensors, prefix: &str) -> usize {
    (0..)
        .take_while(|i| t.keys().any(|k| k.starts_with(&format!("{prefix}.{i}."))))
        .count()
}

/// Checks that `t` has exactly `expected` (name -> shape) among the names with `prefixes`.
fn check_exact(t: &Tensors, expected: &[(String, Vec<usize>)], prefixes: &[&str]) -> Result<()> {
    for (name, shape) in expected {
        let got = shape_of(t, name)?;
        if got != shape.as_slice() {
            return Err(Error::format(format!(
                "tensor {name} has shape {got:?}, expected {shape:?}"
            )));
        }
    }
    for k in t.keys() {
        if prefixes.iter().any(|p| k.starts_with(p)) && !expected.iter().any(|(n, _)| n == k) {
            return Err(Error::format(format!("unexpected tensor {k}")));
        }
    }
    Ok(())
}

impl MultiverSegArch {
    /// Whether `t` holds MultiverSegNet tensors at all.
    pub fn present(t: &Tensors) -> bool {
        t.keys().any(|k| k.starts_with("enc_blocks."))
    }

    /// Infers the sizes from the tensors and checks every tensor's shape.
    pub fn infer(t: &Tensors) -> Result<Self> {
        let n_enc = count_indexed(t, "enc_blocks");
        let n_dec = count_indexed(t, "dec_blocks");
        if n_enc == 0 {
            return Err(Error::format("no MultiverSegNet tensors (enc_blocks.*)"));
        }
        if n_dec + 1 != n_enc {
            return Err(Error::format(format!(
                "{n_enc} encoder blocks need {} decoder blocks, found {n_dec}",
                n_enc - 1
            )));
        }
        let block = |prefix: &str, in_t: usize, in_c: usize| -> Result<BlockSpec> {
            let w = shape_of(t, &format!("{prefix}.cross.cross_conv.weight"))?;
            if w.len() != 4 || w[2] != 3 || w[3] != 3 {
                return Err(Error::format(format!(
                    "{prefix}.cross.cross_conv.weight has shape {w:?}, expected [F, C, 3, 3]"
                )));
            }
            let c = shape_of(t, &format!("{prefix}.target.vmapped.conv.weight"))?;
            if c.len() != 4 {
                return Err(Error::format(format!(
                    "{prefix}.target.vmapped.conv.weight has shape {c:?}"
                )));
            }
            Ok(BlockSpec {
                in_target: in_t,
                in_context: in_c,
                cross: w[0],
                conv: c[0],
            })
        };
        let w0 = shape_of(t, "enc_blocks.0.cross.cross_conv.weight")?;
        if w0.len() != 4 || w0[1] != TARGET_CHANNELS + CONTEXT_CHANNELS {
            return Err(Error::format(format!(
                "enc_blocks.0.cross.cross_conv.weight has shape {w0:?}, expected [F, {}, 3, 3]",
                TARGET_CHANNELS + CONTEXT_CHANNELS
            )));
        }
        let mut encoder = Vec::new();
        let (mut in_t, mut in_c) = (TARGET_CHANNELS, CONTEXT_CHANNELS);
        for i in 0..n_enc {
            let b = block(&format!("enc_blocks.{i}"), in_t, in_c)?;
            in_t = b.conv;
            in_c = b.conv;
            encoder.push(b);
        }
        let mut decoder = Vec::new();
        for i in 0..n_dec {
            let skip = encoder[n_enc - 2 - i].conv;
            let b = block(&format!("dec_blocks.{i}"), in_t + skip, in_c + skip)?;
            in_t = b.conv;
            in_c = b.conv;
            decoder.push(b);
        }
        let arch = MultiverSegArch { encoder, decoder };
        check_exact(
            t,
            &arch.expected_tensors(),
            &["enc_blocks.", "dec_blocks.", "out_conv."],
        )?;
        Ok(arch)
    }

    /// Every tensor the network has, with its shape (official names).
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        let blocks = self
            .encoder
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("enc_blocks.{i}"), b));
        let blocks = blocks.chain(
            self.decoder
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("dec_blocks.{i}"), b)),
        );
        for (p, b) in blocks {
            v.push((
                format!("{p}.cross.cross_conv.weight"),
                vec![b.cross, b.in_target + b.in_context, 3, 3],
            ));
            v.push((format!("{p}.cross.cross_conv.bias"), vec![b.cross]));
            for half in ["target", "support"] {
                v.push((
                    format!("{p}.{half}.vmapped.conv.weight"),
                    vec![b.conv, b.cross, 3, 3],
                ));
                v.push((format!("{p}.{half}.vmapped.conv.bias"), vec![b.conv]));
                v.push((format!("{p}.{half}.vmapped.norml.weight"), vec![b.conv]));
                v.push((format!("{p}.{half}.vmapped.norml.bias"), vec![b.conv]));
            }
        }
        let last = self
            .decoder
            .last()
            .unwrap_or(self.encoder.last().unwrap())
            .conv;
        v.push(("out_conv.conv.weight".into(), vec![1, last, 1, 1]));
        v.push(("out_conv.conv.bias".into(), vec![1]));
        v
    }

    /// Multiply-adds x2 (FLOP) of one predict at `h`x`w` with `s` context entries,
    /// counting only 3x3 and 1x1 convolutions, with the unused last context branch skipped.
    pub fn flops(&self, h: usize, w: usize, s: usize) -> f64 {
        let mut total = 0.0;
        let mut px = (h * w) as f64;
        let conv = |cin: usize, cout: usize, px: f64| 2.0 * 9.0 * cin as f64 * cout as f64 * px;
        for (i, b) in self.encoder.iter().enumerate() {
            total += conv(b.in_target, b.cross, px) + s as f64 * conv(b.in_context, b.cross, px);
            total += (1 + s) as f64 * conv(b.cross, b.conv, px);
            if i + 1 < self.encoder.len() {
                px /= 4.0;
            }
        }
        for (i, b) in self.decoder.iter().enumerate() {
            px *= 4.0;
            total += conv(b.in_target, b.cross, px) + s as f64 * conv(b.in_context, b.cross, px);
            let branches = if i + 1 == self.decoder.len() {
                1
            } else {
                1 + s
            };
            total += branches as f64 * conv(b.cross, b.conv, px);
        }
        total
    }

    /// Bytes of f32 activations that must coexist at the peak of one prediction at
    /// `h`x`w` with `s` context entries (a lower bound for any implementation): at the top
    /// resolution, the encoder's skip for target and context, the CrossConv output and the
    /// ConvOp output, each `(1 + s)` entries of the block's width.
    pub fn activation_lower_bound(&self, h: usize, w: usize, s: usize) -> u64 {
        let b = &self.encoder[0];
        let per = (1 + s) as u64 * (h * w) as u64 * 4;
        per * (b.conv as u64 + b.cross as u64 + b.conv as u64)
    }

    /// Compact JSON for the weights file's metadata.
    pub fn to_json(&self) -> String {
        let enc: Vec<String> = self
            .encoder
            .iter()
            .map(|b| format!("[{},{}]", b.cross, b.conv))
            .collect();
        let dec: Vec<String> = self
            .decoder
            .iter()
            .map(|b| format!("[{},{}]", b.cross, b.conv))
            .collect();
        format!(
            "{{\"name\":\"MultiverSegNet\",\"in_channels\":[{TARGET_CHANNELS},{CONTEXT_CHANNELS}],\"encoder_blocks\":[{}],\"decoder_blocks\":[{}],\"norm\":\"layer\",\"cross_relu\":true}}",
            enc.join(","),
            dec.join(",")
        )
    }
}

impl UNetArch {
    /// FLOP (multiply-adds x2) of one predict at `h`x`w`, convolutions only.
    pub fn flops(&self, h: usize, w: usize) -> f64 {
        let conv =
            |cin: usize, cout: usize, k: usize, px: usize| 2.0 * (k * cin * cout * px) as f64;
        let px = |l: usize| (h >> l) * (w >> l);
        let n = self.features.len();
        let mut total = 0.0;
        let mut cin = self.in_channels;
        for (i, &f) in self.features.iter().enumerate() {
            total += conv(cin, f, 9, px(i)) + conv(2 * f, f, 9, px(i));
            cin = f;
        }
        total += conv(cin, cin, 9, px(n));
        total + conv(self.features[0], self.out_channels, 1, px(0))
    }

    /// Whether `t` holds ScribblePrompt-UNet tensors at all.
    pub fn present(t: &Tensors) -> bool {
        t.keys().any(|k| k.starts_with("downs."))
    }

    /// Infers the sizes from the tensors and checks every tensor's shape.
    pub fn infer(t: &Tensors) -> Result<Self> {
        let n = count_indexed(t, "downs");
        if n == 0 {
            return Err(Error::format("no ScribblePrompt-UNet tensors (downs.*)"));
        }
        let mut features = Vec::new();
        for i in 0..n {
            let s = shape_of(t, &format!("downs.{i}.conv.0.weight"))?;
            if s.len() != 4 {
                return Err(Error::format(format!(
                    "downs.{i}.conv.0.weight has shape {s:?}"
                )));
            }
            features.push(s[0]);
        }
        let in_channels = shape_of(t, "downs.0.conv.0.weight")?[1];
        if in_channels != TARGET_CHANNELS {
            return Err(Error::format(format!("downs.0.conv.0.weight has {in_channels} input channels, expected {TARGET_CHANNELS}")));
        }
        let out_channels = shape_of(t, "final_conv.conv.0.weight")?[0];
        if out_channels != 1 {
            return Err(Error::format(format!(
                "final_conv.conv.0.weight has {out_channels} outputs, expected 1"
            )));
        }
        let arch = UNetArch {
            in_channels,
            features,
            out_channels,
        };
        check_exact(
            t,
            &arch.expected_tensors(),
            &["downs.", "ups.", "bottleneck.", "final_conv."],
        )?;
        Ok(arch)
    }

    /// Every tensor the network has, with its shape (official names).
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::new();
        let mut conv = |p: String, cin: usize, cout: usize, k: usize, prelu: bool| {
            v.push((format!("{p}.conv.0.weight"), vec![cout, cin, k, k]));
            v.push((format!("{p}.conv.0.bias"), vec![cout]));
            if prelu {
                v.push((format!("{p}.conv.1.weight"), vec![1]));
            }
        };
        let mut cin = self.in_channels;
        for (i, &f) in self.features.iter().enumerate() {
            conv(format!("downs.{i}"), cin, f, 3, true);
            cin = f;
        }
        let last = *self.features.last().unwrap();
        conv("bottleneck".into(), last, last, 3, true);
        for (j, &f) in self.features.iter().rev().enumerate() {
            // Each up step sees [skip (f), upsampled (f)]: the official UNet assumes
            // the level below has the same width, which the shapes check here.
            conv(format!("ups.{}", 2 * j + 1), 2 * f, f, 3, true);
        }
        conv(
            "final_conv".into(),
            self.features[0],
            self.out_channels,
            1,
            false,
        );
        v
    }

    /// Compact JSON for the weights file's metadata.
    pub fn to_json(&self) -> String {
        let f: Vec<String> = self.features.iter().map(|x| x.to_string()).collect();
        format!(
            "{{\"name\":\"ScribblePromptUNet\",\"in_channels\":{},\"out_channels\":{},\"features\":[{}]}}",
            self.in_channels,
            self.out_channels,
            f.join(",")
        )
    }
}
