"""How often training's old center-click rule clicks another region than the evaluation.

    python tools/train/click_rule_check.py DATA [--model M.safetensors] [--per-task 12]

The evaluation (DESIGN.md section 5, crates/multiverseg/src/simulate) clicks the deepest point
of the largest error component: the largest false-negative and the largest false-positive
4-connected component compete by area. Training does that since 2026-12-03; before, it clicked
the deepest point of all pixels of the error type with the larger total area, and put the first
click at the deepest point of the whole label (`exact=False` in tools/train/prompts.py). This
script runs the UNet of a weights file (default: the shipped model) in the evaluation's loop on
the first images of every task folder of DATA (<task>/images, <task>/masks), at 128 x 128
(zero-padded to a square and resized as training does; min-max image; masks nonzero-first,
re-binarized at 0.5), with exact clicks up to 20 or Dice 0.9, and counts the steps at which the
old rule would click the other sign, or the same sign in another component, and the old rule's
first clicks outside the label's largest component. CPU, 1 thread, about 40 s for 9 tasks x 12
images. Needs numpy, scipy, Pillow, safetensors and torch.
"""
import argparse
import os
import sys

import numpy as np
import torch
from scipy.ndimage import label
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from data import _load_gray, _resize, _to_square  # noqa: E402
from models import ScribblePromptUNet  # noqa: E402
from prompts import FOUR, correction_center_click, initial_center_click, largest_component  # noqa: E402

UNET_KEYS = ("downs", "bottleneck", "ups", "final_conv")


def load(path, mask):
    """128 x 128 float [H,W], zero-padded to a square at the bottom/right and resized as training
    does (data.py's `_load_gray`, `_to_square`, `_resize`): an image then min-max scaled to
    [0, 1]; a mask (nonzero = foreground) re-binarized at 0.5 after resizing."""
    a = _load_gray(path)
    if mask:
        a = (a > 0).astype(np.float32)
    a = _resize(_to_square(a), 128)
    if mask:
        return (a > 0.5).astype(np.float32)
    a = a - a.min()
    return a / max(float(a.max()), 1e-6)


def load_unet(path):
    """The ScribblePrompt-UNet of a converted weights file (`mvs convert`'s .safetensors: the
    `downs`, `bottleneck`, `ups`, `final_conv` tensors; width read from the file), in eval mode."""
    sd = load_file(path)
    unet = ScribblePromptUNet([sd["downs.0.conv.0.weight"].shape[0]] * 4)
    unet.load_state_dict({k: v for k, v in sd.items() if k.split(".")[0] in UNET_KEYS})
    return unet.eval()


def click(one):
    """(positive, y, x) of the single click in a [1,3,H,W] map with no other prompt, or None."""
    for ch, sign in ((1, True), (2, False)):
        d = torch.nonzero(one[0, ch])
        if len(d):
            return sign, int(d[0, 0]), int(d[0, 1])
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="folder of task folders <task>/{images,masks}/*.png")
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "weights", "multiverseg-default.safetensors"))
    ap.add_argument("--per-task", type=int, default=12, help="first images of each task (sorted by name)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    unet = load_unet(args.model)
    total = [0, 0, 0, 0, 0]  # steps, other sign, other component, first clicks, first outside
    for task in sorted(os.listdir(args.data)):
        names = sorted(os.listdir(os.path.join(args.data, task, "images")))[: args.per_task]
        t = [0, 0, 0, 0, 0]
        for name in names:
            img = torch.from_numpy(load(os.path.join(args.data, task, "images", name), False))[None, None]
            lab = torch.from_numpy(load(os.path.join(args.data, task, "masks", name), True))[None, None]
            if lab.sum() == 0:
                continue
            _, y, x = click(initial_center_click(lab, exact=False))
            t[3] += 1
            t[4] += int(largest_component(lab)[0, 0, y, x] == 0)
            prompts = initial_center_click(lab, exact=True)
            prev = torch.zeros_like(lab)
            with torch.no_grad():
                for _ in range(20):
                    logits = unet(torch.cat([img, prompts, prev], 1))
                    pred = logits > 0
                    g = lab > 0
                    if 2 * (g & pred).sum() / (g.sum() + pred.sum()) >= 0.9:
                        break
                    none = torch.zeros_like(prompts)  # each rule's click alone
                    one = correction_center_click(none, lab, logits, exact=True)
                    a = click(one)
                    if a is None:
                        break
                    b = click(correction_center_click(none, lab, logits, exact=False))
                    t[0] += 1
                    if b is None or a[0] != b[0]:
                        t[1] += 1
                    else:
                        err = ((g & ~pred) if a[0] else (pred & ~g))[0, 0].numpy()
                        comp, _ = label(err, FOUR)
                        t[2] += int(comp[a[1], a[2]] != comp[b[1], b[2]])
                    prompts, prev = (prompts + one).clamp(max=1), logits
        print(f"{task}: {t[0]} correction steps, other sign {t[1]}, same sign other component {t[2]}; "
              f"first click outside the largest component {t[4]}/{t[3]}", flush=True)
        total = [u + v for u, v in zip(total, t)]
    s = max(total[0], 1)
    print(f"all: {total[0]} correction steps; the old rule clicks the other sign in {total[1]} "
          f"({100 * total[1] / s:.1f}%) and another component of the same sign in {total[2]} "
          f"({100 * total[2] / s:.1f}%); first clicks outside the largest component {total[4]}/{total[3]}")


if __name__ == "__main__":
    main()
