"""examples/python/ray_segment.py on a local Ray cluster with 2 workers and 16 generated
images in 4 batches: its masks and uncertainty scores equal a serial loop's with the same
context. (64 images took 77 s on the 2-core VM, 16 take 32 s: most of it is Ray starting.)"""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import multiverseg as mvs
from conftest import disk_image

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python" / "ray_segment.py"


def test_ray_workers_give_the_serial_loops_masks(tmp_path, model):
    images = np.stack([disk_image(100 + i)[0] for i in range(16)])
    stack = tmp_path / "stack.npy"
    np.save(stack, images)
    s = mvs.Session(model)
    for i in range(4):
        img, mask, _ = disk_image(200 + i)
        s.context_add(img, mask)
    ctx = tmp_path / "task.mvsctx"
    s.context_save(ctx)
    out = tmp_path / "masks"
    r = subprocess.run(
        [sys.executable, str(EXAMPLE), str(stack), "--context", str(ctx), "--out", str(out),
         "--workers", "2", "--batch-size", "4", "--threads", "1"],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wrote 16 masks" in r.stdout, r.stdout + r.stderr
    with open(out / "uncertainty.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16
    scores = {row["name"]: float(row["uncertainty"]) for row in rows}
    assert [float(row["uncertainty"]) for row in rows] == sorted(scores.values(), reverse=True)
    for i, img in enumerate(images):
        s.set_image(img)
        p = s.predict()
        got = np.asarray(Image.open(out / f"slice_{i:04d}.png"))
        np.testing.assert_array_equal(got > 0, p.mask > 0, err_msg=f"slice {i}")
        assert abs(scores[f"slice_{i:04d}"] - p.uncertainty) < 1e-6, i
