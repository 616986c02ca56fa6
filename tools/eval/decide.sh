#!/usr/bin/env bash
# Decide a default-model candidate by the rules of tools/eval/README.md, in one command.
#
#   HELDOUT=DIR [EVALTASKS=DIR] tools/eval/decide.sh unet|mvs CANDIDATE.safetensors OUT
#
# unet: CANDIDATE must hold the shipped MultiverSegNet unchanged. The UNet rule: its Dice
#       averaged over the held-out tasks higher than the shipped UNet's after 5 and after 20
#       centre clicks (compare_curves.py against the shipped curves committed in REF_HELDOUT),
#       then the Fiji test.
# mvs:  CANDIDATE must hold the shipped UNet unchanged. The held-out rule (compare_runs.py:
#       fewer MultiverSeg-arm clicks pooled over the held-out tasks and a reduction averaged
#       over them at least the shipped model's), then the veto on the 12 evaluation tasks
#       (the same comparison against the shipped model's committed 12-task run; needs
#       EVALTASKS), then the Fiji test (its other slices are MultiverSegNet's).
# The Fiji test: `scripts/test.sh java` with CANDIDATE as the default model; the shipped file
# is put back afterwards (also on failure or interruption) and the tier runs again, so that
# everything it built embeds the shipped model again.
#
# HELDOUT: the six held-out tasks (tools/eval/prepare_heldout.py, both sets, in one folder);
# EVALTASKS: the 12 evaluation tasks of ../shared/data (a folder of links). MVS (default
# target/release/mvs) and PYTHON (default python3; standard library only) may be set.
# Relative paths are taken from the caller's folder. OUT must be new or empty; every step's
# output stays in it.
# The last line is `SHIP: ...` (exit status 0), `KEEP: ...` (1) or `ERROR: ...` (2: a step
# failed, two runs could not be compared, or the candidate changes the other network).
# Time on this project's 2-core VM: unet about 25 s, then the java tier twice (about 3
# minutes with a warm build); mvs about 20 minutes for the held-out protocol, 12 more for the
# veto, then the java tier twice.
set -Eeuo pipefail  # -E: the ERR trap below also fires in functions and $(...) (see fiji for where not)

verdict() { echo "$1: $2"; exit "$3"; }
usage() { sed -n '2,28p' "$0" >&2; echo "ERROR: usage" >&2; exit 2; }
# Any command that fails outside a checked place is an error, never a verdict.
trap 'verdict ERROR "line $LINENO failed" 2' ERR

caller=$PWD
abs() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$caller/$1" ;; esac; }
[ $# -eq 3 ] || usage
net=$1
case "$net" in unet|mvs) ;; *) verdict ERROR "NET must be unet or mvs, not '$net'" 2 ;; esac
cand=$(abs "$2") out=$(abs "$3")
[ -f "$cand" ] || verdict ERROR "CANDIDATE '$2' is not a file" 2
[ -n "${HELDOUT:-}" ] && [ -d "$HELDOUT" ] || verdict ERROR "set HELDOUT to the held-out tasks' folder" 2
HELDOUT=$(abs "$HELDOUT")
if [ "$net" = mvs ]; then
  [ -n "${EVALTASKS:-}" ] && [ -d "$EVALTASKS" ] || verdict ERROR "set EVALTASKS to the 12 evaluation tasks' folder" 2
  EVALTASKS=$(abs "$EVALTASKS")
