"""PyTorch CUDA peer for `mvs bench --backend gpu`: the same full-size MultiverSegNet
(tools/reference.py's functional forward, the official ops), TF32 on (PyTorch's default
for cuDNN convolutions) and off, latency per S and peak memory, plus an accuracy check
of the wgpu logits (`mvs infer --backend gpu`) against an f64 forward on the same inputs.

Usage: python bench/gpu_peers.py --dir DIR --context 1,8,16,64 --runs 10 [--dump S]
  DIR holds mvs.pt (tools/reference.py --weights-only --nf 256 --unet-nf 192).
  --dump S writes DIR/acc_{target,ci,cl}.npy for S entries and DIR/acc_f64.npy.
"""
import argparse, os, statistics, sys
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import reference as R


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--context", default="1,8,16,64")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--dump", type=int, default=0)
    a = ap.parse_args()
    dev = torch.device("cuda")
    print(f"# peer device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    sd = {k: v.to(dev) for k, v in torch.load(os.path.join(a.dir, "mvs.pt"))["model"].items()}
    h = w = a.size
    rng = np.random.default_rng(0)
    for tf32 in (True, False):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        for s in [int(x) for x in a.context.split(",")]:
            t = torch.from_numpy(rng.random((1, 5, h, w), dtype=np.float32)).to(dev)
            ci = torch.from_numpy(rng.random((1, s, 1, h, w), dtype=np.float32)).to(dev)
            cl = torch.from_numpy((rng.random((1, s, 1, h, w)) > 0.5).astype(np.float32)).to(dev)
            with torch.no_grad():
                for _ in range(2):
                    R.multiverseg_forward(sd, t, ci, cl)
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                times = []
                for _ in range(a.runs):
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    R.multiverseg_forward(sd, t, ci, cl)
                    e1.record()
                    torch.cuda.synchronize()
                    times.append(e0.elapsed_time(e1))
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(f"peer=pytorch_cuda tf32={int(tf32)} S={s} size={h} runs={a.runs} "
                  f"median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} peak_gib={peak:.2f}", flush=True)
    if a.dump:
        s = a.dump
        t = rng.random((1, 5, h, w), dtype=np.float32)
        t[:, 4] = rng.standard_normal((1, h, w)).astype(np.float32)  # previous logits
        ci = rng.random((1, s, 1, h, w), dtype=np.float32)
        cl = (rng.random((1, s, 1, h, w)) > 0.5).astype(np.float32)
        for name, x in (("target", t), ("ci", ci), ("cl", cl)):
            np.save(os.path.join(a.dir, f"acc_{name}.npy"), x)
        sd64 = {k: v.double() for k, v in sd.items()}
        with torch.no_grad():
            ref = R.multiverseg_forward(sd64, *(torch.from_numpy(x).to(dev).double() for x in (t, ci, cl)))
        np.save(os.path.join(a.dir, "acc_f64.npy"), ref.cpu().numpy())
        torch.backends.cudnn.allow_tf32 = False
        with torch.no_grad():
            f32 = R.multiverseg_forward(sd, *(torch.from_numpy(x).to(dev) for x in (t, ci, cl)))
        err = (f32.double() - ref).abs().max().item()
        print(f"peer=pytorch_cuda_fp32 S={s} max_abs_err_vs_f64={err:.3e} max_abs_logit={ref.abs().max().item():.2f}", flush=True)


if __name__ == "__main__":
    main()
