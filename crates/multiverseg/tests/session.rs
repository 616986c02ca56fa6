//! Session behaviour on the small test model: context bookkeeping, failed calls change
//! nothing, undo, commit, save/load, folder import, network choice.

mod common;

use multiverseg::io::png::MaskLabel;
use multiverseg::{ImageView, Model, Pixels, RawInput, Session, Window};
use std::path::{Path, PathBuf};

fn model() -> Model {
    common::small_cpu_model()
}

fn image(w: usize, h: usize, seed: u32) -> Vec<f32> {
    (0..w * h)
        .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed)) >> 16) as f32 / 65536.0)
        .collect()
}

fn disk(w: usize, h: usize) -> Vec<u8> {
    (0..w * h)
        .map(|i| {
            (((i % w) as i64 - w as i64 / 2).pow(2) + ((i / w) as i64 - h as i64 / 2).pow(2) < 100)
                as u8
        })
        .collect()
}

/// Adds `px` (w x h, min-max window) to `s`'s context with [`disk`] as its mask.
fn add_disk(s: &mut Session, px: &[f32], w: usize, h: usize) -> u64 {
    s.context_add(
        &ImageView::packed(Pixels::F32(px), w, h),
        Window::MinMax,
        &disk(w, h),
        w,
    )
    .unwrap()
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("mvs-session-{name}-{}", std::process::id()))
}

#[test]
fn context_bookkeeping_and_failed_calls_change_nothing() {
    let mut s = Session::new(model());
    let (w, h) = (37, 29);
    let px = image(w, h, 1);
    let view = ImageView::packed(Pixels::F32(&px), w, h);
    let a = s
        .context_add(&view, Window::MinMax, &disk(w, h), w)
        .unwrap();
    let b = s
        .context_add(&view, Window::Range(0.0, 0.5), &disk(w, h), w)
        .unwrap();
    assert_ne!(a, b);
    // Wrong mask size: error, nothing added.
    assert!(s
        .context_add(&view, Window::MinMax, &disk(w, h)[..w * h - 1], w)
        .is_err());
    let mut bad = px.clone();
    bad[7] = f32::INFINITY;
    assert!(s
        .context_add(
            &ImageView::packed(Pixels::F32(&bad), w, h),
            Window::MinMax,
            &disk(w, h),
            w
        )
        .is_err());
    assert_eq!(s.context_ids(), vec![a, b]);
    assert!(s.context_remove(999).is_err());
    s.context_remove(a).unwrap();
    assert_eq!(s.context_ids(), vec![b]);
    // Labels are binary.
    assert!(s.context()[0].label.iter().all(|&v| v == 0.0 || v == 1.0));
    assert!(s.context()[0].label.contains(&1.0));
}

#[test]
fn predict_undo_commit_and_network_choice() {
    let m = model();
    let mut s = Session::new(m.clone());
    let (w, h) = (50, 40);
    let px = image(w, h, 2);
    s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
        .unwrap();
    s.add_click(25.0, 20.0, true).unwrap();
    let p1 = s.predict().unwrap();
    assert_eq!(p1.mask().len(), w * h);
    // Empty context -> the UNet: same logits as a raw UNet inference on the same input.
    let mut x = s.network_input().unwrap();
    x[4 * 128 * 128..].iter_mut().for_each(|v| *v = 0.0);
    let unet = m
        .infer(
            multiverseg::NetworkChoice::ScribblePrompt,
            1,
            &RawInput {
                target: &x,
                context_images: &[],
                context_labels: &[],
                height: 128,
                width: 128,
            },
        )
        .unwrap();
    assert_eq!(p1.logits, unet);
    // A prompt added after a prediction makes its logits channel 4; undo restores the
    // state before the prompt.
    s.add_click(5.0, 5.0, false).unwrap();
    assert_eq!(&s.network_input().unwrap()[4 * 128 * 128..], &p1.logits[..]);
    s.undo().unwrap();
    s.undo().unwrap();
    assert!(s.network_input().unwrap()[4 * 128 * 128..]
        .iter()
        .all(|&v| v == 0.0));
    assert!(s.undo().is_err());
    s.add_click(25.0, 20.0, true).unwrap();
    s.predict().unwrap();
    let id = s.commit().unwrap();
    assert_eq!(s.context_ids(), vec![id]);
    assert!(s.predict().is_err(), "commit clears the target");
    // With one entry and min_context 1, MultiverSegNet runs.
    s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
        .unwrap();
    let x = s.network_input().unwrap();
    let p = s.predict().unwrap();
    let e = &s.context()[0];
    let mvs = m
        .infer(
            multiverseg::NetworkChoice::MultiverSeg,
            1,
            &RawInput {
                target: &x,
                context_images: &e.image,
                context_labels: &e.label,
                height: 128,
                width: 128,
            },
        )
        .unwrap();
    assert_eq!(p.logits, mvs);
}

