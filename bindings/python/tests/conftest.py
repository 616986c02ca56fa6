"""Shared fixtures: the default model (built into the library, so no files are needed) and
synthetic images with a bright disk on a textured background."""

import numpy as np
import pytest

import multiverseg as mvs


@pytest.fixture(scope="session")
def model():
    # One thread: results must not depend on the thread count anyway, and CI has 2 cores.
    return mvs.Model.default(backend="cpu", threads=1)


def disk_image(seed, h=72, w=96):
    """(uint8 image with values 0..255, uint8 mask) of a disk at a seed-dependent place."""
    rng = np.random.default_rng(seed)
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
    r = rng.uniform(0.15, 0.25) * min(h, w)
    yy, xx = np.mgrid[0:h, 0:w]
    mask = ((yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 < r * r).astype(np.uint8)
    img = 60 + 120 * mask + rng.integers(0, 40, size=(h, w))
    img[0, 0], img[-1, -1] = 0, 255  # full range, so every dtype maps to the same [0, 1]
    return img.astype(np.uint8), mask, (cx, cy)


@pytest.fixture
def disks():
    return [disk_image(s) for s in range(6)]
