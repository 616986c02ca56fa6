"""Blend two weight sets of one network into a training state (issue 14, version 4).

    python tools/train/blend_unet.py --state weights/training/train_state.pt \
        --a weights/multiverseg-default.safetensors --b sp.pt --alpha 0.5 --out init_state.pt
    python tools/train/blend_unet.py --net mvs --state RUN/train_state.pt \
        --a weights/multiverseg-default.safetensors --b RUN/mvs.pt --alpha 0.5 --out soup_state.pt

Writes a copy of --state whose weights of one network (--net sp: the ScribblePrompt-UNet, the
default and the tool's first use; --net mvs: MultiverSegNet) are (1 - alpha) * A + alpha * B,
tensor by tensor (a linear interpolation in weight space, as in "model soups", Wortsman et al.
2022). A and B are a converted weights file (.safetensors, as `mvs convert` writes it; the
network's tensors are the ones with its names, the two networks share none) or a training
checkpoint (`sp.pt` or `mvs.pt` as train.py writes it, or a `train_state.pt`). Both must be
the same architecture; it only makes sense for two points of one training trajectory (version
4 blended version 1's UNet, iteration 921, with its CPU continuation at 2883). The other
network, both optimizers, the step counter and the RNG states are copied from --state
unchanged; the blended network's weight average in --state (`sp_ema` from train.py's
--ema-sp, `mvs_ema` from --ema-mvs), if it holds one, is replaced by the blend too.
`--resume OUT` then continues training from the blend; `--out-net FILE` also writes
the blended network alone, as train.py's `sp.pt`/`mvs.pt` ({"model": state dict}), for
`mvs convert`. Written atomically (temporary file, then rename). A `train_state.pt` given as
--a or --b contributes its last weights of the network, not its average: pass `sp_ema.pt` or
`mvs_ema.pt` to blend an average.
"""
import argparse

import torch

from train import atomic_save


def load_net(path, names, net="sp"):
    """The tensors of network `net` ("sp" or "mvs") in a weights file or checkpoint, as
    {name: float32 tensor}; `names` are the network's tensor names (those of the state)."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        allw = load_file(path)
        missing = [n for n in names if n not in allw]
        if missing:
            raise SystemExit(f"--a/--b {path}: no {net} tensor {missing[0]}")
        return {n: allw[n].float() for n in names}
    obj = torch.load(path, map_location="cpu", weights_only=False)
    sd = obj[net] if net in obj else obj["model"]
    return {n: v.float() for n, v in sd.items()}  # names and shapes: checked by blend_state


def blend_state(st, a, b, alpha, net="sp"):
    """A copy of training state `st` whose network `net` ("sp": the UNet, or "mvs") is
    (1 - alpha) * a + alpha * b.

    a, b: {tensor name: tensor} with exactly the names and shapes of st[net]; alpha in [0, 1].
    Everything else in `st` is shared with the input, not copied, except the blended
    network's weight average (`sp_ema` from train.py's --ema-sp, `mvs_ema` from --ema-mvs):
    a state that holds one gets the blend there too (a copy), since the UNet's average is what
    ships since version 8, and a run resumed with the flag continues it; left as it was, the
    state would pair the blended network with the average of the run the blend was taken
    from. Raises ValueError naming the argument on a bad net or alpha, a missing or extra
    tensor, or a shape mismatch.
    """
    if net not in ("sp", "mvs"):
        raise ValueError(f"net {net!r}: must be 'sp' or 'mvs'")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: must be in [0, 1]")
    ref = st[net]
    for what, w in (("a", a), ("b", b)):
        if set(w) != set(ref):
            raise ValueError(f"{what}: tensor names differ from the state's {net}")
        for n in ref:
            if w[n].shape != ref[n].shape:
                raise ValueError(f"{what}: tensor {n} has shape {tuple(w[n].shape)}, "
                                 f"the state's {net} {tuple(ref[n].shape)}")
    out = dict(st)
    out[net] = {n: ((1 - alpha) * a[n].float() + alpha * b[n].float()).contiguous() for n in ref}
    if f"{net}_ema" in st:
        out[f"{net}_ema"] = {n: v.clone() for n, v in out[net].items()}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", choices=("sp", "mvs"), default="sp",
                    help="which network to blend: sp (the UNet; default) or mvs (MultiverSegNet)")
    ap.add_argument("--state", required=True, help="train_state.pt to copy (other network, optimizers, step)")
    ap.add_argument("--a", required=True, help="first weights: .safetensors, sp.pt/mvs.pt or train_state.pt")
    ap.add_argument("--b", required=True, help="second weights: .safetensors, sp.pt/mvs.pt or train_state.pt")
    ap.add_argument("--alpha", type=float, required=True, help="weight of --b, in [0, 1]")
    ap.add_argument("--out", required=True, help="output train_state.pt")
    ap.add_argument("--out-net", help="also write the blended network alone ({'model': ...}) here")
    args = ap.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha {args.alpha}: must be in [0, 1]")  # before the slow loads
    st = torch.load(args.state, map_location="cpu", weights_only=False)
    names = list(st[args.net])
    try:
        st = blend_state(st, load_net(args.a, names, args.net), load_net(args.b, names, args.net),
                         args.alpha, args.net)
    except ValueError as e:
        raise SystemExit(f"--a/--b: {e}")
    atomic_save(st, args.out)
    print(f"wrote {args.out}: {args.net} = {1 - args.alpha:g} * {args.a} + {args.alpha:g} * {args.b}")
    if args.out_net:
        atomic_save({"model": st[args.net]}, args.out_net)
        print(f"wrote {args.out_net}: the blended {args.net} alone")


if __name__ == "__main__":
    main()
