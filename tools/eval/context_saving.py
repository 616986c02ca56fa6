r"""Clicks to 90% Dice (NoI90) and the context's click saving with a ground-truth context, from
`mvs eval --curves` runs (issue 14's diagnosis).

    python3 tools/eval/context_saving.py CURVES.csv [CURVES.csv ...] [--k K] [--bootstrap B]

The interactive experiment (`mvs eval --all TASKS --n 18 --seeds 3`) puts the model's own
binarized masks into the context, so its saving mixes two things: how good that context is and
how well MultiverSegNet uses a context and follows clicks. The curve runs
(`mvs eval --all TASKS --curves --curve-k 0,3,16 ...`) give each image k ground-truth
context entries instead, and the UNet alone for k = 0, with the same centre clicks; a curve
does not stop at 90%, so its NoI90 is its first step with Dice >= 0.9 (0 = the prediction
without prompts), or the cap (--cap, the protocol's 20 clicks) when no step reaches it, as in
the interactive experiment (same clicks up to that step; their tie-breaking draws differ).

For each task this uses k = 0 and the largest ground-truth context size k <= K that the files
hold for that task (K: --k, default the largest in the files; the small tasks cannot supply as
many entries as the large ones), on the (seed, image) units present at both sizes, and prints
the clicks of each, the images that reach 90%, and the saving 1 - clicks(k) / clicks(0); then
the saving averaged over the tasks and pooled, issue 14's two measures. With --bootstrap B it
also resamples the units with replacement within each task, B times, and prints 95% intervals
of both measures: the images are a sample of each task's images.

What the number means: the saving the shipped networks would give if every context entry were
right. It is a reference, not a proof of a ceiling: the protocol's contexts have other sizes
(1 to 18 entries, growing along the sequence), and an imperfect mask can happen to help.

Files that cannot be read, a unit with a missing step or a step seen twice, a task without
k = 0 or without any k > 0, and a task where the UNet alone needs no clicks at all: exit status
2 with the reason. Otherwise exit status 0. Standard library only.
"""
import argparse
import collections
import csv
import random
import sys

from compare_runs import interval95  # the same percentiles (same folder)

TARGET = 0.9


def load(paths):
    """{(task, seed, k, image): {step: dice}} from curves.csv files; ValueError on a step seen
    twice."""
    curves = collections.defaultdict(dict)
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["task"], int(r["seed"]), int(r["k"]), r["image"])
                step = int(r["step"])
                if step in curves[key]:
                    raise ValueError(f"{p}: {key} step {step} appears twice")
                curves[key][step] = float(r["dice"])
    if not curves:
        raise ValueError(f"{', '.join(paths)}: no curve rows")
    return curves


def noi90(curve, cap):
    """(clicks to Dice >= 0.9, reached) for one curve {step: dice} with steps 0..cap; the cap
    and False when no step reaches it. ValueError when a step in 0..cap is missing."""
    missing = [s for s in range(cap + 1) if s not in curve]
    if missing:
        raise ValueError(f"steps {missing[:3]}... missing (the curve must run 0..{cap}; "
                         f"run mvs eval --curves with --max-interactions {cap})")
    for s in range(cap + 1):
        if curve[s] >= TARGET:
            return s, True
    return cap, False


def units(curves, k_max, cap):
    """{task: (k, [(noi0, reached0, noik, reachedk)])}: per task the largest k in 1..k_max it
    holds, on the (seed, image) units present with k = 0 and that k. ValueError naming a task
    without k = 0 or without a usable k."""
    by_task = collections.defaultdict(lambda: collections.defaultdict(dict))
    for (task, seed, k, image), c in curves.items():
        by_task[task][k][(seed, image)] = c
    out = {}
    for task in sorted(by_task):
        ks = by_task[task]
        if 0 not in ks:
            raise ValueError(f"{task}: no curve without context (k = 0); run with --curve-k 0,...")
        usable = [k for k in ks if 0 < k <= k_max]
        if not usable:
            raise ValueError(f"{task}: no ground-truth context size in 1..{k_max}")
        k = max(usable)
        common = sorted(set(ks[0]) & set(ks[k]))
        if not common:
            raise ValueError(f"{task}: no image has both k = 0 and k = {k}")
        rows = []
        for seed, image in common:  # only the two sizes used: a short curve elsewhere is no error
            row = ()
            for kk in (0, k):
                try:
                    row += noi90(ks[kk][(seed, image)], cap)
                except ValueError as e:
                    raise ValueError(f"{task}, seed {seed}, k {kk}, image {image}: {e}") from None
            rows.append(row)
        out[task] = (k, rows)
    return out


