"""Resolution oracle: how close to each ground-truth mask any network with a 128 x 128 output
can get, under the library's geometry (DESIGN.md section 4: zero-pad bottom/right to a square,
bilinear resize with align_corners=False and no antialiasing, threshold the logits at 0).

For every mask of every task folder (<task>/masks/*.png, nonzero = foreground) it searches
128 x 128 logit maps and reports the best Dice found at the original size. The search: the mask
area-averaged to 128 x 128 (p), logits p - t for t in 0.05..0.95; with --steps N, then N Adam
steps on a soft Dice at the original size for masks still under 0.95. What it prints is a lower
bound on the best Dice a 128 x 128 output can reach: where it is >= 0.9, failing to reach 90% is
the network's fault, not the resolution's.

    python tools/train/resolution_oracle.py /path/to/tasks [--limit 40] [--steps 150]

Needs torch, numpy and Pillow; one CPU thread; a few seconds per task at --steps 0.
"""
import argparse
import glob
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def dice(a, b):
    s = a.sum() + b.sum()
    return 1.0 if s == 0 else float(2 * (a & b).sum() / s)


def best_dice(mask, steps):
    """Best Dice found for one boolean mask (H, W); see the module docstring."""
    h, w = mask.shape
    side = max(h, w)
    sq = np.zeros((side, side), np.float32)
    sq[:h, :w] = mask
    p = F.adaptive_avg_pool2d(torch.from_numpy(sq)[None, None], 128)

    def up(z):
        return F.interpolate(z, size=(side, side), mode="bilinear", align_corners=False)[0, 0, :h, :w]

    best = max(dice((up(p - t) > 0).numpy(), mask) for t in np.arange(0.05, 0.96, 0.05))
    if steps and best < 0.95:
        z = ((p - 0.5) * 8).clone().requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.1)
        gt = torch.from_numpy(mask).float()
        for _ in range(steps):
            s = torch.sigmoid(up(z) * 4)
            loss = 1 - 2 * (s * gt).sum() / (s.sum() + gt.sum())
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                best = max(best, dice((up(z) > 0).numpy(), mask))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tasks", help="folder of task folders <task>/masks/*.png")
    ap.add_argument("--limit", type=int, default=1000, help="masks per task (sorted by name)")
    ap.add_argument("--steps", type=int, default=0, help="Adam steps per mask under 0.95")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for task in sorted(glob.glob(os.path.join(args.tasks, "*"))):
        files = sorted(glob.glob(os.path.join(task, "masks", "*.png")))[: args.limit]
        if not files:
            continue
        d = []
        for f in files:
            m = np.array(Image.open(f))
            m = (m[..., 0] if m.ndim == 3 else m) != 0
            d.append(best_dice(m, args.steps))
        d = np.array(d)
        print(f"{os.path.basename(task):34s} n={len(d):3d} oracle Dice min {d.min():.3f} "
              f"median {np.median(d):.3f}, share >= 0.9: {(d >= 0.9).mean():.2f}", flush=True)


if __name__ == "__main__":
    main()
