"""Decide a MultiverSegNet candidate against the shipped model from two `mvs eval` runs (issue 14).

    python3 tools/eval/compare_runs.py --reference SHIPPED/results.csv \
        --candidate CANDIDATE/results.csv [--bootstrap 5000]

Both runs are `mvs eval --all HELDOUT --n 18 --seeds 3` outputs (results.csv, columns task,
seed, position, method, interactions, dice, image; several files per run may be given, e.g.
one per held-out set). The position-0 image seeds the context and is left out, as in
`mvs eval`'s summary. Prints, per task, the MultiverSeg-arm clicks of both runs, the baseline
(UNet alone) clicks and each run's reduction against the baseline, then the rule of
tools/eval/README.md: the candidate passes only with fewer MultiverSeg-arm clicks pooled over
the tasks AND a reduction averaged over the tasks at least the reference's.

With --bootstrap B it also resamples the (task, seed, position) units with replacement within
each task, B times, pairing the two runs unit by unit (same seed and position = same image),
and prints a 95% interval of the pooled click difference (candidate - reference) and of the
difference of the per-task mean reductions (percentage points), and how often the rule passes
on a resample. Units are treated as independent although within one seed the context chains
them; read the interval as the order of the noise, not as an exact confidence interval.

The two runs must hold the same tasks, seeds and positions, and the same baseline clicks (a
MultiverSegNet candidate shares the shipped UNet); otherwise the script exits with status 2 and
names what differs. Exit status: 0 pass, 1 fail. Standard library only.

--both-arms describes, and decides nothing: for a candidate whose UNet differs (so its baseline
arm differs too, and the rule above does not apply; a UNet is decided by compare_curves.py),
it prints both arms' clicks of both runs per task, the pooled click difference of each arm
(candidate - reference) with the same paired bootstrap's 95% interval, and each run's
reduction. It needs the same tasks, seeds and positions; exit status 0, or 2 as above.
"""
import argparse
import collections
import contextlib
import csv
import io
import random
import sys

MVS, BASE = "multiverseg", "baseline"


def load(paths):
    """{(task, seed, position): {method: clicks}} from results.csv files (positions >= 1)."""
    runs = collections.defaultdict(dict)
    for p in paths:
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                if int(r["position"]) == 0:
                    continue
                key = (r["task"], int(r["seed"]), int(r["position"]))
                if r["method"] in runs[key]:
                    raise ValueError(f"{p}: {key} {r['method']} appears twice")
                runs[key][r["method"]] = int(r["interactions"])
    return runs


def paired_units(ref, cand, same_baseline):
    """{task: [(ref mvs, cand mvs, ref baseline, cand baseline)]}, units in sorted order;
    ValueError naming the first mismatch of units, a missing arm or, with same_baseline, a
    baseline that differs."""
    if set(ref) != set(cand):
        only = sorted(set(ref) ^ set(cand))[0]
        raise ValueError(f"the runs differ in (task, seed, position): {only} is in one only")
    units = collections.defaultdict(list)
    for key in sorted(ref):
        r, c = ref[key], cand[key]
        for what, row in (("--reference", r), ("--candidate", c)):
            if MVS not in row or BASE not in row:
                raise ValueError(f"{what}: {key} lacks the {MVS} or the {BASE} arm")
        if same_baseline and r[BASE] != c[BASE]:
            raise ValueError(f"baseline clicks differ at {key} ({r[BASE]} vs {c[BASE]}): "
                             "not a MultiverSegNet-only candidate; use the UNet rule (compare_curves.py), or --both-arms "
                             "to describe both arms")
        units[key[0]].append((r[MVS], c[MVS], r[BASE], c[BASE]))
    return units


def pair(ref, cand):
    """{task: [(ref mvs, cand mvs, baseline)]}: the rule's units, the baselines equal."""
    return {t: [v[:3] for v in u] for t, u in paired_units(ref, cand, True).items()}


def pair_arms(ref, cand):
    """--both-arms' units, {task: [(ref mvs, cand mvs, ref baseline, cand baseline)]}: the
    baselines may differ."""
    return paired_units(ref, cand, False)


def resamples(units, b, seed=0):
    """B resamples of the units with replacement within each task (the paired bootstrap of
    both modes: a unit keeps both runs' clicks of one image)."""
    rng = random.Random(seed)
    for _ in range(b):
        yield {t: [rng.choice(u) for _ in u] for t, u in units.items()}


