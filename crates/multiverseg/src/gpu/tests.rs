//! Each kernel against an f64 CPU reference on random data with odd sizes
//! (5 channels, 3x7 images, S = 1 and 5, channel offsets into wider buffers).
//! Runs on any adapter, lavapipe included; see [`test_gpu`] for when there is none.

use super::device::Gpu;
use super::program::{storage, upload, Act, ConvWeights, ProgramBuilder, View};
use crate::simulate::rng::Rng as SplitMix64;

/// The device for GPU tests; without one the test fails, naming the fix. The GPU tests are
/// ignored by a plain `cargo test` and run by scripts/test.sh (tier `gpu`) on lavapipe.
pub(crate) fn test_gpu() -> Gpu {
    Gpu::open(true, None, None).unwrap_or_else(|e| {
        panic!(
            "{} -- the GPU tests need a Vulkan device: install Mesa's lavapipe \
             (apt-get install mesa-vulkan-drivers), or leave this tier out",
            e.message
        )
    })
}

fn random(rng: &mut SplitMix64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32)
        .collect()
}

fn read(gpu: &Gpu, buf: &wgpu::Buffer, len: usize) -> Vec<f32> {
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (len * 4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(buf, 0, &staging, 0, (len * 4) as u64);
    gpu.queue.submit([enc.finish()]);
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    gpu.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let v =
        bytemuck::cast_slice::<u8, f32>(&staging.slice(..).get_mapped_range().unwrap()).to_vec();
    v
}

fn run(gpu: &Gpu, b: ProgramBuilder) {
    let p = b.finish();
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    p.encode(gpu, &mut enc);
    gpu.queue.submit([enc.finish()]);
}

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        assert!(
            err <= tol * (1.0 + w.abs()),
            "{what}: element {i} is {g}, expected {w} (error {err:.2e})"
        );
        worst = worst.max(err);
    }
    eprintln!(
        "{what}: max abs error {worst:.2e} over {} values",
        got.len()
    );
}

