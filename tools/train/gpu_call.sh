#!/usr/bin/env bash
# One prepared device call for issue 14: widen the committed ScribblePrompt-UNet and train it
# on one GPU, so that a session lent a device spends its minutes training, not preparing.
#
# Why the UNet, and why wider: on this project's 2-core CPU every nf-32 UNet run since
# version 4 ends at the same held-out numbers, and widening to nf 48 for 85 CPU minutes (468
# iterations) did not help (weights/MODEL_HISTORY.md, "A wider UNet"); thousands of iterations
# of a wider UNet need a GPU.
#
# Here, once per session, make the copy that travels (the links in .traindata point into
# ../shared, which does not travel to the device machine; the tracked tree is ~27 MB and a
# device call carries at most 64 MiB, so the copy is downscaled to a longest side of 256 px,
# the resolution the training's real-task source resamples every image to anyway (2 x
# --size); images Lanczos, masks nearest; 12 MB for the nine training tasks):
#     PYTHON=python-with-PIL tools/train/gpu_call.sh prepare   (writes .traindata_carry, gitignored)
# Checked against the full-size tasks at the training's 256 x 256 (2026-12-04, data.RealSource
# on both folders): mean absolute image difference 0.000-0.011 (of 1), mask pixels that differ
# after the > 0.5 threshold 0-0.9%, 1.9% on the thin CHASE_DB1 vessels.
# Then the device tool's run, from the repository root, with carry [".traindata_carry"]:
#     OUT=$OUT MINUTES=7 tools/train/gpu_call.sh
# Back here: `mvs convert --multiverseg FILES/train/mvs.pt --scribbleprompt
# FILES/train/sp_ema.pt -o M.safetensors` (the weight average, the candidate fixed before the
# call, as for versions 8 and 9; version 8's run's last weights failed the Fiji test), then
# the UNet rule of tools/eval/README.md and the Fiji test: `HELDOUT=DIR tools/eval/decide.sh
# unet M.safetensors OUT`; keep FILES/train/train_state.pt for a later --resume (with
# --ema-sp, so that the average goes on).
#
# NET=mvs trains MultiverSegNet instead (the UNet stays the shipped one, no widening), from the
# committed state with the CPU long-interaction recipe (weights/MODEL_HISTORY.md: `--crop 64,128
# --extra-steps 17 --short-frac 0.5 --center-frac 0.8 --mix synth:0.45,superpixel:0.2,real:0.35`)
# at a GPU batch (BATCH, default 32, the CPU's 8 x 4), half the CPU's learning rate (5e-5) and a
# weight average (`--ema-mvs 0.99`). Why: every CPU MultiverSegNet run of 280-400 iterations at
# batch 8 and lr 1e-4 lost held-out clicks, and only a device can try a larger batch. Back here:
# `mvs convert --multiverseg FILES/train/mvs_ema.pt --scribbleprompt FILES/train/sp.pt -o
# M.safetensors` (sp.pt is the state's UNet, written unchanged at the final save), then the
# MultiverSegNet rule of tools/eval/README.md (held-out six tasks, then the 12-task veto):
# `HELDOUT=DIR EVALTASKS=DIR tools/eval/decide.sh mvs M.safetensors OUT`.
# Dry run (2026-12-06, this project's 2-core VM beside an evaluation: `NET=mvs DEVICE=cpu
# MINUTES=4 BATCH=2 DATA=.traindata`): setup 151 s, 14 iterations, mvs.pt, mvs_ema.pt, sp.pt and
# train_state.pt (20 MB) written; `mvs convert` of mvs_ema.pt + sp.pt gave version 10's UNet
# tensors unchanged and 68 of 72 MultiverSegNet tensors moved.
#
# Both modes pass --seed to a resumed run, which since 2026-12-06 seeds its task stream from
# (seed, step); the dry runs of 2026-12-04/05 drew the committed state's saved stream instead.
#
# Environment: OUT (required; what is written under it comes back), NET (sp, the default, or
# mvs), BATCH (MultiverSegNet tasks per iteration with NET=mvs, default 32), NF (UNet width after
# widening, default 64; 32 skips widening), MINUTES (train.py's wall time, default 7, setup and
# saving included), DATA (default .traindata_carry), DEVICE (default cuda; `DEVICE=cpu
# MINUTES=4 UNET_BATCH=8` is the dry run on a machine without a GPU: with less time the
# setup leaves no iterations), PYTHON
# (default python3), UNET_BATCH (default 128).
#
# Dry run on this project's 2-core VM (2026-12-05, version 9's state, the same command): the
# widening of the state's average to nf 64, 16 iterations, the saves (sp.pt, sp_ema.pt,
# train_state.pt 21 MB) and `mvs convert` worked, setup 141 s of the 4 minutes.
# Earlier dry run (2026-12-04, `DEVICE=cpu MINUTES=4 UNET_BATCH=8
# PYTHON=/work/venv/bin/python`): the widening, 10 iterations, the saves and `mvs convert` of
# the nf-64 result worked; setup (superpixel segmentation, single-threaded) took 155 s of the
# MINUTES, so on the device expect a minute or two of each call to go to setup.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${1:-}" = prepare ]; then
    rm -rf .traindata_carry
    "${PYTHON:-python3}" - <<'PY'