def arm_sums(units):
    """(pooled ref mvs, cand mvs, ref baseline, cand baseline, mean reduction ref %, cand %),
    each run's reduction against its own baseline."""
    sums = [sum(v[i] for u in units.values() for v in u) for i in range(4)]
    red = [[], []]
    for u in units.values():
        t = [sum(v[i] for v in u) for i in range(4)]
        red[0].append(1 - t[0] / t[2])
        red[1].append(1 - t[1] / t[3])
    n = len(units)
    return (*sums, 100 * sum(red[0]) / n, 100 * sum(red[1]) / n)


def report_arms(units, b):
    """--both-arms: the table and the paired intervals of both arms' differences; returns
    True (described; there is no verdict)."""
    print("| task | MultiverSeg arm (reference / candidate) | UNet alone (reference / candidate) "
          "| reduction (reference / candidate) |")
    print("|---|---|---|---|")
    for t, u in units.items():
        a, c, x, y = (sum(v[i] for v in u) for i in range(4))
        print(f"| {t} | {a} / {c} | {x} / {y} | {100 * (1 - a / x):.1f}% / {100 * (1 - c / y):.1f}% |")
    s = arm_sums(units)
    print(f"| **{len(units)} tasks** | **{s[0]} / {s[1]}** | **{s[2]} / {s[3]}** "
          f"| **{s[4]:.1f}% / {s[5]:.1f}%** per task |")
    line = (f"\ndifferences (candidate - reference): MultiverSeg arm {s[1] - s[0]:+d} clicks, "
            f"UNet alone {s[3] - s[2]:+d}, reduction {s[5] - s[4]:+.1f} points")
    if b:
        dm, db, dr = [], [], []
        for sample in resamples(units, b):
            r = arm_sums(sample)
            dm.append(r[1] - r[0])
            db.append(r[3] - r[2])
            dr.append(r[5] - r[4])
        (ml, mh), (bl, bh), (rl, rh) = interval95(dm), interval95(db), interval95(dr)
        line += (f"; paired bootstrap ({b} resamples of the (task, seed, position) units within each "
                 f"task), 95% intervals: MultiverSeg arm [{ml:+d}, {mh:+d}], UNet alone [{bl:+d}, {bh:+d}], "
                 f"reduction [{rl:+.1f}, {rh:+.1f}]")
    print(line + "\n(described only: no rule applies to runs whose baselines differ)")
    return True


def summary(units):
    """(pooled ref, pooled cand, mean reduction ref %, mean reduction cand %)."""
    ref = sum(a for u in units.values() for a, _, _ in u)
    cand = sum(b for u in units.values() for _, b, _ in u)
    red = [[], []]
    for u in units.values():
        base = sum(x for _, _, x in u)
        red[0].append(1 - sum(a for a, _, _ in u) / base)
        red[1].append(1 - sum(b for _, b, _ in u) / base)
    n = len(units)
    return ref, cand, 100 * sum(red[0]) / n, 100 * sum(red[1]) / n


def passes(s):
    """The rule: fewer pooled MultiverSeg-arm clicks and a mean reduction at least the reference's."""
    return s[1] < s[0] and s[3] >= s[2]


def interval95(xs):
    """The 2.5th and 97.5th percentiles of the values xs (nearest rank, as every bootstrap of
    this script and of context_saving.py reports them)."""
    xs = sorted(xs)
    n = len(xs)
    return xs[int(0.025 * n)], xs[min(n - 1, int(0.975 * n))]


def bootstrap(units, b, seed=0):
    """95% intervals of the pooled click difference and of the reduction difference, P(pass)."""
    d, r, ok = [], [], 0
    for sample in resamples(units, b, seed):
        s = summary(sample)
        d.append(s[1] - s[0])
        r.append(s[3] - s[2])
        ok += passes(s)
    return interval95(d), interval95(r), ok / b


def report(units, b):
    print("| task | MultiverSeg-arm clicks (reference / candidate) | UNet alone | reduction (reference / candidate) |")
    print("|---|---|---|---|")
    for t, u in units.items():
        a, c, x = (sum(v[i] for v in u) for i in range(3))
        print(f"| {t} | {a} / {c} | {x} | {100 * (1 - a / x):.1f}% / {100 * (1 - c / x):.1f}% |")
    s = summary(units)
    print(f"| **{len(units)} tasks** | **{s[0]} / {s[1]}** | {sum(x for u in units.values() for _, _, x in u)} "
          f"| **{s[2]:.1f}% / {s[3]:.1f}%** per task |")
    verdict = passes(s)
    print(f"\nrule: {'PASS' if verdict else 'FAIL'} (pooled {s[1]} vs {s[0]}, "
          f"per-task mean reduction {s[3]:.1f}% vs {s[2]:.1f}%)")
    if b:
        (dl, dh), (rl, rh), p = bootstrap(units, b)
        print(f"paired bootstrap ({b} resamples of the (task, seed, position) units within each task): "
              f"pooled difference {s[1] - s[0]:+d} clicks, 95% interval [{dl:+d}, {dh:+d}]; "
              f"reduction difference {s[3] - s[2]:+.1f} points, [{rl:+.1f}, {rh:+.1f}]; "
              f"the rule passes on {100 * p:.0f}% of the resamples")
    return verdict


