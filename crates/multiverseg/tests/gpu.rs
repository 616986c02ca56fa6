//! The GPU backend end to end on the small test model (MultiverSegNet nf=32, UNet nf=16,
//! 128x128): logits against the f64 PyTorch reference, chunked contexts, sessions that
//! give the CPU's masks, and the fallback to the CPU. Runs on any Vulkan/Metal/DX12
//! adapter, Mesa's lavapipe included (CI installs it).
//!
//! These tests are the `gpu` tier: ignored by a plain `cargo test`, run by
//! `scripts/test.sh gpu` (CI installs lavapipe). With no adapter they fail, naming the fix.

mod common;

use multiverseg::io::npy;
use multiverseg::{
    BackendKind, BackendState, CancelToken, ImageView, Model, ModelOptions, NetworkChoice, Pixels,
    Session, Window,
};
use std::path::{Path, PathBuf};

/// Tolerance from the issue: the whole network within 1e-3 of f64. The kernels do
/// much better (about 1e-5 measured); this leaves room for other GPUs' rounding.
const TOL: f64 = 1e-3;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small")
}

fn model_with(opts: ModelOptions) -> Model {
    Model::from_weights(common::small_weights(), &opts).unwrap_or_else(|e| {
        panic!(
            "{} -- the GPU tests need a Vulkan device: install Mesa's lavapipe \
             (apt-get install mesa-vulkan-drivers), or leave the gpu tier out",
            e.message
        )
    })
}

fn gpu_model(max_chunk: usize) -> Model {
    model_with(ModelOptions {
        backend: BackendKind::Gpu,
        threads: 2,
        gpu_max_chunk: max_chunk,
        ..Default::default()
    })
}

fn inputs(which: &str, s: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let t = npy::read(&data().join(format!("target_{which}.npy"))).unwrap();
    let ci = npy::read(&data().join("context_images.npy")).unwrap();
    let cl = npy::read(&data().join("context_labels.npy")).unwrap();
    let px = 128 * 128;
    (
        t.data,
        ci.data[..s * px].to_vec(),
        cl.data[..s * px].to_vec(),
    )
}

