//! include/multiverseg.h must be what cbindgen generates from the sources.
//! Regenerate with `MVS_BLESS=1 cargo test --test header`.

use std::path::Path;

#[test]
fn header_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen failed")
        .write(&mut out);
    let path = root.join("include/multiverseg.h");
    if std::env::var_os("MVS_BLESS").is_some() {
        std::fs::write(&path, &out).unwrap();
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == out,
        "include/multiverseg.h is stale: run `MVS_BLESS=1 cargo test --test header` and commit it"
    );
}
