"""Writes PNG sheets of sampled training tasks and prompts, for eyeballing the data.

Each row is one task: the target (with its step-1 prompts overlaid: box in blue,
positive prompts in green, negative in red), then the context images; below each
image row, the labels.

python tools/train/show_tasks.py --data .traindata --out /tmp/tasks --size 128
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TaskSampler, mix_arg  # noqa: E402
from prompts import initial_prompts  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--context", type=int, default=5)
    ap.add_argument("--sheets", type=int, default=3)
    ap.add_argument("--mix", default="synth:0.45,superpixel:0.3,real:0.25", type=mix_arg)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from PIL import Image
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    sampler = TaskSampler(args.size, torch.device("cpu"), args.data, args.mix)
    for mix_name in ["all"] + list(sampler.names):
        if mix_name != "all":
            sampler_probs = sampler.probs.clone()
            sampler.probs = torch.tensor([1.0 if n == mix_name else 0.0 for n in sampler.names])
        for sh in range(args.sheets if mix_name == "all" else 1):
            img, lab = sampler.sample(args.tasks, args.context)
            p = initial_prompts(lab[:, 0])
            rows = []
            for t in range(args.tasks):
                tgt = img[t, 0, 0].numpy()
                rgb = np.stack([tgt] * 3, -1)
                box = p[t, 0].numpy() > 0
                rgb[box] = 0.7 * rgb[box] + 0.3 * np.array([0.2, 0.4, 1.0])
                rgb[p[t, 1].numpy() > 0] = [0, 1, 0]
                rgb[p[t, 2].numpy() > 0] = [1, 0, 0]
                top = [rgb] + [np.stack([img[t, j, 0].numpy()] * 3, -1) for j in range(1, args.context + 1)]
                bot = [np.stack([lab[t, j, 0].numpy()] * 3, -1) for j in range(args.context + 1)]
                rows.append(np.concatenate(top, 1))
                rows.append(np.concatenate(bot, 1))
            sheet = (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8)
            path = os.path.join(args.out, f"tasks_{mix_name}_{sh}.png")
            Image.fromarray(sheet).save(path)
            print("wrote", path)
        if mix_name != "all":
            sampler.probs = sampler_probs


if __name__ == "__main__":
    main()