#[test]
fn save_load_roundtrip_and_bad_files() {
    let mut s = Session::new(model());
    let (w, h) = (33, 33);
    let px = image(w, h, 3);
    add_disk(&mut s, &px, w, h);
    add_disk(&mut s, &px, w, h);
    let p = tmp("ctx");
    s.context_save(&p).unwrap();
    let mut t = Session::new(model());
    t.context_load(&p).unwrap();
    assert_eq!(t.context(), s.context());
    // A truncated file fails and leaves the session as it was.
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
    assert!(t.context_load(&p).is_err());
    assert_eq!(t.context_count(), 2);
    // New ids continue after loaded ones.
    let id = t
        .context_add(
            &ImageView::packed(Pixels::F32(&px), w, h),
            Window::MinMax,
            &disk(w, h),
            w,
        )
        .unwrap();
    assert!(id > *s.context_ids().iter().max().unwrap());
    std::fs::remove_file(&p).ok();
}

#[test]
fn imports_a_slicer_folder() {
    let mut s = Session::new(model());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example");
    let ids = s.context_import_folder(&dir, MaskLabel::Nonzero).unwrap();
    assert_eq!(ids.len(), 3);
    assert!(s
        .context_import_folder(Path::new("/nonexistent"), MaskLabel::Nonzero)
        .is_err());
    assert_eq!(s.context_count(), 3);
}

