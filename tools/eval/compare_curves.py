r"""Decide a candidate UNet against the shipped one from two `mvs eval --curves` runs (issue 14).

    python3 tools/eval/compare_curves.py --reference SHIPPED/curves.csv \
        --candidate CANDIDATE/curves.csv [--bootstrap 5000]

Both runs are `mvs eval --model M --all HELDOUT --curves --curve-k 0 --n 18 --seeds 1` outputs
(curves.csv, columns task, seed, k, image, step, dice: the UNet alone's Dice after each center
click). Prints, per task, both runs' mean Dice after 5 and after 20 clicks, then the UNet rule
of tools/eval/README.md: the candidate passes only if its Dice averaged over the tasks is
higher than the reference's both after 5 and after 20 clicks. (The rule's third condition,
the Fiji test, is not in these files: run `scripts/test.sh java` with the candidate.)

With --bootstrap B it also resamples the (task, seed, image) units with replacement within
each task, B times, pairing the two runs image by image (the clicks are deterministic, so a
unit is the same image under the same protocol in both runs), and prints a 95% interval of
each difference (candidate - reference) and how often the rule passes on a resample. This
shows how much of a decision is noise: the images are a sample of each task's images.

The two runs must hold the same tasks, seeds, context sizes, images and steps; otherwise the
script exits with status 2 and names what differs. Exit status: 0 pass, 1 fail. Standard
library only.
"""
import collections
import csv
import random
import sys

STEPS = (5, 20)


def load(paths):
    """{(task, seed, k, image): {step: dice}} from curves.csv files, the rows without
    context (k = 0: the UNet alone) only; `mvs eval --curves` also writes k = 8 unless run
    with --curve-k 0, and those are MultiverSegNet's curves. ValueError when a file holds
    no such row, or one image under several seeds (the bootstrap would count it twice)."""
    runs = collections.defaultdict(dict)
    seeds = set()  # over all files of the run, checked once they are all read
    for p in paths:
        n = 0
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                if int(r["k"]) != 0:
                    continue
                n += 1
                seeds.add(int(r["seed"]))
                key = (r["task"], int(r["seed"]), int(r["k"]), r["image"])
                step = int(r["step"])
                if step in runs[key]:
                    raise ValueError(f"{p}: {key} step {step} appears twice")
                runs[key][step] = float(r["dice"])
        if n == 0:
            raise ValueError(f"{p}: no curve without context (k = 0); run mvs eval with --curve-k 0")
    if len(seeds) > 1:
        raise ValueError(f"{', '.join(paths)}: seeds {sorted(seeds)}; the rule's runs use --seeds 1")
    return runs


def pair(ref, cand, steps=STEPS):
    """{task: [(ref dice at steps..., cand dice at steps...)]}; ValueError naming the first
    mismatch (a unit in one run only, or a step missing from a unit)."""
    if set(ref) != set(cand):
        only = sorted(set(ref) ^ set(cand))[0]
        raise ValueError(f"the runs differ in (task, seed, k, image): {only} is in one only")
    units = collections.defaultdict(list)
    for key in sorted(ref):
        for what, run in (("--reference", ref), ("--candidate", cand)):
            missing = [s for s in steps if s not in run[key]]
            if missing:
                raise ValueError(f"{what}: {key} has no Dice after {missing[0]} clicks")
        units[key[0]].append((tuple(ref[key][s] for s in steps), tuple(cand[key][s] for s in steps)))
    return units


def summary(units, nsteps=len(STEPS)):
    """([reference mean over tasks per step], [candidate ...]): each task's mean over its
    images, then the mean over the tasks (a 6-image task weighs as much as an 18-image one)."""
    out = ([0.0] * nsteps, [0.0] * nsteps)
    for u in units.values():
        for side in range(2):
            for i in range(nsteps):
                out[side][i] += sum(v[side][i] for v in u) / len(u) / len(units)
    return out


def passes(s):
    """The rule: higher than the reference at every step compared (5 and 20 clicks)."""
    return all(c > r for r, c in zip(s[0], s[1]))


def bootstrap(units, b, seed=0):
    """Per step a 95% interval of the difference (candidate - reference), and P(pass)."""
    rng = random.Random(seed)
    diffs, ok = [], 0
    for _ in range(b):
        s = summary({t: [rng.choice(u) for _ in u] for t, u in units.items()})
        diffs.append([c - r for r, c in zip(s[0], s[1])])
        ok += passes(s)
    lo = int(0.025 * b)
    hi = b - 1 - lo
    cols = [sorted(d[i] for d in diffs) for i in range(len(diffs[0]))]
    return [(c[lo], c[hi]) for c in cols], ok / b


