#!/usr/bin/env bash
# Issue 15's table: latency per click (median, p90), the first prediction after a context
# change, and peak resident memory, for S in {0 (the UNet), 1, 2, 4, 8, 16, 32, 64}, CPU
# with 1 and 2 threads; the default model and the full-size network (nf=256, UNet nf=192);
# PyTorch CPU and ONNX Runtime beside the full-size rows, in the same run; lavapipe rows
# for correctness only. One process per (configuration, S), so each peak is its own.
# Usage: bench/latency_table.sh FULLDIR [PYTHON]
#   FULLDIR: mvs.pt and sp.pt of the full-size network (tools/reference.py --nf 256
#   --unet-nf 192 --weights-only); converted and exported here when missing.
#   PYTHON: with torch and onnxruntime (for the peers); PEERS=0 leaves them out.
# Environment: SIZES (default "0 1 2 4 8 16 32 64"), THREADS ("1 2"), RUNS (5), MODELS
# ("default full"), GPU=0 to skip the lavapipe rows, CONVS (the CPU's --cpu-conv values,
# default "winograd4x4"; "winograd4x4 winograd2x2" adds rows for the exact option). Prints a markdown table; raw lines go
# to target/latency-table/raw.txt. Not a test: it takes tens of minutes on two cores.
set -euo pipefail
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
FULL=${1:?usage: bench/latency_table.sh FULLDIR [PYTHON]}
PY=${2:-python3}
SIZES=${SIZES:-0 1 2 4 8 16 32 64}
THREADS=${THREADS:-1 2}
RUNS=${RUNS:-5}
MODELS=${MODELS:-default full}
CONVS=${CONVS:-winograd4x4}
MVS=./target/release/mvs
OUTDIR=target/latency-table
mkdir -p "$OUTDIR"
RAW=$OUTDIR/raw.txt
: > "$RAW"
cargo build --release --bin mvs >&2
if [[ " $MODELS " == *" full "* ]]; then
  [ -f "$FULL/model.safetensors" ] || $MVS convert --multiverseg "$FULL/mvs.pt" --scribbleprompt "$FULL/sp.pt" -o "$FULL/model.safetensors" >&2
  [ -f "$FULL/mvs.onnx" ] || $MVS export-onnx --model "$FULL/model.safetensors" --network multiverseg -o "$FULL/mvs.onnx" >&2
  [ -f "$FULL/sp.onnx" ] || $MVS export-onnx --model "$FULL/model.safetensors" --network scribbleprompt -o "$FULL/sp.onnx" >&2
fi
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<< "$2"; }
row() { # model engine threads S line
  echo "$1|$2|$3|$4|$(field median_ms "$5")|$(field p90_ms "$5")|$(field first_ms "$5")|$(field peak_rss_mib "$5")" >> "$RAW"
}
for model in $MODELS; do
  margs=()
  [ "$model" = full ] && margs=(--model "$FULL/model.safetensors")
  for t in $THREADS; do
    for s in $SIZES; do
      if [ "$s" = 0 ]; then net=(--network scribbleprompt); else net=(--network multiverseg --context "$s"); fi
      for conv in $CONVS; do
        line=$($MVS bench "${margs[@]}" --backend cpu --cpu-conv "$conv" --threads "$t" "${net[@]}" --runs "$RUNS" | tail -1)
        echo "$line" >&2
        label="mvs cpu"
        [ "$conv" = winograd4x4 ] || label="mvs cpu ($conv)"
        row "$model" "$label" "$t" "$s" "$line"
      done
      if [ "$model" = full ] && [ "${PEERS:-1}" = 1 ]; then
        for peer in pytorch onnxruntime; do
          if [ "$s" = 0 ]; then pargs=(--context ""); else pargs=(--context "$s" --no-unet); fi
          line=$("$PY" bench/peers.py --dir "$FULL" "${pargs[@]}" --runs "$RUNS" --threads "$t" --peer "$peer" | tail -1)
          echo "$line" >&2
          row "$model" "$peer" "$t" "$s" "$line"
        done
      fi
    done
  done
  if [ "${GPU:-1}" = 1 ]; then
    for s in 0 1 8; do
      if [ "$s" = 0 ]; then net=(--network scribbleprompt); else net=(--network multiverseg --context "$s"); fi
      if line=$($MVS bench "${margs[@]}" --backend gpu "${net[@]}" --runs 2 2>/dev/null | tail -1); then
        echo "$line" >&2
        row "$model" "$(sed -n 's/^backend=\([^ ]*\).*/\1/p' <<< "$line" | cut -c1-40) (correctness only if software)" - "$s" "$line"
      fi
    done
  fi
done
echo "# $(date -u +%F) $(nproc) cores:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); runs $RUNS"
echo
echo "| model | engine | threads | S | median ms | p90 ms | first ms | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$RAW"