/// f64 reference of one convolution into a copy of `out0` (a wider buffer).
#[allow(clippy::too_many_arguments)]
fn conv_ref(
    x: &[f32],
    (n, cs, co, cin): (usize, usize, usize, usize),
    h: usize,
    w: usize,
    wt: &[f32],
    bias: Option<&[f32]>,
    taps: usize,
    cout: usize,
    add: Option<(&[f32], usize, usize)>,
    act: Act,
    out0: &[f32],
    (ocs, oco): (usize, usize),
) -> Vec<f64> {
    let mut out: Vec<f64> = out0.iter().map(|&v| v as f64).collect();
    let hw = h * w;
    for e in 0..n {
        for o in 0..cout {
            for y in 0..h {
                for xx in 0..w {
                    let mut s = bias.map_or(0.0, |b| b[o] as f64);
                    for c in 0..cin {
                        for t in 0..taps {
                            let (dy, dx) = if taps == 9 { (t / 3, t % 3) } else { (1, 1) };
                            let (iy, ix) =
                                (y as isize + dy as isize - 1, xx as isize + dx as isize - 1);
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            let v = x[(e * cs + co + c) * hw + iy as usize * w + ix as usize];
                            s += wt[(o * cin + c) * taps + t] as f64 * v as f64;
                        }
                    }
                    if let Some((a, acs, aco)) = add {
                        let _ = acs;
                        s += a[(aco + o) * hw + y * w + xx] as f64;
                    }
                    s = match act {
                        Act::None => s,
                        Act::Leaky => {
                            if s < 0.0 {
                                0.01 * s
                            } else {
                                s
                            }
                        }
                        Act::PRelu(k) => {
                            if s < 0.0 {
                                k as f64 * s
                            } else {
                                s
                            }
                        }
                    };
                    out[(e * ocs + oco + o) * hw + y * w + xx] = s;
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
/// `shape` = [entries, input channels, output channels, taps (1 or 9), height, width].
fn check_conv(gpu: &Gpu, rng: &mut SplitMix64, shape: [usize; 6], with_add: bool, act: Act) {
    let [n, cin, cout, taps, h, w] = shape;
    let (cs, co) = (cin + 3, 2); // read a channel slice of a wider buffer
    let (ocs, oco) = (cout + 4, 1); // and write into one
    let x = random(rng, n * cs * h * w);
    let wt = random(rng, cout * cin * taps);
    let bias = random(rng, cout);
    let add = random(rng, (cout + 2) * h * w);
    let out0 = random(rng, n * ocs * h * w);
    let xb = upload(gpu, "x", &x);
    let ob = upload(gpu, "out", &out0);
    let addb = upload(gpu, "add", &add);
    let cw = ConvWeights::new(gpu, "w", &wt, cout, cin, taps, Some(&bias));
    let mut b = ProgramBuilder::new(gpu, n);
    let xin = View::whole(&xb, n, cs, h, w).channels(co, cin);
    let o = View::whole(&ob, n, ocs, h, w).channels(oco, cout);
    let av = View::whole(&addb, 1, cout + 2, h, w).channels(2, cout);
    b.conv(&xin, &cw, with_add.then_some(&av), act, &o);
    run(gpu, b);
    let want = conv_ref(
        &x,
        (n, cs, co, cin),
        h,
        w,
        &wt,
        Some(&bias),
        taps,
        cout,
        with_add.then_some((&add[..], cout + 2, 2)),
        act,
        &out0,
        (ocs, oco),
    );
    assert_close(
        &read(gpu, &ob, out0.len()),
        &want,
        2e-6 * (cin * taps) as f64,
        &format!("conv{taps} n={n} {cin}->{cout} {h}x{w}"),
    );
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh"]
fn conv_matches_f64_reference() {
    let mut gpu = test_gpu();
    // Every register block the kernel may be built with (the default depends on the
    // adapter; ModelOptions::gpu_conv_tile picks another).
    for tile in super::CONV_TILES {
        gpu.kernels = super::program::Kernels::new(&gpu.device, tile);
        eprintln!("conv tile {tile:?}");
        let mut rng = SplitMix64::new(1);
        check_conv(&gpu, &mut rng, [1, 5, 6, 9, 3, 7], false, Act::Leaky);
        check_conv(&gpu, &mut rng, [5, 5, 70, 9, 3, 7], true, Act::Leaky); // several output tiles
        check_conv(&gpu, &mut rng, [5, 37, 5, 9, 3, 7], true, Act::None); // 37 channels: a partial chunk of 16
        check_conv(
            &gpu,
            &mut rng,
            [1, 5, 3, 9, 11, 13],
            false,
            Act::PRelu(0.25),
        ); // 143 px: several pixel tiles
        check_conv(&gpu, &mut rng, [5, 5, 3, 1, 3, 7], false, Act::None);
        check_conv(&gpu, &mut rng, [3, 33, 130, 9, 16, 16], true, Act::Leaky);
    }
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh"]
fn group_norm_matches_f64_reference() {
    let gpu = test_gpu();
    let mut rng = SplitMix64::new(2);
    for (n, c, h, w, offset) in [(1, 5, 3, 7, 0.0), (5, 5, 3, 7, 3.0), (2, 16, 64, 64, 100.0)] {
        let (cs, co) = (c + 2, 1);
        // A large common offset makes naive one-pass variance lose every digit.
        let x: Vec<f32> = random(&mut rng, n * cs * h * w)
            .iter()
            .map(|v| v + offset)
            .collect();
        let g = random(&mut rng, c);
        let be = random(&mut rng, c);
        let xb = upload(&gpu, "x", &x);
        let mut b = ProgramBuilder::new(&gpu, n);
        let v = View::whole(&xb, n, cs, h, w).channels(co, c);
        b.group_norm(&v, &upload(&gpu, "g", &g), &upload(&gpu, "b", &be));
        run(&gpu, b);
        let hw = h * w;
        let mut want: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for e in 0..n {
            let range = (e * cs + co) * hw..(e * cs + co + c) * hw;
            let m = want[range.clone()].iter().sum::<f64>() / (c * hw) as f64;
            let var = want[range.clone()]
                .iter()
                .map(|v| (v - m) * (v - m))
                .sum::<f64>()
                / (c * hw) as f64;
            for (k, i) in range.enumerate() {
                let ch = k / hw;
                want[i] = (want[i] - m) / (var + 1e-5).sqrt() * g[ch] as f64 + be[ch] as f64;
            }
        }
        assert_close(
            &read(&gpu, &xb, x.len()),
            &want,
            2e-5,
            &format!("group_norm n={n} c={c} {h}x{w} offset {offset}"),
        );
    }
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh"]
fn pool_upsample_mean_match_f64_reference() {
    let gpu = test_gpu();
    let mut rng = SplitMix64::new(3);
    let (n, c, h, w) = (5, 5, 3, 7);
    // 2x2 max-pool from 6x14, reading channels 1..6 of 7.
    let x = random(&mut rng, n * 7 * 4 * h * w);
    let xb = upload(&gpu, "x", &x);
    let ob = storage(&gpu, "o", n * c * h * w);
    let mut b = ProgramBuilder::new(&gpu, n);
    b.maxpool(
        &View::whole(&xb, n, 7, 2 * h, 2 * w).channels(1, c),
        &View::whole(&ob, n, c, h, w),
    );
    run(&gpu, b);
    let mut want = vec![0.0f64; n * c * h * w];
    for e in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    let at = |dy: usize, dx: usize| {
                        x[((e * 7 + 1 + ch) * 2 * h + 2 * y + dy) * 2 * w + 2 * xx + dx] as f64
                    };
                    want[((e * c + ch) * h + y) * w + xx] =
                        at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                }
            }
        }
    }
    assert_close(
        &read(&gpu, &ob, want.len()),
        &want,
        0.0,
        "maxpool 6x14 -> 3x7",
    );

    // Bilinear 2x, align_corners=True, 3x7 -> 6x14, into channels 2..7 of 9.
    let x = random(&mut rng, n * c * h * w);
    let xb = upload(&gpu, "x", &x);
    let out0 = random(&mut rng, n * 9 * 4 * h * w);
    let ob = upload(&gpu, "o", &out0);
    let mut b = ProgramBuilder::new(&gpu, n);
    b.upsample(
        &View::whole(&xb, n, c, h, w),
        &View::whole(&ob, n, 9, 2 * h, 2 * w).channels(2, c),
    );
    run(&gpu, b);
    let mut want: Vec<f64> = out0.iter().map(|&v| v as f64).collect();
    let (oh, ow) = (2 * h, 2 * w);
    for e in 0..n {
        for ch in 0..c {
            for y in 0..oh {
                for xx in 0..ow {
                    let fy = y as f64 * (h - 1) as f64 / (oh - 1) as f64;
                    let fx = xx as f64 * (w - 1) as f64 / (ow - 1) as f64;
                    let (y0, x0) = (fy.floor() as usize, fx.floor() as usize);
                    let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                    let (ly, lx) = (fy - y0 as f64, fx - x0 as f64);
                    let v = |yy: usize, xq: usize| x[((e * c + ch) * h + yy) * w + xq] as f64;
                    want[((e * 9 + 2 + ch) * oh + y) * ow + xx] = (1.0 - ly)
                        * ((1.0 - lx) * v(y0, x0) + lx * v(y0, x1))
                        + ly * ((1.0 - lx) * v(y1, x0) + lx * v(y1, x1));
                }
            }
        }
    }
    assert_close(
        &read(&gpu, &ob, want.len()),
        &want,
        1e-6,
        "upsample 3x7 -> 6x14",
    );

    // Mean over entries in two chunks (3 + 2 of S = 5), then LeakyReLU(x + broadcast).
    for s in [1usize, 5] {
        let x = random(&mut rng, s * c * h * w);
        let len = c * h * w;
        let split = s.div_ceil(2);
        let a = upload(&gpu, "a", &x[..split * len]);
        let bb = upload(&gpu, "b", &x[split * len..]);
        let ob = storage(&gpu, "o", len);
        let mut b = ProgramBuilder::new(&gpu, s);
        b.mean(
            &View::whole(&a, split, c, h, w),
            &View::whole(&ob, 1, c, h, w),
            1.0 / s as f32,
            false,
        );
        if s > split {
            b.mean(
                &View::whole(&bb, s - split, c, h, w),
                &View::whole(&ob, 1, c, h, w),
                1.0 / s as f32,
                true,
            );
        }
        run(&gpu, b);
        let want: Vec<f64> = (0..len)
            .map(|i| (0..s).map(|e| x[e * len + i] as f64).sum::<f64>() / s as f64)
            .collect();
        assert_close(
            &read(&gpu, &ob, len),
            &want,
            1e-6,
            &format!("mean over S={s}"),
        );

        let add = random(&mut rng, len);
        let xb = upload(&gpu, "x", &x);
        let addb = upload(&gpu, "add", &add);
        let ob = storage(&gpu, "o", s * len);
        let mut b = ProgramBuilder::new(&gpu, s);
        b.add_leaky(
            &View::whole(&xb, s, c, h, w),
            &View::whole(&addb, 1, c, h, w),
            &View::whole(&ob, s, c, h, w),
        );
        run(&gpu, b);
        let want: Vec<f64> = (0..s * len)
            .map(|i| {
                let v = x[i] as f64 + add[i % len] as f64;
                if v < 0.0 {
                    0.01 * v
                } else {
                    v
                }
            })
            .collect();
        assert_close(
            &read(&gpu, &ob, s * len),
            &want,
            1e-6,
            &format!("add_leaky S={s}"),
        );
    }

    // The output 1x1 convolution, reading channels 1..6 of the target.
    let x = random(&mut rng, 7 * h * w);
    let wt = random(&mut rng, c);
    let xb = upload(&gpu, "x", &x);
    let ob = storage(&gpu, "o", h * w);
    let mut b = ProgramBuilder::new(&gpu, 1);
    b.conv1x1_out(
        &View::whole(&xb, 1, 7, h, w).channels(1, c),
        &upload(&gpu, "w", &wt),
        0.375,
        &ob,
    );
    run(&gpu, b);
    let want: Vec<f64> = (0..h * w)
        .map(|i| {
            0.375
                + (0..c)
                    .map(|ch| wt[ch] as f64 * x[(1 + ch) * h * w + i] as f64)
                    .sum::<f64>()
        })
        .collect();
    assert_close(&read(&gpu, &ob, h * w), &want, 1e-6, "conv1x1_out");
}

/// `gpu_memory_limit` trusts `MvsWeights::state_bytes`: it must match what `MvsState::new`
/// allocates (the small GroupNorm scratch and read-back buffers aside), for one chunk and
/// several. Also prints the estimate for the full-size network at S=64.
#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh"]
fn memory_accounting_matches_allocations() {
    use super::nets::{MvsState, MvsWeights};
    use std::sync::atomic::Ordering;
    let gpu = test_gpu();
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small");
    let w = crate::Weights::from_checkpoints(&d.join("mvs.pt"), None).unwrap();
    let arch = w.multiverseg.clone().unwrap();
    let mw = MvsWeights::upload(&gpu, &w, &arch).unwrap();
    for chunks in [vec![1], vec![5], vec![3, 2]] {
        let before = gpu.storage_bytes.load(Ordering::Relaxed);
        let st = MvsState::new(&gpu, &mw, 128, 128, chunks.clone());
        let got = gpu.storage_bytes.load(Ordering::Relaxed) - before;
        let want = mw.state_bytes(128, 128, &chunks);
        drop(st);
        let diff = (got as f64 - want as f64).abs();
        eprintln!("chunks {chunks:?}: allocated {got} bytes, accounted {want}");
        assert!(
            diff <= 0.01 * want as f64,
            "chunks {chunks:?}: allocated {got}, accounted {want}"
        );
    }
    let block = |in_target, in_context| crate::arch::BlockSpec {
        in_target,
        in_context,
        cross: 256,
        conv: 256,
    };
    let full = crate::arch::MultiverSegArch {
        encoder: vec![
            block(5, 2),
            block(256, 256),
            block(256, 256),
            block(256, 256),
        ],
        decoder: vec![block(512, 512); 3],
    };
    eprintln!(
        "full size, S=64 in one chunk: {:.2} GiB of activations accounted",
        super::nets::layout_bytes(&full, 128, 128, &[64]) as f64 / (1u64 << 30) as f64
    );
}
