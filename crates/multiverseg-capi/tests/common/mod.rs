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

/// The cdylib/staticlib (libmultiverseg.so, .a) of this test's build, copied into the
/// folder that it returns (target/<profile>), where the C, C++ and Java builds look.
///
/// It runs the cargo command that built the running test (`cargo test --workspace
/// --no-run`, same package set, features and profile), a no-op after the rust tier; that
/// build leaves the libraries in target/<profile>/deps without uplifting them. A
/// `cargo build -p multiverseg-capi` would unify features differently and rebuild every
/// dependency (ten minutes on two cores).
#[allow(dead_code)]
pub fn build_native_libs() -> PathBuf {
    // target/<profile>/deps/<test>-<hash> -> target/<profile>
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Without the variables cargo sets for a running test (OUT_DIR, CARGO_MANIFEST_DIR,
    // CARGO_PKG_NAME, ...): some build scripts (ring's) rerun when they change, which would
    // rebuild the dependency chain here and again in the next top-level cargo command.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let set_for_tests = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || [
                "OUT_DIR",
                "CARGO_TARGET_TMPDIR",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&&*k);
        if set_for_tests {
            cmd.env_remove(&*k);
        }
    }
    cmd.args(["test", "--workspace", "--no-run", "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(lib.parent().unwrap());
    if lib.file_name().and_then(|n| n.to_str()) == Some("release") {
        cmd.arg("--release");
    }
    run(&mut cmd, "cargo test --workspace --no-run");
    for name in ["libmultiverseg.so", "libmultiverseg.a"] {
        let built = lib.join("deps").join(name);
        assert!(built.exists(), "{} not found", built.display());
        // Copied to a temporary name and renamed: a test in another process may be
        // loading the library at this moment.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = lib.join(format!(".{name}.{}.{n}", std::process::id()));
        std::fs::copy(&built, &tmp).unwrap();
        std::fs::rename(&tmp, lib.join(name)).unwrap();
    }
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
