//! 3x3 convolution (stride 1, padding 1) by Winograd F(2x2, 3x3) or F(4x4, 3x3) over a
//! tuned GEMM.
//!
//! Why: tract's batched 3x3 conv ran at 80-140 GFLOP/s here, while the `gemm` crate's
//! AVX-512 kernel multiplies at 250 GFLOP/s per core, and F(2x2, 3x3) needs 2.25x fewer
//! multiplications than the direct form. F(2x2, 3x3) is the Winograd variant whose
//! transforms use only 0, +-1 and 1/2, so its rounding stays close to the direct
//! convolution's. F(4x4, 3x3) (Lavin & Gray 2016, points 0, +-1, +-2) needs 4x fewer
//! multiplications than the direct form (1.78x fewer than F(2x2, 3x3)) but its transforms
//! multiply by up to 8, so it rounds more: [`Tile`] chooses, and [`super::winograd_f4`]
//! holds its transforms.
//!
//! Layout: every 2x2 output tile reads a 4x4 input patch. For a block of tiles the input
//! transform writes `V[xi][cin][tile]`, sixteen GEMMs `M[xi] = U[xi] V[xi]` (U the
//! transformed filters, `[xi][cout][cin]`) reduce over the input channels, and the output
//! transform turns `M[.][cout][tile]` back into 2x2 outputs. Blocks of tile rows and
//! batch entries run in parallel on the current rayon pool, each with a single-threaded
//! GEMM, so no GEMM waits on another thread.

use crate::backend::CancelToken;
use rayon::prelude::*;
use std::cell::RefCell;

/// Tiles per unit of parallel work: a unit's V block (16 x input channels x tiles floats)
/// is then 2 MB at 512 input channels, a core's L2 here. 64, 128 and 32 timed the same
/// within 2% at full size (S=8: 1.42, 1.47 and 1.44 s).
const TILES_PER_BLOCK: usize = 64;

/// Which Winograd algorithm a convolution runs: the output tile it computes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tile {
    /// F(2x2, 3x3): 4x4 input patches, 16 GEMMs; the most exact.
    #[default]
    F2,
    /// F(4x4, 3x3): 6x6 input patches, 36 GEMMs over 4x fewer tiles.
    F4,
}

impl Tile {
    /// Output rows and columns per tile (2 or 4).
    pub fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Points of the transformed domain, i.e. GEMMs per block (16 or 36).
    pub fn points(self) -> usize {
        (self.m() + 2) * (self.m() + 2)
    }

    /// The tile whose filters `u` are, for `cout` x `cin` filters (from `u.len()`).
    fn of_filters(u: &[f32], cout: usize, cin: usize) -> Tile {
        if cout * cin > 0 && u.len() == 36 * cout * cin {
            Tile::F4
        } else {
            Tile::F2
        }
    }

    /// Tiles per unit of parallel work (each tuned by measurement).
    fn tiles_per_block(self) -> usize {
        match self {
            Tile::F2 => TILES_PER_BLOCK,
            Tile::F4 => super::winograd_f4::TILES_PER_BLOCK,
        }
    }
}

/// The filters `[cout][cin][3][3]` in the Winograd domain of `tile`, `[points][cout][cin]`
/// (`U = G g G^T`, computed in f64 and rounded once).
pub fn transform_filters(w: &[f32], cout: usize, cin: usize, tile: Tile) -> Vec<f32> {
    match tile {
        Tile::F2 => transform_filters_f2(w, cout, cin),
        Tile::F4 => super::winograd_f4::transform_filters(w, cout, cin),
    }
}