/// Four sessions on four threads share one CPU model (its thread pool, the conv op's
/// per-thread scratch): each gets exactly the logits it gets alone, for S = 1, 2 and 3.
#[test]
fn sessions_on_threads_share_one_cpu_model() {
    let m = model();
    let (w, h) = (45, 38);
    let run = |m: Model, seed: u32| {
        let mut s = Session::new(m);
        let mut out = Vec::new();
        for k in 0..3 {
            // image() shifts by its seed before dropping the low 16 bits: spread the seeds.
            let px = image(w, h, seed.wrapping_mul(0x9e37_79b9).wrapping_add(k << 20));
            s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
                .unwrap();
            if k > 0 {
                s.add_click(22.0, 19.0, true).unwrap();
            }
            out.push(s.predict().unwrap().logits);
            s.add_click(1.0, 1.0, false).unwrap();
            out.push(s.predict().unwrap().logits);
            s.commit_mask(&disk(w, h), w).unwrap();
        }
        out
    };
    let seeds = [1, 7, 13, 29];
    let alone: Vec<_> = seeds.iter().map(|&seed| run(m.clone(), seed)).collect();
    let together: Vec<_> = std::thread::scope(|sc| {
        let hs: Vec<_> = seeds
            .iter()
            .map(|&seed| {
                let m = m.clone();
                sc.spawn(move || run(m, seed))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (a, b) in alone.iter().zip(&together) {
        assert!(a.iter().flatten().all(|v| v.is_finite()));
        assert!(a == b, "concurrent sessions changed each other's results");
    }
    // The seeds give different images, so equal results above are not trivially equal.
    assert!(alone[0] != alone[1], "two seeds gave the same logits");
}

/// Predict is a pure function of the session's state (issue: three predicts in a row
/// used to drift): repeated calls give the same bits; a prompt added after a prediction
/// makes that prediction the mask input; undo restores it.
#[test]
fn predict_is_pure_and_the_mask_input_follows_the_protocol() {
    let mut s = Session::new(model());
    let (w, h) = (64, 64);
    let px = image(w, h, 11);
    add_disk(&mut s, &px, w, h);
    let px2 = image(w, h, 12);
    s.set_image(&ImageView::packed(Pixels::F32(&px2), w, h), Window::MinMax)
        .unwrap();
    s.add_click(32.5, 32.5, true).unwrap();
    let p1 = s.predict().unwrap();
    let p2 = s.predict().unwrap();
    let p3 = s.predict().unwrap();
    assert_eq!(p1, p2);
    assert_eq!(p2, p3);
    let mi = 4 * 128 * 128;
    assert!(s.network_input().unwrap()[mi..].iter().all(|&v| v == 0.0));
    // A prompt after a prediction: the mask input is that prediction's logits.
    s.add_click(5.5, 5.5, false).unwrap();
    assert_eq!(&s.network_input().unwrap()[mi..], &p1.logits[..]);
    let q1 = s.predict().unwrap();
    assert_ne!(q1, p1);
    // Two prompts without a prediction in between: the mask input stays p1's.
    s.add_click(60.5, 60.5, false).unwrap();
    assert_eq!(&s.network_input().unwrap()[mi..], &q1.logits[..]);
    s.undo().unwrap();
    assert_eq!(&s.network_input().unwrap()[mi..], &p1.logits[..]);
    assert_eq!(s.last_prediction(), Some(&q1));
    s.undo().unwrap();
    assert_eq!(s.last_prediction(), Some(&p1));
    assert_eq!(
        s.predict().unwrap(),
        p1,
        "undo restores the state before the prompt"
    );
}

/// The batch equals single predictions with no prompts, bit for bit; progress sees every
/// image; stopping it (or the cancel token) fails with Cancelled and changes nothing.
#[test]
fn predict_batch_equals_single_predictions_and_cancels_cleanly() {
    use multiverseg::ErrorKind;
    let m = model();
    let mut s = Session::new(m.clone());
    let (w, h) = (48, 40);
    for k in 0..3 {
        let px = image(w, h, 20 + k);
        add_disk(&mut s, &px, w, h);
    }
    let imgs: Vec<Vec<f32>> = (0..4).map(|k| image(w + k, h, 40 + k as u32)).collect();
    let views: Vec<ImageView> = imgs
        .iter()
        .enumerate()
        .map(|(k, p)| ImageView::packed(Pixels::F32(p), w + k, h))
        .collect();
    let mut seen = Vec::new();
    let mut progress = |d: usize, t: usize| {
        seen.push((d, t));
        true
    };
    let batch = s
        .predict_batch(&views, Window::MinMax, Some(&mut progress))
        .unwrap();
    assert_eq!(seen, vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
    for (k, v) in views.iter().enumerate() {
        s.set_image(v, Window::MinMax).unwrap();
        assert_eq!(s.predict().unwrap(), batch[k], "image {k}");
        assert!((0.0..=1.0).contains(&batch[k].uncertainty()));
    }
    // Cancelled by progress after two images: an error, and the session as it was.
    let before = s.predict().unwrap();
    let ids = s.context_ids();
    let mut stop = |d: usize, _: usize| d < 2;
    let e = s
        .predict_batch(&views, Window::MinMax, Some(&mut stop))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert_eq!(s.context_ids(), ids);
    assert_eq!(s.predict().unwrap(), before);
    // A bad image fails before any work and names it.
    let bad = [0.0f32; 3];
    let mut with_bad = views.clone();
    with_bad.push(ImageView::packed(Pixels::F32(&bad), 2, 2));
    let e = s
        .predict_batch(&with_bad, Window::MinMax, None)
        .unwrap_err();
    assert!(e.message.contains("images[4]"), "{}", e.message);
}

/// The cancel token stops a prediction that is running on another thread.
#[test]
fn cancel_from_another_thread_stops_a_prediction() {
    use multiverseg::ErrorKind;
    let mut s = Session::new(model());
    let (w, h) = (64, 64);
    for k in 0..6 {
        let px = image(w, h, 60 + k);
        add_disk(&mut s, &px, w, h);
    }
    let token = s.cancel_token();
    let imgs: Vec<Vec<f32>> = (0..400).map(|k| image(w, h, 100 + k)).collect();
    let views: Vec<ImageView> = imgs
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), w, h))
        .collect();
    let started = std::sync::atomic::AtomicBool::new(false);
    let r = std::thread::scope(|sc| {
        sc.spawn(|| {
            while !started.load(std::sync::atomic::Ordering::Acquire) {
                std::thread::yield_now();
            }
            token.cancel();
        });
        let mut p = |_: usize, _: usize| {
            started.store(true, std::sync::atomic::Ordering::Release);
            true
        };
        s.predict_batch(&views, Window::MinMax, Some(&mut p))
    });
    assert_eq!(r.unwrap_err().kind, ErrorKind::Cancelled);
    // The next call starts afresh (the token is cleared when a call starts).
    s.set_image(&views[0], Window::MinMax).unwrap();
    assert!(s.predict().is_ok());
}

/// A capped policy uses only the chosen entries: the prediction equals one made with a
/// session that holds just those entries.
#[test]
fn a_capped_context_policy_uses_the_chosen_entries() {
    use multiverseg::{ContextPolicy, Select};
    let m = model();
    let (w, h) = (40, 40);
    let imgs: Vec<Vec<f32>> = (0..5).map(|k| image(w, h, 200 + k)).collect();
    let mut all = Session::new(m.clone());
    for p in &imgs {
        add_disk(&mut all, p, w, h);
    }
    let target = image(w, h, 300);
    let tv = ImageView::packed(Pixels::F32(&target), w, h);
    all.set_context_policy(ContextPolicy::capped(2, Select::Latest))
        .unwrap();
    all.set_image(&tv, Window::MinMax).unwrap();
    let capped = all.predict().unwrap();
    let mut two = Session::new(m);
    for p in &imgs[3..] {
        add_disk(&mut two, p, w, h);
    }
    two.set_image(&tv, Window::MinMax).unwrap();
    assert_eq!(capped, two.predict().unwrap());
    all.set_context_policy(ContextPolicy::all()).unwrap();
    assert_ne!(
        all.predict().unwrap(),
        capped,
        "all five entries give another result"
    );
    assert!(all
        .set_context_policy(ContextPolicy::capped(0, Select::Similar))
        .is_err());
}

/// With `select similar` under a cap, neighbouring images that pick the same entries run
/// as one batch and the others apart: either way the batch equals single predictions.
#[test]
fn predict_batch_under_a_similar_cap_equals_single_predictions() {
    use multiverseg::{ContextPolicy, Select};
    let (w, h) = (40, 40);
    // Four context images with different gradients; each target resembles one of them.
    let grad = |dir: usize, seed: u32| -> Vec<f32> {
        let noise = image(w, h, seed);
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32 / w as f32, (i / w) as f32 / h as f32);
                let g = [x, y, 1.0 - x, (x + y) / 2.0][dir];
                0.8 * g + 0.2 * noise[i]
            })
            .collect()
    };
    let mut s = Session::new(model());
    for dir in 0..4 {
        let px = grad(dir, 500 + dir as u32);
        add_disk(&mut s, &px, w, h);
    }
    s.set_context_policy(ContextPolicy::capped(1, Select::Similar))
        .unwrap();
    // Runs of equal picks (0 0 1 1 1) and alternation (2 3 2).
    let dirs = [0, 0, 1, 1, 1, 2, 3, 2];
    let imgs: Vec<Vec<f32>> = dirs
        .iter()
        .enumerate()
        .map(|(k, &d)| grad(d, 600 + k as u32))
        .collect();
    let views: Vec<ImageView> = imgs
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), w, h))
        .collect();
    let mut seen = Vec::new();
    let mut progress = |d: usize, t: usize| {
        seen.push((d, t));
        true
    };
    let batch = s
        .predict_batch(&views, Window::MinMax, Some(&mut progress))
        .unwrap();
    assert_eq!(seen, (1..=8).map(|d| (d, 8)).collect::<Vec<_>>());
    let mut distinct = Vec::new();
    for (k, v) in views.iter().enumerate() {
        s.set_image(v, Window::MinMax).unwrap();
        let single = s.predict().unwrap();
        assert_eq!(single, batch[k], "image {k}");
        if !distinct.contains(&single.logits) {
            distinct.push(single.logits);
        }
    }
    assert!(distinct.len() >= 4, "the targets picked different entries");
}

