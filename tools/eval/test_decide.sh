#!/usr/bin/env bash
# Tests of tools/eval/decide.sh that need no data, no build and no third-party Python (run by
# `scripts/test.sh python`, a few seconds): its refusals (usage, a candidate that changes the
# other network or nothing, a file that is not safetensors, a default model that is not the
# one the references were made with) and its verdicts on stand-in evaluation runs. A stand-in
# `mvs` copies, by the folder it is asked to evaluate, the shipped model's committed reference
# runs or edited copies of them (every Dice raised, MultiverSeg-arm clicks lowered or moved,
# a task left out, a truncated file) into --out and logs its arguments. decide.sh works on a
# copy of the default model here (DECIDE_TEST_SHIPPED), its Fiji step is a stand-in
# (DECIDE_TEST_FIJI_CMD) and the test reports it clears are in the temporary folder
# (DECIDE_TEST_REPORTS), so no file of the repository is touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
cp weights/multiverseg-default.safetensors "$tmp/shipped.safetensors"
cp weights/multiverseg-default.safetensors "$tmp/shipped_copy.safetensors"

# expect STATUS PATTERN -- COMMAND...: the command's exit status and its last output line
expect() {
  local want=$1 pat=$2; shift 3
  local got=0
  "$@" > "$tmp/out.txt" 2>&1 || got=$?
  if [ "$got" != "$want" ] || ! tail -n 1 "$tmp/out.txt" | grep -q -- "$pat"; then
    echo "FAIL: $* -> status $got (want $want, last line matching '$pat'), output:"
    sed 's/^/    /' "$tmp/out.txt"
    fails=$((fails + 1))
  else
    echo "ok: status $got, $(tail -n 1 "$tmp/out.txt")"
  fi
}
check() {  # check DESCRIPTION COMMAND...: a condition on what a run left behind
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

# Candidates: one byte changed in one tensor of either network (the stored data only).
"$PYTHON" - "$tmp/shipped.safetensors" "$tmp" <<'PY'
import json, struct, sys
src, out = sys.argv[1:]
blob = bytearray(open(src, "rb").read())
(n,) = struct.unpack("<Q", blob[:8])
head = json.loads(blob[8:8 + n])
def changed(prefix, path):
    name = sorted(k for k in head if k.startswith(prefix))[0]
    b = bytearray(blob)
    b[8 + n + head[name]["data_offsets"][0]] ^= 1
    open(path, "wb").write(b)
changed("downs.", f"{out}/unet_changed.safetensors")
changed("enc_blocks.", f"{out}/mvs_changed.safetensors")
open(f"{out}/not_safetensors.safetensors", "wb").write(b"\xff" * 16)
PY

# Edited copies of the committed runs, each checked for the property its test needs, with the
# rule's own definitions (position 0 left out; reduction = 1 - MultiverSeg / baseline clicks).
"$PYTHON" - weights/eval/heldout_v12/unet_curves.csv weights/eval/heldout_v12/results.csv \
  weights/eval/v12/results.csv "$tmp" <<'PY'
import collections, csv, sys
curves, heldout, eval12, out = sys.argv[1:]

def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=rows[0].keys()); w.writeheader(); w.writerows(rows)

def stats(rows):
    """(pooled MultiverSeg-arm clicks, mean over tasks of the reduction) as compare_runs.py."""
    c = collections.defaultdict(lambda: [0, 0])
    for r in rows:
        if int(r["position"]) > 0:
            c[r["task"]][r["method"] == "baseline"] += int(r["interactions"])
    return sum(m for m, _ in c.values()), sum(1 - m / b for m, b in c.values()) / len(c)

rows = list(csv.DictReader(open(curves)))
for r in rows:
    r["dice"] = str(min(1.0, float(r["dice"]) + 0.01))
write(f"{out}/better_curves.csv", rows)

def fewer(rows):  # one MultiverSeg-arm click fewer wherever there was more than one
    rows = [dict(r) for r in rows]
    for r in rows:
        if r["method"] == "multiverseg" and int(r["position"]) > 0 and int(r["interactions"]) > 1:
            r["interactions"] = str(int(r["interactions"]) - 1)
    return rows

for name, src in (("heldout", heldout), ("eval12", eval12)):
    ref = list(csv.DictReader(open(src)))
    better = fewer(ref)
    (p0, m0), (p1, m1) = stats(ref), stats(better)
    assert p1 < p0 and m1 > m0, (name, p0, p1, m0, m1)
    write(f"{out}/{name}_better.csv", better)

