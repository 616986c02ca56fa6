//! The two networks as GPU programs: weights on the device (once per model) and the
//! per-shape state (activations, context, programs) that predictions replay.

use super::device::Gpu;
use super::program::{storage, upload, Act, ConvWeights, Program, ProgramBuilder, View};
use crate::arch::{MultiverSegArch, UNetArch, CONTEXT_CHANNELS, TARGET_CHANNELS};
use crate::error::{Error, Result};
use crate::weights::Weights;

fn tensor<'a>(w: &'a Weights, name: &str) -> Result<&'a [f32]> {
    w.tensors
        .get(name)
        .map(|t| t.data.as_slice())
        .ok_or_else(|| Error::format(format!("missing tensor {name}")))
}

/// Uploads `{prefix}.weight` [cout, cin_total, k, k], keeping input channels
/// [first, first + cin) of each output row, and `{prefix}.bias` if `bias`.
fn conv(
    gpu: &Gpu,
    w: &Weights,
    prefix: &str,
    first: usize,
    cin: usize,
    bias: bool,
) -> Result<ConvWeights> {
    let t = w
        .tensors
        .get(&format!("{prefix}.weight"))
        .ok_or_else(|| Error::format(format!("missing tensor {prefix}.weight")))?;
    let (cout, total, taps) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3]);
    let mut data = Vec::with_capacity(cout * cin * taps);
    for co in 0..cout {
        let row = &t.data[co * total * taps..(co + 1) * total * taps];
        data.extend_from_slice(&row[first * taps..(first + cin) * taps]);
    }
    let b = if bias {
        Some(tensor(w, &format!("{prefix}.bias"))?)
    } else {
        None
    };
    Ok(ConvWeights::new(gpu, prefix, &data, cout, cin, taps, b))
}

/// One CrossBlock's weights on the device.
struct Block {
    cross_t: ConvWeights,
    cross_s: ConvWeights,
    conv_t: ConvWeights,
    norm_t: (wgpu::Buffer, wgpu::Buffer),
    conv_s: ConvWeights,
    norm_s: (wgpu::Buffer, wgpu::Buffer),
}

/// MultiverSegNet weights on the device.
pub(crate) struct MvsWeights {
    arch: MultiverSegArch,
    enc: Vec<Block>,
    dec: Vec<Block>,
    out_w: wgpu::Buffer,
    out_b: f32,
}

impl MvsWeights {
    pub fn upload(gpu: &Gpu, w: &Weights, arch: &MultiverSegArch) -> Result<Self> {
        let block = |p: String, b: &crate::arch::BlockSpec| -> Result<Block> {
            let cross = format!("{p}.cross.cross_conv");
            let norm = |half: &str| -> Result<(wgpu::Buffer, wgpu::Buffer)> {
                let g = tensor(w, &format!("{p}.{half}.vmapped.norml.weight"))?;
                let bb = tensor(w, &format!("{p}.{half}.vmapped.norml.bias"))?;
                Ok((upload(gpu, "gamma", g), upload(gpu, "beta", bb)))
            };
            Ok(Block {
                // The bias belongs to the target half only: it is added once per entry.
                cross_t: conv(gpu, w, &cross, 0, b.in_target, true)?,
                cross_s: conv(gpu, w, &cross, b.in_target, b.in_context, false)?,
                conv_t: conv(
                    gpu,
                    w,
                    &format!("{p}.target.vmapped.conv"),
                    0,
                    b.cross,
                    true,
                )?,
                norm_t: norm("target")?,
                conv_s: conv(
                    gpu,
                    w,
                    &format!("{p}.support.vmapped.conv"),
                    0,
                    b.cross,
                    true,
                )?,
                norm_s: norm("support")?,
            })
        };
        let enc = arch
            .encoder
            .iter()
            .enumerate()
            .map(|(i, b)| block(format!("enc_blocks.{i}"), b))
            .collect::<Result<_>>()?;
        let dec = arch
            .decoder
            .iter()
            .enumerate()
            .map(|(i, b)| block(format!("dec_blocks.{i}"), b))
            .collect::<Result<_>>()?;
        Ok(MvsWeights {
            arch: arch.clone(),
            enc,
            dec,
            out_w: upload(gpu, "out_conv", tensor(w, "out_conv.conv.weight")?),
            out_b: tensor(w, "out_conv.conv.bias")?[0],
        })
    }

