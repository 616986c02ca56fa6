//! Compiles tests/c/test_capi.c against include/multiverseg.h and the cdylib and runs it:
//! plain (with the GPU backend too), under valgrind (no errors, no definite leaks), and
//! built with AddressSanitizer and UndefinedBehaviorSanitizer. The `c` tier: ignored by a
//! plain `cargo test`, run by `scripts/test.sh c`.

mod common;

use common::{build_native_libs, repo, tiny_model, tmpdir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles `src` (in tests/c) into `tmp` with extra compiler flags.
fn build(tmp: &Path, src: &str, extra: &[&str]) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = build_native_libs();
    let exe = tmp.join(src.trim_end_matches(".c"));
    let st = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-o"])
        .arg(&exe)
        .arg(root.join("tests/c").join(src))
        .arg(format!("-I{}", root.join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .args(extra)
        .args(["-lmultiverseg", "-lm", "-lpthread"])
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .status()
        .expect("running the C compiler");
    assert!(st.success(), "compiling tests/c/{src} failed");
    exe
}

fn output_of(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("running the test program");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    (out.status.success(), text)
}

#[test]
#[ignore = "c tier: needs a C compiler; run by scripts/test.sh c"]
fn c_program_exercises_the_whole_api() {
    let tmp = tmpdir("plain");
    let exe = build(&tmp, "test_capi.c", &[]);
    let m = tiny_model(&tmp);
    let (ok, text) = output_of(
        Command::new(&exe)
            .env("MVS_TEST_GPU", "1")
            .arg(&m)
            .arg(&tmp),
    );
    assert!(ok, "C API test failed");
    assert!(text.contains("all checks passed"), "{text}");
}

#[test]
#[ignore = "c tier: needs a C compiler and valgrind; run by scripts/test.sh c"]
fn c_program_is_clean_under_valgrind() {
    let tmp = tmpdir("valgrind");
    let exe = build(&tmp, "test_capi.c", &[]);
    let m = tiny_model(&tmp);
    let (ok, _) = output_of(
        Command::new("valgrind")
            .args([
                "--error-exitcode=99",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--quiet",
            ])
            .arg(format!(
                "--suppressions={}",
                repo()
                    .join("crates/multiverseg-capi/tests/c/valgrind.supp")
                    .display()
            ))
            .arg(&exe)
            .arg(&m)
            .arg(&tmp),
    );
    assert!(ok, "valgrind reported errors");
}

/// Six threads, one shared model, random valid and invalid calls, under AddressSanitizer and
/// UndefinedBehaviorSanitizer (tests/c/stress.c says what it checks).
#[test]
#[ignore = "c tier: needs a C compiler with ASan/UBSan; run by scripts/test.sh c"]
fn threaded_stress_under_address_and_undefined_sanitizers() {
    let tmp = tmpdir("stress");
    let exe = build(
        &tmp,
        "stress.c",
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let m = tiny_model(&tmp);
    let (ok, text) = output_of(
        Command::new(&exe)
            .env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:halt_on_error=1",
            )
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            .arg(&m),
    );
    assert!(ok, "the sanitizer stress test failed");
    assert!(text.contains("all checks passed"), "{text}");
}
