//! `mvs segment` end to end on a folder of PNG slices with seed masks, on the small test
//! model: masks with the input's names, uncertainty.csv sorted, bad input refused with
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../multiverseg/tests/data")
}

fn mvs(args: &[&str], model: &Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_mvs"))
        .args(args)
        .env("MVS_MODEL", model)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

#[test]
fn segments_a_folder_from_seed_masks() {
    let tmp = std::env::temp_dir().join(format!("mvs-segment-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (imgs, seeds) = (tmp.join("imgs"), tmp.join("seeds"));
    std::fs::create_dir_all(&imgs).unwrap();
    std::fs::create_dir_all(&seeds).unwrap();
    let ex = data().join("example");
    for i in 0..3 {
        std::fs::copy(
            ex.join(format!("image_{i}.png")),
            imgs.join(format!("s{i}.png")),
        )
        .unwrap();
    }
    std::fs::copy(ex.join("mask_0.png"), seeds.join("s0.png")).unwrap();
    let d = data().join("small");
    let w =
        multiverseg::Weights::from_checkpoints(&d.join("mvs.pt"), Some(&d.join("sp.pt"))).unwrap();
    let model = tmp.join("small.safetensors");
    w.save(&model).unwrap();
    let out = tmp.join("out");
    let (ok, text) = mvs(
        &[
            "segment",
            imgs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--seed-masks",
            seeds.to_str().unwrap(),
            "--threads",
            "2",
        ],
        &model,
    );
    assert!(ok, "{text}");
    assert!(text.contains("segmented 2 of 3 slices"), "{text}");
    for i in 0..3 {
        assert!(out.join(format!("s{i}.png")).exists());
    }
    let seed_out = image::open(out.join("s0.png")).unwrap().to_luma8();
    let seed_in = image::open(ex.join("mask_0.png")).unwrap().to_luma8();
    assert_eq!(
        seed_out.pixels().map(|p| p[0] > 0).collect::<Vec<_>>(),
        seed_in.pixels().map(|p| p[0] > 0).collect::<Vec<_>>(),
        "a seed's mask is copied to the output"
    );
    let csv = std::fs::read_to_string(out.join("uncertainty.csv")).unwrap();
    let rows: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[0] >= rows[1] && rows.iter().all(|u| (0.0..=1.0).contains(u)),
        "{csv}"
    );

    // Bad input: no context at all, a seed of the wrong size, a missing input.
    let (ok, text) = mvs(
        &[
            "segment",
            imgs.to_str().unwrap(),
            "--out",
            tmp.join("o2").to_str().unwrap(),
        ],
        &model,
    );
    assert!(!ok && text.contains("no context"), "{text}");
    image::GrayImage::new(5, 5)
        .save(seeds.join("s1.png"))
        .unwrap();
    let (ok, text) = mvs(
        &[
            "segment",
            imgs.to_str().unwrap(),
            "--out",
            tmp.join("o3").to_str().unwrap(),
            "--seed-masks",
            seeds.to_str().unwrap(),
        ],
        &model,
    );
    assert!(
        !ok && text.contains("s1.png") && text.contains("5x5"),
        "{text}"
    );
    assert!(!tmp.join("o3").exists(), "nothing written on error");
    let (ok, text) = mvs(
        &[
            "segment",
            tmp.join("nope").to_str().unwrap(),
            "--out",
            tmp.join("o4").to_str().unwrap(),
        ],
        &model,
    );
    assert!(!ok && text.contains("nope"), "{text}");
    std::fs::remove_dir_all(&tmp).ok();
}
