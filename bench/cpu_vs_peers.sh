#!/usr/bin/env bash
# Full-size MultiverSegNet on the CPU: mvs bench beside PyTorch and ONNX Runtime, same run.
# Usage: bench/cpu_vs_peers.sh DIR [PYTHON]   (DIR: mvs.pt, sp.pt from tools/reference.py --weights-only)
set -euo pipefail
DIR=${1:?usage: bench/cpu_vs_peers.sh DIR [PYTHON]}
PY=${2:-python3}
CTX=${CTX:-1,2,4,8,16}
RUNS=${RUNS:-3}
cargo build --release --bin mvs
[ -f "$DIR/model.safetensors" ] || ./target/release/mvs convert --multiverseg "$DIR/mvs.pt" --scribbleprompt "$DIR/sp.pt" -o "$DIR/model.safetensors"
[ -f "$DIR/mvs.onnx" ] || ./target/release/mvs export-onnx --model "$DIR/model.safetensors" --network multiverseg -o "$DIR/mvs.onnx"
[ -f "$DIR/sp.onnx" ] || ./target/release/mvs export-onnx --model "$DIR/model.safetensors" --network scribbleprompt -o "$DIR/sp.onnx"
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
./target/release/mvs bench --model "$DIR/model.safetensors" --backend cpu --network multiverseg --context "$CTX" --runs "$RUNS" --threads 2
./target/release/mvs bench --model "$DIR/model.safetensors" --backend cpu --network scribbleprompt --runs "$RUNS" --threads 2
"$PY" bench/peers.py --dir "$DIR" --context "$CTX" --runs "$RUNS" --threads 2