fn mvs_error(m: &Model, s: usize, which: &str) -> f64 {
    let (t, ci, cl) = inputs(which, s);
    let logits = m
        .infer(NetworkChoice::MultiverSeg, 1, &common::raw(&t, &ci, &cl))
        .unwrap();
    let (_, want) = npy::read_f64(&data().join(format!("mvs_s{s}{which}_f64.npy"))).unwrap();
    let err = common::max_abs(&logits, &want);
    eprintln!(
        "{}: S={s}{which}: max abs error {err:.3e}",
        m.backend_name()
    );
    err
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn multiverseg_matches_f64_reference_on_gpu() {
    let m = gpu_model(0);
    assert!(m.backend_name().starts_with("gpu"), "{}", m.backend_name());
    // S = 0 is the 0.5 dummy entry; target "b" has a non-zero previous-logits channel.
    // S = 5 runs in chunked_context_matches_f64_reference (lavapipe takes about 6 s per
    // context entry, and this tier is most of CI's time).
    for (s, which) in [(0, "a"), (1, "a"), (3, "b")] {
        let err = mvs_error(&m, s, which);
        assert!(err < TOL, "S={s}: max abs error {err:.3e} exceeds {TOL:e}");
    }
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn chunked_context_matches_f64_reference() {
    // Chunks of 2: S=5 runs as 3 chunks (2, 2, 1), so both a full and a partial chunk
    // are accumulated.
    let m = gpu_model(2);
    let err = mvs_error(&m, 5, "a");
    assert!(
        err < TOL,
        "chunked S=5: max abs error {err:.3e} exceeds {TOL:e}"
    );
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn scribbleprompt_unet_matches_f64_reference_on_gpu() {
    let m = gpu_model(0);
    for which in ["a", "b"] {
        let (t, _, _) = inputs(which, 0);
        let logits = m
            .infer(NetworkChoice::ScribblePrompt, 1, &common::raw(&t, &[], &[]))
            .unwrap();
        let (_, want) = npy::read_f64(&data().join(format!("sp_{which}_f64.npy"))).unwrap();
        let err = common::max_abs(&logits, &want);
        eprintln!("UNet {which}: max abs error {err:.3e}");
        assert!(err < TOL, "UNet {which}: max abs error {err:.3e}");
    }
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn context_stays_on_device_until_it_changes() {
    // The same state and version: the second call must not need the context arguments
    // (they are stale on purpose) and still give the first call's logits.
    let m = gpu_model(0);
    let (t, ci, cl) = inputs("a", 1);
    let mut st = BackendState::default();
    let a = m
        .infer_in(
            &mut st,
            Some(7),
            NetworkChoice::MultiverSeg,
            1,
            &common::raw(&t, &ci, &cl),
            &CancelToken::new(),
        )
        .unwrap();
    let zeros = vec![0.0f32; ci.len()];
    let b = m
        .infer_in(
            &mut st,
            Some(7),
            NetworkChoice::MultiverSeg,
            1,
            &common::raw(&t, &zeros, &zeros),
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(a, b, "the resident context was re-uploaded");
    // A new version is uploaded: now the zeros count.
    let c = m
        .infer_in(
            &mut st,
            Some(8),
            NetworkChoice::MultiverSeg,
            1,
            &common::raw(&t, &zeros, &zeros),
            &CancelToken::new(),
        )
        .unwrap();
    assert_ne!(a, c, "a changed context was not uploaded");
}

fn disk(w: usize, h: usize, cx: f64, cy: f64, r: f64) -> Vec<u8> {
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64 - cx, (i / w) as f64 - cy);
            (x * x + y * y < r * r) as u8
        })
        .collect()
}

fn picture(w: usize, h: usize, seed: u32, mask: &[u8]) -> Vec<f32> {
    (0..w * h)
        .map(|i| {
            let noise =
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 24) as f32 / 2048.0;
            0.2 + 0.6 * mask[i] as f32 + noise
        })
        .collect()
}

/// Clicks and commits on both backends: logits within 1e-3, and the same masks wherever
/// either probability is more than 3e-4 from 0.5 (logits 1e-3 apart can only straddle 0
/// inside +-1e-3, i.e. probabilities within 2.5e-4 of 0.5). Both commit the true mask: a predicted mask
/// may hold pixels whose logit is a rounding error away from 0 (seen: -3.5e-6 on one
/// backend, +3.5e-6 on the other), and one flipped label pixel moves the next prediction
/// by up to 0.5, which would test the tie, not the backends.
#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn gpu_session_gives_the_cpu_masks() {
    let g = gpu_model(0);
    let c = common::small_cpu_model();
    let (w, h) = (61, 47);
    let mut sessions = [Session::new(g), Session::new(c)];
    for s in &mut sessions {
        let m = disk(w, h, 30.0, 20.0, 12.0);
        let px = picture(w, h, 1, &m);
        s.context_add(
            &ImageView::packed(Pixels::F32(&px), w, h),
            Window::MinMax,
            &m,
            w,
        )
        .unwrap();
    }
    let mut masks = Vec::new();
    let mut logits = Vec::new();
    for s in &mut sessions {
        let mut out = Vec::new();
        for (k, (cx, cy)) in [(25.0, 22.0), (33.0, 27.0)].into_iter().enumerate() {
            let m = disk(w, h, cx, cy, 10.0 + k as f64);
            let px = picture(w, h, 2 + k as u32, &m);
            s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
                .unwrap();
            let p0 = s.predict().unwrap();
            s.add_click(cx, cy, true).unwrap();
            let p1 = s.predict().unwrap();
            s.add_click(2.0, 2.0, false).unwrap();
            let p2 = s.predict().unwrap();
            for p in [&p0, &p1, &p2] {
                out.push((p.mask(), p.probabilities()));
                logits.push(p.logits.clone());
            }
            s.commit_mask(&m, w).unwrap(); // the context grows: the GPU copy must follow
        }
        masks.push(out);
    }
    let n = logits.len() / 2;
    for i in 0..n {
        let d = common::max_diff(&logits[i], &logits[n + i]);
        assert!(d < 1e-3, "prediction {i}: GPU and CPU logits differ by {d}");
    }
    for (i, ((mg, pg), (mc, pc))) in masks[0].iter().zip(&masks[1]).enumerate() {
        let differ = (0..mg.len())
            .filter(|&j| mg[j] != mc[j])
            .filter(|&j| (pg[j] - 0.5).abs() > 3e-4 || (pc[j] - 0.5).abs() > 3e-4)
            .count();
        assert_eq!(
            differ, 0,
            "prediction {i}: GPU and CPU masks differ at {differ} pixels"
        );
    }
}