/// The memory limit fails a prediction before it allocates, naming S and the estimate.
#[test]
fn a_prediction_over_the_memory_limit_fails_before_allocating() {
    use multiverseg::{ErrorKind, ModelOptions};
    let m = Model::from_weights(
        common::small_weights(),
        &ModelOptions {
            backend: multiverseg::BackendKind::Cpu,
            threads: 1,
            // The small model needs about 25 MiB at S = 1 and 500 MiB at S = 40.
            memory_limit: 64 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    let mut s = Session::new(m);
    let (w, h) = (32, 32);
    let px = image(w, h, 5);
    for _ in 0..40 {
        add_disk(&mut s, &px, w, h);
    }
    s.set_image(&ImageView::packed(Pixels::F32(&px), w, h), Window::MinMax)
        .unwrap();
    let e = s.predict().unwrap_err();
    assert_eq!(e.kind, ErrorKind::OutOfMemory);
    assert!(
        e.message.contains("S = 40") && e.message.contains("MiB"),
        "{}",
        e.message
    );
    // Under a cap the same session fits.
    s.set_context_policy(multiverseg::ContextPolicy::capped(
        1,
        multiverseg::Select::Latest,
    ))
    .unwrap();
    assert!(s.predict().is_ok());
}

/// Mask files: one rule everywhere (nonzero = foreground); label maps need a label.
#[test]
fn folder_masks_follow_one_rule() {
    use multiverseg::ErrorKind;
    let dir = tmp("labels");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (w, h) = (20u32, 16u32);
    let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([(x * 10 + y) as u8]));
    img.save(dir.join("image_0.png")).unwrap();
    // A 16-bit 0/1 mask: the old folder import read it as empty.
    let m16 = image::ImageBuffer::<image::Luma<u16>, Vec<u16>>::from_fn(w, h, |x, _| {
        image::Luma([(x < 10) as u16])
    });
    m16.save(dir.join("mask_0.png")).unwrap();
    let mut s = Session::new(model());
    s.context_import_folder(&dir, MaskLabel::Nonzero).unwrap();
    let fg = s.context()[0].label.iter().filter(|&&v| v == 1.0).count();
    assert!(
        fg > 128 * 128 / 3,
        "a 0/1 mask must not be read as empty ({fg} pixels)"
    );
    // Labels 0/1/2: an error naming the file and the values, unless a label is chosen.
    let m3 = image::GrayImage::from_fn(w, h, |x, _| image::Luma([(x / 7) as u8]));
    m3.save(dir.join("mask_0.png")).unwrap();
    let e = s
        .context_import_folder(&dir, MaskLabel::Nonzero)
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(
        e.message.contains("mask_0.png") && e.message.contains("0, 1, 2"),
        "{}",
        e.message
    );
    assert_eq!(s.context_count(), 1, "a failed import adds nothing");
    s.context_import_folder(&dir, MaskLabel::Value(2)).unwrap();
    assert_eq!(s.context_count(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

/// The opt-in threshold calibration (multiverseg::workflow::calibration): off, nothing
/// changes; on, each committed image's prompt-free MultiverSegNet logits pair with its
/// committed mask, and once two pairs exist every MultiverSegNet prediction is the plain
/// one plus the fitted offset. Masks committed as `logits + 0.75 > 0` must give +0.75.
#[test]
fn threshold_calibration_fits_the_committed_masks_and_shifts_only_multiverseg() {
    use multiverseg::ThresholdCalibration;
    let n = 128; // the network size: images and masks map to it one to one
    let seed_px = image(n, n, 1);
    let mut s = Session::new(model());
    assert_eq!(s.threshold_calibration(), None);
    let bad = ThresholdCalibration {
        latest: 2,
        min_pairs: 3,
    };
    let e = s.set_threshold_calibration(Some(bad)).unwrap_err();
    assert!(e.message.contains("min_pairs"), "{}", e.message);
    assert_eq!(s.threshold_calibration(), None);
    s.set_threshold_calibration(Some(ThresholdCalibration::default()))
        .unwrap();
    s.context_add(
        &ImageView::packed(Pixels::F32(&seed_px), n, n),
        Window::MinMax,
        &disk(n, n),
        n,
    )
    .unwrap();

    // A plain session with the same context gives the uncalibrated logits.
    let plain = |s: &Session, px: &[f32]| -> Vec<f32> {
        let mut p = Session::new(s.model().clone());
        p.context_replace(s.context().to_vec()).unwrap();
        p.set_image(&ImageView::packed(Pixels::F32(px), n, n), Window::MinMax)
            .unwrap();
        p.predict().unwrap().logits
    };
    let mut ids = Vec::new();
    for seed in [2, 3] {
        let px = image(n, n, seed);
        let raw = plain(&s, &px);
        s.set_image(&ImageView::packed(Pixels::F32(&px), n, n), Window::MinMax)
            .unwrap();
        // Fewer than two pairs: the paper's logits.
        assert_eq!(s.threshold_offset(), 0.0);
        let p = s.predict().unwrap();
        assert_eq!(p.logits, raw);
        // The grid's neighbours of +0.75 must select other pixels, or the fit is not unique.
        for (lo, hi) in [(-1.0f32, -0.75f32), (-0.75, -0.5)] {
            assert!(
                raw.iter().any(|&l| l > lo && l < hi),
                "the test model's logits miss ({lo}, {hi})"
            );
        }
        // A click changes the prediction, but the prompt-free one is what pairs up.
        s.add_click(3.5, 3.5, false).unwrap();
        assert_ne!(s.predict().unwrap().logits, raw);
        let mask: Vec<u8> = raw.iter().map(|&l| (l + 0.75 > 0.0) as u8).collect();
        ids.push(s.commit_mask(&mask, n).unwrap());
        assert_eq!(s.threshold_calibration_pairs(), ids.len());
    }
    assert_eq!(s.threshold_offset(), 0.75);
    // A batch carries the offset too (and records no pair).
    let batch_px = [image(n, n, 7), image(n, n, 8)];
    let views: Vec<ImageView> = batch_px
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), n, n))
        .collect();
    let got = s.predict_batch(&views, Window::MinMax, None).unwrap();
    for (p, px) in got.iter().zip(&batch_px) {
        let want: Vec<f32> = plain(&s, px).iter().map(|&l| l + 0.75).collect();
        assert_eq!(p.logits, want);
    }
    assert_eq!(s.threshold_calibration_pairs(), 2);
    let px = image(n, n, 4);
    let raw = plain(&s, &px);
    s.set_image(&ImageView::packed(Pixels::F32(&px), n, n), Window::MinMax)
        .unwrap();
    let p = s.predict().unwrap();
    let want: Vec<f32> = raw.iter().map(|&l| l + 0.75).collect();
    assert_eq!(p.logits, want);
    assert_eq!(
        p.mask(),
        want.iter().map(|&l| (l > 0.0) as u8).collect::<Vec<_>>()
    );

    // The UNet (context below min_context) is never shifted.
    s.set_min_context(100);
    let unet = s.predict().unwrap().logits;
    s.set_min_context(1);
    let mut u = Session::new(s.model().clone());
    u.set_image(&ImageView::packed(Pixels::F32(&px), n, n), Window::MinMax)
        .unwrap();
    u.set_min_context(100);
    assert_eq!(unet, u.predict().unwrap().logits);

    // After a click, the offset stays on MultiverSegNet's logits only: AfterPrompt::Unet
    // carries none, AfterPrompt::Mean half (the mean of the shifted MultiverSegNet logits and
    // the UNet's). Undo then restores the state for the commit below.
    {
        use multiverseg::{AfterPrompt, NetworkChoice};
        s.add_click(64.5, 64.5, true).unwrap();
        let x = s.network_input().unwrap();
        let ci: Vec<f32> = s.context().iter().flat_map(|e| e.image.clone()).collect();
        let cl: Vec<f32> = s.context().iter().flat_map(|e| e.label.clone()).collect();
        let raw = |net: NetworkChoice, ci: &[f32], cl: &[f32]| {
            s.model().infer(net, 0, &common::raw(&x, ci, cl)).unwrap()
        };
        let m: Vec<f32> = raw(NetworkChoice::MultiverSeg, &ci, &cl)
            .iter()
            .map(|&l| l + 0.75)
            .collect();
        let u = raw(NetworkChoice::ScribblePrompt, &[], &[]);
        assert_eq!(s.predict().unwrap().logits, m);
        s.set_after_prompt(AfterPrompt::Unet);
        assert_eq!(s.predict().unwrap().logits, u);
        s.set_after_prompt(AfterPrompt::Mean);
        let want: Vec<f32> = m.iter().zip(&u).map(|(a, b)| 0.5 * a + 0.5 * b).collect();
        assert_eq!(s.predict().unwrap().logits, want);
        assert_eq!(
            s.threshold_calibration_pairs(),
            2,
            "a prompted prediction paired"
        );
        s.set_after_prompt(AfterPrompt::MultiverSeg);
        s.undo().unwrap();
    }

    // commit() pairs as commit_mask does: its mask is the calibrated prediction, whose
    // logits are raw + 0.75, so the fit stays at +0.75 with three pairs.
    ids.push(s.commit().unwrap());
    assert_eq!(s.threshold_calibration_pairs(), 3);
    assert_eq!(s.threshold_offset(), 0.75);
    // set_image forgets an earlier image's prompt-free prediction: no pair for a commit of
    // an image that was never predicted.
    let (a, b) = (image(n, n, 5), image(n, n, 6));
    s.set_image(&ImageView::packed(Pixels::F32(&a), n, n), Window::MinMax)
        .unwrap();
    s.predict().unwrap();
    s.set_image(&ImageView::packed(Pixels::F32(&b), n, n), Window::MinMax)
        .unwrap();
    let extra = s.commit_mask(&disk(n, n), n).unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 3);
    s.context_remove(extra).unwrap();

    // A removed entry's pair goes; with one pair left the offset is 0 again. New settings
    // keep the pairs.
    s.context_remove(ids[2]).unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 2);
    s.context_remove(ids[1]).unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 1);
    assert_eq!(s.threshold_offset(), 0.0);
    let one = ThresholdCalibration {
        latest: 8,
        min_pairs: 1,
    };
    s.set_threshold_calibration(Some(one)).unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 1);
    // Replacing the context (as a load does, whose ids may repeat old ones) drops the pairs.
    let kept = s.context().to_vec();
    s.context_replace(kept).unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 0);
    // Off forgets the pairs.
    s.set_image(&ImageView::packed(Pixels::F32(&a), n, n), Window::MinMax)
        .unwrap();
    s.predict().unwrap();
    s.commit().unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 1);
    s.set_threshold_calibration(None).unwrap();
    assert_eq!(s.threshold_calibration_pairs(), 0);
    s.set_threshold_calibration(Some(one)).unwrap();
    assert_eq!(
        s.threshold_calibration_pairs(),
        0,
        "pairs survived turning it off"
    );
}

