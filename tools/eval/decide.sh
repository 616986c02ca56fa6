#!/usr/bin/env bash
# Decide a default-model candidate by the rules of tools/eval/README.md, in one command.
#
#   HELDOUT=DIR [EVALTASKS=DIR] tools/eval/decide.sh unet|mvs CANDIDATE.safetensors OUT
#
# unet: CANDIDATE must hold the shipped MultiverSegNet unchanged. The UNet rule: its Dice
#       averaged over the held-out tasks higher than the shipped UNet's after 5 and after 20
#       centre clicks (compare_curves.py against the shipped curves committed in REF_HELDOUT),
#       then the Fiji test (scripts/test.sh java with CANDIDATE as the default model; the
#       default model is restored afterwards, also on failure or interruption).
# mvs:  CANDIDATE must hold the shipped UNet unchanged. The held-out rule (compare_runs.py:
#       fewer MultiverSeg-arm clicks pooled over the held-out tasks and a reduction averaged
#       over them at least the shipped model's), then the veto on the 12 evaluation tasks
#       (the same comparison against the shipped model's committed 12-task run; needs
#       EVALTASKS).
#
# HELDOUT: the six held-out tasks (tools/eval/prepare_heldout.py, both sets, in one folder);
# EVALTASKS: the 12 evaluation tasks of ../shared/data (a folder of links). MVS (default
# target/release/mvs) and PYTHON (default python3; standard library only) may be set.
# Every step's output stays in OUT; the last line says SHIP or KEEP.
# Exit status: 0 ship, 1 keep, 2 a usage error, a candidate that changes the wrong network or
# a step that failed (ERROR).
# Time on this project's 2-core VM: unet about 25 s, then the java tier twice (candidate,
# then shipped model: about 3 minutes with a warm build);
# mvs about 20 minutes for the held-out protocol, 12 more for the veto.
set -euo pipefail
cd "$(dirname "$0")/../.."

# The shipped model's committed reference runs. Update both when a new version ships
# (weights/eval/heldout_vN/unet_curves.csv, results.csv and weights/eval/vN/results.csv).
REF_HELDOUT=weights/eval/heldout_v10
REF_EVAL12=weights/eval/v10

verdict() { echo "$1: $2"; exit "$3"; }
usage() { sed -n '2,25p' "$0" >&2; exit 2; }
[ $# -eq 3 ] || usage
net=$1 cand=$2 out=$3
case "$net" in unet|mvs) ;; *) echo "decide.sh: NET must be unet or mvs, not '$net'" >&2; exit 2 ;; esac
[ -f "$cand" ] || { echo "decide.sh: CANDIDATE '$cand' is not a file" >&2; exit 2; }
[ -n "${HELDOUT:-}" ] && [ -d "$HELDOUT" ] || { echo "decide.sh: set HELDOUT to the held-out tasks' folder" >&2; exit 2; }
if [ "$net" = mvs ]; then
  [ -n "${EVALTASKS:-}" ] && [ -d "$EVALTASKS" ] || { echo "decide.sh: set EVALTASKS to the 12 evaluation tasks' folder" >&2; exit 2; }
fi
MVS=${MVS:-target/release/mvs}
FIJI_CMD=${FIJI_CMD:-scripts/test.sh java}  # replaced only by tools/eval/test_decide.sh
PYTHON=${PYTHON:-python3}
[ -x "$MVS" ] || { echo "decide.sh: no mvs binary at '$MVS' (cargo build --release --bin mvs, or set MVS)" >&2; exit 2; }
mkdir -p "$out"
shipped=weights/multiverseg-default.safetensors

# 1. The candidate changes only the network being decided: the other one's tensors must equal
#    the shipped model's bit for bit, or the decision would measure two changes at once.
"$PYTHON" - "$net" "$cand" "$shipped" <<'PY' || exit 2
import json, struct, sys
net, cand, shipped = sys.argv[1:]

