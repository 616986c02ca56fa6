"""Merge two training runs that continued one state side by side, one per network.

    python tools/train/merge_states.py --base weights/training/train_state.pt \
        --mvs RUN_A/train_state.pt --sp RUN_B/train_state.pt --out merged_state.pt

On a 2-core CPU the two networks train fastest as two 1-thread runs from the same state
(`train.py --train mvs` and `--train sp`). The merged state takes MultiverSegNet and its
optimizer (and weight average, `mvs_ema`) from --mvs, the UNet and its optimizer (and
`sp_ema`) from --sp, the RNG state and config from --mvs; `steps` (iterations per network)
adds each run's iterations to --base's, `step` (the shared counter) and `wall_s` add both
runs' iterations and seconds, so the compute spent is counted once per run. Refuses (naming
the argument) runs that did not continue --base. Written atomically (temporary file, then
rename); `train.py --resume OUT` continues from it.
"""
import argparse

import torch

from train import atomic_save, base_steps


def merge_states(base, a, b):
    """The merged state of runs `a` (MultiverSegNet) and `b` (UNet) continued from `base`.

    Raises ValueError naming --mvs or --sp when a run's counters are behind the base's or
    when it changed the network it was not meant to train (the run would not be from --base).
    """
    for name, run, other in (("--mvs", a, "sp"), ("--sp", b, "mvs")):
        if run["step"] < base["step"] or run["wall_s"] < base["wall_s"]:
            raise ValueError(f"{name}: step {run['step']} / {run['wall_s']:.0f} s is behind "
                             f"--base's {base['step']} / {base['wall_s']:.0f} s")
        for n, v in base[other].items():
            if not torch.equal(run[other][n], v):
                raise ValueError(f"{name}: its {other} tensor {n} differs from --base's "
                                 f"(a run from another state, or one that trained both networks)")
    da, db = a["step"] - base["step"], b["step"] - base["step"]
    steps = base_steps(base)
    out = dict(a)
    out["sp"], out["opt_sp"] = b["sp"], b["opt_sp"]
    # each network's weight average (train.py's --ema-sp / --ema-mvs) comes with the network:
    # MultiverSegNet's from --mvs (dict(a)), the UNet's from --sp, or none
    out.pop("sp_ema", None)
    if "sp_ema" in b:
        out["sp_ema"] = b["sp_ema"]
    out["steps"] = {"mvs": steps["mvs"] + da, "sp": steps["sp"] + db}
    out["step"] = base["step"] + da + db
    out["wall_s"] = a["wall_s"] + b["wall_s"] - base["wall_s"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the train_state.pt both runs resumed from")
    ap.add_argument("--mvs", required=True, help="train_state.pt of the run that trained MultiverSegNet")
    ap.add_argument("--sp", required=True, help="train_state.pt of the run that trained the UNet")
    ap.add_argument("--out", required=True, help="output train_state.pt")
    args = ap.parse_args()
    load = lambda p: torch.load(p, map_location="cpu", weights_only=False)  # noqa: E731
    try:
        out = merge_states(load(args.base), load(args.mvs), load(args.sp))
    except ValueError as e:
        raise SystemExit(str(e))
    atomic_save(out, args.out)
    print(f"wrote {args.out}: step {out['step']}, iterations {out['steps']}")


if __name__ == "__main__":
    main()
