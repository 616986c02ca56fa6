#!/usr/bin/env bash
# Runs the test tiers. Usage: scripts/test.sh [--install] [TIER...]
#
# Tiers (all of them when none is named):
#   rust    cargo test --workspace --release: the pure-Rust tests (what plain `cargo test`
#           runs); needs only Rust.
#   lint    cargo fmt --check; cargo clippy -D warnings (missing docs included) on the MSRV
#           toolchain (Rust 1.91, installed with rustup when missing), which is also the
#           MSRV build.
#   gpu     the GPU backend on Mesa's software Vulkan (lavapipe).
#   c       the C API test plain, under valgrind and with AddressSanitizer/UBSan.
#   cpp     the CMake package, the C++ wrapper's GoogleTest suite, the C/C++ examples.
#   itk     the ITK filter (bindings/itk) against ITK 5, the ITK and VTK examples against
#           VTK 9, all built against the installed package.
#   java    the Maven/JUnit suite of the Java bindings and the Java example.
#   python  the wheel (maturin build), installed into a fresh venv, and its pytest suite
#           (scripts/test_python.sh); the self-tests of the model-decision scripts
#           (tools/eval/compare_runs.py, compare_curves.py, decide.sh's test_decide.sh)
#           and of the diagnosis script context_saving.py; standard library only.
#
# Each tier first checks the system packages it needs. Missing ones are installed with
# apt-get when --install is given (as root, Debian/Ubuntu); otherwise the script names
# them and fails. Tests outside the `rust` tier are #[ignore]d in plain `cargo test`
# (with the tier's name as the reason) and run here with --ignored.
#
# Every cargo command here selects the whole workspace (--workspace, then a test filter):
# cargo unifies features over the selected packages, so `-p multiverseg` or
# `cargo build -p multiverseg-capi` would build every dependency again with other features
# (about ten minutes each on two cores). One release build serves every tier.
set -euo pipefail
cd "$(dirname "$0")/.."

install=0
tiers=()
for a in "$@"; do
  case "$a" in
    --install) install=1 ;;
    rust|lint|gpu|c|cpp|itk|java|python) tiers+=("$a") ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "scripts/test.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
[ ${#tiers[@]} -gt 0 ] || tiers=(lint rust gpu c cpp itk java python)

command -v cargo >/dev/null || { echo "scripts/test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
# Mesa's WSI complains on every device open without it; nothing here needs a display.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
MSRV=1.91

# need PACKAGE TEST...: PACKAGE is missing when any TEST fails.
missing=()
need() {
  local pkg="$1"; shift
  for t in "$@"; do
    if ! eval "$t" >/dev/null 2>&1; then missing+=("$pkg"); return; fi
  done
}

packages_for() {
  case "$1" in
    gpu) need mesa-vulkan-drivers 'ls /usr/share/vulkan/icd.d/lvp_icd.*.json' ;;
    c)
      # the C test also loads MVS_BACKEND_GPU (not under valgrind)
      need mesa-vulkan-drivers 'ls /usr/share/vulkan/icd.d/lvp_icd.*.json'
      need gcc 'command -v cc'
      need libc6-dev 'test -f /usr/include/stdio.h'
      need valgrind 'command -v valgrind'
      ;;
    cpp)
      need g++ 'command -v c++'
      need cmake 'command -v cmake'
      need pkg-config 'command -v pkg-config'
      need libpng-dev 'test -f /usr/include/png.h'
      need libgtest-dev 'test -d /usr/include/gtest'
      ;;
    itk)
      need g++ 'command -v c++'
      need cmake 'command -v cmake'
      need libinsighttoolkit5-dev 'test -d /usr/include/ITK-5.2'
      need libvtk9-dev 'test -f /usr/include/vtk-9.1/vtkImageData.h'
      ;;
    python)
      need python3 'command -v python3'
      need python3-venv 'python3 -c "import ensurepip, venv"'
      ;;
    java)
      need default-jdk-headless 'command -v javac'
      need maven 'command -v mvn'
      ;;
  esac
}