/// Opt-in flip averaging of the UNet (multiverseg::workflow::flip_average): the UNet's
/// prediction is the mean of plain predictions of the flipped image, each flipped back;
/// MultiverSegNet's predictions do not change; off is the plain prediction.
#[test]
fn unet_flip_average_is_the_mean_over_flips_and_leaves_multiverseg_alone() {
    use multiverseg::workflow::flip_average::{flip_planes, FLIPS};
    let n = 128; // the network size, so flipping the image flips the network input exactly
    let px = image(n, n, 11);
    let plain = |px: &[f32], ctx: &[multiverseg::ContextEntry]| -> Vec<f32> {
        let mut p = Session::new(model());
        p.context_replace(ctx.to_vec()).unwrap();
        p.set_image(&ImageView::packed(Pixels::F32(px), n, n), Window::MinMax)
            .unwrap();
        p.predict().unwrap().logits
    };
    let mut s = Session::new(model());
    assert!(!s.unet_flip_average());
    s.set_image(&ImageView::packed(Pixels::F32(&px), n, n), Window::MinMax)
        .unwrap();
    assert_eq!(s.predict().unwrap().logits, plain(&px, &[]));
    s.set_unet_flip_average(true);
    let got = s.predict().unwrap().logits;
    let mut want = vec![0.0f32; n * n];
    for (lr, ud) in FLIPS {
        let back = flip_planes(&plain(&flip_planes(&px, lr, ud), &[]), lr, ud);
        want.iter_mut().zip(back).for_each(|(w, b)| *w += b);
    }
    want.iter_mut().for_each(|w| *w /= 4.0);
    let err = common::max_diff(&got, &want);
    assert!(err < 1e-5, "max error {err}");
    assert_ne!(got, plain(&px, &[]), "averaging changed nothing");
    // A click still reaches the averaged UNet.
    s.add_click(40.5, 60.5, true).unwrap();
    assert_ne!(s.predict().unwrap().logits, got);

    // A batch (more images than one flip chunk) equals single averaged predictions, and its
    // progress reports each image once, in order.
    let imgs: Vec<Vec<f32>> = (0..6).map(|i| image(n, n, 20 + i)).collect();
    let views: Vec<ImageView> = imgs
        .iter()
        .map(|p| ImageView::packed(Pixels::F32(p), n, n))
        .collect();
    let mut seen = Vec::new();
    let mut progress = |done: usize, total: usize| {
        seen.push((done, total));
        true
    };
    let batch = s
        .predict_batch(&views, Window::MinMax, Some(&mut progress))
        .unwrap();
    assert_eq!(seen.last(), Some(&(6, 6)));
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
    for (b, v) in batch.iter().zip(&views) {
        let mut one = Session::new(model());
        one.set_unet_flip_average(true);
        one.set_image(v, Window::MinMax).unwrap();
        assert_eq!(b.logits, one.predict().unwrap().logits);
    }
    s.set_image(&ImageView::packed(Pixels::F32(&px), n, n), Window::MinMax)
        .unwrap();

    // With context, MultiverSegNet runs once, as without averaging.
    s.clear_prompts();
    s.context_add(
        &ImageView::packed(Pixels::F32(&image(n, n, 12)), n, n),
        Window::MinMax,
        &disk(n, n),
        n,
    )
    .unwrap();
    let ctx = s.context().to_vec();
    assert_eq!(s.predict().unwrap().logits, plain(&px, &ctx));
}

