// 3x3 (zero padding 1) or 1x1 convolution of a batch, as an implicit GEMM:
// out[co, p] = sum_k W[co, k] * col[k, p], k = (ci, ky, kx), p = (n, y, x).
// A 64x64 output tile per workgroup, staged through workgroup memory 16 k at a time;
// each of the 256 threads accumulates a 4x4 register block.
// Inputs and outputs address channels as (entry * cstride + coffset + c), so a
// convolution can read from or write into a slice of a concatenation buffer.

struct Params {
    n: u32,        // batch entries
    cin: u32,      // input channels read
    in_cs: u32,    // channels per entry in the input buffer
    in_co: u32,    // first input channel
    cout: u32,     // output channels
    out_cs: u32,   // channels per entry in the output buffer
    out_co: u32,   // first output channel
    h: u32,
    w: u32,
    flags: u32,    // bit 0: add bias; bit 1: add the broadcast tensor; bits 2-3: 0 none, 1 LeakyReLU(0.01), 2 PReLU
    add_cs: u32,   // channels in the broadcast tensor (one entry, shared by all)
    add_co: u32,   // first channel read from it
    slope: f32,    // PReLU slope
    taps: u32,     // 9 (3x3) or 1 (1x1)
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> wts: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> addt: array<f32>;
@group(0) @binding(5) var<storage, read_write> outp: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> a_tile: array<f32, 1024>; // [BK][BM]
var<workgroup> b_tile: array<f32, 1024>; // [BK][BN]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let hw = p.h * p.w;
    let npix = p.n * hw;
    let kdim = p.cin * p.taps;
    let m0 = wid.y * BM;
    let p0 = wid.x * BN;

    // The column this thread gathers for the B tile, fixed for the whole k loop.
    let bn = tid % BN;
    let bk0 = tid / BN;
    let pix = p0 + bn;
    let pvalid = pix < npix;
    let pe = pix / hw;
    let prem = pix % hw;
    let py = i32(prem / p.w);
    let px = i32(prem % p.w);
    let in_base = (pe * p.in_cs + p.in_co) * hw;
    // The row and k offsets this thread loads for the A tile.
    let am = tid / 4u;
    let ak0 = (tid % 4u) * 4u;
    let arow = m0 + am;

    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var k0 = 0u; k0 < kdim; k0 += BK) {
        for (var j = 0u; j < 4u; j++) {
            let k = k0 + ak0 + j;
            var v = 0.0;
            if (arow < p.cout && k < kdim) {
                v = wts[arow * kdim + k];
            }
            a_tile[(ak0 + j) * BM + am] = v;
        }
        for (var j = 0u; j < 4u; j++) {
            let bk = bk0 + 4u * j;
            let k = k0 + bk;
            var v = 0.0;
            if (pvalid && k < kdim) {
                let ci = k / p.taps;
                let r = k % p.taps;
                var iy = py;
                var ix = px;
                if (p.taps == 9u) {
                    iy = py + i32(r / 3u) - 1;
                    ix = px + i32(r % 3u) - 1;
                }
                if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
                    v = inp[in_base + ci * hw + u32(iy) * p.w + u32(ix)];
                }
            }
            b_tile[bk * BN + bn] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = a_tile[kk * BM + ty + 16u * i];
                b[i] = b_tile[kk * BN + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }

    let act = (p.flags >> 2u) & 3u;
    for (var i = 0u; i < 4u; i++) {
        let co = m0 + ty + 16u * i;
        if (co >= p.cout) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let pp = p0 + tx + 16u * j;
            if (pp >= npix) {
                continue;
            }
            let e = pp / hw;
            let r = pp % hw;
            var v = acc[i][j];
            if ((p.flags & 1u) != 0u) {
                v += bias[co];
            }
            if ((p.flags & 2u) != 0u) {
                v += addt[(p.add_co + co) * hw + r];
            }
            if (act == 1u && v < 0.0) {
                v = 0.01 * v;
            } else if (act == 2u && v < 0.0) {
                v = p.slope * v;
            }
            outp[(e * p.out_cs + p.out_co + co) * hw + r] = v;
        }
    }
}
