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
# The test venv and the wheel's dependencies (numpy, pytest, ray[data], Pillow: mostly
# downloads) are installed while maturin compiles, so the two overlap.
rm -rf target/py-test
"$py" -m venv target/py-test
target/py-test/bin/pip install -q "numpy>=1.21" "pytest>=7" "ray[data]>=2.9" "pillow>=9" \
  > target/py-test/pip.log 2>&1 &
pip_pid=$!
rm -rf target/wheels
target/py-build/bin/maturin build --release -m bindings/python/Cargo.toml --out target/wheels
wait "$pip_pid" || { cat target/py-test/pip.log; exit 1; }
# The wheel with its test and ray extras (already satisfied above).
wheel="$(ls target/wheels/multiverseg-*.whl)"
target/py-test/bin/pip install -q "$wheel[test,ray]"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$root/target/py-test/bin/python" -m pytest -q "$root/bindings/python/tests" "$@"