/// AfterPrompt::Unet (weights/eval/v10_refine/): with a context, an image's
/// prediction before any prompt is MultiverSegNet's, and every prediction with a prompt is the
/// UNet's on the session's network input, whose mask input is the previous (MultiverSegNet's)
/// logits; undoing back to no prompt gives MultiverSegNet's again; below `min_context`, in
/// `predict_batch` and with the option off nothing changes.
#[test]
fn after_prompt_unet_hands_prompted_predictions_to_the_unet() {
    use multiverseg::{AfterPrompt, NetworkChoice};
    let (w, h) = (37, 29);
    let px = image(w, h, 31);
    let view = ImageView::packed(Pixels::F32(&px), w, h);
    let unet = |x: &[f32]| {
        model()
            .infer(NetworkChoice::ScribblePrompt, 0, &common::raw(x, &[], &[]))
            .unwrap()
    };
    let mut plain = Session::new(model());
    let mut s = Session::new(model());
    assert_eq!(s.after_prompt(), AfterPrompt::MultiverSeg);
    s.set_after_prompt(AfterPrompt::Unet);
    assert_eq!(s.after_prompt(), AfterPrompt::Unet);
    let ctx_px = image(w, h, 32);
    for t in [&mut plain, &mut s] {
        add_disk(t, &ctx_px, w, h);
        t.set_image(&view, Window::MinMax).unwrap();
    }
    // Before a prompt: MultiverSegNet's, as without the option.
    let first = s.predict().unwrap().logits;
    assert_eq!(first, plain.predict().unwrap().logits);
    // With a click: the UNet's, from MultiverSegNet's logits as the mask input.
    s.add_click(18.5, 14.5, true).unwrap();
    plain.add_click(18.5, 14.5, true).unwrap();
    let x = s.network_input().unwrap();
    assert_eq!(&x[4 * 128 * 128..], &first[..], "mask input");
    let refined = s.predict().unwrap().logits;
    assert_eq!(refined, unet(&x));
    let mvs = plain.predict().unwrap().logits;
    assert_ne!(refined, mvs, "the option changed nothing");
    // A second click: the UNet again, from its own logits.
    s.add_click(5.5, 3.5, false).unwrap();
    let x2 = s.network_input().unwrap();
    assert_eq!(&x2[4 * 128 * 128..], &refined[..]);
    assert_eq!(s.predict().unwrap().logits, unet(&x2));
    // predict_batch has no prompts: MultiverSegNet, even while the current image has clicks.
    let other = image(w, h, 33);
    let views = [ImageView::packed(Pixels::F32(&other), w, h)];
    let b = s.predict_batch(&views, Window::MinMax, None).unwrap();
    assert_eq!(
        b[0].logits,
        plain
            .predict_batch(&views, Window::MinMax, None)
            .unwrap()
            .remove(0)
            .logits
    );
    // Undo to no prompt: MultiverSegNet's prompt-free prediction again.
    s.undo().unwrap();
    s.undo().unwrap();
    assert_eq!(s.predict().unwrap().logits, first);
    // Below min_context the UNet predicts anyway (the option changes nothing there).
    s.clear_prompts();
    s.set_min_context(2);
    s.add_click(18.5, 14.5, true).unwrap();
    let mut u = Session::new(model());
    u.set_image(&view, Window::MinMax).unwrap();
    u.add_click(18.5, 14.5, true).unwrap();
    assert_eq!(s.predict().unwrap().logits, u.predict().unwrap().logits);
    // Off: MultiverSegNet with the click, as the plain session.
    s.clear_prompts();
    s.set_min_context(1);
    s.set_after_prompt(AfterPrompt::MultiverSeg);
    assert_eq!(s.predict().unwrap().logits, first);
    s.add_click(18.5, 14.5, true).unwrap();
    assert_eq!(s.predict().unwrap().logits, mvs);
}

