"""Peers for `mvs bench`: PyTorch CPU (tools/reference.py, same ops as the official code) and
ONNX Runtime CPU (the graph from `mvs export-onnx`), same sizes, random inputs, median of runs.

Usage: python bench/peers.py --dir DIR --context 1,2,4,8,16 --runs 3 --threads 2
where DIR holds mvs.pt (official format) and mvs.onnx, and, for the ScribblePrompt-UNet line
(`network=scribbleprompt`), sp.pt and sp.onnx when both are there.
"""
import argparse, os, statistics, sys, time
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import reference as R


def peak_rss_mib():
    """The process's peak resident memory so far (Linux: ru_maxrss in KiB), MiB."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, runs):
    """`median_ms=... p90_ms=... min_ms=... first_ms=... peak_rss_mib=...` of `runs` calls
    after one warm-up (first_ms)."""
    with torch.no_grad():
        t0 = time.perf_counter()
        fn()
        first = (time.perf_counter() - t0) * 1e3
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    p90 = times[min(len(times) - 1, len(times) * 9 // 10)]
    return (f"median_ms={statistics.median(times):.1f} p90_ms={p90:.1f} min_ms={times[0]:.1f} "
            f"first_ms={first:.1f} peak_rss_mib={peak_rss_mib():.0f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--context", default="1,2,4,8,16")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--peer", choices=["both", "pytorch", "onnxruntime"], default="both",
                    help="one peer per process gives that peer's own peak memory")
    ap.add_argument("--no-unet", action="store_true", help="skip the ScribblePrompt-UNet line")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(a.dir, "mvs.onnx"), so, providers=["CPUExecutionProvider"])
    sd = torch.load(os.path.join(a.dir, "mvs.pt"))["model"]
    rng = np.random.default_rng(0)
    h = w = a.size
    for s in [int(x) for x in a.context.split(",") if x]:
        t = rng.random((1, 5, h, w), dtype=np.float32)
        ci = rng.random((1, s, 1, h, w), dtype=np.float32)
        cl = (rng.random((1, s, 1, h, w)) > 0.5).astype(np.float32)
        for name, fn in (
            ("pytorch", lambda: R.multiverseg_forward(sd, torch.from_numpy(t), torch.from_numpy(ci), torch.from_numpy(cl))),
            ("onnxruntime", lambda: sess.run(["logits"], {"target": t, "context_images": ci, "context_labels": cl})),
        ):
            if a.peer not in ("both", name):
                continue
            print(f"peer={name} S={s} size={h} runs={a.runs} {timed(fn, a.runs)}", flush=True)
    if not a.no_unet and os.path.exists(os.path.join(a.dir, "sp.onnx")) and os.path.exists(os.path.join(a.dir, "sp.pt")):
        sp_sess = ort.InferenceSession(os.path.join(a.dir, "sp.onnx"), so, providers=["CPUExecutionProvider"])
        sp = torch.load(os.path.join(a.dir, "sp.pt"))
        sp = sp.get("model", sp)
        t = rng.random((1, 5, h, w), dtype=np.float32)
        for name, fn in (
            ("pytorch", lambda: R.unet_forward(sp, torch.from_numpy(t))),
            ("onnxruntime", lambda: sp_sess.run(["logits"], {"target": t})),
        ):
            if a.peer not in ("both", name):
                continue
            print(f"peer={name} network=scribbleprompt size={h} runs={a.runs} {timed(fn, a.runs)}", flush=True)


if __name__ == "__main__":
    main()