for t in "${tiers[@]}"; do packages_for "$t"; done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$install" = 1 ]; then
    echo "scripts/test.sh: installing ${missing[*]}"
    # ITK and VTK without their recommends (Qt, MPI, documentation...): about 40 fewer
    # packages, none of which the itk tier needs.
    norec=() rest=()
    for p in "${missing[@]}"; do
      case "$p" in libinsighttoolkit5-dev|libvtk9-dev) norec+=("$p") ;; *) rest+=("$p") ;; esac
    done
    apt-get update -qq
    [ ${#rest[@]} -eq 0 ] || apt-get install -y -qq "${rest[@]}"
    [ ${#norec[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${norec[@]}"
  else
    echo "scripts/test.sh: missing system packages for tiers ${tiers[*]}: ${missing[*]}" >&2
    echo "  install them (apt-get install ${missing[*]}) or rerun with --install as root" >&2
    exit 1
  fi
fi

# Every command and tier prints its wall time, so a slow CI run says where the time went.
run() {
  local t0=$SECONDS
  echo "==> $*"
  "$@"
  echo "<== $(( SECONDS - t0 )) s: $*"
}
times=()

for t in "${tiers[@]}"; do
  echo "=== tier $t"
  tier_t0=$SECONDS
  case "$t" in
    rust) run cargo test --workspace --release ;;
    lint)
      rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || run rustup component add rustfmt
      run cargo fmt --all --check
      run cargo fmt --manifest-path bindings/python/Cargo.toml --check
      # Clippy on the MSRV toolchain: one check build is both the MSRV build and the lint
      # (a stable clippy beside a separate MSRV check built every crate twice), and pinned
      # lints do not change under us when stable moves. Its own target dir: another rustc.
      rustup toolchain list | grep -q "^$MSRV" || run rustup toolchain install "$MSRV" --profile minimal
      rustup component list --toolchain "$MSRV" --installed 2>/dev/null | grep -q '^clippy' \
        || run rustup component add clippy --toolchain "$MSRV"
      # Dependencies at opt-level 0 here: a check build generates no code, but the dev
      # profile's opt-level 3 for dependencies (for `cargo run`) applies to the proc-macros and
      # build scripts it compiles and runs.
      lint=(--target-dir target/msrv --config 'profile.dev.package."*".opt-level=0')
      run cargo "+$MSRV" clippy --workspace --all-targets "${lint[@]}" -- -D warnings
      # The Python extension is a workspace of its own (see its Cargo.toml); with the same
      # profiles it reuses most of the check artifacts above (not syn and what derives with
      # it: pyo3's macros enable more of its features).
      run cargo "+$MSRV" clippy --manifest-path bindings/python/Cargo.toml "${lint[@]}" -- -D warnings
      ;;
    gpu)
      run cargo test --release --workspace --lib -- --ignored gpu::
      run cargo test --release --workspace --test gpu -- --ignored
      ;;
    c) run cargo test --release --workspace --test c_api -- --ignored ;;
    cpp) run cargo test --release --workspace --test cpp_package -- --ignored ;;
    itk) run cargo test --release --workspace --test itk_vtk -- --ignored ;;
    java) run cargo test --release --workspace --test java_bindings -- --ignored ;;
    python)
      run scripts/test_python.sh
      run python3 tools/eval/compare_runs.py --selftest
      run python3 tools/eval/compare_curves.py --selftest
      run python3 tools/eval/context_saving.py --selftest
      run python3 tools/eval/saving_interval.py --selftest
      run tools/eval/test_decide.sh
      ;;
  esac
  times+=("$t $(( SECONDS - tier_t0 )) s")
done
echo "scripts/test.sh: tiers ${tiers[*]} passed in $SECONDS s (${times[*]/%/;})"