/// AfterPrompt::Mean (weights/eval/v10_mean/): with a context, a prediction with a prompt is
/// the mean of MultiverSegNet's (with the context) and the UNet's logits on the session's
/// network input, whose mask input is the previous prediction; before a prompt it is
/// MultiverSegNet's alone; with flip averaging on, the UNet's part is the flip-averaged one.
#[test]
fn after_prompt_mean_is_the_mean_of_both_networks() {
    use multiverseg::{AfterPrompt, NetworkChoice};
    let (w, h) = (37, 29);
    let px = image(w, h, 41);
    let view = ImageView::packed(Pixels::F32(&px), w, h);
    let mut s = Session::new(model());
    s.set_after_prompt(AfterPrompt::Mean);
    for seed in [42, 43] {
        add_disk(&mut s, &image(w, h, seed), w, h);
    }
    let ci: Vec<f32> = s.context().iter().flat_map(|e| e.image.clone()).collect();
    let cl: Vec<f32> = s.context().iter().flat_map(|e| e.label.clone()).collect();
    let raw = |net: NetworkChoice, x: &[f32]| {
        let (ci, cl): (&[f32], &[f32]) = match net {
            NetworkChoice::MultiverSeg => (&ci, &cl),
            _ => (&[], &[]),
        };
        model().infer(net, 0, &common::raw(x, ci, cl)).unwrap()
    };
    s.set_image(&view, Window::MinMax).unwrap();
    let x0 = s.network_input().unwrap();
    let first = s.predict().unwrap().logits;
    assert_eq!(
        first,
        raw(NetworkChoice::MultiverSeg, &x0),
        "before a prompt"
    );
    s.add_click(10.5, 20.5, true).unwrap();
    let x = s.network_input().unwrap();
    assert_eq!(&x[4 * 128 * 128..], &first[..], "mask input");
    let (m, u) = (
        raw(NetworkChoice::MultiverSeg, &x),
        raw(NetworkChoice::ScribblePrompt, &x),
    );
    assert_ne!(m, u);
    let got = s.predict().unwrap().logits;
    let want: Vec<f32> = m.iter().zip(&u).map(|(a, b)| 0.5 * a + 0.5 * b).collect();
    assert_eq!(got, want);
    // A second click starts from the mean.
    s.add_click(30.5, 5.5, false).unwrap();
    assert_eq!(&s.network_input().unwrap()[4 * 128 * 128..], &got[..]);
    // Flip averaging reaches the UNet's part only: the mean of MultiverSegNet's logits and the
    // UNet's averaged over the four flips of x.
    s.undo().unwrap();
    s.set_unet_flip_average(true);
    let flipped = s.predict().unwrap().logits;
    use multiverseg::workflow::flip_average::{flip_planes, FLIPS};
    let mut uf = vec![0.0f32; 128 * 128];
    for (lr, ud) in FLIPS {
        let back = flip_planes(
            &raw(NetworkChoice::ScribblePrompt, &flip_planes(&x, lr, ud)),
            lr,
            ud,
        );
        uf.iter_mut().zip(back).for_each(|(a, b)| *a += b / 4.0);
    }
    let want: Vec<f32> = m.iter().zip(&uf).map(|(a, b)| 0.5 * a + 0.5 * b).collect();
    let err = common::max_diff(&flipped, &want);
    assert!(err < 1e-5, "max error {err}");
    assert!(
        common::max_diff(&flipped, &got) > 1e-4,
        "flip averaging changed nothing"
    );
}