def summary(per_task):
    """(pooled clicks k = 0, pooled clicks k, mean saving % over the tasks, pooled saving %);
    per_task is {task: [(noi0, _, noik, _)]}. ValueError when a task's k = 0 clicks are 0."""
    c0 = ck = 0
    savings = []
    for task, us in per_task.items():
        a = sum(u[0] for u in us)
        b = sum(u[2] for u in us)
        if a == 0:
            raise ValueError(f"{task}: the UNet alone needs no clicks on these images; the saving is undefined")
        savings.append(1 - b / a)
        c0 += a
        ck += b
    return c0, ck, 100 * sum(savings) / len(savings), 100 * (1 - ck / c0)


def bootstrap(per_task, b, seed=0):
    """95% intervals of (mean saving %, pooled saving %) over b resamples of each task's units.
    A resample whose k = 0 clicks are all 0 on some task is drawn again."""
    rng = random.Random(seed)
    m, p = [], []
    while len(m) < b:
        try:
            s = summary({t: [rng.choice(us) for _ in us] for t, us in per_task.items()})
        except ValueError:
            continue
        m.append(s[2])
        p.append(s[3])
    return interval95(m), interval95(p)


def report(table, b):
    per_task = {t: us for t, (_, us) in table.items()}
    s = summary(per_task)  # first: it refuses a 0-click baseline
    print("| task | k | images | clicks, UNet alone (k = 0) | clicks, MultiverSegNet with k ground-truth entries "
          "| reach 90% (k = 0 / k) | saving |")
    print("|---|---|---|---|---|---|---|")
    for task, (k, us) in table.items():
        a = sum(u[0] for u in us)
        c = sum(u[2] for u in us)
        print(f"| {task} | {k} | {len(us)} | {a} | {c} | {sum(u[1] for u in us)} / {sum(u[3] for u in us)} "
              f"| {100 * (1 - c / a):.1f}% |")
    print(f"\n{len(table)} tasks: saving {s[2]:.1f}% averaged over the tasks, {s[3]:.1f}% pooled "
          f"({s[1]} clicks against {s[0]})")
    if b:
        (ml, mh), (pl, ph) = bootstrap(per_task, b)
        print(f"bootstrap, {b} resamples of each task's images: 95% interval of the mean saving "
              f"[{ml:.1f}%, {mh:.1f}%], of the pooled saving [{pl:.1f}%, {ph:.1f}%]")


