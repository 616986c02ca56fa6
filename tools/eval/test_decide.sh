#!/usr/bin/env bash
# Tests of tools/eval/decide.sh that need no data, no build and no third-party Python (run by
# `scripts/test.sh python`): its refusals (usage, a candidate that changes the other network,
# a file that is not safetensors) and its verdicts on stand-in evaluation runs. A stand-in
# `mvs` copies the shipped model's committed reference run (or a copy with every Dice raised,
# or a file with a task missing) into --out, so the rules must answer KEEP for the shipped
# model against itself, ERROR for runs that cannot be compared, and get past the UNet rule for
# better curves (the Fiji step after it is stubbed out here: FIJI_CMD). Like decide.sh it puts
# candidates in place of weights/multiverseg-default.safetensors and restores the file, so the
# next cargo build recompiles the crates that embed it (the file's time changed, not its bytes).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
shipped=weights/multiverseg-default.safetensors

# expect STATUS PATTERN -- COMMAND...: the command's exit status and a line of its output
expect() {
  local want=$1 pat=$2; shift 3
  local got=0
  "$@" > "$tmp/out.txt" 2>&1 || got=$?
  if [ "$got" != "$want" ] || ! grep -q -- "$pat" "$tmp/out.txt"; then
    echo "FAIL: $* -> status $got (want $want), output:"; sed 's/^/    /' "$tmp/out.txt"
    fails=$((fails + 1))
  else
    echo "ok: status $got, '$pat': ${*: -3}"
  fi
}

# Candidates: one byte changed in one tensor of either network (the stored data only).
"$PYTHON" - "$shipped" "$tmp" <<'PY'
import json, struct, sys
src, out = sys.argv[1:]
blob = bytearray(open(src, "rb").read())
(n,) = struct.unpack("<Q", blob[:8])
head = json.loads(blob[8:8 + n])
def changed(name, path):
    b = bytearray(blob)
    b[8 + n + head[name]["data_offsets"][0]] ^= 1
    open(path, "wb").write(b)
changed("downs.0.conv.0.weight" if "downs.0.conv.0.weight" in head else
        next(k for k in head if k.startswith("downs.")), f"{out}/unet_changed.safetensors")
changed(next(k for k in head if k.startswith("enc_blocks.")), f"{out}/mvs_changed.safetensors")
open(f"{out}/not_safetensors.safetensors", "wb").write(b"\xff" * 16)
PY

# Stand-in mvs: `mvs eval ... --out DIR`; writes DIR/curves.csv or DIR/results.csv from $SOURCE.
cat > "$tmp/mvs" <<'SH'
#!/usr/bin/env bash
out=; curves=0
while [ $# -gt 0 ]; do case "$1" in --out) out=$2; shift ;; --curves) curves=1 ;; esac; shift; done
mkdir -p "$out"
if [ $curves = 1 ]; then cp "$SOURCE_CURVES" "$out/curves.csv"; else cp "$SOURCE_RESULTS" "$out/results.csv"; fi
SH
chmod +x "$tmp/mvs"
# Curves 0.01 better at every step (capped at 1); results with one task left out.
"$PYTHON" - weights/eval/heldout_v10/unet_curves.csv weights/eval/heldout_v10/results.csv "$tmp" <<'PY'
import csv, sys
curves, results, out = sys.argv[1:]
rows = list(csv.DictReader(open(curves)))
with open(f"{out}/better_curves.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=rows[0].keys()); w.writeheader()
    for r in rows:
        r["dice"] = str(min(1.0, float(r["dice"]) + 0.01)); w.writerow(r)
rows = list(csv.DictReader(open(results)))
with open(f"{out}/missing_task.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=rows[0].keys()); w.writeheader()
    for r in rows:
        if r["task"] != rows[0]["task"]:
            w.writerow(r)
PY

D=tools/eval/decide.sh
export PYTHON HELDOUT=$tmp EVALTASKS=$tmp MVS=$tmp/mvs
export SOURCE_CURVES=weights/eval/heldout_v10/unet_curves.csv SOURCE_RESULTS=weights/eval/heldout_v10/results.csv
expect 2 "Usage\|decide.sh unet|mvs" -- $D unet "$shipped"
expect 2 "NET must be unet or mvs" -- $D both "$shipped" "$tmp/o1"
expect 2 "is not a file" -- $D unet "$tmp/nothing.safetensors" "$tmp/o1"
expect 2 "set HELDOUT" -- env HELDOUT= $D unet "$shipped" "$tmp/o1"
expect 2 "set EVALTASKS" -- env EVALTASKS= $D mvs "$shipped" "$tmp/o1"
expect 2 "no mvs binary" -- env MVS="$tmp/none" $D unet "$shipped" "$tmp/o1"
expect 2 "not a safetensors file" -- $D unet "$tmp/not_safetensors.safetensors" "$tmp/o1"
expect 2 "candidate's MultiverSegNet differs" -- $D unet "$tmp/mvs_changed.safetensors" "$tmp/o2"
expect 2 "candidate's UNet differs" -- $D mvs "$tmp/unet_changed.safetensors" "$tmp/o3"
# the shipped model against its own reference runs: not better, so it is kept
expect 1 "KEEP: the UNet rule fails" -- $D unet "$tmp/unet_changed.safetensors" "$tmp/o4"
expect 1 "KEEP: the held-out rule fails" -- $D mvs "$tmp/mvs_changed.safetensors" "$tmp/o5"
# runs that cannot be compared are errors, not verdicts
expect 2 "ERROR: compare_runs.py could not compare" -- env SOURCE_RESULTS="$tmp/missing_task.csv" $D mvs "$tmp/mvs_changed.safetensors" "$tmp/o6"
# Better curves pass the UNet rule and reach the Fiji step, stubbed: the first stand-in passes
# only while the shipped model is in place, so it fails for the candidate (which must be the
# default model during the test) and passes the rerun after the restore.
cp "$shipped" "$tmp/shipped_copy"
expect 1 "KEEP: the UNet rule passes, the Fiji test fails" -- env SOURCE_CURVES="$tmp/better_curves.csv" FIJI_CMD="cmp -s $shipped $tmp/shipped_copy" $D unet "$tmp/unet_changed.safetensors" "$tmp/o7"
expect 0 "SHIP: the UNet rule and the Fiji test pass" -- env SOURCE_CURVES="$tmp/better_curves.csv" FIJI_CMD="cmp -s $shipped $tmp/unet_changed.safetensors || cmp -s $shipped $tmp/shipped_copy" $D unet "$tmp/unet_changed.safetensors" "$tmp/o8"
# a shipped model that fails the rerun is an error, whatever the candidate did
expect 2 "ERROR: the Fiji test fails with the shipped model restored" -- env SOURCE_CURVES="$tmp/better_curves.csv" FIJI_CMD="cmp -s $shipped $tmp/unet_changed.safetensors" $D unet "$tmp/unet_changed.safetensors" "$tmp/o9"
# every run must leave the shipped model in place
cmp -s "$shipped" "$tmp/shipped_copy" || { echo "FAIL: the default model changed during the tests"; fails=$((fails + 1)); }

[ "$fails" -eq 0 ] || { echo "test_decide.sh: $fails failed"; exit 1; }
echo "test_decide.sh: all passed"