    /// Bytes of device memory a state for `chunks` at `h`x`w` needs (activations only).
    pub fn state_bytes(&self, h: usize, w: usize, chunks: &[usize]) -> u64 {
        layout_bytes(&self.arch, h, w, chunks)
    }

    /// Bytes per context entry of the largest per-chunk buffer (the chunking unit).
    pub fn entry_bytes(&self, h: usize, w: usize) -> u64 {
        4 * Layout::new(&self.arch, h, w, &[1]).max_entry_floats as u64
    }
}

/// Bytes of activations a state of `arch` for `chunks` at `h`x`w` takes.
pub(crate) fn layout_bytes(arch: &MultiverSegArch, h: usize, w: usize, chunks: &[usize]) -> u64 {
    4 * Layout::new(arch, h, w, chunks).total_floats as u64
}

/// Buffer sizes of one MultiverSegNet state (mirrors [`MvsState::new`]), computed
/// without allocating.
struct Layout {
    total_floats: usize,
    max_entry_floats: usize,
}

impl Layout {
    fn new(arch: &MultiverSegArch, h: usize, w: usize, chunks: &[usize]) -> Layout {
        let s: usize = chunks.iter().sum();
        let nmax = chunks.iter().copied().max().unwrap_or(1);
        let l_n = arch.encoder.len();
        let hw = |l: usize| (h >> l) * (w >> l);
        // Buffers with one slot per context entry, and buffers of the target alone.
        let mut entry = vec![CONTEXT_CHANNELS * hw(0), arch.encoder[0].cross * hw(0)];
        let mut target = TARGET_CHANNELS * hw(0) + 2 * hw(0);
        let mut z = 0;
        for (l, b) in arch.encoder.iter().enumerate() {
            z = z.max(b.cross * hw(l));
            let out = if l + 1 < l_n { hw(l + 1) } else { hw(l) };
            entry.push(b.conv * out);
            target += b.conv * out;
        }
        for (j, b) in arch.decoder.iter().enumerate() {
            let l = l_n - 2 - j;
            z = z.max(b.cross * hw(l));
            entry.push(b.in_context * hw(l));
            if j + 1 < arch.decoder.len() {
                entry.push(b.conv * hw(l));
            }
            target += (b.in_target + b.conv) * hw(l);
        }
        target += 2 * z;
        Layout {
            total_floats: target + s * entry.iter().sum::<usize>() + nmax * z,
            max_entry_floats: entry.iter().copied().max().unwrap().max(z),
        }
    }
}

/// A network's input and output on the device: the target is written before each
/// prediction, the logits copied to a mappable buffer after it and read back (for a
/// batch, through one upload and one read-back buffer per submission).
struct Io {
    target: wgpu::Buffer,
    logits: wgpu::Buffer,
    staging: wgpu::Buffer,
    len: usize,
}

impl Io {
    fn new(gpu: &Gpu, h: usize, w: usize) -> Io {
        let len = h * w;
        Io {
            target: storage(gpu, "target", TARGET_CHANNELS * len),
            logits: storage(gpu, "logits", len),
            staging: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("staging"),
                size: (len.max(4) * 4) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            len,
        }
    }

