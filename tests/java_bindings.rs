//! The Java bindings: `mvn package` in bindings/java (compiles at Java 8 source level, runs
//! the JUnit 5 suite on the default model, bundles the native library in the jar), then
//! compiles examples/java/StackLoop.java against the jar and runs it.
//! Needs a JDK and Maven (.ci/run installs them).

mod common;

use common::{build_native_libs, run};
use std::path::PathBuf;
use std::process::Command;

#[test]
fn maven_junit_suite_and_the_stack_example() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
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
    let report = std::fs::read_to_string(
        java.join("target/surefire-reports/org.multiverseg.SessionTest.txt"),
    )
    .unwrap_or_else(|e| panic!("no surefire report ({e}):\n{mvn}"));
    assert!(
        report.contains("Tests run: 5, Failures: 0, Errors: 0, Skipped: 0"),
        "{report}"
    );

    let tmp = std::env::temp_dir().join(format!("mvs-java-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let cp = format!(
        "{}:{}",
        java.join("target/multiverseg-0.1.0.jar").display(),
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
