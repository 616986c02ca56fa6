//! include/multiverseg.h must be what cbindgen generates from the sources, with the version
//! macros of this crate's (the workspace's) version. Regenerate with
//! `MVS_BLESS=1 cargo test -p multiverseg-capi --test header`.

use std::path::Path;

/// The header as cbindgen writes it now.
fn generate() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    config.after_includes = Some(format!(
        "\n#define MVS_VERSION_MAJOR {}\n#define MVS_VERSION_MINOR {}\n#define MVS_VERSION_PATCH {}\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH")
    ));
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut out);
    out
}

#[test]
fn header_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/multiverseg.h");
    let out = generate();
    if std::env::var_os("MVS_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == out,
        "include/multiverseg.h is stale: run `MVS_BLESS=1 cargo test -p multiverseg-capi --test header` and commit it"
    );
}
