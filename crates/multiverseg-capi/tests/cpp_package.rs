//! The CMake package and the C++ wrapper: configures and builds the top-level CMake project
//! (which runs cargo), runs the GoogleTest suite with ctest, installs into a temporary
//! prefix, builds examples/ against the installed package (shared and static) and with
//! pkg-config, and runs the C and C++ examples on the default model.
//! Needs cmake, a C++17 compiler, GoogleTest, libpng and pkg-config: the `cpp` tier,
//! ignored by a plain `cargo test`, run by `scripts/test.sh cpp` (which installs them).

mod common;

use common::{build_native_libs, run};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    common::repo()
}

fn cmake(args: &[&str], what: &str) -> String {
    run(Command::new("cmake").args(args), what)
}

fn p(x: &Path) -> &str {
    x.to_str().unwrap()
}

#[test]
#[ignore = "cpp tier: needs cmake, g++, GoogleTest, libpng, pkg-config; run by scripts/test.sh cpp"]
fn cmake_package_gtest_and_examples() {
    let tmp = std::env::temp_dir().join(format!("mvs-cpp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let (build, prefix) = (tmp.join("build"), tmp.join("prefix"));
    let src = root();
    // The library as every other tier builds it (one cargo build with the workspace's
    // features); CMake then uses it instead of running cargo with another feature set.
    let lib = build_native_libs();
    let target_dir = lib.parent().unwrap();
    cmake(
        &[
            "-S",
            p(&src),
            "-B",
            p(&build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DMULTIVERSEG_BUILD_TESTS=ON",
            "-DMULTIVERSEG_PREBUILT=ON",
            &format!("-DCARGO_TARGET_DIR={}", p(target_dir)),
        ],
        "cmake configure",
    );
    cmake(&["--build", p(&build)], "cmake build");
    let ctest = run(
        Command::new("ctest")
            .arg("--output-on-failure")
            .current_dir(&build),
        "ctest",
    );
    assert!(ctest.contains("100% tests passed"), "{ctest}");
    cmake(
        &["--install", p(&build), "--prefix", p(&prefix)],
        "cmake install",
    );
    for f in [
        "include/multiverseg.h",
        "include/multiverseg.hpp",
        "lib/libmultiverseg.so",
        "lib/libmultiverseg.a",
        "lib/cmake/MultiverSeg/MultiverSegConfig.cmake",
        "lib/pkgconfig/multiverseg.pc",
    ] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }

    for (name, extra) in [
        ("shared", "-DMULTIVERSEG_USE_STATIC=OFF"),
        ("static", "-DMULTIVERSEG_USE_STATIC=ON"),
    ] {
        let eb = tmp.join(format!("examples-{name}"));
        cmake(
            &[
                "-S",
                p(&src.join("examples")),
                "-B",
                p(&eb),
                &format!("-DCMAKE_PREFIX_PATH={}", p(&prefix)),
                extra,
            ],
            "configure examples",
        );
        cmake(&["--build", p(&eb)], "build examples");
        let ldd = run(Command::new("ldd").arg(eb.join("loop_c")), "ldd");
        assert_eq!(
            ldd.contains("libmultiverseg"),
            name == "shared",
            "{name} build links wrongly:\n{ldd}"
        );
        let c = run(&mut Command::new(eb.join("loop_c")), "examples/c/loop.c");
        assert_eq!(c.matches("Dice").count(), 6, "{c}");
        let folder = run(
            Command::new(eb.join("segment_folder"))
                .arg(src.join("crates/multiverseg/tests/data/example"))
                .arg(tmp.join(format!("out-{name}"))),
            "segment_folder",
        );
        assert!(folder.contains("3 images"), "{folder}");
        assert!(tmp.join(format!("out-{name}/pred_2.png")).exists());
        let vol = run(
            Command::new(eb.join("segment_volume")).arg(tmp.join(format!("vol-{name}"))),
            "segment_volume",
        );
        assert!(vol.contains("12 slices"), "{vol}");
        let raw = std::fs::metadata(tmp.join(format!("vol-{name}/mask_volume.raw"))).unwrap();
        assert_eq!(raw.len(), 90 * 72 * 12);
    }

    // pkg-config, as a Makefile-based consumer would use it.
    let pc = run(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "multiverseg"])
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
        "pkg-config",
    );
    let exe = tmp.join("loop_pc");
    let mut cc = Command::new("cc");
    cc.arg("-o").arg(&exe).arg(src.join("examples/c/loop.c"));
    cc.args(pc.split_whitespace());
    cc.arg("-lm")
        .arg(format!("-Wl,-rpath,{}", p(&prefix.join("lib"))));
    run(&mut cc, "cc with pkg-config flags");
    run(&mut Command::new(&exe), "loop_c via pkg-config");
    std::fs::remove_dir_all(&tmp).ok();
}