import os, sys
from PIL import Image
sys.path.insert(0, "tools/train")
from prepare_extra_data import target_size
src, dst, side = ".traindata", ".traindata_carry", 256
for task in sorted(os.listdir(src)):
    for sub, resample in (("images", Image.LANCZOS), ("masks", Image.NEAREST)):
        d = os.path.join(src, task, sub)
        if not os.path.isdir(d):
            continue
        os.makedirs(os.path.join(dst, task, sub), exist_ok=True)
        for name in sorted(os.listdir(d)):
            with Image.open(os.path.join(d, name)) as im:
                im = im.convert("L")
                size = target_size(im.width, im.height, side)
                if size != im.size:
                    im = im.resize(size, resample)
                im.save(os.path.join(dst, task, sub, os.path.splitext(name)[0] + ".png"))
    print(task, len(os.listdir(os.path.join(dst, task, "images"))), "images")
PY
    du -sh .traindata_carry
    exit 0
fi
: "${OUT:?set OUT to the folder whose files come back}"
NF=${NF:-64}
MINUTES=${MINUTES:-7}
DATA=${DATA:-.traindata_carry}
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
UNET_BATCH=${UNET_BATCH:-128}
[ -d "$DATA" ] || { echo "gpu_call.sh: no task folder $DATA (run: tools/train/gpu_call.sh prepare)" >&2; exit 2; }
mkdir -p "$OUT/train"
STATE=weights/training/train_state.pt
if [ "${NET:-sp}" = mvs ]; then
    PYTHONUNBUFFERED=1 "$PY" tools/train/train.py --device "$DEVICE" --resume "$STATE" \
        --data "$DATA" --train mvs --batch "${BATCH:-32}" --crop 64,128 --extra-steps 17 \
        --short-frac 0.5 --center-frac 0.8 --lr 5e-5 --warmup 0 --decay-frac 0.3 \
        --mix synth:0.45,superpixel:0.2,real:0.35 --ema-mvs 0.99 --seed 300 --minutes "$MINUTES" \
        --save-minutes 2 --out "$OUT/train" 2>&1 | tee "$OUT/train.log"
    rm -f "$OUT/train/superpixel_cache.pt"
    ls -l "$OUT/train"
    exit 0
fi
[ "${NET:-sp}" = sp ] || { echo "gpu_call.sh: NET=${NET} (want sp or mvs)" >&2; exit 2; }
if [ "$NF" != 32 ]; then
    "$PY" tools/train/widen_unet.py --state "$STATE" --nf "$NF" --out "$OUT/wide_state.pt"
    STATE="$OUT/wide_state.pt"
fi
# Version 7's UNet recipe (weights/MODEL_HISTORY.md, Training: version 6's with longer
# interactions, up to 17 extra steps in half of the iterations) with a GPU batch, the decay
# over the last 40%, and the weight average of versions 8 and 9 (`--ema-sp 0.99`, started from
# the widened weights). No warm-up: train.py's --warmup counts the shared iteration counter,
# which a resumed state passed long ago (the `--warmup 50` this call had until 2026-12-05 did
# nothing); Adam's bias correction keeps the fresh moments' first steps at the learning rate.
PYTHONUNBUFFERED=1 "$PY" tools/train/train.py --device "$DEVICE" --resume "$STATE" \
    --data "$DATA" --train sp --unet-batch "$UNET_BATCH" --batch 12 --center-frac 0.5 \
    --extra-steps 17 --short-frac 0.5 --unet-lr 1e-4 --warmup 0 --decay-frac 0.4 \
    --mix synth:0.5,superpixel:0.2,real:0.3 --ema-sp 0.99 --seed 200 --minutes "$MINUTES" \
    --save-minutes 2 --out "$OUT/train" 2>&1 | tee "$OUT/train.log"
# The superpixel cache is large and is rebuilt by every run; it need not come back.
rm -f "$OUT/train/superpixel_cache.pt" "$OUT/wide_state.pt"
ls -l "$OUT/train"
