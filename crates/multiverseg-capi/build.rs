//! Gives the shared library an SONAME on Linux, so programs linked against an installed
//! libmultiverseg.so record the name rather than the build path (as cargo-c does).
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmultiverseg.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
