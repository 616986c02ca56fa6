#!/usr/bin/env bash
# CPU smoke test of the training tool: the model check, a 90 s tiny training run,
# then a resumed 30 s run that must continue the step counter, two more resumes of the
# first run's state (another --seed must draw other tasks, the same --seed the same),
# a UNet-only run, and a check of the written checkpoints against tools/reference.py.
#   tools/train/smoke.sh [OUT_DIR]      (env: PYTHON, DATA=folder of task folders)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
OUT=${1:-$(mktemp -d /tmp/mvs_train_smoke.XXXXXX)}
DATA_ARGS=()
if [ -n "${DATA:-}" ]; then DATA_ARGS=(--data "$DATA"); fi
TINY=(--device cpu --threads 1 --nf 8 --unet-nf 8 --size 64 --batch 2 --unet-batch 8 --max-context 4 --log-every 5)

# check_average NET: OUT/NET_ema.pt (a weight average, --ema-sp / --ema-mvs) has NET.pt's
# tensor names, the state keeps it as NET_ema, and it differs both from the last weights
# NET.pt and from the weights the run started from (OUT/NET_start.pt: an average never
# updated would still equal them)
check_average() {
    $PY -c "
import torch, sys
out, net = sys.argv[1:3]
a = torch.load(f'{out}/{net}_ema.pt')['model']; b = torch.load(f'{out}/{net}.pt')['model']
c = torch.load(f'{out}/{net}_start.pt')['model']
s = torch.load(f'{out}/train_state.pt', weights_only=False)
assert a.keys() == b.keys() and f'{net}_ema' in s, f'{net}_ema.pt or the state entry missing'
assert any((a[k] - b[k]).abs().max() > 0 for k in a), 'the average equals the last weights'
assert any((a[k] - c[k]).abs().max() > 0 for k in a), 'the average was never updated'
" "$OUT" "$1"
}

# the step and the two losses of a log's first progress row (not its times or rates); a log
# without one fails here, with its name, rather than ending the script under set -e
first_row() {
    local r
    r=$(grep -m1 -E '^step +[0-9]+' "$1" | cut -d'|' -f1,5,6 || true)
    [ -n "$r" ] || { echo "FAIL: $1 has no progress row" >&2; return 1; }
    echo "$r"
}

echo "== selftest"
$PY tools/train/selftest.py

echo "== model check"
$PY tools/train/check_model.py

# 1.5 min: --minutes counts setup, and with DATA the first run's setup (building the
# superpixel cache) alone took about 40 s on a 2-core machine, which left a 0.5 min run
# no iteration to test
echo "== run 1 (1.5 min) -> $OUT"
$PY tools/train/train.py --out "$OUT" --minutes 1.5 "${TINY[@]}" "${DATA_ARGS[@]}"
step1=$($PY -c "import torch,sys; print(torch.load(sys.argv[1], weights_only=False)['step'])" "$OUT/train_state.pt")
echo "run 1 ended at step $step1"
[ "$step1" -gt 0 ] || { echo "FAIL: run 1 trained no iteration (its setup took the whole budget)"; exit 1; }
for d in seed7 seed8; do  # copies of run 1's state (and superpixel cache) for the seed check
    mkdir -p "$OUT/$d"; cp "$OUT/train_state.pt" "$OUT/$d/"
    # a hard link where possible: the cache is only read once it exists (85 MB with DATA)
    if [ -f "$OUT/superpixel_cache.pt" ]; then
        ln "$OUT/superpixel_cache.pt" "$OUT/$d/" 2>/dev/null || cp "$OUT/superpixel_cache.pt" "$OUT/$d/"
    fi
done

echo "== run 2 (0.5 min, resumed)"
cp "$OUT/mvs.pt" "$OUT/mvs_start.pt"
# --decay-frac 0: no time-dependent learning rate, so that the first logged row of a resume
# depends on the state and --seed only (the seed check below)
RUN2=(--minutes 0.5 "${TINY[@]}" "${DATA_ARGS[@]}" --decay-frac 0 --center-frac 0.5 --extra-steps 2
      --context-label-noise 0.5 --crop 32,64 --context-from-unet 0.5 --context-unet-clicks 3 --ema-mvs 0.9)