/// A batch on the GPU (here one submission per 2 images; 16 by default) equals single
/// predictions on the same device, for the UNet (empty context) and MultiverSegNet;
/// progress comes per submission, and cancelling after the first changes nothing.
#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn gpu_batch_equals_single_predictions() {
    let mut s = Session::new(model_with(ModelOptions {
        backend: BackendKind::Gpu,
        threads: 2,
        gpu_batch_targets: 2,
        ..Default::default()
    }));
    let (w, h) = (37, 29);
    let imgs: Vec<Vec<f32>> = (0..3)
        .map(|k| {
            let m = disk(w, h, 10.0 + k as f64, 14.0, 8.0);
            picture(w, h, 40 + k as u32, &m)
        })
        .collect();
    let views: Vec<ImageView> = imgs
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), w, h))
        .collect();
    for with_context in [false, true] {
        if with_context {
            // One entry: lavapipe takes about 6 s per entry and prediction, and batching
            // is over targets, not entries (chunked contexts have their own test).
            let m = disk(w, h, 17.0, 15.0, 9.0);
            let px = picture(w, h, 90, &m);
            s.context_add(
                &ImageView::packed(Pixels::F32(&px), w, h),
                Window::MinMax,
                &m,
                w,
            )
            .unwrap();
        }
        let mut seen = Vec::new();
        let mut progress = |d: usize, t: usize| {
            seen.push((d, t));
            true
        };
        let batch = s
            .predict_batch(&views, Window::MinMax, Some(&mut progress))
            .unwrap();
        assert_eq!(seen, vec![(2, 3), (3, 3)], "one report per submission");
        let mut worst = 0.0f32;
        let mut last = None;
        for (k, v) in views.iter().enumerate() {
            s.set_image(v, Window::MinMax).unwrap();
            let single = s.predict().unwrap();
            let d = common::max_diff(&single.logits, &batch[k].logits);
            worst = worst.max(d);
            last = Some(single);
        }
        eprintln!("context {with_context}: batch vs single, max |logit difference| {worst:e}");
        assert!(
            worst <= 1e-5,
            "batch and single predictions differ by {worst}"
        );
        if !with_context {
            continue; // lavapipe is slow: the cancellation once, with MultiverSegNet
        }
        // Stopped after the first submission: an error, and the session as it was (its
        // image is still the last one predicted singly).
        let before = last.unwrap();
        let mut stop = |d: usize, _: usize| d < 2;
        let e = s
            .predict_batch(&views, Window::MinMax, Some(&mut stop))
            .unwrap_err();
        assert_eq!(e.kind, multiverseg::ErrorKind::Cancelled);
        assert_eq!(s.predict().unwrap(), before);
    }
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn over_the_memory_limit_the_gpu_falls_back_to_the_cpu() {
    let m = model_with(ModelOptions {
        backend: BackendKind::Gpu,
        threads: 2,
        gpu_memory_limit: 1 << 20, // 1 MiB: S=3 needs far more
        ..Default::default()
    });
    let (t, ci, cl) = inputs("b", 3);
    let got = m
        .infer(NetworkChoice::MultiverSeg, 1, &common::raw(&t, &ci, &cl))
        .unwrap();
    let cpu = common::small_cpu_model()
        .infer(NetworkChoice::MultiverSeg, 1, &common::raw(&t, &ci, &cl))
        .unwrap();
    // Bit-identical: the CPU backend computed it.
    assert_eq!(got, cpu);
    // The GPU still serves what fits (the UNet has no context).
    assert!(m.backend_name().starts_with("gpu"), "{}", m.backend_name());
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn auto_never_picks_a_software_adapter() {
    let m = Model::from_weights(common::small_weights(), &ModelOptions::default()).unwrap();
    let name = m.backend_name();
    for sw in ["llvmpipe", "lavapipe", "SwiftShader", "WARP"] {
        assert!(!name.contains(sw), "auto chose a software adapter: {name}");
    }
}

#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn sessions_on_two_threads_share_one_gpu_model() {
    let m = gpu_model(0);
    let (w, h) = (40, 36);
    let run = |m: Model, seed: u32| {
        let mut s = Session::new(m);
        let mask = disk(w, h, 20.0, 18.0, 9.0);
        let px = picture(w, h, seed, &mask);
        s.context_add(
            &ImageView::packed(Pixels::F32(&px), w, h),
            Window::MinMax,
            &mask,
            w,
        )
        .unwrap();
        let px = picture(w, h, seed + 1, &mask);
        s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
            .unwrap();
        s.add_click(20.0, 18.0, true).unwrap();
        s.add_click(1.0, 1.0, false).unwrap();
        s.predict().unwrap().logits
    };
    let alone: Vec<_> = [1, 7]
        .into_iter()
        .map(|seed| run(m.clone(), seed))
        .collect();
    let together: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = [1, 7]
            .into_iter()
            .map(|seed| {
                let m = m.clone();
                sc.spawn(move || run(m, seed))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        alone, together,
        "concurrent sessions changed each other's results"
    );
}

/// Flip averaging of the UNet (opt-in) runs its four flips as one GPU batch: the averaged
/// logits match the CPU's, with a click and without, and a batch of more images than one
/// flip chunk equals single averaged predictions on the GPU.
#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn gpu_unet_flip_average_matches_the_cpu() {
    let (w, h) = (61, 47);
    let m = disk(w, h, 30.0, 20.0, 12.0);
    let px = picture(w, h, 5, &m);
    let view = ImageView::packed(Pixels::F32(&px), w, h);
    let mut logits = Vec::new();
    for model in [gpu_model(2), common::small_cpu_model()] {
        let mut s = Session::new(model);
        s.set_unet_flip_average(true);
        s.set_image(&view, Window::MinMax).unwrap();
        logits.push(s.predict().unwrap().logits);
        s.add_click(30.5, 20.5, true).unwrap();
        logits.push(s.predict().unwrap().logits);
    }
    for i in 0..2 {
        let d = common::max_diff(&logits[i], &logits[2 + i]);
        assert!(
            d < 1e-3,
            "prediction {i}: GPU and CPU averaged logits differ by {d}"
        );
    }

    let mut s = Session::new(gpu_model(2));
    s.set_unet_flip_average(true);
    let pics: Vec<Vec<f32>> = (0..5).map(|k| picture(w, h, 10 + k, &m)).collect();
    let views: Vec<ImageView> = pics
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), w, h))
        .collect();
    let batch = s.predict_batch(&views, Window::MinMax, None).unwrap();
    for (b, v) in batch.iter().zip(&views) {
        s.set_image(v, Window::MinMax).unwrap();
        let one = s.predict().unwrap().logits;
        let d = common::max_diff(&b.logits, &one);
        assert!(
            d < 1e-5,
            "batch and single averaged predictions differ by {d}"
        );
    }
}

