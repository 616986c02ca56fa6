"""What the UNet's first clicks do: per click, its sign, the Dice, the predicted area and the
number of predicted objects, in the evaluation's center-click loop.

    python tools/train/first_clicks_check.py DATA TASK [TASK ...] [--model M.safetensors]
        [--per-task 18] [--clicks 10]
    python tools/train/first_clicks_check.py --reach [--model M.safetensors]
    python tools/train/first_clicks_check.py --synthetic-many N [--model M.safetensors] [--clicks 10]

Runs the UNet of a weights file (default: the shipped model) alone on the first images of each
task folder DATA/TASK/{images,masks} at 128 x 128 (loaded as `click_rule_check.py` does), with
the evaluation's clicks (DESIGN.md section 5: the first at the deepest point of the label's
largest component, then one at the deepest point of the largest error component; no stop at
90%), and prints per click k, over the images: how many of the k-th clicks were positive, the
mean Dice after it, the predicted area over the label's area, and the number of 4-connected
components predicted and in the label. Made on 2026-12-05 to see why Dice falls from the first
click to the third on the many-nuclei held-out tasks. An approximation of `mvs eval`: the
network runs at 128 x 128 and the clicks are placed there, not at the image's own size.
CPU, 2 threads: 6-7 s for three or four tasks of 18 images (this project's 2-core VM, idle).
The click rule breaks ties at random from one seed (0) for the whole call, so the numbers move
a little (Dice by about 0.005) with --clicks and with the tasks listed before; weights/MODEL_HISTORY.md's
tables say which --clicks they used.

`--reach` prints instead how far a click reaches: the rows on which the gradient is non-zero
(the gradient's support, at most the theoretical receptive field) and the radii holding 50% and
90% of the gradient of one output pixel's logit with respect to the
positive-click channel (a random 256 x 256 input, the pixel at its centre; a second), i.e. how
far from a click the prediction can still depend on it, at that input (the network is not
linear: real inputs with sparse clicks may differ). `--synthetic-many N` runs the click loop on
N tasks of the synthetic many-object family (`data.py`, `--mix ...,multi:W`; seed 5) instead of
task folders.
"""
import argparse
import os
import sys

import numpy as np
import torch
from scipy.ndimage import label

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from click_rule_check import click, load, load_unet  # noqa: E402
from prompts import FOUR, correction_center_click, initial_center_click  # noqa: E402


def trace(unet, img, lab, clicks):
    """The UNet alone in the evaluation's loop on one image. `unet` maps [1,5,H,W] (image, box,
    positive clicks, negative clicks, previous logits) to [1,1,H,W] logits; `img` and `lab` are
    [1,1,H,W] (image in [0, 1], label in {0, 1}, not empty). Returns one tuple per click, up
    to `clicks` (fewer where the prediction becomes exact): (this click positive, Dice after it,
    predicted area / label area, predicted components, label components)."""
    g = lab > 0
    n_label = label(g[0, 0].numpy(), FOUR)[1]
    prompts = initial_center_click(lab, exact=True)
    positive = True
    prev = torch.zeros_like(lab)
    rows = []
    with torch.no_grad():
        for _ in range(clicks):
            logits = unet(torch.cat([img, prompts, prev], 1))
            pred = logits > 0
            dice = float(2 * (g & pred).sum()) / float(g.sum() + pred.sum())
            n_pred = label(pred[0, 0].numpy(), FOUR)[1]
            rows.append((positive, dice, float(pred.sum()) / float(g.sum()), n_pred, n_label))
            one = correction_center_click(torch.zeros_like(prompts), lab, logits, exact=True)
            c = click(one)
            if c is None:
                break
            positive = c[0]
            prompts, prev = (prompts + one).clamp(max=1), logits
    return rows