    /// Runs `program` once per target in one command buffer and one submission: the
    /// targets are uploaded together, each is copied into the network's input, the
    /// program replays, and its logits are copied to their slot of one read-back buffer.
    /// Returns the logits per target; identical to `predict` on each (same kernels, same
    /// buffers, only the submissions differ). The caller bounds `targets.len()`.
    fn predict_many(
        &self,
        gpu: &Gpu,
        program: &Program,
        targets: &[&[f32]],
    ) -> Result<Vec<Vec<f32>>> {
        let n = targets.len();
        let tlen = TARGET_CHANNELS * self.len;
        let bytes = (self.len * 4) as u64;
        let tbytes = (tlen * 4) as u64;
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        // One target goes straight into the input buffer, as before; several go through
        // one upload buffer, copied in turn inside the command buffer.
        let batch_in = if n == 1 {
            gpu.queue
                .write_buffer(&self.target, 0, bytemuck::cast_slice(targets[0]));
            None
        } else {
            let buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("batch targets"),
                size: tbytes * n as u64,
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            for (i, t) in targets.iter().enumerate() {
                gpu.queue
                    .write_buffer(&buf, tbytes * i as u64, bytemuck::cast_slice(t));
            }
            Some(buf)
        };
        let staging = if n == 1 {
            None
        } else {
            Some(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("batch staging"),
                size: bytes * n as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        };
        let staging = staging.as_ref().unwrap_or(&self.staging);
        for i in 0..n as u64 {
            if let Some(b) = &batch_in {
                enc.copy_buffer_to_buffer(b, tbytes * i, &self.target, 0, tbytes);
            }
            program.encode(gpu, &mut enc);
            enc.copy_buffer_to_buffer(&self.logits, 0, staging, bytes * i, bytes);
        }
        gpu.queue.submit([enc.finish()]);
        let all = bytes * n as u64;
        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .slice(..all)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::backend(format!("waiting for the GPU: {e}")))?;
        rx.recv()
            .map_err(|_| Error::backend("the GPU never answered the read-back"))?
            .map_err(|e| Error::backend(format!("reading the logits back: {e}")))?;
        let out = {
            let view = staging
                .slice(..all)
                .get_mapped_range()
                .map_err(|e| Error::backend(format!("mapping the logits: {e}")))?;
            bytemuck::cast_slice::<u8, f32>(&view)
                .chunks_exact(self.len)
                .map(|c| c.to_vec())
                .collect()
        };
        staging.unmap();
        Ok(out)
    }
}

/// Most targets of a batch prediction encoded in one command buffer. Larger chunks save
/// little (the submission and read-back cost is paid once per chunk, against a network
/// pass per target) and delay progress reports and cancellation.
pub(crate) const TARGETS_PER_SUBMISSION: usize = 16;

/// A MultiverSegNet prepared for one size and one context layout (entries per chunk).
pub(crate) struct MvsState {
    pub h: usize,
    pub w: usize,
    pub chunks: Vec<usize>,
    io: Io,
    context: Vec<wgpu::Buffer>,
    /// The first CrossConv's context half for every entry: run when the context changes.
    prepare: Program,
    predict: Program,
    /// The context version whose images are on the device (None: none uploaded).
    pub version: Option<u64>,
}

