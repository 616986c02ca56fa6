#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 1800), one after the other, with the
# limits the reliability issue asks for (an allocation over 2 GiB or an RSS over 3 GiB is a
# failure, as is a 20 s input); logs go to fuzz/logs/<target>.log.
# Usage: fuzz/run_all.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-1800}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy context_file png_masks safetensors_weights pt_checkpoint session_capi)
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "regressions/$t"
  cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=262144 -rss_limit_mb=3072 -malloc_limit_mb=2048 \
    -timeout=20 -print_final_stats=1 -artifact_prefix="regressions/$t/" > "logs/$t.log" 2>&1 || true
done
