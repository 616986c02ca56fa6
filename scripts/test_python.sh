#!/usr/bin/env bash
# The python tier: builds the wheel with maturin (in a build venv), installs it into a
# fresh virtual environment (the way a user installs it; no `maturin develop`) and runs the
# pytest suite of bindings/python/tests from outside the source tree.
# Usage: scripts/test_python.sh [PYTEST ARGS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
# Shares target/ with the workspace, so the core's release artifacts are reused.
export CARGO_TARGET_DIR="$root/target"
if [ ! -x target/py-build/bin/maturin ]; then
  "$py" -m venv target/py-build
  target/py-build/bin/pip install -q "maturin>=1.16,<2"
fi
rm -rf target/wheels
target/py-build/bin/maturin build --release -m bindings/python/Cargo.toml --out target/wheels
rm -rf target/py-test
"$py" -m venv target/py-test
# The wheel with its test and ray extras (pytest; ray[data] and Pillow for the Ray example).
wheel="$(ls target/wheels/multiverseg-*.whl)"
target/py-test/bin/pip install -q "$wheel[test,ray]"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$root/target/py-test/bin/python" -m pytest -q "$root/bindings/python/tests" "$@"