def selftest():
    """Synthetic runs whose verdicts are known; raises AssertionError on a wrong one."""
    units = {"a": [(10, 8, 20)] * 4, "b": [(20, 20, 20)] * 4}
    s = summary(units)
    assert s[:2] == (120, 112) and abs(s[2] - 25.0) < 1e-9 and abs(s[3] - 30.0) < 1e-9, s
    assert passes(s)
    assert not passes(summary({"a": [(10, 12, 20)] * 4}))  # more clicks
    # fewer clicks pooled, but a lower mean reduction: task b's loss outweighs a's gain per task
    worse = {"a": [(100, 60, 200)], "b": [(5, 10, 10)]}
    s = summary(worse)
    assert s[1] < s[0] and s[3] < s[2] and not passes(s)
    (dl, dh), _, p = bootstrap(units, 200)
    assert dl == dh == -8 and p == 1.0  # identical units: no spread
    # --both-arms: baselines may differ, each run's reduction is against its own baseline
    arms = pair_arms({("a", 0, 1): {MVS: 6, BASE: 10}, ("a", 0, 2): {MVS: 4, BASE: 10}},
                     {("a", 0, 1): {MVS: 5, BASE: 8}, ("a", 0, 2): {MVS: 3, BASE: 8}})
    s = arm_sums(arms)
    assert s[:4] == (10, 8, 20, 16) and abs(s[4] - 50.0) < 1e-9 and abs(s[5] - 50.0) < 1e-9, s
    for bad in ({("a", 0, 1): {MVS: 5, BASE: 8}}, {("a", 0, 1): {BASE: 8}, ("a", 0, 2): {MVS: 3, BASE: 8}}):
        try:
            pair_arms({("a", 0, 1): {MVS: 6, BASE: 10}, ("a", 0, 2): {MVS: 4, BASE: 10}}, bad)
        except ValueError:
            continue
        raise AssertionError(f"--both-arms accepted a mismatched run {bad}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert report_arms(arms, 50)
    assert "MultiverSeg arm -2 clicks, UNet alone -4" in out.getvalue(), out.getvalue()
    assert "MultiverSeg arm [-2, -2], UNet alone [-4, -4]" in out.getvalue(), out.getvalue()
    ref = {("a", 0, 1): {MVS: 5, BASE: 9}}
    for bad in ({("a", 0, 1): {MVS: 5, BASE: 8}}, {("a", 0, 2): {MVS: 5, BASE: 9}},
                {("a", 0, 1): {MVS: 5}}):
        try:
            pair(ref, bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted a mismatched run {bad}")
    print("compare_runs selftest: ok")


def cli(doc, name, what, load, pair, report, selftest, both_arms=None):
    """The command line both decision scripts share (this one and compare_curves.py): parse
    --reference/--candidate (files of `what`), --bootstrap and --selftest; return the exit
    status (0 pass, 1 fail, 2 runs that cannot be compared). both_arms: None, or the
    (pair, report) of a describing mode behind --both-arms (this script's)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", nargs="+", help=f"{what} file(s) of the shipped model")
    ap.add_argument("--candidate", nargs="+", help=f"{what} file(s) of the candidate")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="B", help="paired bootstrap resamples (0: none)")
    ap.add_argument("--selftest", action="store_true", help="check the script on synthetic runs and exit")
    if both_arms:
        ap.add_argument("--both-arms", action="store_true",
                        help="describe runs whose baselines differ (a UNet candidate): both arms' clicks "
                             "and their paired differences, no verdict (exit 0)")
    args = ap.parse_args()
    if both_arms and args.both_arms:
        pair, report = both_arms
    if args.selftest:
        selftest()
        return 0
    if not args.reference or not args.candidate:
        ap.error("--reference and --candidate are required")
    if args.bootstrap < 0:
        ap.error(f"--bootstrap {args.bootstrap}: must be >= 0")
    try:
        units = pair(load(args.reference), load(args.candidate))
    except (ValueError, KeyError, OSError) as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    return 0 if report(units, args.bootstrap) else 1


def main():
    return cli(__doc__, "compare_runs", "results.csv", load, pair, report, selftest, (pair_arms, report_arms))


if __name__ == "__main__":
    sys.exit(main())