fi
# MVS and PYTHON: a path (with a slash) is the caller's; a bare name is looked up on PATH.
resolve() { case "$1" in */*) abs "$1" ;; *) command -v "$1" || printf '%s\n' "$1" ;; esac; }
[ -n "${MVS:-}" ] && MVS=$(resolve "$MVS")
PYTHON=$(resolve "${PYTHON:-python3}")
cd "$(dirname "$0")/../.."
MVS=${MVS:-$PWD/target/release/mvs}
[ -x "$MVS" ] || verdict ERROR "no mvs binary at '$MVS' (cargo build --release --bin mvs, or set MVS)" 2

# The shipped model's committed reference runs and the model they were made with. Update all
# three when a new version ships (weights/eval/heldout_vN/unet_curves.csv, results.csv and
# weights/eval/vN/results.csv; the new model's SHA-256).
REF_HELDOUT=weights/eval/heldout_v12
REF_EVAL12=weights/eval/v12
REF_SHA256=90da0c7ae7db4f6fedf580a4c60eaa291953820dc8cf98633ddce8f73faeb759
# The default model the Fiji test compiles in. tools/eval/test_decide.sh points these at
# copies and stand-ins; nothing else should set them.
shipped=${DECIDE_TEST_SHIPPED:-weights/multiverseg-default.safetensors}
fiji_cmd=${DECIDE_TEST_FIJI_CMD:-scripts/test.sh java}
reports=${DECIDE_TEST_REPORTS:-bindings/java/target/surefire-reports}

# A fresh OUT, so that no file of an earlier run can be read as this one's.
[ ! -e "$out" ] || [ -z "$(ls -A "$out" 2>/dev/null)" ] || verdict ERROR "OUT '$3' exists and is not empty" 2
mkdir -p "$out"
sha=$(sha256sum "$shipped" | cut -d' ' -f1)
[ "$sha" = "$REF_SHA256" ] || verdict ERROR "$shipped (SHA-256 $sha) is not the model the references in $REF_HELDOUT and $REF_EVAL12 were made with ($REF_SHA256): restore it, or update the references at the top of this script" 2

# 1. The candidate changes only the network being decided: the other one's tensors must equal
#    the shipped model's bit for bit, or the decision would measure two changes at once.
"$PYTHON" - "$net" "$cand" "$shipped" <<'PY' || verdict ERROR "the candidate cannot be decided as a $net candidate (above)" 2
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
        head.pop("__metadata__", None)
        base = 8 + n
        return {k: (v["dtype"], v["shape"], blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
                for k, v in head.items()}
    except (struct.error, ValueError, KeyError, TypeError, AttributeError) as e:
        sys.exit(f"decide.sh: {path} is not a safetensors file ({e!r})")

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
if changed == 0:
    sys.exit(f"decide.sh: the candidate's {'UNet' if net == 'unet' else 'MultiverSegNet'} is the shipped one")
print(f"candidate: the other network identical to the shipped one ({len(keep)} tensors); "
      f"{changed} of {len(decided)} tensors of the decided network differ")
PY
sha256sum "$cand" | tee "$out/candidate.sha256"

# compare NAME COMMAND...: runs a compare_*.py, keeps its output in OUT/NAME.txt; returns 0 on
# PASS, 1 on a FAIL the script printed as such; anything else is an error.
compare() {
  local name=$1 rc=0; shift
  "$PYTHON" "$@" > "$out/$name.txt" 2>&1 || rc=$?
  cat "$out/$name.txt"
  [ "$rc" -eq 0 ] && grep -q '^rule: PASS' "$out/$name.txt" && return 0
  [ "$rc" -eq 1 ] && grep -q '^rule: FAIL' "$out/$name.txt" && return 1
  verdict ERROR "$* exited with status $rc without a verdict ($out/$name.txt)" 2
}

# evaluate NAME DIR FLAGS...: `mvs eval` of the candidate on the tasks in DIR into OUT/NAME.
evaluate() {
  local name=$1 dir=$2; shift 2
  "$MVS" eval --model "$cand" --all "$dir" "$@" --threads 2 --backend cpu --out "$out/$name" \
    > "$out/$name.log" 2>&1 || verdict ERROR "mvs eval failed ($out/$name.log)" 2
}

# fiji: the Fiji test with the candidate compiled in as the default model; returns its status.
# It is called as `fiji || ...`, where bash runs a function's body without `set -e` and the
# ERR trap, so every step that must not fail is checked here by hand.
fiji() {
  local backup rc=0
  backup=$(mktemp) || verdict ERROR "mktemp failed" 2
  cp "$shipped" "$backup" || verdict ERROR "cannot back up $shipped" 2
  trap 'cp "$backup" "$shipped" && rm -f "$backup"; echo "decide.sh: stopped during the Fiji test; the default model is put back, but the last build may still embed the candidate: run scripts/test.sh java" >&2' EXIT
  cp "$cand" "$shipped" || verdict ERROR "cannot put the candidate in place of $shipped" 2
  rm -rf "$reports"
  { echo "+ $fiji_cmd"; bash -c "$fiji_cmd"; } > "$out/fiji.log" 2>&1 || rc=$?
  # the candidate's Dice per slice, before the rerun below overwrites the reports
  grep -h -o 'Dice per slice[^<"]*' "$reports"/*.xml 2>/dev/null | sort -u | tee "$out/fiji_dice.txt" || true
  cp "$backup" "$shipped" && cmp -s "$backup" "$shipped" ||
    verdict ERROR "could not put the shipped model back: it is in $backup" 2
  rm -f "$backup"
  trap 'echo "decide.sh: stopped while rebuilding with the shipped model: the last build may still embed the candidate: run scripts/test.sh java" >&2' EXIT
  # The tier rebuilt the workspace (the libraries it copies to target/release, the mvs binary)
  # with the candidate compiled in. Running it again rebuilds all of that with the shipped
  # model and checks that the shipped model passes.
  if ! { echo "+ $fiji_cmd"; bash -c "$fiji_cmd"; } > "$out/fiji_shipped.log" 2>&1; then
    trap - EXIT
    verdict ERROR "the Fiji test fails with the shipped model restored ($out/fiji_shipped.log; the last build may still embed the candidate)" 2
  fi
  trap - EXIT
  return "$rc"
}

if [ "$net" = unet ]; then
  evaluate curves "$HELDOUT" --curves --curve-k 0 --n 18 --seeds 1
  compare compare_curves tools/eval/compare_curves.py --reference "$REF_HELDOUT/unet_curves.csv" \
    --candidate "$out/curves/curves.csv" --bootstrap 5000 || verdict KEEP "the UNet rule fails on the held-out tasks" 1
  fiji || verdict KEEP "the UNet rule passes, the Fiji test fails ($out/fiji.log)" 1
  verdict SHIP "the UNet rule and the Fiji test pass" 0
fi

evaluate heldout "$HELDOUT" --n 18 --seeds 3
compare compare_heldout tools/eval/compare_runs.py --reference "$REF_HELDOUT/results.csv" \
  --candidate "$out/heldout/results.csv" --bootstrap 5000 || verdict KEEP "the held-out rule fails" 1
evaluate eval12 "$EVALTASKS" --n 18 --seeds 3
# With the shipped UNet both runs share the baseline arm (compare_runs.py refuses runs whose
# baselines differ), so "fewer pooled MultiverSeg-arm clicks and a per-task reduction at least
# the shipped one's" is the veto's "per-task and pooled saving at least the shipped model's",
# with the shipped savings unrounded and an exact tie in pooled clicks counted as a failure.
compare compare_eval12 tools/eval/compare_runs.py --reference "$REF_EVAL12/results.csv" \
  --candidate "$out/eval12/results.csv" --bootstrap 5000 || verdict KEEP "the held-out rule passes, the 12-task veto fails" 1
fiji || verdict KEEP "the held-out rule and the 12-task veto pass, the Fiji test fails ($out/fiji.log)" 1
verdict SHIP "the held-out rule, the 12-task veto and the Fiji test pass" 0
