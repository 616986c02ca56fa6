//! Helpers shared by the tests: the small test model, and running external tools (C
//! compiler, CMake, Maven).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd`, fails the test with its output unless it succeeds, returns stdout + stderr.
#[allow(dead_code)]
pub fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

/// Builds the cdylib/staticlib with this test's profile and target directory (`cargo test`
/// builds only the rlib) and returns the folder that holds them (target/<profile>).
#[allow(dead_code)]
pub fn build_native_libs() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // target/<profile>/deps/<test>-<hash> -> target/<profile>
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--lib", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(lib.parent().unwrap());
    if lib.file_name().and_then(|n| n.to_str()) == Some("release") {
        cmd.arg("--release");
    }
    run(&mut cmd, "cargo build --lib");
    assert!(
        lib.join("libmultiverseg.so").exists(),
        "libmultiverseg.so not found in {}",
        lib.display()
    );
    lib
}

/// The small test model's checkpoints (MultiverSegNet nf=32, UNet nf=16), read from the
/// official-format `.pt` files in tests/data/small.
#[allow(dead_code)]
pub fn small_weights() -> multiverseg::Weights {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small");
    multiverseg::Weights::from_checkpoints(&d.join("mvs.pt"), Some(&d.join("sp.pt"))).unwrap()
}

/// The small test model on the CPU backend, 2 threads.
#[allow(dead_code)]
pub fn small_cpu_model() -> multiverseg::Model {
    let opts = multiverseg::ModelOptions {
        backend: multiverseg::BackendKind::Cpu,
        threads: 2,
        ..Default::default()
    };
    multiverseg::Model::from_weights(small_weights(), &opts).unwrap()
}

/// Raw 128x128 network input (target [5,128,128], context [S,128,128] each).
#[allow(dead_code)]
pub fn raw<'a>(target: &'a [f32], ci: &'a [f32], cl: &'a [f32]) -> multiverseg::RawInput<'a> {
    multiverseg::RawInput {
        target,
        context_images: ci,
        context_labels: cl,
        height: 128,
        width: 128,
    }
}

/// Largest |a - b| of f32 results against an f64 reference of the same length.
#[allow(dead_code)]
pub fn max_abs(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// Largest |a - b| of two f32 results of the same length (e.g. GPU against CPU logits).
#[allow(dead_code)]
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}
