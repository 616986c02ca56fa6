//! Winograd F(4x4, 3x3) for [`super::winograd`]: the filter, input and output transforms
//! and one unit of work. The matrices come from the Toom-Cook construction (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", CVPR 2016) with the interpolation
//! points 0, 1, -1, 2, -1/2 and infinity instead of Lavin's 0, +-1, +-2: Barabasz et al.
//! ("Error analysis and improving the accuracy of Winograd convolution for deep neural
//! networks", ACM TOMS 2020) showed that mixing a point with its reciprocal lowers the
//! float32 error. Measured with tools/winograd_points.py (a 512-channel layer in float32
//! against f64, median of 4 trials): max abs error 1.1e-5 with these points, 3.0e-5 with
//! Lavin's, 1.4e-6 for F(2x2, 3x3).
//!
//! ```text
//! B^T = [1  3/2   -2 -3/2    1 0]   G = [    1     0     0]   A^T = [1  1  1 1    1 0]
//!       [0   -1 -5/2 -1/2    1 0]       [ -1/3  -1/3  -1/3]         [0  1 -1 2 -1/2 0]
//!       [0    1  1/2 -5/2    1 0]       [  1/3  -1/3   1/3]         [0  1  1 4  1/4 0]
//!       [0 -1/2   -1  1/2    1 0]       [ 1/15  2/15  4/15]         [0  1 -1 8 -1/8 1]
//!       [0    2   -1   -2    1 0]       [-16/15 8/15 -4/15]
//!       [0    1  3/2   -2 -3/2 1]       [    0     0     1]
//! ```
//!
//! A 4x4 output tile reads a 6x6 input patch; `V = B^T d B`, `U = G g G^T` (in f64),
//! 36 GEMMs `M = U V` over the input channels, `Y = A^T M A`.

use super::winograd::{by_lanes, finish_row, gemms, grow, ConvDims, Scratch, Unit};

/// Tiles per unit of parallel work (a unit's V block is 36 x cin x 64 floats, 4.7 MB at 512
/// input channels). Measured at full size, S = 8, 2 threads (CPU time of alternated runs
/// against 64): 32 tiles 1.19x, 48 1.13x, 96 1.09x, 192 1.10x (BENCHMARKS.md).
pub(super) const TILES_PER_BLOCK: usize = 64;

/// `G v` for one 3-vector, in f64.
fn g3(v: [f64; 3]) -> [f64; 6] {
    let [a, b, c] = v;
    [
        a,
        -(a + b + c) / 3.0,
        (a - b + c) / 3.0,
        (a + 2.0 * b + 4.0 * c) / 15.0,
        (-16.0 * a + 8.0 * b - 4.0 * c) / 15.0,
        c,
    ]
}

/// The filters `[cout][cin][3][3]` as `[36][cout][cin]` (`U = G g G^T`, in f64, rounded once).
pub(super) fn transform_filters(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    assert_eq!(w.len(), cout * cin * 9, "filter length");
    let mut u = vec![0f32; 36 * cout * cin];
    for o in 0..cout {
        for c in 0..cin {
            let g = &w[(o * cin + c) * 9..(o * cin + c + 1) * 9];
            // G g: the columns of g, each through G.
            let cols: [[f64; 6]; 3] =
                std::array::from_fn(|j| g3([g[j] as f64, g[3 + j] as f64, g[6 + j] as f64]));
            for a in 0..6 {
                // Row a of G g, through G again: (G g G^T)[a][.].
                let row = g3([cols[0][a], cols[1][a], cols[2][a]]);
                for (b, v) in row.iter().enumerate() {
                    u[((a * 6 + b) * cout + o) * cin + c] = *v as f32;
                }
            }
        }
    }
    u
}