def tensors(path):
    """name -> (dtype, shape, raw bytes) of a .safetensors file (its format: an 8-byte
    little-endian header length, a JSON header, then the data), read with the standard library."""
    with open(path, "rb") as f:
        blob = f.read()
    try:
        (n,) = struct.unpack("<Q", blob[:8])
        head = json.loads(blob[8:8 + n])
    except (struct.error, ValueError) as e:
        sys.exit(f"decide.sh: {path} is not a safetensors file ({e})")
    head.pop("__metadata__", None)
    base = 8 + n
    return {k: (v["dtype"], v["shape"], blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
            for k, v in head.items()}

a, b = tensors(shipped), tensors(cand)
if set(a) != set(b):
    sys.exit(f"decide.sh: {cand} has other tensor names than {shipped}: {sorted(set(a) ^ set(b))[:5]}")
unet = {k for k in a if k.split(".")[0] in ("downs", "ups", "bottleneck", "final_conv")}
keep = [k for k in a if (k in unet) != (net == "unet")]   # the network that must not change
decided = [k for k in a if k not in keep]
bad = [k for k in keep if a[k] != b[k]]
if bad:
    other = "MultiverSegNet" if net == "unet" else "UNet"
    sys.exit(f"decide.sh: the candidate's {other} differs from the shipped one ({len(bad)} tensors, "
             f"e.g. {bad[0]}); a {net} candidate must carry the shipped {other} unchanged")
changed = sum(a[k] != b[k] for k in decided)
print(f"candidate: the other network identical to the shipped one ({len(keep)} tensors); "
      f"{changed} of {len(decided)} tensors of the decided network differ")
PY
sha256sum "$cand" | tee "$out/candidate.sha256"

if [ "$net" = unet ]; then
  "$MVS" eval --model "$cand" --all "$HELDOUT" --curves --curve-k 0 --n 18 --seeds 1 --threads 2 \
    --backend cpu --out "$out/curves" > "$out/curves.log" 2>&1 || verdict ERROR "mvs eval failed ($out/curves.log)" 2
  set +e
  "$PYTHON" tools/eval/compare_curves.py --reference "$REF_HELDOUT/unet_curves.csv" \
    --candidate "$out/curves/curves.csv" --bootstrap 5000 | tee "$out/compare_curves.txt"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 2 ] && verdict ERROR "compare_curves.py could not compare the runs" 2
  [ "$rc" -eq 0 ] || verdict KEEP "the UNet rule fails on the held-out tasks" 1
  # The Fiji test reads the compiled-in default model, so the candidate replaces the file for
  # the java tier; the trap puts the shipped file back whatever happens.
  backup=$(mktemp)
  cp "$shipped" "$backup"
  trap 'cp "$backup" "$shipped"; rm -f "$backup"' EXIT  # a build may still hold the candidate: rerun it
  cp "$cand" "$shipped"
  set +e
  bash -c "$FIJI_CMD" > "$out/fiji.log" 2>&1
  rc=$?
  set -e
  # the candidate's Dice per slice, before the rerun below overwrites the reports
  grep -h -o 'Dice per slice[^<"]*' bindings/java/target/surefire-reports/*.xml 2>/dev/null | sort -u | tee "$out/fiji_dice.txt" || true
  cp "$backup" "$shipped"
  # The java tier rebuilt the workspace (the libraries it copies to target/release, the mvs
  # binary) with the candidate compiled in as the default model. Running the tier again
  # rebuilds all of it with the shipped model and checks that the shipped model passes.
  bash -c "$FIJI_CMD" > "$out/fiji_shipped.log" 2>&1 ||
    verdict ERROR "the Fiji test fails with the shipped model restored ($out/fiji_shipped.log)" 2
  [ "$rc" -eq 0 ] || verdict KEEP "the UNet rule passes, the Fiji test fails ($out/fiji.log)" 1
  verdict SHIP "the UNet rule and the Fiji test pass" 0
fi

"$MVS" eval --model "$cand" --all "$HELDOUT" --n 18 --seeds 3 --threads 2 --backend cpu \
  --out "$out/heldout" > "$out/heldout.log" 2>&1 || verdict ERROR "mvs eval failed ($out/heldout.log)" 2
set +e
"$PYTHON" tools/eval/compare_runs.py --reference "$REF_HELDOUT/results.csv" \
  --candidate "$out/heldout/results.csv" --bootstrap 5000 | tee "$out/compare_heldout.txt"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 2 ] && verdict ERROR "compare_runs.py could not compare the held-out runs" 2
[ "$rc" -eq 0 ] || verdict KEEP "the held-out rule fails" 1
"$MVS" eval --model "$cand" --all "$EVALTASKS" --n 18 --seeds 3 --threads 2 --backend cpu \
  --out "$out/eval12" > "$out/eval12.log" 2>&1 || verdict ERROR "mvs eval failed ($out/eval12.log)" 2
set +e
# With the shipped UNet both runs share the baseline arm, so "fewer pooled MultiverSeg-arm
# clicks and a per-task reduction at least the shipped one's" is the veto's "per-task and
# pooled saving at least the shipped model's" (up to an exact tie in clicks).
"$PYTHON" tools/eval/compare_runs.py --reference "$REF_EVAL12/results.csv" \
  --candidate "$out/eval12/results.csv" --bootstrap 5000 | tee "$out/compare_eval12.txt"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 2 ] && verdict ERROR "compare_runs.py could not compare the 12-task runs" 2
[ "$rc" -eq 0 ] || verdict KEEP "the held-out rule passes, the 12-task veto fails" 1
verdict SHIP "the held-out rule and the 12-task veto pass" 0
