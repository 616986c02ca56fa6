"""The Fiji binding test's disk, as a 20-second check of a checkpoint's UNet (issue 14).

    python tools/train/check_disk.py MODEL.safetensors [MODEL2 ...] [--mvs target/release/mvs]

bindings/java/.../SegmentStackTest.java generates a 96 x 80 16-bit stack of a bright disk
(radius 15 px, values 2600 / 1000 plus Gaussian noise of sd 150) and prompts slice 3 with a
positive click at the disk's centre and negative clicks near two corners; the test wants Dice
>= 0.88 on every slice. This script draws slices of the same kind (its own noise, so the
numbers are close to, not equal to, the test's), runs `mvs predict` with those prompts (no
context: the UNet), and prints per slice the Dice and the predicted area over the true area
(< 1: under-segmented, > 1: over-segmented), then the mean. Needs numpy and Pillow and a
built `mvs` (cargo build --release -p mvs).

It is a screen, not the decision. On the three UNets measured both ways (2026-12-05) its first
(clicked) slice read 0.012-0.017 higher than the test's clicked slice: version 7 0.908 here,
0.896 in the test (passes); the 1078-iteration continuation of version 7's recipe 0.880 here,
0.863 in the test (fails); their soup 0.895 here, 0.880 in the test (fails, 0.8798). A
candidate is decided by the test itself: copy its weights to
weights/multiverseg-default.safetensors and run `scripts/test.sh java` (about 1-4 min; the
library embeds the default model, so the tier rebuilds it).
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image

W, H, R = 96, 80, 15


def noisy_disk(rng, cx, cy, w, h, path):
    """Writes a 16-bit PNG of the Fiji test's kind to path: a disk of radius R px centred at
    (cx, cy) (continuous coordinates, pixel centres at +0.5), 2600 inside and 1000 outside,
    plus Gaussian noise of sd 150. Returns the disk's mask [h, w] (bool)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    truth = (xx - cx) ** 2 + (yy - cy) ** 2 <= R * R
    img = np.clip(np.where(truth, 2600, 1000) + 150 * rng.standard_normal((h, w)), 0, 65535)
    Image.fromarray(img.astype(np.uint16)).save(path)
    return truth


def predict(mvs, model, image, out, pos, negs=()):
    """`mvs predict` on the CPU, one thread, without context (the UNet) with one positive
    click at pos and negative clicks at negs (image pixels); returns the mask (bool)."""
    cmd = [mvs, "predict", "--model", model, "--backend", "cpu", "--threads", "1",
           "--image", image, "--pos", f"{pos[0]},{pos[1]}", "-o", out]
    for x, y in negs:
        cmd += ["--neg", f"{x},{y}"]
    subprocess.run(cmd, check=True, capture_output=True)
    return np.array(Image.open(out)) > 0


def dice(pred, truth):
    return 2 * (pred & truth).sum() / (pred.sum() + truth.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="weights files (safetensors)")
    ap.add_argument("--mvs", default="target/release/mvs", help="the mvs binary")
    args = ap.parse_args()
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory(prefix="mvs_disk_") as tmp:
        slices = []
        for z in (2, 5, 8, 11):  # slice 3 (index 2) is the test's clicked one
            cx, cy = 38 + 1.5 * z, 40 + 0.5 * z  # the test's drift
            path = os.path.join(tmp, f"z{z}.png")
            slices.append((path, noisy_disk(rng, cx, cy, W, H, path), cx, cy))
        out = os.path.join(tmp, "out.png")
        for m in args.models:
            row = []
            for path, truth, cx, cy in slices:
                pred = predict(args.mvs, m, path, out, (cx, cy), [(6, 6), (W - 6, H - 6)])
                row.append((dice(pred, truth), pred.sum() / truth.sum()))
            print(m, " ".join(f"{d:.4f} (area x{a:.2f})" for d, a in row), f"mean {np.mean([d for d, _ in row]):.3f}")


if __name__ == "__main__":
    main()
