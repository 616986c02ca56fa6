//! `mvs eval` end to end on the small test model: the same seeds give the same CSV, the
//! plots are written, the threshold calibration is reported, a missing task folder is an
//! error naming it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The core crate's test data (the small model, the example images).
fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../multiverseg/tests/data")
}

fn example_task(dir: &Path) -> PathBuf {
    let src = data().join("example");
    let t = dir.join("example");
    std::fs::create_dir_all(t.join("images")).unwrap();
    std::fs::create_dir_all(t.join("masks")).unwrap();
    for i in 0..3 {
        std::fs::copy(
            src.join(format!("image_{i}.png")),
            t.join(format!("images/{i:03}.png")),
        )
        .unwrap();
        std::fs::copy(
            src.join(format!("mask_{i}.png")),
            t.join(format!("masks/{i:03}.png")),
        )
        .unwrap();
    }
    t
}

#[test]
fn mvs_eval_writes_the_same_csv_for_the_same_seed() {
    let tmp = std::env::temp_dir().join(format!("mvs-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let task = example_task(&tmp);
    let d = data().join("small");
    let w =
        multiverseg::Weights::from_checkpoints(&d.join("mvs.pt"), Some(&d.join("sp.pt"))).unwrap();
    let model = tmp.join("small.safetensors");
    w.save(&model).unwrap();
    // `mvs eval` on `which` (--task or --all) `path`; returns results.csv.
    let eval = |which: &str, path: &Path, out: &str, seeds: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_mvs"))
            .args(["eval", "--model"])
            .arg(&model)
            .arg(which)
            .arg(path)
            .args([
                "--n",
                "2",
                "--seeds",
                seeds,
                "--max-interactions",
                "2",
                "--threads",
                "2",
            ])
            .arg("--out")
            .arg(tmp.join(out))
            .output()
            .unwrap();
        let text =
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "mvs eval failed:\n{text}");
        eprintln!("{text}");
        std::fs::read_to_string(tmp.join(out).join("results.csv")).unwrap()
    };
    let a = eval("--task", &task, "a", "2");
    let b = eval("--task", &task, "b", "2");
    assert_eq!(a, b, "same seeds, different results");
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(
        lines[0],
        "task,seed,position,method,interactions,dice,image"
    );
    // 2 seeds x (seed image for both methods + 2 positions x 2 methods).
    assert_eq!(lines.len(), 1 + 2 * (2 + 4));
    for l in &lines[1..] {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 7, "{l}");
        let k: usize = f[4].parse().unwrap();
        let dice: f64 = f[5].parse().unwrap();
        assert!(k <= 2 && (0.0..=1.0).contains(&dice), "{l}");
    }
    let png = image::open(tmp.join("a/noi90.png")).unwrap();
    assert_eq!((png.width(), png.height()), (800, 500));

    // --all: summary.md has the mean and pooled rows, and each arm's count of images that
    // reached 90% agrees with results.csv (positions 1..n).
    let tasks = tmp.join("tasks");
    std::fs::create_dir_all(&tasks).unwrap();
    std::fs::rename(&task, tasks.join("example")).unwrap();
    let csv = eval("--all", &tasks, "all", "2");
    let md = std::fs::read_to_string(tmp.join("all/summary.md")).unwrap();
    assert!(
        md.contains("| example | 2 |") && md.contains("| **mean** |"),
        "{md}"
    );
    assert!(md.contains("| **pooled** | 2 | | |"), "{md}");
    for (method, label) in [
        ("baseline", "baseline (no context)"),
        ("multiverseg", "MultiverSeg"),
    ] {
        let rows: Vec<Vec<&str>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f[3] == method && f[2] != "0")
            .collect();
        let hit = rows
            .iter()
            .filter(|f| f[5].parse::<f64>().unwrap() >= 0.9)
            .count();
        let line = format!(
            "{label}: Dice >= 0.9 within 2 clicks on {hit} of {} images",
            rows.len()
        );
        assert!(rows.len() == 4 && md.contains(&line), "{line}\n{md}");
    }
    let task = tasks.join("example");

    let ic = Command::new(env!("CARGO_BIN_EXE_mvs"))
        .args([
            "eval",
            "--in-context",
            "--k",
            "1,2",
            "--seeds",
            "2",
            "--model",
        ])
        .arg(&model)
        .arg("--task")
        .arg(&task)
        .arg("--out")
        .arg(tmp.join("ic"))
        .output()
        .unwrap();
    assert!(
        ic.status.success(),
        "{}",
        String::from_utf8_lossy(&ic.stderr)
    );
    let csv = std::fs::read_to_string(tmp.join("ic/in_context.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
    assert!(tmp.join("ic/in_context.png").exists());

    // Dice-per-click curves: every step of every (image, k), a table and a plot.
    let cv = Command::new(env!("CARGO_BIN_EXE_mvs"))
        .args([
            "eval",
            "--curves",
            "--curve-k",
            "0,1",
            "--n",
            "2",
            "--max-interactions",
            "3",
            "--model",
        ])
        .arg(&model)
        .arg("--task")
        .arg(&task)
        .arg("--out")
        .arg(tmp.join("cv"))
        .output()
        .unwrap();
    assert!(
        cv.status.success(),
        "{}",
        String::from_utf8_lossy(&cv.stderr)
    );
    let csv = std::fs::read_to_string(tmp.join("cv/curves.csv")).unwrap();
    // 2 images x 2 context sizes x steps 0..=3.
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 4, "{csv}");
    let md = std::fs::read_to_string(tmp.join("cv/curves.md")).unwrap();
    assert!(md.contains("| example | 1 | 2 |"), "{md}");
    assert!(tmp.join("cv/example_curves.png").exists());

    // --calibrate-threshold: the summary says the MultiverSeg arm was calibrated; it has no
    // meaning for the curves (ground-truth context, no commits), so the two conflict.
    let cal = |extra: &[&str], out: &str| {
        Command::new(env!("CARGO_BIN_EXE_mvs"))
            .args([
                "eval",
                "--calibrate-threshold",
                "--n",
                "2",
                "--max-interactions",
                "2",
            ])
            .args(extra)
            .arg("--model")
            .arg(&model)
            .arg("--all") // summary.md is written for --all
            .arg(&tasks)
            .arg("--out")
            .arg(tmp.join(out))
            .output()
            .unwrap()
    };
    let o = cal(&[], "cal");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(tmp.join("cal/summary.md")).unwrap();
    assert!(md.contains("threshold calibrated on the context"), "{md}");
    // --unet-flip-average (here beside the calibration): the summary says the UNet was averaged.
    let o = cal(&["--unet-flip-average"], "flip");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(tmp.join("flip/summary.md")).unwrap();
    assert!(md.contains("The UNet averaged over the four flips"), "{md}");
    // --after-prompt: the summary says which network followed the clicks; a bad value fails.
    for (v, says) in [
        ("unet", "After a prompt, with a context: the UNet"),
        ("mean", "After a prompt, with a context: the mean"),
    ] {
        let o = cal(&["--after-prompt", v], v);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let md = std::fs::read_to_string(tmp.join(v).join("summary.md")).unwrap();
        assert!(md.contains(says), "{md}");
    }
    // The option reaches the sessions: the MultiverSeg arm's rows change, the baseline's not.
    let rows = |dir: &str, method: &str| -> Vec<String> {
        std::fs::read_to_string(tmp.join(dir).join("results.csv"))
            .unwrap()
            .lines()
            .filter(|l| l.split(',').nth(3) == Some(method))
            .map(String::from)
            .collect()
    };
    assert_eq!(rows("cal", "baseline"), rows("mean", "baseline"));
    assert_ne!(rows("cal", "multiverseg"), rows("mean", "multiverseg"));
    let o = cal(&["--after-prompt", "both"], "bad_after");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--after-prompt"));
    let o = cal(&["--curves"], "cal_curves");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--calibrate-threshold"));

    let bad = Command::new(env!("CARGO_BIN_EXE_mvs"))
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--task")
        .arg(tmp.join("missing"))
        .arg("--out")
        .arg(tmp.join("bad"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing"));
    std::fs::remove_dir_all(&tmp).ok();
}
