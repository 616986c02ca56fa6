"""Independent PyTorch reference of MultiverSegNet and ScribblePrompt-UNet.

Written from DESIGN.md section 2 (not copied from the official code), with the
official state-dict names, so official checkpoints load into it and its
random-weight checkpoints are saved exactly as the official ones are:
MultiverSegNet as torch.save({"model": state_dict}), the UNet as a bare state_dict.

Used offline only: to make the test vectors under tests/data and for the
full-size fidelity check (tools/check_full_size.sh). Runs in f64 or f32.
"""
import argparse
import collections
import os

import numpy as np
import torch
import torch.nn.functional as F


def mvs_state_dict(nf_enc, in_t=5, in_c=2, gen=None):
    """Random MultiverSegNet weights: nf_enc like [32, 32, 32, 32]."""
    g = gen
    sd = collections.OrderedDict()

    def conv(name, cout, cin, k):
        std = (2.0 / (cin * k * k)) ** 0.5
        sd[name + ".weight"] = torch.randn(cout, cin, k, k, generator=g) * std
        sd[name + ".bias"] = torch.randn(cout, generator=g) * 0.1

    def block(p, ct, cs, f):
        conv(p + ".cross.cross_conv", f, ct + cs, 3)
        for half in ("target", "support"):
            conv(p + "." + half + ".vmapped.conv", f, f, 3)
            sd[p + "." + half + ".vmapped.norml.weight"] = 1.0 + 0.2 * torch.randn(f, generator=g)
            sd[p + "." + half + ".vmapped.norml.bias"] = 0.1 * torch.randn(f, generator=g)

    ct, cs = in_t, in_c
    for i, f in enumerate(nf_enc):
        block(f"enc_blocks.{i}", ct, cs, f)
        ct = cs = f
    skips = nf_enc[-2::-1]
    for i, (f, sk) in enumerate(zip(nf_enc[-2::-1], skips)):
        block(f"dec_blocks.{i}", ct + sk, cs + sk, f)
        ct = cs = f
    conv("out_conv.conv", 1, ct, 1)
    return sd


def unet_state_dict(features, in_ch=5, gen=None):
    g = gen
    sd = collections.OrderedDict()

    def conv(p, cout, cin, k, prelu=True):
        std = (2.0 / (cin * k * k)) ** 0.5
        sd[p + ".conv.0.weight"] = torch.randn(cout, cin, k, k, generator=g) * std
        sd[p + ".conv.0.bias"] = torch.randn(cout, generator=g) * 0.1
        if prelu:
            sd[p + ".conv.1.weight"] = 0.1 + 0.3 * torch.rand(1, generator=g)

    cin = in_ch
    for i, f in enumerate(features):
        conv(f"downs.{i}", f, cin, 3)
        cin = f
    conv("bottleneck", features[-1], features[-1], 3)
    for j, f in enumerate(reversed(features)):
        conv(f"ups.{2 * j + 1}", f, 2 * f, 3)
    conv("final_conv", 1, features[0], 1, prelu=False)
    return sd


def group_norm(x, gamma, beta, eps=1e-5):
    # One group: statistics over (C, H, W) of each entry.
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]


