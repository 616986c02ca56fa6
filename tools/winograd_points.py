#!/usr/bin/env python3
"""Float32 rounding of Winograd F(4x4, 3x3) for several sets of interpolation points.

Builds the Toom-Cook matrices (A^T, G, B^T) for each point set (plus the point at
infinity), checks them exactly in f64, then runs one 3x3 convolution layer (512 input
channels, random data) with every step rounded to float32 and prints the max abs error
against the f64 direct convolution, beside F(2x2, 3x3)'s. This is how the CPU backend's
F(4x4, 3x3) points were chosen (crates/multiverseg/src/cpu/winograd_f4.rs). Needs numpy.

Usage: python3 tools/winograd_points.py [--cin 512] [--tiles 200] [--trials 4]
"""

import argparse

import numpy as np
from numpy.polynomial import polynomial as P


def matrices(points, m):
    """A^T (m x n), G (n x 3), B^T (n x n) for F(m x m, 3x3), n = m + 2, with the finite
    `points` (n - 1 of them) and infinity."""
    n = m + 2
    assert len(points) == n - 1
    at, g, bt = np.zeros((m, n)), np.zeros((n, 3)), np.zeros((n, n))
    for k, p in enumerate(points):
        others = [q for q in points if q != p]
        norm = np.prod([p - q for q in others])
        at[:, k] = [p**i for i in range(m)]
        g[k] = [p**j / norm for j in range(3)]
        c = P.polyfromroots(others)
        bt[k, : len(c)] = c
    at[m - 1, n - 1] = 1
    g[n - 1, 2] = 1
    c = P.polyfromroots(points)
    bt[n - 1, : len(c)] = c
    return at, g, bt


def exact_error(at, g, bt, rng):
    """Max abs error of one tile in f64 (rounding only: ~1e-15 when the matrices are right)."""
    m, n = at.shape
    d, w = rng.standard_normal((n, n)), rng.standard_normal((3, 3))
    y = at @ ((g @ w @ g.T) * (bt @ d @ bt.T)) @ at.T
    ref = np.array([[np.sum(d[i : i + 3, j : j + 3] * w) for j in range(m)] for i in range(m)])
    return np.abs(y - ref).max()


def layer_error(at, g, bt, cin, tiles, rng):
    """Max abs error of a float32 Winograd layer (`cin` channels, `tiles` output tiles)
    against the f64 direct convolution; weights ~ U(-1, 1) / sqrt(9 cin)."""
    f = np.float32
    m, n = at.shape
    d = rng.standard_normal((cin, tiles, n, n))
    w = rng.uniform(-1, 1, (cin, 3, 3)) / np.sqrt(cin * 9)
    ref = np.zeros((tiles, m, m))
    for a in range(3):
        for b in range(3):
            ref += np.einsum("ctij,c->tij", d[:, :, a : a + m, b : b + m], w[:, a, b])
    u = (g @ w @ g.T).astype(f)
    v = np.einsum("ij,ctjk,lk->ctil", bt.astype(f), d.astype(f), bt.astype(f)).astype(f)
    mm = np.einsum("cij,ctij->tij", u, v).astype(f)
    y = np.einsum("ij,tjk,lk->til", at.astype(f), mm, at.astype(f)).astype(f)
    return np.abs(y - ref).max()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cin", type=int, default=512)
    ap.add_argument("--tiles", type=int, default=200)
    ap.add_argument("--trials", type=int, default=4)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    sets = [
        ("F(2x2) 0,1,-1", (0, 1, -1), 2),
        ("F(4x4) Lavin 0,1,-1,2,-2", (0, 1, -1, 2, -2), 4),
        ("F(4x4) 0,1,-1,2,-1/2 (used)", (0, 1, -1, 2, -0.5), 4),
        ("F(4x4) 0,1,-1,1/2,-2", (0, 1, -1, 0.5, -2), 4),
        ("F(4x4) 0,1,-1,1/2,-1/2", (0, 1, -1, 0.5, -0.5), 4),
        ("F(4x4) 0,1,-1,3/2,-1/2", (0, 1, -1, 1.5, -0.5), 4),
    ]
    for name, pts, m in sets:
        at, g, bt = matrices(pts, m)
        ex = exact_error(at, g, bt, rng)
        errs = [layer_error(at, g, bt, a.cin, a.tiles, rng) for _ in range(a.trials)]
        print(
            f"{name:32s} f64 check {ex:.1e}  float32 layer (cin={a.cin}) max abs error: "
            f"median {np.median(errs):.2e} (trials {' '.join(f'{e:.1e}' for e in errs)})"
        )


if __name__ == "__main__":
    main()
