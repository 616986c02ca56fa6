"""How a checkpoint's UNet answers one click placed off an object's centre (issue 14): a
few-second check for a directional bias.

    python tools/train/check_click_bias.py MODEL.safetensors [MODEL2 ...] [--mvs target/release/mvs]

A 128 x 128 16-bit image of a bright disk (radius 15 px, values 2600 / 1000 plus Gaussian
noise of sd 150, as the Fiji test's disk; no resize, so the click reaches the network in the
pixel it names) centred on the corner between pixels 63 and 64, and one positive click (no
context: the UNet) at pixel (64 + o, 64 + o) for o = -2..1 and, for the other diagonal, at
(64 + o, 63 - o). Pixels o and -1 - o are symmetric about the centre, so an unbiased network
gives them the same errors. Printed per model and offset: Dice and false negatives (FN,
pixels of the disk missed), averaged over 3 noise draws; then, per diagonal, the FN of the
clicks right of the centre (o = 0, 1: 0.5 and 1.5 px) minus those of their mirrors left of it
(down-right minus up-left on the diagonal "\\", up-right minus down-left on "/").

Measured 2026-12-05 (this VM, 2 s): version 7's UNet, right minus left, +15 / +44 pixels on
"\\" and +3 / +27 on "/" at 0.5 / 1.5 px (the disk has 716): clicks right of the centre lose
more of the disk on both diagonals, so it expects an object to extend to the right of a click
(and somewhat down: down-right 59 against up-right 43 at 1.5 px). The rejected 1078-iteration
UNet of that day: +16 / +37 and +5 / +22. An unbiased UNet gives about 0 on both. Earlier
versions (their committed weights, `git show <commit>:weights/multiverseg-default.safetensors`):
versions 1-3 -7 / +22 and +7 / +17, versions 4-5 -0 / +18 and +0 / +0, version 6 +13 / +38 and
+2 / +15: the bias grew in the runs that made versions 6 and 7, not in the earlier ones. Needs
numpy and Pillow and a built `mvs` (cargo build --release -p mvs).
"""
import argparse
import os
import tempfile

import numpy as np

from check_disk import dice, noisy_disk, predict

N, DRAWS = 128, 3
OFFSETS = (-2, -1, 0, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="weights files (safetensors)")
    ap.add_argument("--mvs", default="target/release/mvs", help="the mvs binary")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="mvs_bias_") as tmp:
        draws = []
        for k in range(DRAWS):
            path = os.path.join(tmp, f"d{k}.png")
            draws.append((path, noisy_disk(np.random.default_rng(100 + k), 64, 64, N, N, path)))
        out = os.path.join(tmp, "out.png")
        # diagonal "\": pixel (64+o, 64+o); diagonal "/": pixel (64+o, 63-o)
        diagonals = {"\\": lambda o: (64 + o, 64 + o), "/": lambda o: (64 + o, 63 - o)}
        for m in args.models:
            print(m)
            for name, at in diagonals.items():
                fns = {}
                cells = []
                for o in OFFSETS:
                    x, y = at(o)
                    d, fn = [], []
                    for path, truth in draws:
                        # the pixel's centre: the library truncates continuous coordinates to cells
                        pred = predict(args.mvs, m, path, out, (x + 0.5, y + 0.5))
                        d.append(dice(pred, truth))
                        fn.append((truth & ~pred).sum())
                    fns[o] = float(np.mean(fn))
                    cells.append(f"({x},{y}) Dice {np.mean(d):.3f} FN {fns[o]:.0f}")
                # o >= 0 lies right of the centre on both diagonals; its mirror is -1 - o
                asym = " ".join(f"{fns[o] - fns[-1 - o]:+.0f}" for o in OFFSETS if o >= 0)
                print(f"  diagonal {name}: " + " | ".join(cells) + f"  | FN right minus left, 0.5 / 1.5 px: {asym}")


if __name__ == "__main__":
    main()
