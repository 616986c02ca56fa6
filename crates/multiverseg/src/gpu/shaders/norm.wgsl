// GroupNorm with one group (LayerNorm over C,H,W of each entry), eps 1e-5, per-channel affine.
// Three passes, so that no f32 sum ever runs over more than a few hundred values in sequence:
//  stats:    each workgroup takes one part of one entry and computes (count, mean, M2)
//            with a two-pass mean/deviation and tree reductions in workgroup memory;
//  finalize: one thread per entry merges the parts with Chan's parallel formula;
//  apply:    normalizes in place.
// All sums run on x - K, K being the entry's first value: an entry whose values share a
// large offset would otherwise lose the digits that x - mean keeps.

struct Params {
    n: u32,      // entries
    c: u32,      // channels normalized
    cs: u32,     // channels per entry in the buffer
    co: u32,     // first channel
    hw: u32,
    parts: u32,  // workgroups per entry in the stats pass
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>; // [n][parts][4]: count, mean, m2, K
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;   // [n][4]: K, mean of x - K, 1/std
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;

var<workgroup> red: array<f32, 256>;

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] += red[lid + s];
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(256, 1, 1)
fn stats_pass(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let part = wid.x;
    let e = wid.y;
    let len = p.c * p.hw;
    let base = (e * p.cs + p.co) * p.hw;
    let lo = u32((u64_mul_div(part, len, p.parts)));
    let hi = u32((u64_mul_div(part + 1u, len, p.parts)));
    let k = x[base];
    // Pass 1: the part's mean.
    var s = 0.0;
    var comp = 0.0; // Kahan compensation
    for (var i = lo + lid; i < hi; i += 256u) {
        let y = (x[base + i] - k) - comp;
        let t = s + y;
        comp = (t - s) - y;
        s = t;
    }
    let count = f32(hi - lo);
    let mean = reduce_sum(lid, s) / max(count, 1.0);
    // Pass 2: sum of squared deviations from it.
    var q = 0.0;
    comp = 0.0;
    for (var i = lo + lid; i < hi; i += 256u) {
        let d = (x[base + i] - k) - mean;
        let y = d * d - comp;
        let t = q + y;
        comp = (t - q) - y;
        q = t;
    }
    let m2 = reduce_sum(lid, q);
    if (lid == 0u) {
        let o = (e * p.parts + part) * 4u;
        partial[o] = count;
        partial[o + 1u] = mean;
        partial[o + 2u] = m2;
        partial[o + 3u] = k;
    }
}

// part * len / parts without 32-bit overflow (len can exceed 2^26 and parts is <= 1024).
fn u64_mul_div(a: u32, b: u32, d: u32) -> u32 {
    let q = b / d;
    let r = b % d;
    return a * q + (a * r) / d;
}

@compute @workgroup_size(64, 1, 1)
fn finalize_pass(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if (e >= p.n) {
        return;
    }
    var n = 0.0;
    var mean = 0.0;
    var m2 = 0.0;
    for (var k = 0u; k < p.parts; k++) {
        let o = (e * p.parts + k) * 4u;
        let nb = partial[o];
        if (nb == 0.0) {
            continue;
        }
        let mb = partial[o + 1u];
        let n_ab = n + nb;
        let d = mb - mean;
        mean += d * (nb / n_ab);
        m2 += partial[o + 2u] + d * d * (n * nb / n_ab);
        n = n_ab;
    }
    stats[e * 4u] = partial[e * p.parts * 4u + 3u];
    stats[e * 4u + 1u] = mean;
    stats[e * 4u + 2u] = 1.0 / sqrt(m2 / n + 1e-5);
}

@compute @workgroup_size(256, 1, 1)
fn apply_pass(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let len = p.c * p.hw;
    let total = p.n * len;
    let stride = nwg.x * 256u;
    for (var i = gid.x; i < total; i += stride) {
        let e = i / len;
        let r = i % len;
        let c = r / p.hw;
        let idx = (e * p.cs + p.co) * p.hw + r;
        let k = stats[e * 4u];
        let mean = stats[e * 4u + 1u];
        let rstd = stats[e * 4u + 2u];
        x[idx] = ((x[idx] - k) - mean) * rstd * gamma[c] + beta[c];
    }
}
