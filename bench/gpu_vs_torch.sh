#!/usr/bin/env bash
# Full-size MultiverSegNet on a real GPU: the wgpu backend (mvs bench --backend gpu, the
# conv kernel alone, peak memory) beside PyTorch CUDA (TF32 on and off), same run, plus the
# wgpu logits against f64. Meant for one call on the device machine (see BENCHMARKS.md):
#   bench/gpu_vs_torch.sh OUTDIR   with target/release/mvs built here and carried.
set -uo pipefail
OUT=${1:?usage: bench/gpu_vs_torch.sh OUTDIR}
MVS=${MVS:-./target/release/mvs}
PY=${PY:-python3}
CTX=${CTX:-1,8,16,64}
RUNS=${RUNS:-10}
D=$(mktemp -d)
mkdir -p "$OUT"
{
echo "# $(date -u +%F) $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"
$PY tools/reference.py --weights-only --nf 256 --unet-nf 192 --out "$D" >/dev/null
$MVS convert --multiverseg "$D/mvs.pt" --scribbleprompt "$D/sp.pt" -o "$D/model.safetensors" | head -1
# Peak device memory of the wgpu path: nvidia-smi sampled while S=64 runs, minus idle.
idle=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > "$D/mem.log" &
smi=$!
$MVS bench --model "$D/model.safetensors" --backend gpu --network multiverseg --context 64 --runs 3
kill $smi
echo "wgpu S=64 peak_mib=$(( $(sort -n "$D/mem.log" | tail -1) - idle )) (nvidia-smi, idle ${idle} MiB subtracted)"
$MVS bench --model "$D/model.safetensors" --backend gpu --network multiverseg --context "$CTX" --runs "$RUNS"
$MVS bench --model "$D/model.safetensors" --backend gpu --network scribbleprompt --context 0 --runs "$RUNS"
for tile in 8x8 4x4 8x4 4x8; do
  MVS_GPU_CONV_TILE=$tile $MVS bench --model "$D/model.safetensors" --conv-kernel 8,256,256 --size 128 --runs 2
done
$PY bench/gpu_peers.py --dir "$D" --context "$CTX" --runs "$RUNS" --dump 8
$MVS infer --model "$D/model.safetensors" --backend gpu --network multiverseg \
  --target "$D/acc_target.npy" --context-images "$D/acc_ci.npy" --context-labels "$D/acc_cl.npy" --out "$D/acc_wgpu.npy"
$PY -c "
import numpy as np
g = np.load('$D/acc_wgpu.npy').astype(np.float64); r = np.load('$D/acc_f64.npy')
print(f'wgpu S=8 max_abs_err_vs_f64={np.abs(g - r).max():.3e} max_abs_logit={np.abs(r).max():.2f}')"
} 2>&1 | tee "$OUT/gpu_bench.txt"
