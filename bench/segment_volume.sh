#!/usr/bin/env bash
# Issue 11's throughput benchmark: slices per second of `mvs segment` on a 128-slice stack
# with the default model, context S = 8 and 16; predict_batch against a loop of single
# predictions (mvs bench --batch); the GPU path on lavapipe for correctness only (its
# masks against the CPU's), unless a real adapter is present.
# Usage: bench/segment_volume.sh [PYTHON]   (PYTHON with numpy and pillow)
# Writes into target/bench-volume/. Not a test: run it on an idle machine.
set -euo pipefail
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"  # Mesa's WSI warns without it
PY=${1:-python3}
THREADS=${THREADS:-2}
DIR=target/bench-volume
MVS=./target/release/mvs
cargo build --release --bin mvs
mkdir -p "$DIR"
# A synthetic volume: a bright ellipsoid in textured background, 128 slices of 192x160
# (resized to 128x128 by the library, as real slices are); its true masks give the context.
"$PY" - "$DIR" <<'PY'
import sys, numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(0)
n, h, w = 128, 160, 192
z, y, x = np.meshgrid(np.arange(n), np.arange(h), np.arange(w), indexing="ij")
inside = ((x - 96) / 60.0) ** 2 + ((y - 80) / 45.0) ** 2 + ((z - 64) / 70.0) ** 2 < 1
vol = 400 + 300 * inside + rng.normal(0, 60, inside.shape)
vol = np.clip(vol, 0, 65535).astype(np.uint16)
Image.fromarray(vol[0]).save(f"{d}/volume.tif", save_all=True,
    append_images=[Image.fromarray(s) for s in vol[1:]])
# Every 8th slice: the GPU check (lavapipe takes seconds per slice).
Image.fromarray(vol[0]).save(f"{d}/volume16.tif", save_all=True,
    append_images=[Image.fromarray(s) for s in vol[8::8]])
import os
os.makedirs(f"{d}/context", exist_ok=True)
for k, i in enumerate(range(4, 128, 8)):   # 16 slices across the volume
    Image.fromarray(vol[i]).save(f"{d}/context/image_{k}.png")
    Image.fromarray((inside[i] * 255).astype(np.uint8)).save(f"{d}/context/mask_{k}.png")
PY
echo "# $(date -u +%F) $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), threads $THREADS"
for S in 8 16; do
  rm -rf "$DIR/ctx$S"; mkdir -p "$DIR/ctx$S"
  for k in $(seq 0 $((S - 1))); do
    j=$((k * 16 / S))
    cp "$DIR/context/image_$j.png" "$DIR/ctx$S/image_$k.png"
    cp "$DIR/context/mask_$j.png" "$DIR/ctx$S/mask_$k.png"
  done
  echo "## mvs segment, S=$S, CPU"
  $MVS segment "$DIR/volume.tif" --out "$DIR/cpu_s$S.tif" --context-dir "$DIR/ctx$S" --backend cpu --threads "$THREADS"
done
echo "## predict_batch vs a loop of single predictions (random 128x128 images)"
$MVS bench --backend cpu --threads "$THREADS" --batch 128 --context 8,16
echo "## GPU path (lavapipe: correctness only), S=8, 16 slices (every 8th)"
$MVS segment "$DIR/volume16.tif" --out "$DIR/cpu16_s8.tif" --context-dir "$DIR/ctx8" --backend cpu --threads "$THREADS"
if $MVS segment "$DIR/volume16.tif" --out "$DIR/gpu16_s8.tif" --context-dir "$DIR/ctx8" --backend gpu --threads "$THREADS"; then
  "$PY" - "$DIR" <<'PY'
import sys, numpy as np
from PIL import Image, ImageSequence
d = sys.argv[1]
a = np.stack([np.array(p) for p in ImageSequence.Iterator(Image.open(f"{d}/cpu16_s8.tif"))])
b = np.stack([np.array(p) for p in ImageSequence.Iterator(Image.open(f"{d}/gpu16_s8.tif"))])
print(f"GPU vs CPU masks: {int((a != b).sum())} of {a.size} voxels differ")
PY
else
  echo "no GPU adapter"
fi
