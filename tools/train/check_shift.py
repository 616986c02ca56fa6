"""Where a UNet puts a clean disk's mask: a 1 s check of the vertical shift found on 2026-12-06
(weights/MODEL_HISTORY.md, "What fails the Fiji disk").

    python tools/train/check_shift.py MODEL.safetensors [MODEL2 ...]

A disk of radius 20 px centred at column 56, row 64 (continuous coordinates, 8 px left of the
image's centre) in a 128 x 128 image (1 inside, 0 outside, the network's own size, so nothing is
resized; optionally Gaussian noise), run through the UNet in PyTorch
(`click_rule_check.load_unet`) with no prompt, with one positive click at pixel row 64, column
55 (one of the disk's four central pixels, fixed so that every model and every call gets the
same click), and with the disk's bounding box alone. Per
case: Dice, and the predicted mask's centroid minus the disk's, dy (px, + is down) and dx
(+ is right). An unbiased UNet has dy and dx near 0 with a click or a box; version 9 has dy
+4.3 with the centre click on the clean disk, versions 1-3 +0.4 (the table in weights/MODEL_HISTORY.md).
Needs torch, numpy, safetensors.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from click_rule_check import load_unet  # noqa: E402

SIZE, R, CX, CY = 128, 20, 56.0, 64.0
CLICK = (64, 55)  # row, column


def disk(noise=0.0, seed=0):
    """The image [1,1,128,128] (float32, 0 / 1 plus Gaussian noise of sd `noise`) and its
    mask [1,1,128,128] (0 / 1)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    m = ((xx - CX) ** 2 + (yy - CY) ** 2 <= R * R).astype(np.float32)
    img = m + noise * np.random.default_rng(seed).standard_normal(m.shape).astype(np.float32)
    return torch.from_numpy(img)[None, None], torch.from_numpy(m)[None, None]


def probe(unet, img, lab):
    """{case: (Dice, dy, dx)} for the cases "no prompt", "centre click" and "box"; dy, dx are
    nan where the prediction is empty. `unet` maps [1,5,H,W] (image, box, positive clicks,
    negative clicks, previous logits) to [1,1,H,W] logits."""
    ys, xs = torch.nonzero(lab[0, 0] > 0, as_tuple=True)
    box = torch.zeros_like(lab)
    box[..., int(ys.min()):int(ys.max()) + 1, int(xs.min()):int(xs.max()) + 1] = 1
    none = torch.zeros_like(lab)
    click = torch.zeros_like(lab)
    click[..., CLICK[0], CLICK[1]] = 1
    cases = {
        "no prompt": torch.cat([none, none, none], 1),
        "centre click": torch.cat([none, click, none], 1),
        "box": torch.cat([box, none, none], 1),
    }
    out = {}
    with torch.no_grad():
        for name, prompts in cases.items():
            pred = unet(torch.cat([img, prompts, torch.zeros_like(lab)], 1))[0, 0] > 0
            g = lab[0, 0] > 0
            dice = float(2 * (pred & g).sum()) / float(pred.sum() + g.sum())
            if pred.any():
                py, px = torch.nonzero(pred, as_tuple=True)
                dy = float(py.float().mean() - ys.float().mean())
                dx = float(px.float().mean() - xs.float().mean())
            else:
                dy = dx = float("nan")
            out[name] = (dice, dy, dx)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="weights files (safetensors)")
    ap.add_argument("--noise", type=float, default=0.0,
                    help="sd of Gaussian noise on the 0 / 1 disk (the Fiji test's is about 0.09)")
    args = ap.parse_args()
    for m in args.models:
        if not os.path.isfile(m):
            ap.error(f"model {m}: no such file")
    torch.set_num_threads(2)
    img, lab = disk(args.noise)
    for m in args.models:
        res = probe(load_unet(m), img, lab)
        print(m + ": " + "; ".join(f"{k} Dice {d:.3f} dy {dy:+.1f} dx {dx:+.1f}" for k, (d, dy, dx) in res.items()))


if __name__ == "__main__":
    main()
