//! Compiles tests/c/test_capi.c against include/multiverseg.h and the cdylib, runs it,
//! and runs it again under valgrind (which must report no errors and no definite leaks).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn build(tmp: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = common::build_native_libs();
    let exe = tmp.join("test_capi");
    let st = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-o"])
        .arg(&exe)
        .arg(root.join("tests/c/test_capi.c"))
        .arg(format!("-I{}", root.join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .args(["-lmultiverseg", "-lm"])
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .status()
        .expect("running the C compiler");
    assert!(st.success(), "compiling tests/c/test_capi.c failed");
    exe
}

fn model(tmp: &Path) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small");
    let w =
        multiverseg::Weights::from_checkpoints(&d.join("mvs.pt"), Some(&d.join("sp.pt"))).unwrap();
    let p = tmp.join("small.safetensors");
    w.save(&p).unwrap();
    p
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mvs-capi-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn c_program_exercises_the_whole_api() {
    let tmp = tmpdir("plain");
    let exe = build(&tmp);
    let m = model(&tmp);
    let out = Command::new(&exe)
        .env("MVS_MODEL", &m)
        .env("MVS_TEST_GPU", "1")
        .arg(&m)
        .arg(&tmp)
        .output()
        .unwrap();
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "C API test failed");
}

#[test]
fn c_program_is_clean_under_valgrind() {
    let tmp = tmpdir("valgrind");
    let exe = build(&tmp);
    let m = model(&tmp);
    let out = Command::new("valgrind")
        .env("MVS_MODEL", &m)
        .args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--quiet",
        ])
        .arg(format!(
            "--suppressions={}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/c/valgrind.supp")
                .display()
        ))
        .arg(&exe)
        .arg(&m)
        .arg(&tmp)
        .output()
        .expect("valgrind must be installed (.ci/run installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "valgrind reported errors (exit {:?})",
        out.status.code()
    );
}
