#!/usr/bin/env bash
# The Rust tests of the core crate and the C ABI crate under AddressSanitizer (nightly).
# Not part of CI (a full instrumented rebuild takes ~20 minutes on 2 cores); run it after
# changes to unsafe code and record the result in the change's notes.
# Usage: scripts/asan.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
export RUSTFLAGS="-Zsanitizer=address -Cforce-frame-pointers=yes"
export RUSTDOCFLAGS="$RUSTFLAGS"
export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1"
# An explicit --target keeps build scripts and proc macros uninstrumented.
cargo +nightly test --release --target x86_64-unknown-linux-gnu --target-dir target/asan \
  -p multiverseg -p multiverseg-capi --lib --tests "$@"