def selftest():
    """Synthetic curves with known answers; raises AssertionError on a wrong one."""
    cap = 3
    assert noi90({0: 0.1, 1: 0.95, 2: 0.5, 3: 0.5}, cap) == (1, True)  # first reach, not last
    assert noi90({0: 0.91, 1: 0.5, 2: 0.5, 3: 0.5}, cap) == (0, True)  # no prompt needed
    assert noi90({0: 0.1, 1: 0.2, 2: 0.3, 3: 0.899}, cap) == (3, False)  # the cap
    assert noi90({0: 0.1, 1: 0.2, 2: 0.3, 3: 0.9}, cap) == (3, True)  # reached at the cap
    try:
        noi90({0: 0.1, 1: 0.2}, cap)
        raise AssertionError("accepted a short curve")
    except ValueError:
        pass
    never = {0: 0.0, 1: 0.1, 2: 0.2, 3: 0.3}  # NoI90 3
    two = {0: 0.0, 1: 0.1, 2: 0.95, 3: 0.95}  # NoI90 2
    one = {0: 0.0, 1: 0.95, 2: 0.95, 3: 0.95}  # NoI90 1
    curves = {
        # task a: k = 0 needs 3 + 3, k = 1 needs 2 + 1, k = 4 needs 1 + 1
        ("a", 0, 0, "x"): never, ("a", 0, 0, "y"): never,
        ("a", 0, 1, "x"): two, ("a", 0, 1, "y"): one,
        ("a", 0, 4, "x"): one, ("a", 0, 4, "y"): one,
        # task b: only k = 1, and a unit present only at k = 0 (left out)
        ("b", 0, 0, "x"): two, ("b", 0, 0, "z"): never, ("b", 0, 1, "x"): never,
    }
    t = units(curves, 99, cap)
    assert t["a"][0] == 4 and t["b"][0] == 1 and len(t["b"][1]) == 1, t
    s = summary({k: us for k, (_, us) in t.items()})
    # a: 1 - 2/6 = 66.7%; b: 1 - 3/2 = -50%; mean 8.3%; pooled 1 - 5/8 = 37.5%
    assert (s[0], s[1]) == (8, 5) and abs(s[2] - 100 * (2 / 3 - 0.5) / 2) < 1e-9 and abs(s[3] - 37.5) < 1e-9, s
    t1 = units(curves, 1, cap)  # --k 1: task a falls back to k = 1 (its k = 4 curves unread)
    assert units({**curves, ("a", 0, 4, "x"): {0: 0.1}}, 1, cap)["a"][0] == 1
    assert t1["a"][0] == 1 and summary({k: us for k, (_, us) in t1.items()})[1] == 3 + 3, t1
    iv = bootstrap({k: us for k, (_, us) in t.items()}, 300)
    assert iv[0][0] <= s[2] <= iv[0][1] and iv[1][0] <= s[3] <= iv[1][1], (iv, s)
    same = {"a": [(3, False, 1, True)] * 5}
    assert bootstrap(same, 50) == ((100 * 2 / 3, 100 * 2 / 3), (100 * 2 / 3, 100 * 2 / 3))
    for bad in ({("a", 0, 1, "x"): one},  # no k = 0
                {("a", 0, 0, "x"): one},  # no k > 0
                {("a", 0, 0, "x"): one, ("a", 0, 1, "y"): one},  # no common image
                {("a", 0, 0, "x"): {0: 0.1}, ("a", 0, 1, "x"): one}):  # short curve
        try:
            units(bad, 99, cap)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
    try:
        summary({"a": [(0, True, 1, True)]})
        raise AssertionError("accepted a task whose k = 0 clicks are 0")
    except ValueError:
        pass
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "curves.csv")
        with open(path, "w") as f:
            f.write("task,seed,k,image,step,dice\na,0,0,x,0,0.1\na,0,0,x,0,0.2\n")
        try:
            load([path])
            raise AssertionError("accepted a step seen twice")
        except ValueError:
            pass
    print("context_saving selftest: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("curves", nargs="*", help="curves.csv files of `mvs eval --curves`")
    ap.add_argument("--k", type=int, default=None, help="largest ground-truth context size to use (default: all)")
    ap.add_argument("--cap", type=int, default=20, help="clicks allowed per image (the protocol's 20)")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="B", help="resamples for 95%% intervals (0: none)")
    ap.add_argument("--selftest", action="store_true", help="check the script on synthetic curves and exit")
    args = ap.parse_args()
    if args.selftest:
        selftest()
        return 0
    if not args.curves:
        ap.error("give at least one curves.csv")
    for name, v, low in (("--cap", args.cap, 1), ("--bootstrap", args.bootstrap, 0), ("--k", args.k, 1)):
        if v is not None and v < low:
            ap.error(f"{name} {v}: must be >= {low}")
    try:
        curves = load(args.curves)
        table = units(curves, args.k if args.k is not None else max(k for _, _, k, _ in curves), args.cap)
        report(table, args.bootstrap)
    except (ValueError, KeyError, OSError, csv.Error) as e:
        print(f"context_saving: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