def reach(unet, size=256, seed=0):
    """How far a click reaches: for the logit of the centre pixel of a random [1, 5, size, size]
    input, returns (rows on which the input gradient is non-zero, the smallest radius in px
    holding 50% of the absolute gradient over the positive-click channel 2, the same for 90%)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(1, 5, size, size, generator=g) * 0.5).requires_grad_(True)
    c = size // 2
    unet(x)[0, 0, c, c].backward()
    rows = torch.nonzero(x.grad[0].abs().sum((0, 2)) > 0).flatten()
    gc = x.grad[0, 2].abs()
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - c) ** 2 + (xx - c) ** 2).float().sqrt()
    order = torch.argsort(r.flatten())
    mass = torch.cumsum(gc.flatten()[order], 0) / gc.sum()
    radius = [float(r.flatten()[order][int(torch.searchsorted(mass, q))]) for q in (0.5, 0.9)]
    return int(rows.max() - rows.min() + 1), radius[0], radius[1]


def summarize(per_image):
    """Lines of the report from `trace`'s lists of one task's images: per click k, the number of
    positive k-th clicks, then the means of Dice, area ratio and component counts."""
    lines = []
    for k in range(max(len(r) for r in per_image)):
        rows = [r[k] for r in per_image if len(r) > k]
        pos = sum(r[0] for r in rows)
        m = [float(np.mean([r[i] for r in rows])) for i in range(1, 5)]
        lines.append(f"  click {k + 1:2d}: positive {pos:2d}/{len(rows)}  Dice {m[0]:.3f}  "
                     f"predicted / label area {m[1]:.2f}  components predicted {m[2]:.1f}, label {m[3]:.1f}")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", help="folder of task folders <task>/{images,masks}/*.png")
    ap.add_argument("tasks", nargs="*", help="task folder names under DATA")
    ap.add_argument("--reach", action="store_true", help="print how far a click reaches instead")
    ap.add_argument("--synthetic-many", type=int, default=0, metavar="N",
                    help="run on N synthetic many-object tasks instead of DATA's tasks")
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "weights", "multiverseg-default.safetensors"))
    ap.add_argument("--per-task", type=int, default=18, help="first images of each task (sorted by name)")
    ap.add_argument("--clicks", type=int, default=10, help="clicks per image")
    args = ap.parse_args()
    if not os.path.isfile(args.model):
        ap.error(f"--model {args.model}: no such file")
    if args.clicks < 1 or args.per_task < 1:
        ap.error("--clicks and --per-task must be >= 1")
    if not (args.reach or args.synthetic_many > 0) and args.data:
        missing = [t for t in args.tasks if not os.path.isdir(os.path.join(args.data, t, "images"))
                   or not os.path.isdir(os.path.join(args.data, t, "masks"))]
        if missing:
            ap.error(f"task(s) {', '.join(missing)}: no images/ and masks/ folders under {args.data}")
    torch.set_num_threads(2)
    torch.manual_seed(0)
    unet = load_unet(args.model)
    if args.reach:
        span, r50, r90 = reach(unet)
        print(f"gradient support {span} px; 50% of the positive-click gradient within {r50:.1f} px, "
              f"90% within {r90:.1f} px (input 256 x 256)")
        return
    if args.synthetic_many > 0:
        from data import SynthSource
        torch.manual_seed(5)
        img, lab = SynthSource(128, "cpu", many=True).sample(args.synthetic_many, 1)
        rows = [trace(unet, img[i:i + 1], lab[i:i + 1], args.clicks)
                for i in range(img.shape[0]) if lab[i].sum() > 0]
        print(f"synthetic many-object tasks ({len(rows)} with a label)")
        print("\n".join(summarize(rows)))
        return
    if not args.data or not args.tasks:
        ap.error("DATA and at least one TASK are needed (or --reach, --synthetic-many)")
    for task in args.tasks:
        folder = os.path.join(args.data, task)
        per_image = []
        for name in sorted(os.listdir(os.path.join(folder, "images")))[: args.per_task]:
            lab = torch.from_numpy(load(os.path.join(folder, "masks", name), True))[None, None]
            if lab.sum() == 0:
                continue
            img = torch.from_numpy(load(os.path.join(folder, "images", name), False))[None, None]
            per_image.append(trace(unet, img, lab, args.clicks))
        print(task)
        print("\n".join(summarize(per_image)) if per_image else "  no image with a label")


if __name__ == "__main__":
    main()
