//! One version for everything: the workspace's (Cargo) must equal CMake's project version,
//! the Java artifact's, the header's version macros and the Python package's.

use std::path::Path;

fn read(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text after `key` up to the first of `end`.
fn after<'a>(s: &'a str, key: &str, end: char) -> &'a str {
    let i = s.find(key).unwrap_or_else(|| panic!("{key} not found")) + key.len();
    s[i..].trim_start().split(end).next().unwrap().trim()
}

#[test]
fn every_manifest_has_the_workspace_version() {
    let v = env!("CARGO_PKG_VERSION");
    let cmake = read("CMakeLists.txt");
    assert_eq!(
        after(&cmake, "project(MultiverSeg VERSION", ' '),
        v,
        "CMakeLists.txt"
    );
    let pom = read("bindings/java/pom.xml");
    let artifact = &pom[pom.find("<artifactId>multiverseg</artifactId>").unwrap()..];
    assert_eq!(
        after(artifact, "<version>", '<'),
        v,
        "bindings/java/pom.xml"
    );
    let h = read("crates/multiverseg-capi/include/multiverseg.h");
    let macros = format!(
        "{}.{}.{}",
        after(&h, "#define MVS_VERSION_MAJOR", '\n'),
        after(&h, "#define MVS_VERSION_MINOR", '\n'),
        after(&h, "#define MVS_VERSION_PATCH", '\n')
    );
    assert_eq!(macros, v, "the header's version macros");
    // The wheel's version is its Cargo package's (pyproject.toml: dynamic = ["version"]).
    let py = read("bindings/python/Cargo.toml");
    assert_eq!(
        after(&py, "version =", '\n').trim_matches('"'),
        v,
        "bindings/python/Cargo.toml"
    );
    assert!(
        read("bindings/python/pyproject.toml").contains("dynamic = [\"version\"]"),
        "bindings/python/pyproject.toml takes its version from Cargo"
    );
}

/// The `[profile.*]` sections of a Cargo.toml, comments and blank lines dropped.
fn profiles(toml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in toml.lines().map(|l| l.split('#').next().unwrap().trim()) {
        if line.starts_with('[') {
            inside = line.starts_with("[profile.");
        }
        if inside && !line.is_empty() {
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn the_python_extension_has_the_workspace_profiles() {
    // bindings/python is a workspace of its own and shares target/ with the root one
    // (scripts/test_python.sh, the lint tier's clippy): with another profile its wheel or
    // its clippy would compile tract, wgpu and the rest a second time (the dev profile's
    // mismatch cost the lint tier 191 s on a clean clone).
    let root = profiles(&read("Cargo.toml"));
    assert!(
        root.iter()
            .any(|l| l == "[profile.release.package.tract-core]"),
        "{root:?}"
    );
    assert_eq!(profiles(&read("bindings/python/Cargo.toml")), root);
}