# 12 tasks, per task better but pooled worse: the MultiverSeg arm at one click per image on the
# task with the fewest baseline clicks (a large gain in its reduction for few clicks), two more
# per image (up to 20) on the task with the most baseline clicks among those where that adds
# more clicks than the first change saved (so a small loss in its reduction; choosing by the
# clicks added alone picked a task with a small baseline for version 12 and failed).
ref = list(csv.DictReader(open(eval12)))
arm = lambda r: int(r["position"]) > 0 and r["method"] == "multiverseg"
base = collections.Counter()
room = collections.Counter()
for r in ref:
    if int(r["position"]) > 0 and r["method"] == "baseline":
        base[r["task"]] += int(r["interactions"])
    if arm(r):
        room[r["task"]] += min(20, int(r["interactions"]) + 2) - int(r["interactions"])
small = min(base, key=base.get)
saved = sum(int(r["interactions"]) - 1 for r in ref if arm(r) and r["task"] == small)
large = max((t for t in room if t != small and room[t] > saved), key=base.get)
mixed = [dict(r) for r in ref]
for r in mixed:
    if arm(r) and r["task"] == small:
        r["interactions"] = "1"
    elif arm(r) and r["task"] == large:
        r["interactions"] = str(min(20, int(r["interactions"]) + 2))
(p0, m0), (p1, m1) = stats(ref), stats(mixed)
assert p1 > p0 and m1 > m0, ("mixed", p0, p1, m0, m1)
write(f"{out}/eval12_mixed.csv", mixed)

ref = list(csv.DictReader(open(heldout)))
write(f"{out}/heldout_missing_task.csv", [r for r in ref if r["task"] != ref[0]["task"]])
with open(heldout) as f, open(f"{out}/heldout_truncated.csv", "w") as g:
    lines = f.read().splitlines()
    g.write("\n".join(lines[:-1] + [lines[-1].split(",")[0]]) + "\n")
PY

# Stand-in mvs: `mvs eval ... --all DIR --out OUT`; the source is chosen by DIR's name.
mkdir -p "$tmp/heldout" "$tmp/eval12"
cat > "$tmp/mvs" <<'SH'
#!/usr/bin/env bash
echo "$*" >> "$STANDIN_LOG"
out=; all=; curves=0
while [ $# -gt 0 ]; do
  case "$1" in --out) out=$2; shift ;; --all) all=$2; shift ;; --curves) curves=1 ;; esac; shift
done
mkdir -p "$out"
if [ $curves = 1 ]; then cp "$SOURCE_CURVES" "$out/curves.csv"
elif [ "$(basename "$all")" = heldout ]; then cp "$SOURCE_HELDOUT" "$out/results.csv"
else cp "$SOURCE_EVAL12" "$out/results.csv"; fi
SH
chmod +x "$tmp/mvs"

D=tools/eval/decide.sh
S=$tmp/shipped.safetensors
pass_shipped_only="cmp -s $S $tmp/shipped_copy.safetensors"  # fails while a candidate is in place
export PYTHON HELDOUT=$tmp/heldout EVALTASKS=$tmp/eval12 MVS=$tmp/mvs STANDIN_LOG=$tmp/argv.log
export DECIDE_TEST_SHIPPED=$S DECIDE_TEST_FIJI_CMD=true DECIDE_TEST_REPORTS=$tmp/reports
export SOURCE_CURVES=weights/eval/heldout_v12/unet_curves.csv
export SOURCE_HELDOUT=weights/eval/heldout_v12/results.csv SOURCE_EVAL12=weights/eval/v12/results.csv
U=$tmp/unet_changed.safetensors M=$tmp/mvs_changed.safetensors

# refusals
expect 2 "ERROR: usage" -- $D unet "$S"
expect 2 "ERROR: NET must be unet or mvs" -- $D both "$S" "$tmp/o"
expect 2 "ERROR: CANDIDATE .* is not a file" -- $D unet "$tmp/nothing.safetensors" "$tmp/o"
expect 2 "ERROR: set HELDOUT" -- env HELDOUT= $D unet "$U" "$tmp/o"
expect 2 "ERROR: set EVALTASKS" -- env EVALTASKS= $D mvs "$M" "$tmp/o"
expect 2 "ERROR: no mvs binary" -- env MVS="$tmp/none" $D unet "$U" "$tmp/o"
expect 2 "ERROR: .* is not the model the references" -- env DECIDE_TEST_SHIPPED="$U" $D unet "$S" "$tmp/o"
expect 2 "ERROR: the candidate cannot be decided" -- $D unet "$tmp/not_safetensors.safetensors" "$tmp/o"
check "the refusal says why" grep -q "is not a safetensors file" "$tmp/out.txt"
expect 2 "ERROR: the candidate cannot be decided as a unet" -- $D unet "$M" "$tmp/o"
check "the refusal names the network that changed" grep -q "candidate's MultiverSegNet differs" "$tmp/out.txt"
expect 2 "ERROR: the candidate cannot be decided as a mvs" -- $D mvs "$U" "$tmp/o"
expect 2 "ERROR: the candidate cannot be decided as a unet" -- $D unet "$S" "$tmp/o"
check "the refusal says why" grep -q "UNet is the shipped one" "$tmp/out.txt"
expect 2 "ERROR: OUT .* exists and is not empty" -- $D unet "$U" "$tmp"
expect 2 "ERROR: line [0-9]* failed" -- $D unet "$U" "$tmp/shipped_copy.safetensors/out"
# UNet verdicts
: > "$tmp/argv.log"
expect 1 "KEEP: the UNet rule fails" -- $D unet "$U" "$tmp/u1"
check "the UNet curves were asked for with the rule's protocol" \
  grep -q -- "eval --model $U --all $tmp/heldout --curves --curve-k 0 --n 18 --seeds 1 " "$tmp/argv.log"