/// Splits an image row into four column phases of `q` entries each, the row padded by one
/// zero column on the left: phase `p` entry `k` is image column `4k + p - 1` (zero outside
/// the row). Patch column `j` of tile `k` is then phase `j % 4` entry `k + j / 4`.
#[inline(always)]
fn deinterleave(row: &[f32], dst: &mut [f32], q: usize) {
    let w = row.len();
    let (p0, rest) = dst.split_at_mut(q);
    let (p1, rest) = rest.split_at_mut(q);
    let (p2, p3) = rest.split_at_mut(q);
    let quads = row.chunks_exact(4);
    let tail = quads.remainder();
    let full = w / 4;
    for (k, c) in quads.enumerate() {
        // Image columns 4k .. 4k+3 are padded columns 4k+1 .. 4k+4.
        p1[k] = c[0];
        p2[k] = c[1];
        p3[k] = c[2];
        p0[k + 1] = c[3];
    }
    for (i, v) in tail.iter().enumerate() {
        [&mut *p1, &mut *p2, &mut *p3][i][full] = *v;
    }
    // Zeros only where no image column lands (a fill of the whole row first cost 2.6% of
    // a full-size prediction): column -1, and each phase past the row's end.
    p0[0] = 0.0;
    for (p, phase) in [p0, p1, p2, p3].into_iter().enumerate() {
        // The first k with 4k + p - 1 >= w.
        let first = (w + 1)
            .saturating_sub(p)
            .div_ceil(4)
            .max(usize::from(p == 0));
        phase[first.min(q)..].fill(0.0);
    }
}

/// `B^T d` for six lane vectors.
#[inline(always)]
fn bt<const L: usize>(d: &[[f32; L]; 6]) -> [[f32; L]; 6] {
    let mut t = [[0f32; L]; 6];
    for l in 0..L {
        let (d0, d1, d2, d3, d4, d5) = (d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]);
        let (e, f) = (d4 - d2, d3 - d1);
        t[0][l] = d0 - 2.0 * d2 + d4 + 1.5 * (d1 - d3);
        t[1][l] = d4 - d1 - 2.5 * d2 - 0.5 * d3;
        t[2][l] = d4 + d1 + 0.5 * d2 - 2.5 * d3;
        t[3][l] = e + 0.5 * f;
        t[4][l] = e - 2.0 * f;
        t[5][l] = d5 + d1 - 2.0 * d3 + 1.5 * (d2 - d4);
    }
    t
}

/// `A^T m` for six lane vectors.
#[inline(always)]
fn at<const L: usize>(m: &[[f32; L]; 6]) -> [[f32; L]; 4] {
    let mut y = [[0f32; L]; 4];
    for l in 0..L {
        let (s12, d12) = (m[1][l] + m[2][l], m[1][l] - m[2][l]);
        let (m3, m4) = (m[3][l], m[4][l]);
        y[0][l] = m[0][l] + s12 + m3 + m4;
        y[1][l] = d12 + 2.0 * m3 - 0.5 * m4;
        y[2][l] = s12 + 4.0 * m3 + 0.25 * m4;
        y[3][l] = d12 + 8.0 * m3 - 0.125 * m4 + m[5][l];
    }
    y
}

/// `V = B^T d B` for tiles `k .. k + L` of one tile row; `rows` holds its six padded input
/// rows, each as four phases of `q` entries (see [`deinterleave`]).
// Plain loops, no closures or `array::from_fn`: what is not inlined here would run in
// the baseline build inside the AVX-512 one (from_fn was: 8% of the time at full size).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn input_lanes<const L: usize>(
    rows: &[f32],
    q: usize,
    k: usize,
    v: &mut [f32],
    offs: &[usize; 36],
) {
    // The column transform of each patch row, then the row transform of each column.
    let mut ct = [[[0f32; L]; 6]; 6];
    for i in 0..6 {
        let mut d = [[0f32; L]; 6];
        for j in 0..6 {
            let at = i * 4 * q + (j % 4) * q + k + j / 4;
            d[j].copy_from_slice(&rows[at..at + L]);
        }
        ct[i] = bt(&d);
    }
    for j in 0..6 {
        let mut col = [[0f32; L]; 6];
        for i in 0..6 {
            col[i] = ct[i][j];
        }
        let col = bt(&col);
        for a in 0..6 {
            let at = offs[a * 6 + j] + k;
            v[at..at + L].copy_from_slice(&col[a]);
        }
    }
}

