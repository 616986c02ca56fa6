"""Times the parts of one training iteration (data, prompts, forward+backward).

python tools/train/bench.py --device cuda [--batches 16,32] [--contexts 1,4,8] [--trace]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TaskSampler  # noqa: E402
from models import MultiverSegNet, ScribblePromptUNet  # noqa: E402
from prompts import correction_prompts, initial_prompts  # noqa: E402
import train as T  # noqa: E402


def timeit(fn, device, n=5, warm=2):
    for _ in range(warm):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.time()
    for _ in range(n):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.time() - t) / n * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="16,32")
    ap.add_argument("--unet-batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--nf", type=int, default=64)
    ap.add_argument("--unet-nf", type=int, default=32)
    ap.add_argument("--contexts", default="1,4,8")
    ap.add_argument("--cudnn-benchmark", action="store_true")
    ap.add_argument("--trace", action="store_true", help="print the top kernels of one iteration")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(1 if dev.type == "cpu" else 4)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = a.cudnn_benchmark
    amp = torch.bfloat16 if dev.type == "cuda" else None
    sampler = TaskSampler(a.size, dev, None, "synth:0.6,superpixel:0.4")
    mvs = MultiverSegNet([a.nf] * 4).to(dev)
    unet = ScribblePromptUNet([a.unet_nf] * 4).to(dev)
    fused = {"fused": True} if dev.type == "cuda" else {}
    om = torch.optim.Adam(mvs.parameters(), 1e-4, **fused)
    ou = torch.optim.Adam(unet.parameters(), 1e-4, **fused)
    args = T.parse_args(["--out", "/tmp/x", "--minutes", "1"])
    ub = a.unet_batch
    for b in [int(x) for x in a.batches.split(",")]:
        for s in [int(x) for x in a.contexts.split(",")]:
            img, lab = sampler.sample(b, s)
            t_data4 = timeit(lambda: sampler.sample(4 * b, s), dev, 3, 1)
            fi, fl = img.flatten(0, 1), lab.flatten(0, 1)
            idx = torch.randint(0, fi.shape[0], (ub,), device=dev)
            rows_i = torch.cat([img[:, 0], fi[idx]])
            rows_l = torch.cat([lab[:, 0], fl[idx]])
            t_p0 = timeit(lambda: initial_prompts(rows_l), dev)
            logits = torch.randn_like(rows_l)
            p = initial_prompts(rows_l)
            sc = torch.rand(rows_l.shape[0], device=dev) < 0.4
            t_pc = timeit(lambda: correction_prompts(p, rows_l, logits, sc), dev)
            ctx = torch.cat([img[:, 1:], lab[:, 1:]], 2)
            x = torch.cat([rows_i, p, logits], 1)

            def fb():
                with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
                    y = mvs(x[:b], ctx)
                y.float().mean().backward()
            t_fb = timeit(fb, dev)
            both = [("mvs", mvs, om, slice(0, b), ctx), ("sp", unet, ou, slice(b, b + ub), None)]
            t_both = timeit(lambda: T.interactive_step(both, rows_i, rows_l, args, amp, dev.type), dev, 4, 1)
            sp_only = [("sp", unet, ou, slice(0, ub), None)]
            t_sp = timeit(lambda: T.interactive_step(sp_only, rows_i[b:], rows_l[b:], args, amp, dev.type), dev, 4, 1)
            print(f"B={b} S={s}: data/4 {t_data4 / 4:.1f} ms, prompts (N={b + ub}) initial {t_p0:.1f} "
                  f"correction {t_pc:.1f}, mvs fwd+bwd {t_fb:.1f}, full 3-step iteration mvs+sp {t_both:.1f} "
                  f"(sp alone {t_sp:.1f}) -> {1e3 / (t_both + t_data4 / 4):.2f} it/s, "
                  f"{b * 1e3 / (t_both + t_data4 / 4):.0f} tasks/s", flush=True)
            if a.trace and dev.type == "cuda":
                from torch.profiler import ProfilerActivity, profile
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    T.interactive_step(both, rows_i, rows_l, args, amp, dev.type)
                    torch.cuda.synchronize()
                try:
                    tab = prof.key_averages().table(sort_by="device_time_total", row_limit=12)
                except Exception:
                    tab = prof.key_averages().table(sort_by="cuda_time_total", row_limit=12)
                print(tab, flush=True)
                a.trace = False


if __name__ == "__main__":
    main()
