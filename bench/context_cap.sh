#!/usr/bin/env bash
# Issue 11, item 3: clicks and model time with a capped context (cap 4/8, latest vs
# similar) against no cap, on every task folder under TASKS (mvs eval --all).
# Usage: bench/context_cap.sh TASKS OUT [MODEL]   (MODEL: a weights file or name; default: shipped)
# A cap binds only where the context grows past it: tasks with at most k+1 images give the
# no-cap result exactly, so TASKS may hold only the longer tasks.
set -euo pipefail
TASKS=${1:?usage: bench/context_cap.sh TASKS OUT [MODEL]}
OUT=${2:?usage: bench/context_cap.sh TASKS OUT [MODEL]}
MODEL=${3:+--model $3}
N=${N:-18}; SEEDS=${SEEDS:-1}; THREADS=${THREADS:-1}
cargo build --release --bin mvs
mkdir -p "$OUT"
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); n=$N seeds=$SEEDS threads=$THREADS"
for cfg in none 4:latest 4:similar 8:latest 8:similar; do
  args=()
  [ "$cfg" = none ] || args=(--context-cap "${cfg%%:*}" --select "${cfg##*:}")
  name=${cfg/:/_}
  # shellcheck disable=SC2086
  ./target/release/mvs eval $MODEL --backend cpu --threads "$THREADS" --all "$TASKS" --n "$N" \
    --seeds "$SEEDS" "${args[@]}" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
  echo "## context: $cfg"
  grep -E "total clicks|^wall" "$OUT/$name.log"
done
