//! Helpers shared by the C ABI's tests: running external tools, building the native
//! libraries, the small test model.

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

/// The repository's root.
#[allow(dead_code)]
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the cdylib/staticlib with this test's profile and target directory (`cargo test`
/// builds only the rlib) and returns the folder that holds them (target/<profile>).
#[allow(dead_code)]
pub fn build_native_libs() -> PathBuf {
    // target/<profile>/deps/<test>-<hash> -> target/<profile>
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "-p",
        "multiverseg-capi",
        "--lib",
        "--manifest-path",
    ])
    .arg(repo().join("Cargo.toml"))
    .arg("--target-dir")
    .arg(lib.parent().unwrap());
    if lib.file_name().and_then(|n| n.to_str()) == Some("release") {
        cmd.arg("--release");
    }
    run(&mut cmd, "cargo build -p multiverseg-capi --lib");
    assert!(
        lib.join("libmultiverseg.so").exists(),
        "libmultiverseg.so not found in {}",
        lib.display()
    );
    lib
}

/// Writes the small test model (MultiverSegNet nf=32, UNet nf=16, from the official-format
/// .pt files of the core crate's test data) as a weights file in `dir`.
#[allow(dead_code)]
pub fn small_model(dir: &Path) -> PathBuf {
    let d = repo().join("crates/multiverseg/tests/data/small");
    let w = multiverseg_core::Weights::from_checkpoints(&d.join("mvs.pt"), Some(&d.join("sp.pt")))
        .unwrap();
    let p = dir.join("small.safetensors");
    w.save(&p).unwrap();
    p
}

/// Writes a tiny random-weight model (MultiverSegNet and UNet with 8 features per block)
/// to `dir`: the C test checks the API's behaviour, not the numerics (tests/fidelity.rs
/// does), and under valgrind every prediction of a larger model costs seconds.
#[allow(dead_code)]
pub fn tiny_model(dir: &Path) -> PathBuf {
    use multiverseg_core::{BlockSpec, MultiverSegArch, Tensor, UNetArch};
    let b = |in_target, in_context| BlockSpec {
        in_target,
        in_context,
        cross: 8,
        conv: 8,
    };
    let mvs = MultiverSegArch {
        encoder: vec![b(5, 2), b(8, 8), b(8, 8), b(8, 8)],
        decoder: vec![b(16, 16); 3],
    };
    let unet = UNetArch {
        in_channels: 5,
        features: vec![8; 4],
        out_channels: 1,
    };
    let mut seed = 7u64;
    let mut tensors = std::collections::BTreeMap::new();
    for (name, shape) in mvs
        .expected_tensors()
        .into_iter()
        .chain(unet.expected_tensors())
    {
        let n: usize = shape.iter().product();
        let data = (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
            })
            .collect();
        tensors.insert(name, Tensor::new(shape, data));
    }
    let w = multiverseg_core::Weights::from_tensors(tensors, Default::default()).unwrap();
    let p = dir.join("tiny.safetensors");
    w.save(&p).unwrap();
    p
}

/// A fresh temporary folder for test `name`.
#[allow(dead_code)]
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mvs-capi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
