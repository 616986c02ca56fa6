// 3x3 (zero padding 1) or 1x1 convolution of a batch, as an implicit GEMM:
// out[co, p] = sum_k W[co, k] * col[k, p], k = (tap, ci), p = (n, y, x).
// The weights are stored [cout][tap][cin] so that the k loop runs tap by tap: each
// thread's source pixel and its bounds check are worked out once per tap, and the
// inner loads are a plain stride over channels (no division per element).
// A (16*TM)x(16*TN) output tile per workgroup, staged through workgroup memory 16
// channels at a time; each of the 256 threads accumulates a TMxTN register block made
// of 4x4 groups 64 rows/columns apart, so that its operands come from workgroup memory
// as vec4 loads (one per four FMAs per operand, not one per FMA).
// TM and TN (4 or 8) are substituted by the host before compilation.
// Inputs and outputs address channels as (entry * cstride + coffset + c), so a
// convolution can read from or write into a slice of a concatenation buffer.

const TM: u32 = {TM}u;
const TN: u32 = {TN}u;
const BM: u32 = 16u * TM;
const BN: u32 = 16u * TN;
const BK: u32 = 16u;
const ASTRIDE: u32 = BM + 4u; // padding spreads the transposed stores over banks
const GM: u32 = TM / 4u;       // 4-row groups per thread
const GN: u32 = TN / 4u;       // 4-column groups per thread

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

var<workgroup> a_tile: array<vec4<f32>, BK * ASTRIDE / 4u>; // [BK][BM] (+pad)
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;      // [BK][BN]

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
    let brows = 256u / BN;
    let pix = p0 + bn;
    let pvalid = pix < npix;
    let pe = pix / hw;
    let prem = pix % hw;
    let py = i32(prem / p.w);
    let px = i32(prem % p.w);
    let chan0 = (pe * p.in_cs + p.in_co) * hw;
    // The k column and rows this thread loads for the A tile.
    let ak = tid % BK;
    let am0 = tid / BK;

    var acc: array<array<f32, TN>, TM>;
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var t = 0u; t < p.taps; t++) {
        var dy = 0;
        var dx = 0;
        if (p.taps == 9u) {
            dy = i32(t / 3u) - 1;
            dx = i32(t % 3u) - 1;
        }
        let iy = py + dy;
        let ix = px + dx;
        let tvalid = pvalid && iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w);
        var src = chan0;
        if (tvalid) {
            src = chan0 + u32(iy) * p.w + u32(ix);
        }
        for (var c0 = 0u; c0 < p.cin; c0 += BK) {
            let kc = c0 + ak;
            for (var i = 0u; i < TM; i++) {
                let am = am0 + 16u * i;
                var v = 0.0;
                if (m0 + am < p.cout && kc < p.cin) {
                    v = wts[(m0 + am) * kdim + t * p.cin + kc];
                }
                let ai = ak * ASTRIDE + am;
                a_tile[ai / 4u][ai % 4u] = v;
            }
            for (var j = 0u; j < TN; j++) {
                let bk = bk0 + brows * j;
                let c = c0 + bk;
                var v = 0.0;
                if (tvalid && c < p.cin) {
                    v = inp[src + c * hw];
                }
                let bi = bk * BN + bn;
                b_tile[bi / 4u][bi % 4u] = v;
            }
            workgroupBarrier();
            for (var kk = 0u; kk < BK; kk++) {
                var a: array<vec4<f32>, GM>;
                var b: array<vec4<f32>, GN>;
                for (var g = 0u; g < GM; g++) {
                    a[g] = a_tile[(kk * ASTRIDE + g * 64u + ty * 4u) / 4u];
                }
                for (var g = 0u; g < GN; g++) {
                    b[g] = b_tile[(kk * BN + g * 64u + tx * 4u) / 4u];
                }
                for (var i = 0u; i < TM; i++) {
                    let av = a[i / 4u][i % 4u];
                    for (var j = 0u; j < TN; j++) {
                        acc[i][j] = fma(av, b[j / 4u][j % 4u], acc[i][j]);
                    }
                }
            }
            workgroupBarrier();
        }
    }

    let act = (p.flags >> 2u) & 3u;
    for (var i = 0u; i < TM; i++) {
        let co = m0 + (i / 4u) * 64u + ty * 4u + i % 4u;
        if (co >= p.cout) {
            continue;
        }
        for (var j = 0u; j < TN; j++) {
            let pp = p0 + (j / 4u) * 64u + tx * 4u + j % 4u;
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