def conv_op(sd, p, x):
    w = sd[p + ".conv.weight"]
    y = F.conv2d(x, w, sd[p + ".conv.bias"], padding=w.shape[-1] // 2)
    y = F.leaky_relu(y, 0.01)
    return group_norm(y, sd[p + ".norml.weight"], sd[p + ".norml.bias"])


def cross_block(sd, p, t, s):
    """t: [1, ct, H, W]; s: [S, cs, H, W]."""
    w = sd[p + ".cross.cross_conv.weight"]
    ct = t.shape[1]
    zt = F.conv2d(t, w[:, :ct], sd[p + ".cross.cross_conv.bias"], padding=1)
    zs = F.conv2d(s, w[:, ct:], None, padding=1)
    z = F.leaky_relu(zt + zs, 0.01)
    t_new = z.mean(dim=0, keepdim=True)
    return conv_op(sd, p + ".target.vmapped", t_new), conv_op(sd, p + ".support.vmapped", z)


def up(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


def multiverseg_forward(sd, target, ctx_images=None, ctx_labels=None):
    """target [1,5,H,W]; ctx_* [1,S,1,H,W] or None/S=0 (then the 0.5 dummy entry)."""
    _, _, h, w = target.shape
    if ctx_images is None or ctx_images.shape[1] == 0:
        ctx_images = torch.full((1, 1, 1, h, w), 0.5, dtype=target.dtype)
        ctx_labels = torch.full((1, 1, 1, h, w), 0.5, dtype=target.dtype)
    s = torch.cat([ctx_images[0], ctx_labels[0]], dim=1)
    t = target
    n_enc = len([k for k in sd if k.startswith("enc_blocks.") and k.endswith(".cross.cross_conv.weight")])
    n_dec = len([k for k in sd if k.startswith("dec_blocks.") and k.endswith(".cross.cross_conv.weight")])
    skips = []
    for i in range(n_enc):
        t, s = cross_block(sd, f"enc_blocks.{i}", t, s)
        if i == n_enc - 1:
            break
        skips.append((t, s))
        t, s = F.max_pool2d(t, 2), F.max_pool2d(s, 2)
    for i in range(n_dec):
        ts, ss = skips.pop()
        t = torch.cat([up(t), ts], dim=1)
        s = torch.cat([up(s), ss], dim=1)
        t, s = cross_block(sd, f"dec_blocks.{i}", t, s)
    return F.conv2d(t, sd["out_conv.conv.weight"], sd["out_conv.conv.bias"])


def unet_forward(sd, x):
    n = len([k for k in sd if k.startswith("downs.") and k.endswith(".conv.0.weight")])

    def cp(p, x):
        y = F.conv2d(x, sd[p + ".conv.0.weight"], sd[p + ".conv.0.bias"], padding=1)
        return F.prelu(y, sd[p + ".conv.1.weight"])

    skips = []
    for i in range(n):
        x = cp(f"downs.{i}", x)
        skips.append(x)
        x = F.max_pool2d(x, 2)
    x = cp("bottleneck", x)
    for j in range(n):
        x = torch.cat([skips.pop(), up(x)], dim=1)
        x = cp(f"ups.{2 * j + 1}", x)
    return F.conv2d(x, sd["final_conv.conv.0.weight"], sd["final_conv.conv.0.bias"])


def smooth_random(gen, n, h, w, dtype):
    """Random images with structure at several scales, in [0, 1]."""
    x = torch.rand(n, 1, h // 8, w // 8, generator=gen, dtype=dtype)
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    x = x + 0.2 * torch.rand(n, 1, h, w, generator=gen, dtype=dtype)
    x = x - x.amin(dim=(2, 3), keepdim=True)
    return x / x.amax(dim=(2, 3), keepdim=True)


def make_inputs(gen, h, w, s_max, dtype=torch.float64):
    img = smooth_random(gen, 1, h, w, dtype)
    target = torch.zeros(1, 5, h, w, dtype=dtype)
    target[:, 0] = img[:, 0]
    target[0, 1, h // 4: h // 2, w // 3: (2 * w) // 3] = 1.0  # a box
    target[0, 2, h // 3, w // 2] = 1.0  # a positive click
    target[0, 3, 5, 7] = 1.0  # a negative click
    target_prev = target.clone()
    target_prev[:, 4] = 3.0 * torch.randn(1, h, w, generator=gen, dtype=dtype)  # previous logits
    ci = smooth_random(gen, s_max, h, w, dtype).reshape(1, s_max, 1, h, w)
    cl = (smooth_random(gen, s_max, h, w, dtype) > 0.5).to(dtype).reshape(1, s_max, 1, h, w)
    return target, target_prev, ci, cl


def to64(sd):
    return {k: v.double() for k, v in sd.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--nf", type=int, default=32, help="MultiverSegNet features per block")
    ap.add_argument("--unet-nf", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--cases", default="0a,1a,3b,5a", help="S and target (a: no previous logits, b: with)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights-only", action="store_true", help="write the checkpoints and stop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    mvs = mvs_state_dict([args.nf] * 4, gen=gen)
    unet = unet_state_dict([args.unet_nf] * 4, gen=gen)
    torch.save({"model": mvs}, os.path.join(args.out, "mvs.pt"))
    torch.save(unet, os.path.join(args.out, "sp.pt"))
    if args.weights_only:
        return
    h = w = args.size
    cases = [(int(c[:-1]), c[-1]) for c in args.cases.split(",")]
    s_max = max(s for s, _ in cases)
    ta, tb, ci, cl = make_inputs(gen, h, w, max(s_max, 1))
    save = lambda name, x: np.save(os.path.join(args.out, name), x.numpy())
    save("target_a.npy", ta.float())
    save("target_b.npy", tb.float())
    save("context_images.npy", ci.float())
    save("context_labels.npy", cl.float())
    # The reference runs on the f32-rounded inputs, promoted to f64.
    ta, tb, ci, cl = (x.float().double() for x in (ta, tb, ci, cl))
    with torch.no_grad():
        for s, which in cases:
            t = ta if which == "a" else tb
            for prec, sd, cast in (("f64", to64(mvs), torch.double), ("f32", mvs, torch.float)):
                y = multiverseg_forward(sd, t.to(cast), ci[:, :s].to(cast), cl[:, :s].to(cast))
                save(f"mvs_s{s}{which}_{prec}.npy", y)
            print(f"S={s}{which}: f32 vs f64 max abs", np.abs(np.load(os.path.join(args.out, f"mvs_s{s}{which}_f32.npy")) - np.load(os.path.join(args.out, f"mvs_s{s}{which}_f64.npy"))).max(), flush=True)
        for which, t in (("a", ta), ("b", tb)):
            save(f"sp_{which}_f64.npy", unet_forward(to64(unet), t))
            save(f"sp_{which}_f32.npy", unet_forward(unet, t.float()))


if __name__ == "__main__":
    main()
