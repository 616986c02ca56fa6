#!/usr/bin/env python3
"""Does the uncertainty score mean something? Spearman correlation between a prediction's
uncertainty and 1 - Dice, on the tasks of ../shared/data, with ground-truth context and no
prompts (issue 11, item 2).

Per task (images sorted by name): with 24 or more images, the first 8 (image, ground-truth
mask) pairs are the context and the next 16 images are predicted; with fewer, each image is
predicted with all the others as context (leave one out). Prints per-task and pooled Spearman
rho (scipy.stats.spearmanr) and writes the per-image rows to a CSV.

Needs the multiverseg wheel, numpy, Pillow and scipy (not the library: tools only).
Usage: bench/uncertainty_spearman.py [--data ../shared/data] [--model FILE] [--out rows.csv]
"""

import argparse
import csv
import pathlib
import time

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

import multiverseg as mvs


def load(task):
    names = sorted(p.name for p in (task / "images").iterdir())
    out = []
    for n in names:
        m = task / "masks" / n
        if not m.exists():
            continue
        img = np.asarray(Image.open(task / "images" / n).convert("L"))
        mask = (np.asarray(Image.open(m)) > 0)
        if mask.ndim == 3:
            mask = mask.any(axis=2)
        out.append((n, img, mask.astype(np.uint8)))
    return out


def dice(a, b):
    a, b = a.astype(bool), b.astype(bool)
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else 2.0 * (a & b).sum() / s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="uncertainty_rows.csv")
    a = ap.parse_args()
    model = mvs.Model.load(a.model, backend="cpu", threads=a.threads) if a.model else mvs.Model.default(backend="cpu", threads=a.threads)
    rows = []
    t0 = time.time()
    for task in sorted(p for p in pathlib.Path(a.data).iterdir() if (p / "images").is_dir()):
        items = load(task)
        if len(items) < 2:
            continue
        if len(items) >= 24:
            plans = [(items[:8], items[8:24])]
        else:
            plans = [([x for x in items if x is not t], [t]) for t in items]
        for ctx, targets in plans:
            s = mvs.Session(model)
            for _, img, mask in ctx:
                s.context_add(img, mask)
            for (n, img, mask), p in zip(targets, s.predict_batch([t[1] for t in targets])):
                rows.append((task.name, n, len(ctx), dice(p.mask, mask), p.uncertainty))
    el = time.time() - t0
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "image", "context", "dice", "uncertainty"])
        w.writerows(rows)
    print(f"| task | n | mean Dice | mean uncertainty | Spearman rho (uncertainty, 1 - Dice) |")
    print("|---|---|---|---|---|")
    for task in sorted({r[0] for r in rows}):
        r = [x for x in rows if x[0] == task]
        d = np.array([x[3] for x in r])
        u = np.array([x[4] for x in r])
        rho = spearmanr(u, 1 - d).statistic if len(r) > 2 and np.ptp(d) > 0 and np.ptp(u) > 0 else float("nan")
        print(f"| {task} | {len(r)} | {d.mean():.3f} | {u.mean():.3f} | {rho:.2f} |")
    d = np.array([x[3] for x in rows])
    u = np.array([x[4] for x in rows])
    print(f"| pooled | {len(rows)} | {d.mean():.3f} | {u.mean():.3f} | {spearmanr(u, 1 - d).statistic:.2f} |")
    print(f"{len(rows)} predictions in {el:.0f} s ({model.backend})")


if __name__ == "__main__":
    main()
