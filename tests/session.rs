//! Session behaviour on the small test model: context bookkeeping, failed calls change
//! nothing, undo, commit, save/load, folder import, network choice.

mod common;

use multiverseg::context_io::{import_folder, load_context, save_context};
use multiverseg::{ImageView, Model, Pixels, Session, Window};
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
    assert!(s.context()[0].label.iter().any(|&v| v == 1.0));
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
            &x,
            &[],
            &[],
            128,
            128,
        )
        .unwrap();
    assert_eq!(p1.logits, unet);
    // The logits feed channel 4 of the next step; undo restores the state before the prompt.
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
            &x,
            &e.image,
            &e.label,
            128,
            128,
        )
        .unwrap();
    assert_eq!(p.logits, mvs);
}

#[test]
fn save_load_roundtrip_and_bad_files() {
    let mut s = Session::new(model());
    let (w, h) = (33, 33);
    let px = image(w, h, 3);
    s.context_add(
        &ImageView::packed(Pixels::F32(&px), w, h),
        Window::MinMax,
        &disk(w, h),
        w,
    )
    .unwrap();
    s.context_add(
        &ImageView::packed(Pixels::F32(&px), w, h),
        Window::MinMax,
        &disk(w, h),
        w,
    )
    .unwrap();
    let p = tmp("ctx");
    save_context(&s, &p).unwrap();
    let mut t = Session::new(model());
    load_context(&mut t, &p).unwrap();
    assert_eq!(t.context(), s.context());
    // A truncated file fails and leaves the session as it was.
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
    assert!(load_context(&mut t, &p).is_err());
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
    let ids = import_folder(&mut s, &dir).unwrap();
    assert_eq!(ids.len(), 3);
    assert!(import_folder(&mut s, Path::new("/nonexistent")).is_err());
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