// The transforms index small fixed arrays by row and column, as the formulas do.
#[allow(clippy::needless_range_loop)]
fn transform_filters_f2(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    assert_eq!(w.len(), cout * cin * 9, "filter length");
    let mut u = vec![0f32; 16 * cout * cin];
    for o in 0..cout {
        for c in 0..cin {
            let g = &w[(o * cin + c) * 9..(o * cin + c + 1) * 9];
            let g = |i: usize, j: usize| g[i * 3 + j] as f64;
            // G g: 4x3, rows g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2.
            let mut gg = [[0f64; 3]; 4];
            for j in 0..3 {
                gg[0][j] = g(0, j);
                gg[1][j] = 0.5 * (g(0, j) + g(1, j) + g(2, j));
                gg[2][j] = 0.5 * (g(0, j) - g(1, j) + g(2, j));
                gg[3][j] = g(2, j);
            }
            for i in 0..4 {
                let r = gg[i];
                let cols = [
                    r[0],
                    0.5 * (r[0] + r[1] + r[2]),
                    0.5 * (r[0] - r[1] + r[2]),
                    r[2],
                ];
                for (j, v) in cols.iter().enumerate() {
                    u[((i * 4 + j) * cout + o) * cin + c] = *v as f32;
                }
            }
        }
    }
    u
}

/// Shapes of one convolution call.
#[derive(Debug, Clone, Copy)]
pub struct ConvDims {
    /// Batch entries.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Image height.
    pub h: usize,
    /// Image width.
    pub w: usize,
}

/// What is applied to each output after the convolution, in this order.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// Per-output-channel bias `[cout]`.
    pub bias: &'a [f32],
    /// A `[cout][h][w]` map added to every batch entry (the CrossConv's target half).
    pub add: Option<&'a [f32]>,
    /// LeakyReLU slope, if any.
    pub leaky: Option<f32>,
}

/// Per-thread buffers of a unit, reused across units and calls.
#[derive(Default)]
pub(super) struct Scratch {
    /// Deinterleaved padded input rows of one channel (per row, one part per column
    /// phase: even and odd columns for F(2x2, 3x3), columns mod 4 for F(4x4, 3x3)).
    pub(super) rows: Vec<f32>,
    /// Transformed inputs `[points][cin][tile]`.
    pub(super) v: Vec<f32>,
    /// GEMM products `[points][cout][tile]`.
    pub(super) m: Vec<f32>,
    /// Output rows of one tile row and channel, before the epilogue.
    pub(super) out_rows: Vec<f32>,
}

/// Makes `buf` hold at least `n` values, never shrinking it: layers alternate between
/// sizes, and `resize` down then up again would zero-fill the regrown part each time (not
/// measurable alone: the 2.6% in memset came from the row fill of F(4x4, 3x3)'s
/// deinterleave). Every value a unit reads it has written first.
#[inline(always)]
pub(super) fn grow(buf: &mut Vec<f32>, n: usize) {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The output `[n][cout][h][w]`, shared by the units of the parallel loop. A unit takes only
/// the rows it owns, one row at a time, so no two live `&mut` slices ever overlap.
#[derive(Clone, Copy)]
pub(super) struct OutRows {
    ptr: *mut f32,
    n: usize,
    cout: usize,
    h: usize,
    w: usize,
}
// SAFETY: units write disjoint rows (see `conv3x3_on`); the pointer outlives the parallel loop.
unsafe impl Send for OutRows {}
unsafe impl Sync for OutRows {}

impl OutRows {
    /// Row `y` of channel `o` of entry `img`.
    ///
    /// # Safety
    /// The row must belong to the calling unit, with no other reference to it alive.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn row(&self, img: usize, o: usize, y: usize) -> &mut [f32] {
        assert!(
            img < self.n && o < self.cout && y < self.h,
            "output row out of range"
        );
        let at = ((img * self.cout + o) * self.h + y) * self.w;
        // SAFETY: in bounds of the [n][cout][h][w] output (checked above); exclusive by the
        // caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), self.w) }
    }
}

/// One unit of parallel work: tile rows `r0..r1` of entry `img`.
#[derive(Clone, Copy)]
pub(super) struct Unit<'a> {
    /// The input parts, each `[n][c_i][h][w]`, concatenated along channels.
    pub(super) parts: &'a [&'a [f32]],
    pub(super) img: usize,
    pub(super) r0: usize,
    pub(super) r1: usize,
    /// Filters from [`transform_filters`].
    pub(super) u: &'a [f32],
    pub(super) d: ConvDims,
    pub(super) ep: Epilogue<'a>,
    pub(super) out: OutRows,
    pub(super) tile: Tile,
}

