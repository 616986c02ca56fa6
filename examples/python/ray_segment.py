"""Segment an archive of 2D images with a finished context set, on a Ray cluster.

Each Ray worker is an actor that loads one Model and the saved context once, then runs
``Session.predict_batch`` (context only, no prompts) on batches of images that it reads
itself (only file names travel through Ray), and writes each mask as a 0/255 PNG next to
the others, crash-safely (temporary name, then rename). The driver collects the
uncertainty scores into uncertainty.csv, most uncertain first: the images to review.

    python examples/python/ray_segment.py IMAGES --context task.mvsctx --out masks/ \\
        [--model official-v1] [--workers 2] [--batch-size 8] [--threads 1] [--gpus-per-worker 0]

IMAGES is a folder of PNG/TIFF images (sorted by name), a multi-page TIFF stack, or a
.npy array of shape (N, H, W). The context is a file saved with ``Session.context_save``
(or ``mvs``), or a folder of image_N.png / mask_N.png pairs (``--context-dir``). Without
``--address`` Ray starts a local cluster; ``--address auto`` joins a running one (see the
README: "Archives on a Ray cluster").

Needs: the multiverseg wheel, ray[data], numpy, Pillow.
"""

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".png", ".tif", ".tiff"}


def list_inputs(path):
    """(names, loader args) for a folder, a TIFF stack or a .npy stack; loader args are
    what a worker needs to read image i on its own."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            sys.exit(f"ray_segment: {p}: no .png/.tif images")
        return [f.stem for f in files], ("files", [str(f.resolve()) for f in files])
    if p.suffix.lower() == ".npy":
        n = np.load(p, mmap_mode="r").shape[0]
        return [f"slice_{i:04d}" for i in range(n)], ("npy", str(p.resolve()))
    if p.suffix.lower() in (".tif", ".tiff"):
        from PIL import Image

        with Image.open(p) as im:
            n = getattr(im, "n_frames", 1)
        return [f"slice_{i:04d}" for i in range(n)], ("tiff", str(p.resolve()))
    sys.exit(f"ray_segment: {p}: expected a folder, a .tif stack or a .npy stack")


def read_image(source, i):
    """Image i of the input as a 2D numpy array (uint8, uint16, int16 or float32)."""
    kind, where = source
    if kind == "npy":
        return np.ascontiguousarray(np.load(where, mmap_mode="r")[i])
    from PIL import Image

    with Image.open(where[i] if kind == "files" else where) as im:
        if kind == "tiff":
            im.seek(i)
        a = np.asarray(im)
    if a.ndim == 3:  # RGB(A) files: their luminance, as the library takes one channel
        a = a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if a.dtype == np.bool_ or a.dtype == np.int32:
        a = a.astype(np.float32)
    return a


def write_mask(path, mask):
    """A 0/255 PNG, written to a temporary name and renamed (no half-written files)."""
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    Image.fromarray((mask * 255).astype(np.uint8)).save(tmp, format="PNG")
    os.replace(tmp, path)


class Segmenter:
    """One per Ray worker: the model and the context are loaded once, in __init__."""

    def __init__(self, model, context, context_dir, source, names, out, backend, threads):
        import multiverseg as mvs

        if model is None:
            m = mvs.Model.default(backend=backend, threads=threads)
        else:
            m = mvs.Model.load(model, backend=backend, threads=threads)
        self.session = mvs.Session(m)
        if context is not None:
            self.session.context_load(context)
        else:
            self.session.context_import_folder(context_dir)
        self.source, self.names, self.out = source, names, Path(out)

    def __call__(self, batch):
        idx = [int(i) for i in batch["index"]]
        preds = self.session.predict_batch([read_image(self.source, i) for i in idx])
        for i, p in zip(idx, preds):
            write_mask(self.out / f"{self.names[i]}.png", p.mask)
        return {
            "index": np.array(idx, dtype=np.int64),
            "uncertainty": np.array([p.uncertainty for p in preds], dtype=np.float64),
        }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", help="folder of PNG/TIFF images, a TIFF stack or a .npy stack")
    ctx = ap.add_mutually_exclusive_group(required=True)
    ctx.add_argument("--context", help="a context file (Session.context_save)")
    ctx.add_argument("--context-dir", help="a folder of image_N.png / mask_N.png pairs")
    ap.add_argument("--out", required=True, help="output folder for the masks")
    ap.add_argument("--model", help="weights file or name (official-v1); default: built in")
    ap.add_argument("--workers", type=int, default=2, help="Ray actors (one model each)")
    ap.add_argument("--batch-size", type=int, default=8, help="images per predict_batch")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads per worker")
    ap.add_argument("--gpus-per-worker", type=float, default=0.0,
                    help="GPUs per actor (then the GPU backend)")
    ap.add_argument("--address", help="a Ray cluster to join ('auto'); default: a local one")
    a = ap.parse_args(argv)

    import ray

    names, source = list_inputs(a.images)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    backend = "gpu" if a.gpus_per_worker > 0 else "cpu"
    if a.address:
        ray.init(address=a.address)
    else:
        ray.init(num_cpus=max(a.workers * a.threads, a.workers))
    # Workers (on other machines too) open these paths themselves: absolute paths, which
    # on a real cluster must be on storage every node mounts.
    def absolute(p):
        return None if p is None else str(Path(p).resolve())

    model = a.model if a.model is None or not Path(a.model).exists() else absolute(a.model)
    t0 = time.perf_counter()
    ds = ray.data.from_items([{"index": i} for i in range(len(names))])
    results = ds.map_batches(
        Segmenter,
        fn_constructor_kwargs=dict(
            model=model,
            context=absolute(a.context),
            context_dir=absolute(a.context_dir),
            source=source,
            names=names,
            out=str(out.resolve()),
            backend=backend,
            threads=a.threads,
        ),
        batch_size=a.batch_size,
        compute=ray.data.ActorPoolStrategy(size=a.workers),
        num_cpus=a.threads,
        num_gpus=a.gpus_per_worker,
        batch_format="numpy",
    )
    rows = sorted(results.take_all(), key=lambda r: -float(r["uncertainty"]))
    seconds = time.perf_counter() - t0
    tmp = out / ".uncertainty.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "uncertainty"])
        for r in rows:
            w.writerow([names[int(r["index"])], f"{float(r['uncertainty']):.6f}"])
    os.replace(tmp, out / "uncertainty.csv")
    print(f"ray_segment: wrote {len(rows)} masks and uncertainty.csv to {out} in {seconds:.1f} s "
          f"({len(rows) / seconds:.1f} images/s with {a.workers} workers, actor start included)")
    ray.shutdown()


if __name__ == "__main__":
    main()