/// AfterPrompt::MeanForClicks (weights/eval/v10_mean/): the mean while every prompt is a click,
/// MultiverSegNet alone once the image has a scribble or a box, and the mean again after undo.
#[test]
fn after_prompt_mean_for_clicks_follows_the_kind_of_prompt() {
    use multiverseg::AfterPrompt;
    let (w, h) = (37, 29);
    let px = image(w, h, 51);
    let view = ImageView::packed(Pixels::F32(&px), w, h);
    let ctx = image(w, h, 52);
    let sessions: Vec<Session> = [
        AfterPrompt::MeanForClicks,
        AfterPrompt::Mean,
        AfterPrompt::MultiverSeg,
    ]
    .into_iter()
    .map(|a| {
        let mut s = Session::new(model());
        s.set_after_prompt(a);
        add_disk(&mut s, &ctx, w, h);
        s.set_image(&view, Window::MinMax).unwrap();
        s
    })
    .collect();
    let [mut s, mut mean, mut mvs] = <[Session; 3]>::try_from(sessions).unwrap();
    let mut step = |f: &dyn Fn(&mut Session)| -> [Vec<f32>; 3] {
        [&mut s, &mut mean, &mut mvs].map(|t| {
            f(t);
            t.predict().unwrap().logits
        })
    };
    let [a, b, c] = step(&|_| {});
    assert!(
        a == b && b == c,
        "before a prompt all three are MultiverSegNet's"
    );
    let [a, b, c] = step(&|t| t.add_click(18.5, 14.5, true).unwrap());
    assert_eq!(a, b, "clicks only: the mean");
    assert_ne!(a, c);
    let mut brush = vec![0u8; w * h];
    brush[10 * w + 5..10 * w + 15].fill(1);
    let [a, b, _] = step(&|t| t.add_scribble_mask(&brush, w, false).unwrap());
    // The sessions' mask inputs differ now (each holds its own previous prediction), so the
    // check is MultiverSegNet on this session's own network input.
    assert_ne!(a, b, "a scribble: no longer the mean");
    let x = s.network_input().unwrap();
    let ci = s.context()[0].image.clone();
    let cl = s.context()[0].label.clone();
    let want = model()
        .infer(
            multiverseg::NetworkChoice::MultiverSeg,
            0,
            &common::raw(&x, &ci, &cl),
        )
        .unwrap();
    assert_eq!(a, want, "a scribble: MultiverSegNet alone");
    s.undo().unwrap();
    s.undo().unwrap();
    s.add_click(18.5, 14.5, true).unwrap();
    let mut m2 = Session::new(model());
    m2.set_after_prompt(AfterPrompt::Mean);
    m2.context_replace(s.context().to_vec()).unwrap();
    m2.set_image(&view, Window::MinMax).unwrap();
    m2.predict().unwrap();
    m2.add_click(18.5, 14.5, true).unwrap();
    assert_eq!(s.predict().unwrap().logits, m2.predict().unwrap().logits);
}