impl Unit<'_> {
    /// The input channel planes of this unit's entry, in concatenation order.
    pub(super) fn planes(&self) -> impl Iterator<Item = &[f32]> {
        let ConvDims { n, h, w, .. } = self.d;
        let img = self.img;
        self.parts.iter().flat_map(move |p| {
            let per = p.len() / n;
            p[img * per..(img + 1) * per].chunks_exact(h * w)
        })
    }
}

/// `out[n][cout][h][w] = epilogue(conv3x3(x[n][cin][h][w], filters))`, zero padding 1,
/// where `x` is the concatenation along channels of `parts` (each `[n][c_i][h][w]`, the
/// `c_i` summing to `cin`): the decoder's concatenations are never materialized.
/// `u` comes from [`transform_filters`]; its length says which [`Tile`] runs.
///
/// `cancel`: a unit that starts after the token is set does nothing, so a cancelled call
/// returns within one unit's time (about a millisecond); the output is then incomplete and
/// the caller must discard it.
pub fn conv3x3(
    parts: &[&[f32]],
    u: &[f32],
    d: ConvDims,
    ep: Epilogue,
    out: &mut [f32],
    cancel: Option<&CancelToken>,
) {
    conv3x3_on(Isa::detect(), parts, u, d, ep, out, cancel)
}

/// Which build of the transforms runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// The baseline build (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// The AVX-512F build; only where the CPU has it.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Isa {
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        Isa::Baseline
    }
}

fn conv3x3_on(
    isa: Isa,
    parts: &[&[f32]],
    u: &[f32],
    d: ConvDims,
    ep: Epilogue,
    out: &mut [f32],
    cancel: Option<&CancelToken>,
) {
    let ConvDims { n, cin, cout, h, w } = d;
    let size = |c: usize| {
        [n, c, h, w]
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .expect("conv3x3: tensor size overflows usize")
    };
    let total: usize = parts.iter().map(|p| p.len()).sum();
    assert_eq!(total, size(cin), "input length");
    assert!(
        parts.iter().all(|p| p.len() % (n * h * w).max(1) == 0),
        "input parts must hold whole channels"
    );
    assert_eq!(out.len(), size(cout), "output length");
    let tile = Tile::of_filters(u, cout, cin);
    assert_eq!(u.len(), tile.points() * cout * cin, "filter length");
    assert_eq!(ep.bias.len(), cout, "bias length");
    if let Some(a) = ep.add {
        assert_eq!(a.len(), cout * h * w, "added map length");
    }
    if n == 0 || h == 0 || w == 0 {
        return;
    }
    let (th, tw) = (h.div_ceil(tile.m()), w.div_ceil(tile.m()));
    let rows_per_block = (tile.tiles_per_block() / tw).clamp(1, th);
    let blocks = th.div_ceil(rows_per_block);
    let out = OutRows {
        ptr: out.as_mut_ptr(),
        n,
        cout,
        h,
        w,
    };
    // Unit (img, b) writes only rows m*r0 .. min(m*r1, h) of every channel of entry img:
    // units are disjoint in (img, rows) and together cover the output.
    (0..n * blocks).into_par_iter().for_each(|i| {
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return;
        }
        let (img, b) = (i / blocks, i % blocks);
        let r0 = b * rows_per_block;
        let unit = Unit {
            parts,
            img,
            r0,
            r1: (r0 + rows_per_block).min(th),
            u,
            d,
            ep,
            out,
            tile,
        };
        SCRATCH.with(|s| block(isa, unit, &mut s.borrow_mut()));
    });
}

