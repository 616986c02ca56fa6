// Small memory-bound kernels. Each walks its outputs with a grid-stride loop, so the
// dispatch size never has to exceed the device's per-dimension workgroup limit.

struct Params {
    n: u32,       // entries
    c: u32,       // channels
    in_cs: u32,   // channels per entry in the input buffer
    in_co: u32,   // first input channel
    h: u32,       // input height
    w: u32,       // input width
    out_cs: u32,  // channels per entry in the output buffer
    out_co: u32,  // first output channel
    f0: f32,      // kernel-specific scalar (mean: 1/S; conv1x1: bias)
    u0: u32,      // kernel-specific flag (mean: accumulate)
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;

// 2x2 max-pool, stride 2.
@compute @workgroup_size(256, 1, 1)
fn maxpool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.h / 2u;
    let ow = p.w / 2u;
    let total = p.n * p.c * oh * ow;
    for (var i = gid.x; i < total; i += nwg.x * 256u) {
        let x = i % ow;
        let y = (i / ow) % oh;
        let c = (i / (ow * oh)) % p.c;
        let e = i / (ow * oh * p.c);
        let b = ((e * p.in_cs + p.in_co + c) * p.h + 2u * y) * p.w + 2u * x;
        let v = max(max(src[b], src[b + 1u]), max(src[b + p.w], src[b + p.w + 1u]));
        dst[((e * p.out_cs + p.out_co + c) * oh + y) * ow + x] = v;
    }
}

// Bilinear 2x upsampling with align_corners=True (nn.UpsamplingBilinear2d).
@compute @workgroup_size(256, 1, 1)
fn upsample(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let oh = p.h * 2u;
    let ow = p.w * 2u;
    let total = p.n * p.c * oh * ow;
    let sy = f32(p.h - 1u) / f32(oh - 1u);
    let sx = f32(p.w - 1u) / f32(ow - 1u);
    for (var i = gid.x; i < total; i += nwg.x * 256u) {
        let x = i % ow;
        let y = (i / ow) % oh;
        let c = (i / (ow * oh)) % p.c;
        let e = i / (ow * oh * p.c);
        let fy = sy * f32(y);
        let fx = sx * f32(x);
        let y0 = u32(fy);
        let x0 = u32(fx);
        let y1 = min(y0 + 1u, p.h - 1u);
        let x1 = min(x0 + 1u, p.w - 1u);
        let ly = fy - f32(y0);
        let lx = fx - f32(x0);
        let b = (e * p.in_cs + p.in_co + c) * p.h;
        let v00 = src[(b + y0) * p.w + x0];
        let v01 = src[(b + y0) * p.w + x1];
        let v10 = src[(b + y1) * p.w + x0];
        let v11 = src[(b + y1) * p.w + x1];
        let v = (1.0 - ly) * ((1.0 - lx) * v00 + lx * v01) + ly * ((1.0 - lx) * v10 + lx * v11);
        dst[((e * p.out_cs + p.out_co + c) * oh + y) * ow + x] = v;
    }
}

// Mean over entries: dst[c,y,x] (+)= f0 * sum_e src[e,c,y,x]; u0 = 1 accumulates onto
// dst (a context processed in chunks), with f0 = 1/S of the whole context.
@compute @workgroup_size(256, 1, 1)
fn mean_entries(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let len = p.c * p.h * p.w;
    for (var i = gid.x; i < len; i += nwg.x * 256u) {
        var s = 0.0;
        for (var e = 0u; e < p.n; e++) {
            s += src[e * len + i];
        }
        var v = p.f0 * s;
        if (p.u0 != 0u) {
            v += dst[i];
        }
        dst[i] = v;
    }
}

// dst[e,c,y,x] = LeakyReLU(src[e,c,y,x] + aux[c,y,x]): the first CrossConv from the
// cached context half and this prediction's target half.
@compute @workgroup_size(256, 1, 1)
fn add_leaky(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let len = p.c * p.h * p.w;
    let total = p.n * len;
    for (var i = gid.x; i < total; i += nwg.x * 256u) {
        var v = src[i] + aux[i % len];
        if (v < 0.0) {
            v = 0.01 * v;
        }
        dst[i] = v;
    }
}

// The 1x1 output convolution to one channel: dst[y,x] = f0 + sum_c aux[c] * src[in_co + c, y, x].
@compute @workgroup_size(256, 1, 1)
fn conv1x1_out(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let hw = p.h * p.w;
    for (var i = gid.x; i < hw; i += nwg.x * 256u) {
        var s = 0.0;
        for (var c = 0u; c < p.c; c++) {
            s = fma(aux[c], src[(p.in_co + c) * hw + i], s);
        }
        dst[i] = s + p.f0;
    }
}