$PY tools/train/train.py --out "$OUT" --resume "$OUT/train_state.pt" "${RUN2[@]}" --seed 7 | tee "$OUT/run2.log"
step2=$($PY -c "import torch,sys; print(torch.load(sys.argv[1], weights_only=False)['step'])" "$OUT/train_state.pt")
echo "run 2 ended at step $step2"
grep -q "resumed from .*: step $step1, .*seeded from --seed 7 and step $step1" "$OUT/run2.log" ||
    { echo "FAIL: run 2 did not resume at step $step1 with streams from --seed 7"; exit 1; }
first2=$(first_row "$OUT/run2.log" | awk '{print $2}')
if [ "$step2" -le "$step1" ] || [ "$first2" -le "$step1" ]; then
    echo "FAIL: step counter did not continue (run 1: $step1, run 2 first log: $first2, end: $step2)"; exit 1
fi
echo "step counter continued: $step1 -> first log $first2 -> $step2"

echo "== runs 2b, 2c (0.5 min each): run 2's resume again with --seed 8, then with --seed 7"
# Until 2026-12-06 train.py restored the state's random streams after seeding, so every
# --seed gave a resumed run the same tasks. One thread is deterministic, so the first
# logged losses of resumes of one state must be equal for one --seed (2c = run 2) and
# differ for another (2b).
$PY tools/train/train.py --out "$OUT/seed8" --resume "$OUT/seed8/train_state.pt" "${RUN2[@]}" --seed 8 > "$OUT/run2b.log"
$PY tools/train/train.py --out "$OUT/seed7" --resume "$OUT/seed7/train_state.pt" "${RUN2[@]}" --seed 7 > "$OUT/run2c.log"
row7=$(first_row "$OUT/run2.log"); row8=$(first_row "$OUT/run2b.log"); row7c=$(first_row "$OUT/run2c.log")
echo "first rows: --seed 7 [$row7], again [$row7c], --seed 8 [$row8]"
[ "$row7" = "$row7c" ] || { echo "FAIL: two --seed 7 resumes of one state logged different losses"; exit 1; }
[ "$row7" != "$row8" ] || { echo "FAIL: --seed 7 and --seed 8 resumes logged the same losses"; exit 1; }
# --ema-mvs: MultiverSegNet's average is written beside mvs.pt and kept in the state, and differs
check_average mvs || { echo "FAIL: run 2's --ema-mvs output"; exit 1; }

echo "== run 3 (0.3 min, resumed, the UNet only, with --flip-pairs and --ema-sp): per-network counts"
cp "$OUT/sp.pt" "$OUT/sp_start.pt"
$PY tools/train/train.py --out "$OUT" --minutes 0.3 "${TINY[@]}" "${DATA_ARGS[@]}" \
    --resume "$OUT/train_state.pt" --train sp --flip-pairs 1 --ema-sp 0.9 > "$OUT/run3.log"
grep -q "| flip [0-9.]* |" "$OUT/run3.log" || { echo "FAIL: run 3 logged no flip-consistency loss"; exit 1; }
grep -q "resumed from .*its random streams restored" "$OUT/run3.log" ||
    { echo "FAIL: run 3 (no --seed) did not restore the state's random streams"; exit 1; }
# --ema-sp: the average is written beside sp.pt and kept in the state, and differs from sp.pt
check_average sp || { echo "FAIL: run 3's --ema-sp output"; exit 1; }
counts=$($PY -c "import torch,sys; s=torch.load(sys.argv[1], weights_only=False); print(s['step'], s['steps']['mvs'], s['steps']['sp'])" "$OUT/train_state.pt")
read -r step3 mvs3 sp3 <<< "$counts"
if [ "$mvs3" != "$step2" ] || [ "$sp3" != "$step3" ] || [ "$step3" -le "$step2" ]; then
    echo "FAIL: per-network counts after a UNet-only run: step $step3, mvs $mvs3 (want $step2), sp $sp3 (want $step3)"; exit 1
fi
echo "per-network counts: MultiverSegNet $mvs3, UNet $sp3"

echo "== checkpoints"
$PY tools/train/check_model.py --checkpoints "$OUT" --size 64
head -3 "$OUT/loss.csv"; tail -2 "$OUT/loss.csv"
ls -l "$OUT"
echo "SMOKE OK"
