//! The Java bindings: `mvn package` in bindings/java (compiles at Java 8 source level, runs
//! the JUnit 5 suites on the default model: the bindings' and the Fiji plugin's, headless;
//! bundles the native library in the jar and copies it as the Fiji plugin jar), then
//! compiles examples/java/StackLoop.java against the jar and runs it.
//! Needs a JDK and Maven: the `java` tier, ignored by a plain `cargo test`, run by
//! `scripts/test.sh java` (which installs them).

mod common;

use common::{build_native_libs, run};
use std::process::Command;

/// (tests run, failures, errors, skipped) from a surefire report line.
fn counts(report: &str) -> (u32, u32, u32, u32) {
    let line = report
        .lines()
        .find(|l| l.starts_with("Tests run:"))
        .unwrap_or_else(|| panic!("no summary in the surefire report:\n{report}"));
    let n: Vec<u32> = line
        .split(',')
        .take(4)
        .map(|p| {
            p.split(':')
                .nth(1)
                .unwrap()
                .trim()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    (n[0], n[1], n[2], n[3])
}

#[test]
#[ignore = "java tier: needs a JDK and Maven; run by scripts/test.sh java"]
fn maven_junit_suite_and_the_stack_example() {
    let root = common::repo();
    // The jar bundles target/<profile>/libmultiverseg.so: build it with this test's profile.
    let lib_dir = build_native_libs();

    let java = root.join("bindings/java");
    let mvn = run(
        Command::new("mvn")
            .args(["-B", "-q", "package"])
            .arg(format!("-Dnative.dir={}", lib_dir.display()))
            .current_dir(&java),
        "mvn package",
    );
    // Every test class must have run, none skipped: the bindings' suite and the Fiji
    // plugin's headless suite.
    for class in [
        "org.multiverseg.SessionTest",
        "org.multiverseg.fiji.SegmentStackTest",
    ] {
        let report =
            std::fs::read_to_string(java.join(format!("target/surefire-reports/{class}.txt")))
                .unwrap_or_else(|e| panic!("no surefire report for {class} ({e}):\n{mvn}"));
        let (run_, failures, errors, skipped) = counts(&report);
        assert!(
            run_ > 0 && failures == 0 && errors == 0 && skipped == 0,
            "{report}"
        );
    }
    // The Fiji plugin jar, under a name ImageJ 1.x scans for plugins.config (an underscore).
    let plugin = java.join(format!(
        "target/fiji/plugins/multiverseg_-{}.jar",
        env!("CARGO_PKG_VERSION")
    ));
    assert!(plugin.is_file(), "{} is missing", plugin.display());

    let tmp = std::env::temp_dir().join(format!("mvs-java-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let cp = format!(
        "{}:{}",
        java.join(format!(
            "target/multiverseg-{}.jar",
            env!("CARGO_PKG_VERSION")
        ))
        .display(),
        java.join("target/lib/jna-5.19.1.jar").display()
    );
    run(
        Command::new("javac")
            .args(["--release", "8", "-Xlint:-options", "-d"])
            .arg(&tmp)
            .args(["-cp", &cp])
            .arg(root.join("examples/java/StackLoop.java")),
        "javac StackLoop.java",
    );
    // The native library comes out of the jar (JNA unpacks it), not from a path.
    let out = run(
        Command::new("java").args(["-cp", &format!("{}:{cp}", tmp.display()), "StackLoop"]),
        "java StackLoop",
    );
    assert!(out.contains("8 slices"), "{out}");
    assert_eq!(out.matches("Dice").count(), 8, "{out}");
    std::fs::remove_dir_all(&tmp).ok();
}