/// One unit, built for `isa`: the transforms are plain lane-wise code that the compiler
/// vectorizes, so they are compiled twice, for AVX-512 and for the baseline.
fn block(isa: Isa, unit: Unit, s: &mut Scratch) {
    match isa {
        // SAFETY: Isa::Avx512 is only chosen where the CPU has AVX-512F (Isa::detect).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { block_avx512(unit, s) },
        Isa::Baseline => block_body(unit, s),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(unit: Unit, s: &mut Scratch) {
    block_body(unit, s)
}

/// Runs `$body` with the const `$l` = 16, then 4, then 1 lanes over tiles `$k` in
/// `0..$n`: the wide passes vectorize, the narrow ones take the rest of the row.
macro_rules! by_lanes {
    ($n:expr, |$k:ident, $l:ident| $body:expr) => {{
        let n = $n;
        let mut $k = 0;
        while $k + 16 <= n {
            const $l: usize = 16;
            $body;
            $k += 16;
        }
        while $k + 4 <= n {
            const $l: usize = 4;
            $body;
            $k += 4;
        }
        while $k < n {
            const $l: usize = 1;
            $body;
            $k += 1;
        }
    }};
}
pub(super) use by_lanes;

#[inline(always)]
fn block_body(unit: Unit, s: &mut Scratch) {
    match unit.tile {
        Tile::F2 => block_f2(unit, s),
        Tile::F4 => super::winograd_f4::block(unit, s),
    }
}

/// `m[xi] = u[xi] v[xi]` for the `points` points: `u` `[points][cout][cin]`, `v`
/// `[points][cin][nt]`, `m` `[points][cout][nt]`, each a single-threaded GEMM.
#[inline(always)]
pub(super) fn gemms(
    u: &[f32],
    v: &[f32],
    m: &mut [f32],
    points: usize,
    cout: usize,
    cin: usize,
    nt: usize,
) {
    assert!(
        u.len() >= points * cout * cin
            && v.len() >= points * cin * nt
            && m.len() >= points * cout * nt
    );
    for xi in 0..points {
        let a = &u[xi * cout * cin..(xi + 1) * cout * cin];
        let b = &v[xi * cin * nt..(xi + 1) * cin * nt];
        let m = &mut m[xi * cout * nt..(xi + 1) * cout * nt];
        // SAFETY: row-major a (cout x cin), b (cin x nt), m (cout x nt), all in bounds.
        unsafe {
            gemm::gemm(
                cout,
                nt,
                cin,
                m.as_mut_ptr(),
                1,
                nt as isize,
                false,
                a.as_ptr(),
                1,
                cin as isize,
                b.as_ptr(),
                1,
                nt as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
}

/// Row `y` of output channel `o`: `dst = leaky(conv + add)`, where `conv` (bias included)
/// holds the row's `w` values.
#[inline(always)]
pub(super) fn finish_row(
    dst: &mut [f32],
    conv: &[f32],
    ep: &Epilogue,
    o: usize,
    y: usize,
    d: &ConvDims,
) {
    let (h, w) = (d.h, d.w);
    let conv = &conv[..w];
    match ep.add {
        Some(a) => {
            let a = &a[(o * h + y) * w..(o * h + y + 1) * w];
            for ((d, t), a) in dst.iter_mut().zip(conv).zip(a) {
                *d = t + a;
            }
        }
        None => dst.copy_from_slice(conv),
    }
    if let Some(slope) = ep.leaky {
        for d in dst.iter_mut() {
            *d = if *d < 0.0 { *d * slope } else { *d };
        }
    }
}

#[inline(always)]
fn block_f2(unit: Unit, s: &mut Scratch) {
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
    let tw = w.div_ceil(2);
    let nt = (r1 - r0) * tw;
    // Padded input rows 2*r0 - 1 ..= 2*r1 (image coordinates); column k of the even part
    // is image column 2k - 1, of the odd part image column 2k.
    let prows = 2 * (r1 - r0) + 2;
    let half = tw + 1;
    grow(&mut s.rows, prows * 2 * half);
    grow(&mut s.v, 16 * cin * nt);
    grow(&mut s.m, 16 * cout * nt);
    for (c, plane) in unit.planes().enumerate() {
        for pr in 0..prows {
            let (even, odd) = s.rows[pr * 2 * half..(pr + 1) * 2 * half].split_at_mut(half);
            let y = (2 * r0 + pr) as isize - 1;
            if y < 0 || y >= h as isize {
                even.fill(0.0);
                odd.fill(0.0);
                continue;
            }
            deinterleave(&plane[y as usize * w..(y as usize + 1) * w], even, odd);
        }
        for tr in 0..(r1 - r0) {
            let rows = &s.rows[2 * tr * 2 * half..(2 * tr + 4) * 2 * half];
            let offs: [usize; 16] = std::array::from_fn(|xi| (xi * cin + c) * nt + tr * tw);
            by_lanes!(tw, |k, L| input_lanes::<L>(rows, half, k, &mut s.v, &offs));
        }
    }
    gemms(u, &s.v, &mut s.m, 16, cout, cin, nt);
    grow(&mut s.out_rows, 2 * 2 * tw);
    let y_end = (2 * r1).min(h);
    for o in 0..cout {
        for tr in 0..(r1 - r0) {
            let (top, bottom) = s.out_rows.split_at_mut(2 * tw);
            let offs: [usize; 16] = std::array::from_fn(|xi| (xi * cout + o) * nt + tr * tw);
            let bias = ep.bias[o];
            by_lanes!(tw, |k, L| output_lanes::<L>(
                &s.m, &offs, k, bias, top, bottom
            ));
            for (dy, tmp) in [&*top, &*bottom].into_iter().enumerate() {
                let y = 2 * (r0 + tr) + dy;
                if y >= y_end {
                    break;
                }
                // SAFETY: y is in 2*r0 .. min(2*r1, h), rows this unit owns; the slice
                // is dropped before the next row is taken.
                let dst = unsafe { out.row(img, o, y) };
                finish_row(dst, tmp, &ep, o, y, &d);
            }
        }
    }
}

/// Splits an image row into the padded even part (image columns -1, 1, 3, ...) and odd
/// part (columns 0, 2, 4, ...), zeros beyond the row; both have `tw + 1` entries.
#[inline(always)]
fn deinterleave(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    even.fill(0.0);
    odd.fill(0.0);
    let pairs = row.chunks_exact(2);
    if let [last] = pairs.remainder() {
        odd[row.len() / 2] = *last;
    }
    for (k, p) in pairs.enumerate() {
        odd[k] = p[0];
        even[k + 1] = p[1];
    }
}

/// `V = B^T d B` for tiles `k .. k + L` of one tile row; `rows` holds the four padded
/// input rows, each as `half` even then `half` odd columns. Patch column j of tile k is
/// even[k], odd[k], even[k+1], odd[k+1] for j = 0..4.
#[inline(always)]
fn input_lanes<const L: usize>(
    rows: &[f32],
    half: usize,
    k: usize,
    v: &mut [f32],
    offs: &[usize; 16],
) {
    let ld = |i: usize, odd: bool, shift: usize| -> [f32; L] {
        let at = i * 2 * half + if odd { half } else { 0 } + k + shift;
        rows[at..at + L].try_into().unwrap()
    };
    // Column transform of each patch row: (d0-d2, d1+d2, d2-d1, d1-d3).
    let ct = |i: usize| -> [[f32; L]; 4] {
        let (d0, d1, d2, d3) = (
            ld(i, false, 0),
            ld(i, true, 0),
            ld(i, false, 1),
            ld(i, true, 1),
        );
        [
            std::array::from_fn(|l| d0[l] - d2[l]),
            std::array::from_fn(|l| d1[l] + d2[l]),
            std::array::from_fn(|l| d2[l] - d1[l]),
            std::array::from_fn(|l| d1[l] - d3[l]),
        ]
    };
    let (p0, p1, p2, p3) = (ct(0), ct(1), ct(2), ct(3));
    let mut st = |xi: usize, val: [f32; L]| {
        v[offs[xi] + k..offs[xi] + k + L].copy_from_slice(&val);
    };
    for j in 0..4 {
        st(j, std::array::from_fn(|l| p0[j][l] - p2[j][l]));
        st(4 + j, std::array::from_fn(|l| p1[j][l] + p2[j][l]));
        st(8 + j, std::array::from_fn(|l| p2[j][l] - p1[j][l]));
        st(12 + j, std::array::from_fn(|l| p1[j][l] - p3[j][l]));
    }
}

/// `Y = A^T M A` plus bias for tiles `k .. k + L` of one tile row and one output channel;
/// writes columns `2k .. 2k + 2L` of the two output rows.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
fn output_lanes<const L: usize>(
    m: &[f32],
    offs: &[usize; 16],
    k: usize,
    bias: f32,
    top: &mut [f32],
    bottom: &mut [f32],
) {
    let ld = |xi: usize| -> [f32; L] { m[offs[xi] + k..offs[xi] + k + L].try_into().unwrap() };
    // Rows of each column: (m0+m1+m2, m1-m2-m3).
    let mut r = [[[0f32; L]; 4]; 2];
    for j in 0..4 {
        let (a, b, c, d) = (ld(j), ld(4 + j), ld(8 + j), ld(12 + j));
        r[0][j] = std::array::from_fn(|l| a[l] + b[l] + c[l]);
        r[1][j] = std::array::from_fn(|l| b[l] - c[l] - d[l]);
    }
    for (i, dst) in [&mut *top, &mut *bottom].into_iter().enumerate() {
        let q = &r[i];
        let dst = &mut dst[2 * k..2 * k + 2 * L];
        for l in 0..L {
            dst[2 * l] = q[0][l] + q[1][l] + q[2][l] + bias;
            dst[2 * l + 1] = q[1][l] - q[2][l] - q[3][l] + bias;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::test_rng::lcg;

    /// Direct convolution in f64.
    fn reference(x: &[f32], wt: &[f32], d: ConvDims, ep: &Epilogue) -> Vec<f64> {
        let ConvDims { n, cin, cout, h, w } = d;
        let mut out = vec![0f64; n * cout * h * w];
        for i in 0..n {
            for o in 0..cout {
                for y in 0..h {
                    for xx in 0..w {
                        let mut acc = ep.bias[o] as f64;
                        for c in 0..cin {
                            for a in 0..3 {
                                for b in 0..3 {
                                    let (yy, xc) = (y as isize + a - 1, xx as isize + b - 1);
                                    if yy < 0 || xc < 0 || yy >= h as isize || xc >= w as isize {
                                        continue;
                                    }
                                    acc += wt[((o * cin + c) * 3 + a as usize) * 3 + b as usize]
                                        as f64
                                        * x[((i * cin + c) * h + yy as usize) * w + xc as usize]
                                            as f64;
                                }
                            }
                        }
                        if let Some(a) = ep.add {
                            acc += a[(o * h + y) * w + xx] as f64;
                        }
                        if let Some(s) = ep.leaky {
                            if acc < 0.0 {
                                acc *= s as f64;
                            }
                        }
                        out[((i * cout + o) * h + y) * w + xx] = acc;
                    }
                }
            }
        }
        out
    }

    /// Runs `tile` on random data of shape `d` against the f64 direct convolution; returns
    /// the max abs error (asserted below `tol`).
    fn check(d: ConvDims, tile: Tile, with_add: bool, leaky: Option<f32>, tol: f64) -> f64 {
        let mut seed = (d.n * 1000 + d.cin * 100 + d.h * 10 + d.w) as u64;
        let x: Vec<f32> = (0..d.n * d.cin * d.h * d.w)
            .map(|_| lcg(&mut seed))
            .collect();
        let wt: Vec<f32> = (0..d.cout * d.cin * 9)
            .map(|_| lcg(&mut seed) * 0.3)
            .collect();
        let bias: Vec<f32> = (0..d.cout).map(|_| lcg(&mut seed)).collect();
        let add: Vec<f32> = (0..d.cout * d.h * d.w).map(|_| lcg(&mut seed)).collect();
        let ep = Epilogue {
            bias: &bias,
            add: with_add.then_some(&add[..]),
            leaky,
        };
        let u = transform_filters(&wt, d.cout, d.cin, tile);
        let mut out = vec![f32::NAN; d.n * d.cout * d.h * d.w];
        conv3x3(&[&x], &u, d, ep, &mut out, None);
        // The baseline build of the transforms gives the same numbers (the same operations
        // in the same order, only narrower vectors).
        let mut base = vec![f32::NAN; out.len()];
        conv3x3_on(Isa::Baseline, &[&x], &u, d, ep, &mut base, None);
        assert_eq!(
            out, base,
            "{d:?} {tile:?}: baseline and detected builds differ"
        );
        // The same input split into two channel groups gives identical results.
        if d.cin > 1 {
            let split = d.n * (d.cin / 2) * d.h * d.w;
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for e in 0..d.n {
                let img = &x[e * d.cin * d.h * d.w..(e + 1) * d.cin * d.h * d.w];
                let (p, q) = img.split_at((d.cin / 2) * d.h * d.w);
                a.extend_from_slice(p);
                b.extend_from_slice(q);
            }
            assert_eq!(a.len(), split);
            let mut out2 = vec![f32::NAN; out.len()];
            conv3x3(&[&a, &b], &u, d, ep, &mut out2, None);
            assert_eq!(out, out2, "{d:?} {tile:?}: concatenated parts differ");
        }
        let want = reference(&x, &wt, d, &ep);
        let err = out
            .iter()
            .zip(&want)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(
            err < tol,
            "{d:?} {tile:?}: max abs error {err:e} >= {tol:e}"
        );
        err
    }

    #[test]
    fn matches_f64_direct_convolution_on_odd_sizes() {
        // Without AVX-512 the detected build is the baseline, compared below with itself.
        eprintln!("winograd test: detected build {:?}", Isa::detect());
        // Odd and even sizes, one-pixel images, several blocks per entry (w=3: 2 tiles per
        // row, so 32 tile rows per block; h=131 gives 66 tile rows, i.e. three blocks).
        for &(n, cin, cout, h, w) in &[
            (1, 1, 1, 1, 1),
            (2, 3, 5, 7, 9),
            (3, 5, 4, 6, 5),
            (1, 2, 3, 131, 3),
            (2, 37, 19, 11, 13),
            (1, 16, 8, 32, 32),
            // 21 tiles a row: the 16-lane pass, then 4- and 1-lane leftovers.
            (1, 3, 2, 5, 41),
            // 130 tiles a row, more than a block holds: one tile row per block.
            (1, 2, 2, 3, 259),
        ] {
            let d = ConvDims { n, cin, cout, h, w };
            // Errors grow with sqrt(cin * 9); 37 channels of O(1) values stay near 1e-6.
            for tile in [Tile::F2, Tile::F4] {
                check(d, tile, false, None, 2e-5);
                check(d, tile, true, Some(0.01), 2e-5);
            }
        }
    }

    /// F(4x4, 3x3) rounds more than F(2x2, 3x3) (its transforms multiply by up to 8 and
    /// divide by 15): on a full-size layer (512 input channels, outputs up to ~20) the max
    /// abs error against f64 measured 2.5e-5 for F2 and 1.1e-4 for F4 (Lavin's points gave
    /// 2.5e-4, which is why F4 uses 0, 1, -1, 2, -1/2). The network's logits stay within the
    /// fidelity tolerance (tests/fidelity.rs, tools/check_full_size.sh).
    #[test]
    fn f4_rounding_stays_within_a_few_times_f2() {
        let d = ConvDims {
            n: 1,
            cin: 512,
            cout: 4,
            h: 13,
            w: 18,
        };
        let e2 = check(d, Tile::F2, false, None, 1e-3);
        let e4 = check(d, Tile::F4, false, None, 1e-3);
        eprintln!("cin=512: max abs error vs f64: F2 {e2:.2e}, F4 {e4:.2e}");
        assert!(e4 < 8.0 * e2.max(1e-7), "F4 {e4:e} vs F2 {e2:e}");
    }
}