check "the comparison printed its FAIL" grep -q "^rule: FAIL" "$tmp/u1/compare_curves.txt"
expect 1 "KEEP: the UNet rule passes, the Fiji test fails" -- \
  env SOURCE_CURVES="$tmp/better_curves.csv" DECIDE_TEST_FIJI_CMD="$pass_shipped_only" $D unet "$U" "$tmp/u2"
expect 0 "SHIP: the UNet rule and the Fiji test pass" -- env SOURCE_CURVES="$tmp/better_curves.csv" $D unet "$U" "$tmp/u3"
expect 2 "ERROR: the Fiji test fails with the shipped model restored" -- \
  env SOURCE_CURVES="$tmp/better_curves.csv" DECIDE_TEST_FIJI_CMD="cmp -s $S $U" $D unet "$U" "$tmp/u4"
# relative paths are the caller's, and a bare MVS name is looked up on PATH
: > "$tmp/argv.log"
expect 0 "SHIP: the UNet rule and the Fiji test pass" -- bash -c \
  "cd '$tmp' && PATH='$tmp':\$PATH MVS=mvs HELDOUT=heldout SOURCE_CURVES='$tmp/better_curves.csv' '$PWD/$D' unet unet_changed.safetensors u5"
check "a relative OUT lands in the caller's folder" test -f "$tmp/u5/candidate.sha256"
check "a relative HELDOUT is the caller's" grep -q -- "--all $tmp/heldout " "$tmp/argv.log"
# MultiverSegNet verdicts
: > "$tmp/argv.log"
expect 1 "KEEP: the held-out rule fails" -- $D mvs "$M" "$tmp/m1"
check "the held-out run was asked for with the full protocol" \
  grep -q -- "eval --model $M --all $tmp/heldout --n 18 --seeds 3 " "$tmp/argv.log"
expect 1 "KEEP: the held-out rule passes, the 12-task veto fails" -- \
  env SOURCE_HELDOUT="$tmp/heldout_better.csv" $D mvs "$M" "$tmp/m2"
check "the 12-task run was asked for with the full protocol" \
  grep -q -- "eval --model $M --all $tmp/eval12 --n 18 --seeds 3 " "$tmp/argv.log"
expect 1 "KEEP: the held-out rule passes, the 12-task veto fails" -- \
  env SOURCE_HELDOUT="$tmp/heldout_better.csv" SOURCE_EVAL12="$tmp/eval12_mixed.csv" $D mvs "$M" "$tmp/m3"
expect 1 "KEEP: the held-out rule and the 12-task veto pass, the Fiji test fails" -- \
  env SOURCE_HELDOUT="$tmp/heldout_better.csv" SOURCE_EVAL12="$tmp/eval12_better.csv" \
  DECIDE_TEST_FIJI_CMD="$pass_shipped_only" $D mvs "$M" "$tmp/m4"
expect 0 "SHIP: the held-out rule, the 12-task veto and the Fiji test pass" -- \
  env SOURCE_HELDOUT="$tmp/heldout_better.csv" SOURCE_EVAL12="$tmp/eval12_better.csv" $D mvs "$M" "$tmp/m5"
# runs that cannot be compared or read are errors, not verdicts
expect 2 "ERROR: .*compare_runs.py .* without a verdict" -- env SOURCE_HELDOUT="$tmp/heldout_missing_task.csv" $D mvs "$M" "$tmp/m6"
expect 2 "ERROR: .*compare_runs.py .* without a verdict" -- env SOURCE_HELDOUT="$tmp/heldout_truncated.csv" $D mvs "$M" "$tmp/m7"
expect 2 "ERROR: mvs eval failed" -- env MVS=/bin/false $D mvs "$M" "$tmp/m8"
check "every Fiji step put the shipped model back" cmp -s "$S" "$tmp/shipped_copy.safetensors"

[ "$fails" -eq 0 ] || { echo "test_decide.sh: $fails failed"; exit 1; }
echo "test_decide.sh: all passed"
