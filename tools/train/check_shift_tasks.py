"""Does the UNet's downward shift on a clean disk (check_shift.py) show on real images?

    python tools/train/check_shift_tasks.py TASKS MODEL.safetensors [N]

For each task folder of TASKS (<task>/images, <task>/masks): the first N images by name (default
18), at 128 x 128 as `click_rule_check.load` prepares them (zero-padded to a square at the
bottom/right, resized, min-max image), the UNet of MODEL in the evaluation's loop (the exact
center click of the largest error component, `prompts.correction_center_click`) for 20 clicks
without stopping at 90%. Prints per task, after 5 and after 20 clicks: the mean offset of the
predicted mask's centroid from the label's (dy, + is down; dx, + is right; px at 128), the
mean Dice at 128 x 128 and how many images reach 0.9, and the same with the prediction moved by
the one whole-pixel move (dy -3..3, dx -2..2) that maximises the task's mean Dice. Then, over
all images with one move for all: the mean dy, the mean Dice and the best move (means over
images, so the 18-image tasks weigh most). Tasks without a non-empty label are skipped. A UNet
whose masks sit systematically low shows a positive dy and a best move upward that raises
Dice. CPU, 1 thread, about 50 s for the 110 images that N = 18 takes from the 12 evaluation
tasks of ../shared/data (some have 3-5). Needs numpy, torch, scipy, Pillow, safetensors.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from click_rule_check import load, load_unet  # noqa: E402
from prompts import correction_center_click, initial_center_click  # noqa: E402
from resolution_oracle import dice  # noqa: E402


SHIFTS = [(sy, sx) for sy in range(-3, 4) for sx in range(-2, 3)]  # the moves tried: (down, right)
STILL = SHIFTS.index((0, 0))


def moved(p, sy, sx):
    """p [H,W] moved sy px down and sx px right, zero-filled."""
    q = np.zeros_like(p)
    H, W = p.shape
    ys, yd = (slice(0, H - sy), slice(sy, H)) if sy >= 0 else (slice(-sy, H), slice(0, H + sy))
    xs, xd = (slice(0, W - sx), slice(sx, W)) if sx >= 0 else (slice(-sx, W), slice(0, W + sx))
    q[yd, xd] = p[ys, xs]
    return q


def trace(unet, img, lab):
    """{5, 20: ((dy, dx), [Dice per move of SHIFTS])} for one image [1,1,128,128] and its label:
    the UNet's prediction after 5 and 20 evaluation-loop clicks, its centroid offset from the
    label's (nan when empty) and its Dice moved by each move."""
    g = lab[0, 0].numpy() > 0
    gy, gx = np.nonzero(g)
    prompts, prev = initial_center_click(lab, exact=True), torch.zeros_like(lab)
    rec = {}
    with torch.no_grad():
        for k in range(1, 21):
            logits = unet(torch.cat([img, prompts, prev], 1))
            if k in (5, 20):
                p = logits[0, 0].numpy() > 0
                yy, xx = np.nonzero(p)
                d = (yy.mean() - gy.mean(), xx.mean() - gx.mean()) if len(yy) else (np.nan, np.nan)
                rec[k] = (d, [dice(moved(p, sy, sx), g) for sy, sx in SHIFTS])
            one = correction_center_click(torch.zeros_like(prompts), lab, logits, exact=True)
            prompts, prev = (prompts + one).clamp(max=1), logits
    return rec


def summary(rows, k):
    """Mean dy, mean dx, and (mean Dice, images >= 0.9) unmoved and with the best move, after k
    clicks over `rows` (trace results)."""
    dy = np.nanmean([r[k][0][0] for r in rows])
    dx = np.nanmean([r[k][0][1] for r in rows])
    D = np.array([r[k][1] for r in rows])
    m = D.mean(0)
    ib = int(m.argmax())
    reach = lambda i: int((D[:, i] >= 0.9).sum())  # noqa: E731
    return dy, dx, (m[STILL], reach(STILL)), (SHIFTS[ib], m[ib], reach(ib))


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    data, model = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) == 4 else 18
    torch.set_num_threads(1)
    torch.manual_seed(0)
    unet = load_unet(model)
    allrows = []
    for task in sorted(t for t in os.listdir(data) if os.path.isdir(os.path.join(data, t, "images"))):
        rows = []
        for name in sorted(os.listdir(os.path.join(data, task, "images")))[:n]:
            img = torch.from_numpy(load(os.path.join(data, task, "images", name), False))[None, None]
            lab = torch.from_numpy(load(os.path.join(data, task, "masks", name), True))[None, None]
            if lab.sum() > 0:
                rows.append(trace(unet, img, lab))
        if not rows:
            print(f"{task}: no image with a non-empty label, skipped")
            continue
        allrows += rows
        for k in (5, 20):
            dy, dx, (d0, r0), (mv, db, rb) = summary(rows, k)
            print(f"{task:34s} @{k:2d}: n {len(rows):2d} dy {dy:+.2f} dx {dx:+.2f} | Dice {d0:.3f} (>=0.9: {r0}) "
                  f"| best move {mv} {db:.3f} (>=0.9: {rb})", flush=True)
    for k in (5, 20):
        dy, _, (d0, r0), (mv, db, rb) = summary(allrows, k)
        print(f"ALL @{k}: n {len(allrows)} mean dy {dy:+.2f} | Dice {d0:.3f} (>=0.9: {r0}) "
              f"| one move for all {mv}: {db:.3f} (>=0.9: {rb})")


if __name__ == "__main__":
    main()
