"""Widen the ScribblePrompt-UNet of a training state without changing what it computes.

    python tools/train/widen_unet.py --state weights/training/train_state.pt --nf 48 \
        --out wide_state.pt [--noise 1e-3] [--seed 0]

The UNet's training Dice stopped rising at nf=32 (tools/train/README.md); a wider UNet
trained from scratch would need the CPU hours the narrow one has had. This follows Net2Net's
function-preserving widening (Chen, Goodfellow and Shlens, ICLR 2016, "Net2WiderNet"): every
new channel of a layer copies an existing channel (its filter, bias; the PReLU slope is one
shared scalar), and every layer that reads the widened output divides the input weights of a
copied channel by the number of its copies. The UNet's only mixing is convolution, PReLU,
max-pooling, nearest/bilinear upsampling and concatenation of skips, so the widened network
gives the same logits up to float rounding (checked on a random input before writing, within
1e-4 of the input network's logits, whose scale is ~10). `--noise` then adds Gaussian noise
of that relative size to the copied input weights, so that copies can diverge in training.

The output state is the input state with the wider UNet, a fresh Adam state for it (the old
moments have the old shapes) and `config.unet_nf` set; MultiverSegNet, its optimizer, the
counters and the RNG state are kept. Where the state holds the UNet's weight average
(`sp_ema`, the shipped UNet since version 8), the average is what is widened, and the entry is
dropped (see `widen_state`). `train.py --resume OUT` continues from it. Written
atomically (temporary file, then rename).
"""
import argparse

import torch

from models import ScribblePromptUNet
from train import atomic_save


def _maps(old, new, gen):
    """For each of the UNet's 4 down levels, the bottleneck and the 4 up levels, a LongTensor
    [new] giving the old channel each new channel copies: the first `old` are themselves,
    the rest drawn uniformly (Net2WiderNet's random mapping)."""
    def one():
        extra = torch.randint(0, old, (new - old,), generator=gen)
        return torch.cat([torch.arange(old), extra])
    return {"downs": [one() for _ in range(4)], "bottleneck": one(), "ups": [one() for _ in range(4)]}


def _in_map(w, parts, noise, gen):
    """Input weights w [out, in, k, k] widened along dim 1 for concatenated input blocks
    `parts`: an int is an unwidened block of that many channels, a map (see `_maps`) a
    widened one whose copied columns are divided by their number of copies (a map starts
    with every old channel, so its bincount has the old width)."""
    cols, start = [], 0
    for p in parts:
        if isinstance(p, int):
            cols.append(w[:, start:start + p])
            start += p
            continue
        c = torch.bincount(p)
        block = w[:, start:start + c.numel()][:, p] / c[p].to(w.dtype).view(1, -1, 1, 1)
        if noise > 0:
            block = block + noise * block.abs().mean() * torch.randn(block.shape, generator=gen, dtype=w.dtype)
        cols.append(block)
        start += c.numel()
    assert start == w.shape[1], (start, w.shape)
    return torch.cat(cols, 1)


def widen(sd, nf, noise=0.0, seed=0):
    """The state dict of a ScribblePromptUNet with features [nf] * 4 that computes what `sd`
    (features [f] * 4, f <= nf) computes, up to `noise` (relative, on copied input weights)."""
    f = sd["downs.0.conv.0.weight"].shape[0]
    if nf < f:
        raise ValueError(f"--nf {nf} is narrower than the state's UNet ({f})")
    gen = torch.Generator().manual_seed(seed)
    m = _maps(f, nf, gen)

    out = dict(sd)

    def conv(name, out_map, parts):
        w, b = sd[name + ".conv.0.weight"], sd[name + ".conv.0.bias"]
        w = _in_map(w, parts, noise, gen)
        if out_map is not None:
            w, b = w[out_map], b[out_map]
        out[name + ".conv.0.weight"] = w.contiguous()
        out[name + ".conv.0.bias"] = b.contiguous()

    in_ch = sd["downs.0.conv.0.weight"].shape[1]
    for i in range(4):
        conv(f"downs.{i}", m["downs"][i], [in_ch] if i == 0 else [m["downs"][i - 1]])
    conv("bottleneck", m["bottleneck"], [m["downs"][3]])
    below = m["bottleneck"]
    for j in range(4):  # up level j reads [skip of down level 3 - j, upsampled level below]
        conv(f"ups.{2 * j + 1}", m["ups"][j], [m["downs"][3 - j], below])
        below = m["ups"][j]
    conv("final_conv", None, [below])
    return out


def widen_state(st, nf, noise=1e-3, seed=0):
    """Widen the UNet of training state `st` to `nf` features per level; returns (new state,
    the largest logit difference without noise, with noise, the entry widened).

    Since version 8 the shipped UNet is the state's weight average `sp_ema`, not its last
    weights `sp`, so the average is widened when the state holds one (else `sp`) and becomes
    the new `sp`. The `sp_ema` entry is dropped: an nf-32 average cannot be resumed into an
    nf-`nf` UNet, and `train.py --ema-sp` starts a new average from the widened weights.
    Raises ValueError when `nf` is narrower than the state's UNet or widening changes the
    logits by more than 1e-4 (a bug). `st` itself is not modified."""
    src = "sp_ema" if "sp_ema" in st else "sp"
    sd = st[src]
    f = sd["downs.0.conv.0.weight"].shape[0]
    wide = widen(sd, nf, 0.0, seed)
    narrow_net, wide_net = ScribblePromptUNet([f] * 4), ScribblePromptUNet([nf] * 4)
    narrow_net.load_state_dict(sd)
    wide_net.load_state_dict(wide)
    x = torch.randn(2, 5, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        err = (narrow_net(x) - wide_net(x)).abs().max().item()
    if err > 1e-4:
        raise ValueError(f"widened UNet differs by {err:.2e} from the input (a bug; nothing written)")
    wide = widen(sd, nf, noise, seed)
    wide_net.load_state_dict(wide)
    with torch.no_grad():
        err_noise = (narrow_net(x) - wide_net(x)).abs().max().item()
    out = {k: v for k, v in st.items() if k != "sp_ema"}
    out["sp"] = wide
    out["opt_sp"] = torch.optim.Adam(wide_net.parameters(), lr=st["config"]["unet_lr"]).state_dict()
    out["config"] = dict(st["config"], unet_nf=nf)
    return out, err, err_noise, src


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", required=True, help="train_state.pt to widen")
    ap.add_argument("--nf", type=int, required=True, help="UNet features per level after widening")
    ap.add_argument("--out", required=True, help="output train_state.pt")
    ap.add_argument("--noise", type=float, default=1e-3, help="relative noise on copied input weights")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    st = torch.load(args.state, map_location="cpu", weights_only=False)
    try:
        out, err, err_noise, src = widen_state(st, args.nf, args.noise, args.seed)
    except ValueError as e:
        raise SystemExit(str(e))
    atomic_save(out, args.out)
    n = sum(v.numel() for v in out["sp"].values())
    f = st[src]["downs.0.conv.0.weight"].shape[0]
    print(f"wrote {args.out}: UNet nf {f} -> {args.nf} ({n} parameters), from the state's "
          f"{'weight average sp_ema' if src == 'sp_ema' else 'last weights sp'}; logits differ by "
          f"{err:.1e} without noise, {err_noise:.1e} with --noise {args.noise}")


if __name__ == "__main__":
    main()