impl MvsState {
    /// Allocates every buffer and records both programs.
    pub fn new(gpu: &Gpu, mw: &MvsWeights, h: usize, w: usize, chunks: Vec<usize>) -> MvsState {
        let arch = &mw.arch;
        let l_n = arch.encoder.len();
        let s: usize = chunks.iter().sum();
        let nmax = chunks.iter().copied().max().unwrap_or(1);
        let dim = |l: usize| (h >> l, w >> l);
        let hw = |l: usize| (h >> l) * (w >> l);
        let mut b = ProgramBuilder::new(gpu, nmax);
        let mut prep = ProgramBuilder::new(gpu, 1);

        let io = Io::new(gpu, h, w);
        let context: Vec<_> = chunks
            .iter()
            .map(|&n| storage(gpu, "context", n * CONTEXT_CHANNELS * hw(0)))
            .collect();
        let mut z_len = 0;
        let mut t_len = 0;
        for (l, bl) in arch.encoder.iter().enumerate() {
            z_len = z_len.max(bl.cross * hw(l));
            t_len = t_len.max(bl.cross * hw(l));
        }
        for (j, bl) in arch.decoder.iter().enumerate() {
            z_len = z_len.max(bl.cross * hw(l_n - 2 - j));
            t_len = t_len.max(bl.cross * hw(l_n - 2 - j));
        }
        let z = storage(gpu, "z", z_len * nmax);
        let tbuf = storage(gpu, "cross target half", t_len);
        let mbuf = storage(gpu, "entry mean", t_len);
        // Channels arriving from below at decoder block j: [upsampled (cups[j]), skip].
        let cups: Vec<usize> = (0..arch.decoder.len())
            .map(|j| {
                if j == 0 {
                    arch.encoder[l_n - 1].conv
                } else {
                    arch.decoder[j - 1].conv
                }
            })
            .collect();
        let dt: Vec<_> = arch
            .decoder
            .iter()
            .enumerate()
            .map(|(j, bl)| storage(gpu, "decoder input", bl.in_target * hw(l_n - 2 - j)))
            .collect();
        let ds: Vec<Vec<_>> = arch
            .decoder
            .iter()
            .enumerate()
            .map(|(j, bl)| {
                chunks
                    .iter()
                    .map(|&n| {
                        storage(
                            gpu,
                            "decoder context input",
                            n * bl.in_context * hw(l_n - 2 - j),
                        )
                    })
                    .collect()
            })
            .collect();

        let mut xt = View::whole(&io.target, 1, TARGET_CHANNELS, h, w);
        let mut xs: Vec<View> = context
            .iter()
            .zip(&chunks)
            .map(|(c, &n)| View::whole(c, n, CONTEXT_CHANNELS, h, w))
            .collect();
        for (l, bl) in arch.encoder.iter().enumerate() {
            let bw = &mw.enc[l];
            let (hl, wl) = dim(l);
            let t = View::whole(&tbuf, 1, bl.cross, hl, wl);
            let m = View::whole(&mbuf, 1, bl.cross, hl, wl);
            b.conv(&xt, &bw.cross_t, None, Act::None, &t);
            // Where this block's outputs go: the skip slot of the decoder that uses them,
            // so that no concatenation ever copies.
            let (out_t, out_s): (View, Vec<View>) = if l + 1 < l_n {
                let j = l_n - 2 - l;
                let cat = bl.conv + cups[j];
                (
                    View::whole(&dt[j], 1, cat, hl, wl).channels(cups[j], bl.conv),
                    ds[j]
                        .iter()
                        .zip(&chunks)
                        .map(|(buf, &n)| {
                            View::whole(buf, n, cat, hl, wl).channels(cups[j], bl.conv)
                        })
                        .collect(),
                )
            } else {
                (
                    View::whole(&storage(gpu, "bottom", bl.conv * hw(l)), 1, bl.conv, hl, wl),
                    chunks
                        .iter()
                        .map(|&n| {
                            View::whole(
                                &storage(gpu, "bottom context", n * bl.conv * hw(l)),
                                n,
                                bl.conv,
                                hl,
                                wl,
                            )
                        })
                        .collect(),
                )
            };
            for (c, &n) in chunks.iter().enumerate() {
                let zc = View::whole(&z, n, bl.cross, hl, wl);
                if l == 0 {
                    let cache = storage(gpu, "first CrossConv context half", n * bl.cross * hw(0));
                    let cv = View::whole(&cache, n, bl.cross, hl, wl);
                    prep.conv(&xs[c], &bw.cross_s, None, Act::None, &cv);
                    b.add_leaky(&cv, &t, &zc);
                } else {
                    b.conv(&xs[c], &bw.cross_s, Some(&t), Act::Leaky, &zc);
                }
                b.mean(&zc, &m, 1.0 / s as f32, c > 0);
                b.conv(&zc, &bw.conv_s, None, Act::Leaky, &out_s[c]);
                b.group_norm(&out_s[c], &bw.norm_s.0, &bw.norm_s.1);
            }
            b.conv(&m, &bw.conv_t, None, Act::Leaky, &out_t);
            b.group_norm(&out_t, &bw.norm_t.0, &bw.norm_t.1);
            if l + 1 < l_n {
                let (h2, w2) = dim(l + 1);
                let pt = View::whole(
                    &storage(gpu, "pooled", bl.conv * hw(l + 1)),
                    1,
                    bl.conv,
                    h2,
                    w2,
                );
                b.maxpool(&out_t, &pt);
                xt = pt;
                xs = out_s
                    .iter()
                    .zip(&chunks)
                    .map(|(o, &n)| {
                        let ps = View::whole(
                            &storage(gpu, "pooled context", n * bl.conv * hw(l + 1)),
                            n,
                            bl.conv,
                            h2,
                            w2,
                        );
                        b.maxpool(o, &ps);
                        ps
                    })
                    .collect();
            } else {
                xt = out_t;
                xs = out_s;
            }
        }
        let n_dec = arch.decoder.len();
        for (j, bl) in arch.decoder.iter().enumerate() {
            let bw = &mw.dec[j];
            let l = l_n - 2 - j;
            let (hl, wl) = dim(l);
            let cup = cups[j];
            let cat_t = View::whole(&dt[j], 1, bl.in_target, hl, wl);
            b.upsample(&xt, &cat_t.channels(0, cup));
            let t = View::whole(&tbuf, 1, bl.cross, hl, wl);
            let m = View::whole(&mbuf, 1, bl.cross, hl, wl);
            b.conv(&cat_t, &bw.cross_t, None, Act::None, &t);
            let last = j + 1 == n_dec;
            let mut next_s = Vec::new();
            for (c, &n) in chunks.iter().enumerate() {
                let cat_s = View::whole(&ds[j][c], n, bl.in_context, hl, wl);
                b.upsample(&xs[c], &cat_s.channels(0, cup));
                let zc = View::whole(&z, n, bl.cross, hl, wl);
                b.conv(&cat_s, &bw.cross_s, Some(&t), Act::Leaky, &zc);
                b.mean(&zc, &m, 1.0 / s as f32, c > 0);
                // The last block's context branch feeds nothing: only the target reaches
                // the output convolution.
                if !last {
                    let o = View::whole(
                        &storage(gpu, "decoder context", n * bl.conv * hw(l)),
                        n,
                        bl.conv,
                        hl,
                        wl,
                    );
                    b.conv(&zc, &bw.conv_s, None, Act::Leaky, &o);
                    b.group_norm(&o, &bw.norm_s.0, &bw.norm_s.1);
                    next_s.push(o);
                }
            }
            let o = View::whole(
                &storage(gpu, "decoder", bl.conv * hw(l)),
                1,
                bl.conv,
                hl,
                wl,
            );
            b.conv(&m, &bw.conv_t, None, Act::Leaky, &o);
            b.group_norm(&o, &bw.norm_t.0, &bw.norm_t.1);
            xt = o;
            xs = next_s;
        }
        b.conv1x1_out(&xt, &mw.out_w, mw.out_b, &io.logits);
        MvsState {
            h,
            w,
            chunks,
            io,
            context,
            prepare: prep.finish(),
            predict: b.finish(),
            version: None,
        }
    }