/// AfterPrompt::Mean alternates MultiverSegNet (context on the device) and the UNet on every
/// click; the context must stay right across the alternation and across a context change
/// between clicks: the GPU's logits match the CPU's at every step.
#[test]
#[ignore = "gpu tier: needs a Vulkan device (Mesa lavapipe); run by scripts/test.sh gpu"]
fn gpu_after_prompt_mean_matches_the_cpu() {
    use multiverseg::AfterPrompt;
    let (w, h) = (61, 47);
    let m = disk(w, h, 30.0, 20.0, 12.0);
    let pics: Vec<Vec<f32>> = (0..4).map(|k| picture(w, h, 40 + k, &m)).collect();
    let view = |k: usize| ImageView::packed(Pixels::F32(&pics[k]), w, h);
    let mut logits = Vec::new();
    for model in [gpu_model(2), common::small_cpu_model()] {
        let mut s = Session::new(model);
        s.set_after_prompt(AfterPrompt::Mean);
        for k in 0..2 {
            s.context_add(&view(k), Window::MinMax, &m, w).unwrap();
        }
        s.set_image(&view(2), Window::MinMax).unwrap();
        let mut steps = vec![s.predict().unwrap().logits];
        s.add_click(30.5, 20.5, true).unwrap();
        steps.push(s.predict().unwrap().logits);
        // A new entry between two clicks: MultiverSegNet's half must see three entries.
        s.context_add(&view(3), Window::MinMax, &m, w).unwrap();
        s.add_click(5.5, 40.5, false).unwrap();
        steps.push(s.predict().unwrap().logits);
        s.add_click(33.5, 22.5, true).unwrap();
        steps.push(s.predict().unwrap().logits);
        logits.push(steps);
    }
    for (i, (g, c)) in logits[0].iter().zip(&logits[1]).enumerate() {
        let d = common::max_diff(g, c);
        assert!(d < 1e-3, "step {i}: GPU and CPU logits differ by {d}");
    }
    // The mean is not MultiverSegNet alone: a plain CPU session differs after the clicks.
    let mut plain = Session::new(common::small_cpu_model());
    for k in 0..2 {
        plain.context_add(&view(k), Window::MinMax, &m, w).unwrap();
    }
    plain.set_image(&view(2), Window::MinMax).unwrap();
    plain.predict().unwrap();
    plain.add_click(30.5, 20.5, true).unwrap();
    assert!(common::max_diff(&plain.predict().unwrap().logits, &logits[1][1]) > 1e-4);
}
