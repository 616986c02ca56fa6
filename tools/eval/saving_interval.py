r"""The context's click saving of one `mvs eval` run with bootstrap intervals (issue 14's two
measures: the reduction averaged over the tasks and the pooled reduction).

    python3 tools/eval/saving_interval.py RESULTS.csv [RESULTS.csv ...] [--bootstrap 5000] [--target 20]

Reads results.csv files of `mvs eval --all TASKS` (positions >= 1, as `mvs eval`'s summary and
compare_runs.py count them), prints the MultiverSeg arm's reduction against the baseline (the
UNet alone) averaged over the tasks and pooled, and, with --bootstrap B, 95% intervals of both
from resampling the (seed, position) units with replacement within each task, B times (the
resampling of compare_runs.py; units are treated as independent although within one seed the
context chains them: read the interval as the order of the noise), and the share of resamples
whose per-task reduction is below --target percent. Exit status 0, or 2 for a file that
cannot be read or a unit without both arms. Standard library only.
"""

import argparse
import random
import sys

import compare_runs as cr


def savings(units):
    """(per-task mean reduction %, pooled reduction %) of {task: [(mvs, mvs, baseline)]}."""
    s = cr.summary(units)
    mvs = sum(v[1] for u in units.values() for v in u)
    base = sum(v[2] for u in units.values() for v in u)
    return s[3], 100 * (1 - mvs / base)


def bootstrap(units, b, target, seed=0):
    """95% intervals of both reductions and the share of per-task reductions below target."""
    rng = random.Random(seed)
    per, pooled, below = [], [], 0
    for _ in range(b):
        s = savings({t: [rng.choice(u) for _ in u] for t, u in units.items()})
        per.append(s[0])
        pooled.append(s[1])
        below += s[0] < target
    return cr.interval95(per), cr.interval95(pooled), below / b


def selftest():
    """Synthetic runs with known savings; raises AssertionError on a wrong one."""
    units = {"a": [(5, 5, 10)] * 3, "b": [(20, 20, 20)] * 3}
    per, pooled = savings(units)
    assert abs(per - 25.0) < 1e-9 and abs(pooled - 100 * (1 - 75 / 90)) < 1e-9, (per, pooled)
    (lo, hi), _, below = bootstrap(units, 100, 20.0)
    assert lo == hi == per and below == 0.0  # identical units: no spread
    spread = {"a": [(0, 0, 10), (10, 10, 10)]}
    (lo, hi), _, below = bootstrap(spread, 2000, 60.0)
    assert lo == 0.0 and hi == 100.0 and 0.6 < below < 0.9, (lo, hi, below)
    print("saving_interval selftest: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="*", help="results.csv file(s) of one run")
    ap.add_argument("--bootstrap", type=int, default=0, metavar="B")
    ap.add_argument("--target", type=float, default=20.0, help="percent (issue 14: 20)")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        selftest()
        return 0
    if not a.results:
        ap.error("give at least one results.csv")
    if a.bootstrap < 0:
        ap.error(f"--bootstrap {a.bootstrap}: must be >= 0")
    try:
        run = cr.load(a.results)
        units = cr.pair(run, run)
    except (ValueError, KeyError, OSError) as e:
        print(f"saving_interval: {e}", file=sys.stderr)
        return 2
    per, pooled = savings(units)
    line = f"{len(units)} tasks: reduction {per:.1f}% per task, {pooled:.1f}% pooled"
    if a.bootstrap:
        (pl, ph), (ql, qh), below = bootstrap(units, a.bootstrap, a.target)
        line += (f"; {a.bootstrap} resamples: per task 95% interval [{pl:.1f}, {ph:.1f}], pooled "
                 f"[{ql:.1f}, {qh:.1f}]; per-task reduction below {a.target:g}% on "
                 f"{100 * below:.0f}% of the resamples")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