    /// Uploads the context ([S, H, W] images and labels) and recomputes the cached halves.
    pub fn set_context(&mut self, gpu: &Gpu, ci: &[f32], cl: &[f32]) {
        let px = self.h * self.w;
        let mut first = 0;
        for (buf, &n) in self.context.iter().zip(&self.chunks) {
            let mut data = Vec::with_capacity(n * 2 * px);
            for e in first..first + n {
                data.extend_from_slice(&ci[e * px..(e + 1) * px]);
                data.extend_from_slice(&cl[e * px..(e + 1) * px]);
            }
            gpu.queue.write_buffer(buf, 0, bytemuck::cast_slice(&data));
            first += n;
        }
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        self.prepare.encode(gpu, &mut enc);
        gpu.queue.submit([enc.finish()]);
    }

    /// Context entries over all chunks.
    pub fn entries(&self) -> usize {
        self.chunks.iter().sum()
    }

    /// Runs one prediction per target ([5, H, W] each) on the uploaded context, in one
    /// submission.
    pub fn predict_many(&self, gpu: &Gpu, targets: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        self.io.predict_many(gpu, &self.predict, targets)
    }
}

/// ScribblePrompt-UNet weights on the device.
pub(crate) struct UNetWeights {
    arch: UNetArch,
    downs: Vec<(ConvWeights, f32)>,
    bottleneck: (ConvWeights, f32),
    ups: Vec<(ConvWeights, f32)>,
    final_w: wgpu::Buffer,
    final_b: f32,
}