def report(units, b, steps=STEPS):
    head = " | ".join(f"after {s} (reference / candidate)" for s in steps)
    print(f"| task | images | {head} |")
    print("|---|---|" + "---|" * len(steps))
    for t, u in units.items():
        cells = " | ".join(f"{sum(v[0][i] for v in u) / len(u):.4f} / {sum(v[1][i] for v in u) / len(u):.4f}"
                           for i in range(len(steps)))
        print(f"| {t} | {len(u)} | {cells} |")
    s = summary(units, len(steps))
    cells = " | ".join(f"**{s[0][i]:.4f} / {s[1][i]:.4f}**" for i in range(len(steps)))
    print(f"| **mean of {len(units)} tasks** | | {cells} |")
    verdict = passes(s)
    print(f"\nrule: {'PASS' if verdict else 'FAIL'} ("
          + ", ".join(f"after {st}: {s[1][i] - s[0][i]:+.4f}" for i, st in enumerate(steps)) + ")")
    if b:
        iv, p = bootstrap(units, b)
        print(f"paired bootstrap ({b} resamples of the images within each task): "
              + "; ".join(f"after {st} {s[1][i] - s[0][i]:+.4f}, 95% interval [{lo:+.4f}, {hi:+.4f}]"
                          for i, (st, (lo, hi)) in enumerate(zip(steps, iv)))
              + f"; the rule passes on {100 * p:.0f}% of the resamples")
    return verdict


def selftest():
    """Synthetic runs whose verdicts are known; raises AssertionError on a wrong one."""
    units = {"a": [((0.5, 0.8), (0.6, 0.9))] * 4, "b": [((0.2, 0.4), (0.2, 0.5))] * 2}
    s = summary(units)
    assert [round(x, 9) for x in s[0]] == [0.35, 0.6] and [round(x, 9) for x in s[1]] == [0.4, 0.7], s
    assert passes(s)
    # task means, not image means: task b's 2 images weigh as much as a's 4
    lop = {"a": [((0.5, 0.5), (0.6, 0.6))] * 4, "b": [((0.5, 0.5), (0.3, 0.7))] * 2}
    s = summary(lop)
    assert s[1][0] < s[0][0] and s[1][1] > s[0][1] and not passes(s)
    assert not passes(summary({"a": [((0.5, 0.8), (0.5, 0.9))]}))  # a tie is not higher
    iv, p = bootstrap(units, 200)
    assert all(abs(lo - hi) < 1e-12 for lo, hi in iv) and p == 1.0  # identical units: no spread
    noisy = {"a": [((0.5, 0.5), (0.5 + d, 0.5 + d)) for d in (-0.2, 0.2, -0.1, 0.12)]}
    iv, p = bootstrap(noisy, 500)
    assert iv[0][0] < 0 < iv[0][1] and 0.2 < p < 0.9, (iv, p)
    ref = {("a", 0, 0, "x"): {5: 0.5, 20: 0.7}}
    for bad in ({("a", 0, 0, "y"): {5: 0.5, 20: 0.7}}, {("a", 0, 0, "x"): {5: 0.5}}):
        try:
            pair(ref, bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted a mismatched run {bad}")
    assert pair(ref, ref)["a"] == [((0.5, 0.7), (0.5, 0.7))]
    # load: k = 8 rows (MultiverSegNet's) are left out; several seeds or no k = 0 row refused
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        def write(rows):
            path = os.path.join(d, "curves.csv")
            with open(path, "w") as f:
                f.write("task,seed,k,image,step,dice\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
            return path
        run = load([write([("a", 0, 0, "x", 5, 0.5), ("a", 0, 8, "x", 5, 0.9)])])
        assert dict(run) == {("a", 0, 0, "x"): {5: 0.5}}, run
        for rows in ([("a", 0, 8, "x", 5, 0.9)], [("a", 0, 0, "x", 5, 0.5), ("a", 1, 0, "x", 5, 0.5)]):
            try:
                load([write(rows)])
            except ValueError:
                continue
            raise AssertionError(f"accepted {rows}")
        other = os.path.join(d, "other.csv")
        with open(other, "w") as f:
            f.write("task,seed,k,image,step,dice\na,1,0,x,5,0.5\n")
        try:
            load([write([("a", 0, 0, "x", 5, 0.5)]), other])
        except ValueError:
            pass
        else:
            raise AssertionError("accepted two files with different seeds")
    print("compare_curves selftest: ok")


def main():
    from compare_runs import cli  # the same command line (same folder)
    return cli(__doc__, "compare_curves", "curves.csv", load, pair, report, selftest)


if __name__ == "__main__":
    sys.exit(main())