/// `Y = A^T M A` plus bias for tiles `k .. k + L` of one tile row and one output channel;
/// writes columns `4k .. 4k + 4L` of the four output rows in `out` (rows of `stride`).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn output_lanes<const L: usize>(
    m: &[f32],
    offs: &[usize; 36],
    k: usize,
    bias: f32,
    out: &mut [f32],
    stride: usize,
) {
    // Over the rows a of M for each column b, then over the columns.
    let mut r = [[[0f32; L]; 4]; 6];
    for b in 0..6 {
        let mut col = [[0f32; L]; 6];
        for a in 0..6 {
            let at = offs[a * 6 + b] + k;
            col[a].copy_from_slice(&m[at..at + L]);
        }
        r[b] = at(&col);
    }
    for i in 0..4 {
        let mut row = [[0f32; L]; 6];
        for b in 0..6 {
            row[b] = r[b][i];
        }
        let y = at(&row);
        let dst = &mut out[i * stride + 4 * k..i * stride + 4 * k + 4 * L];
        for l in 0..L {
            for j in 0..4 {
                dst[4 * l + j] = y[j][l] + bias;
            }
        }
    }
}

/// One unit of work (tile rows `r0..r1`, 4 output rows each, of one entry) by F(4x4, 3x3).
#[inline(always)]
pub(super) fn block(unit: Unit, s: &mut Scratch) {
    let Unit {
        r0,
        r1,
        u,
        d,
        ep,
        out,
        img,
        ..
    } = unit;
    let ConvDims {
        cin, cout, h, w, ..
    } = d;
    let tw = w.div_ceil(4);
    let nt = (r1 - r0) * tw;
    // Padded input rows 4*r0 - 1 ..= 4*r1 (image coordinates), each as four phases.
    let prows = 4 * (r1 - r0) + 2;
    let q = tw + 1;
    grow(&mut s.rows, prows * 4 * q);
    grow(&mut s.v, 36 * cin * nt);
    grow(&mut s.m, 36 * cout * nt);
    for (c, plane) in unit.planes().enumerate() {
        for pr in 0..prows {
            let dst = &mut s.rows[pr * 4 * q..(pr + 1) * 4 * q];
            let y = (4 * r0 + pr) as isize - 1;
            if y < 0 || y >= h as isize {
                dst.fill(0.0);
                continue;
            }
            deinterleave(&plane[y as usize * w..(y as usize + 1) * w], dst, q);
        }
        for tr in 0..(r1 - r0) {
            let rows = &s.rows[4 * tr * 4 * q..(4 * tr + 6) * 4 * q];
            let mut offs = [0usize; 36];
            for (xi, o) in offs.iter_mut().enumerate() {
                *o = (xi * cin + c) * nt + tr * tw;
            }
            by_lanes!(tw, |k, L| input_lanes::<L>(rows, q, k, &mut s.v, &offs));
        }
    }
    gemms(u, &s.v, &mut s.m, 36, cout, cin, nt);
    let stride = 4 * tw;
    grow(&mut s.out_rows, 4 * stride);
    let y_end = (4 * r1).min(h);
    for o in 0..cout {
        let bias = ep.bias[o];
        for tr in 0..(r1 - r0) {
            let mut offs = [0usize; 36];
            for (xi, at) in offs.iter_mut().enumerate() {
                *at = (xi * cout + o) * nt + tr * tw;
            }
            by_lanes!(tw, |k, L| output_lanes::<L>(
                &s.m,
                &offs,
                k,
                bias,
                &mut s.out_rows,
                stride
            ));
            for dy in 0..4 {
                let y = 4 * (r0 + tr) + dy;
                if y >= y_end {
                    break;
                }
                // SAFETY: y is in 4*r0 .. min(4*r1, h), rows this unit owns; the slice is
                // dropped before the next row is taken.
                let dst = unsafe { out.row(img, o, y) };
                finish_row(
                    dst,
                    &s.out_rows[dy * stride..(dy + 1) * stride],
                    &ep,
                    o,
                    y,
                    &d,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::deinterleave;

    /// Every entry is written (no stale value survives) with its padded column or zero.
    #[test]
    fn deinterleave_writes_every_phase_entry() {
        for w in 1..=13usize {
            let q = w.div_ceil(4) + 1;
            let row: Vec<f32> = (0..w).map(|x| x as f32 + 1.0).collect();
            let mut dst = vec![f32::NAN; 4 * q];
            deinterleave(&row, &mut dst, q);
            for p in 0..4 {
                for k in 0..q {
                    let x = (4 * k + p) as isize - 1;
                    let want = if x >= 0 && (x as usize) < w {
                        row[x as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(dst[p * q + k], want, "w={w} phase {p} entry {k}");
                }
            }
        }
    }
}