impl UNetWeights {
    pub fn upload(gpu: &Gpu, w: &Weights, arch: &UNetArch) -> Result<Self> {
        let layer = |p: &str| -> Result<(ConvWeights, f32)> {
            let cin = w.tensors[&format!("{p}.conv.0.weight")].shape[1];
            Ok((
                conv(gpu, w, &format!("{p}.conv.0"), 0, cin, true)?,
                tensor(w, &format!("{p}.conv.1.weight"))?[0],
            ))
        };
        let n = arch.features.len();
        Ok(UNetWeights {
            arch: arch.clone(),
            downs: (0..n)
                .map(|i| layer(&format!("downs.{i}")))
                .collect::<Result<_>>()?,
            bottleneck: layer("bottleneck")?,
            ups: (0..n)
                .map(|j| layer(&format!("ups.{}", 2 * j + 1)))
                .collect::<Result<_>>()?,
            final_w: upload(gpu, "final_conv", tensor(w, "final_conv.conv.0.weight")?),
            final_b: tensor(w, "final_conv.conv.0.bias")?[0],
        })
    }
}

/// A ScribblePrompt-UNet prepared for one size.
pub(crate) struct UNetState {
    pub h: usize,
    pub w: usize,
    io: Io,
    predict: Program,
}

impl UNetState {
    pub fn new(gpu: &Gpu, uw: &UNetWeights, h: usize, w: usize) -> UNetState {
        let f = &uw.arch.features;
        let n = f.len();
        let dim = |l: usize| (h >> l, w >> l);
        let hw = |l: usize| (h >> l) * (w >> l);
        let mut b = ProgramBuilder::new(gpu, 1);
        let io = Io::new(gpu, h, w);
        // Level i's concatenation [skip, upsampled]: the down conv writes the skip half.
        let cats: Vec<_> = (0..n)
            .map(|i| storage(gpu, "concat", 2 * f[i] * hw(i)))
            .collect();
        let mut x = View::whole(&io.target, 1, TARGET_CHANNELS, h, w);
        for i in 0..n {
            let (hl, wl) = dim(i);
            let skip = View::whole(&cats[i], 1, 2 * f[i], hl, wl).channels(0, f[i]);
            let (cw, slope) = &uw.downs[i];
            b.conv(&x, cw, None, Act::PRelu(*slope), &skip);
            let (h2, w2) = dim(i + 1);
            let p = View::whole(&storage(gpu, "pooled", f[i] * hw(i + 1)), 1, f[i], h2, w2);
            b.maxpool(&skip, &p);
            x = p;
        }
        let (cw, slope) = &uw.bottleneck;
        let (hn, wn) = dim(n);
        let y = View::whole(
            &storage(gpu, "bottleneck", cw.cout * hw(n)),
            1,
            cw.cout,
            hn,
            wn,
        );
        b.conv(&x, cw, None, Act::PRelu(*slope), &y);
        x = y;
        for j in 0..n {
            let l = n - 1 - j;
            let (hl, wl) = dim(l);
            let cat = View::whole(&cats[l], 1, 2 * f[l], hl, wl);
            b.upsample(&x, &cat.channels(f[l], x.c as usize));
            let (cw, slope) = &uw.ups[j];
            let y = View::whole(&storage(gpu, "up", cw.cout * hw(l)), 1, cw.cout, hl, wl);
            b.conv(&cat, cw, None, Act::PRelu(*slope), &y);
            x = y;
        }
        b.conv1x1_out(&x, &uw.final_w, uw.final_b, &io.logits);
        UNetState {
            h,
            w,
            io,
            predict: b.finish(),
        }
    }

    /// Runs one prediction per target ([5, H, W] each), in one submission.
    pub fn predict_many(&self, gpu: &Gpu, targets: &[&[f32]]) -> Result<Vec<Vec<f32>>> {
        self.io.predict_many(gpu, &self.predict, targets)
    }
}
