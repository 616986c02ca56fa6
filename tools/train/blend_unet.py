"""Blend two ScribblePrompt-UNet weight sets into a training state (issue 14, version 4).

    python tools/train/blend_unet.py --state weights/training/train_state.pt \
        --a weights/multiverseg-default.safetensors --b sp.pt --alpha 0.5 --out init_state.pt

Writes a copy of --state whose UNet weights are (1 - alpha) * A + alpha * B, tensor by tensor
(a linear interpolation in weight space, as in "model soups", Wortsman et al. 2022). A and B
are a converted weights file (.safetensors, as `mvs convert` writes it; its UNet tensors are
the ones whose names the UNet has) or a training checkpoint (`sp.pt` as train.py writes it, or
a `train_state.pt`). Both must be the same UNet architecture; it only makes sense for two
points of one training trajectory (version 4 blended version 1's UNet, iteration 921, with
its CPU continuation at 2883). MultiverSegNet, both optimizers, the step counter and the RNG
states are copied from --state unchanged. `--resume OUT` then continues training from the blend.
Written atomically (temporary file, then rename).
"""
import argparse

import torch

from train import atomic_save


def load_unet(path, names):
    """The UNet tensors of a weights file or checkpoint, as {name: float32 tensor}."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        allw = load_file(path)
        missing = [n for n in names if n not in allw]
        if missing:
            raise SystemExit(f"--a/--b {path}: no UNet tensor {missing[0]}")
        return {n: allw[n].float() for n in names}
    obj = torch.load(path, map_location="cpu", weights_only=False)
    sd = obj["sp"] if "sp" in obj else obj["model"]
    return {n: v.float() for n, v in sd.items()}  # names and shapes: checked by blend_state


def blend_state(st, a, b, alpha):
    """A copy of training state `st` whose UNet ("sp") is (1 - alpha) * a + alpha * b.

    a, b: {tensor name: tensor} with exactly the names and shapes of st["sp"]; alpha in [0, 1].
    Everything else in `st` is shared with the input, not copied. Raises ValueError naming the
    argument on a bad alpha, a missing or extra tensor, or a shape mismatch.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha}: must be in [0, 1]")
    ref = st["sp"]
    for what, w in (("a", a), ("b", b)):
        if set(w) != set(ref):
            raise ValueError(f"{what}: tensor names differ from the state's UNet")
        for n in ref:
            if w[n].shape != ref[n].shape:
                raise ValueError(f"{what}: tensor {n} has shape {tuple(w[n].shape)}, "
                                 f"the state's UNet {tuple(ref[n].shape)}")
    out = dict(st)
    out["sp"] = {n: ((1 - alpha) * a[n].float() + alpha * b[n].float()).contiguous() for n in ref}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", required=True, help="train_state.pt to copy (MultiverSegNet, optimizers, step)")
    ap.add_argument("--a", required=True, help="first UNet: .safetensors, sp.pt or train_state.pt")
    ap.add_argument("--b", required=True, help="second UNet: .safetensors, sp.pt or train_state.pt")
    ap.add_argument("--alpha", type=float, required=True, help="weight of --b, in [0, 1]")
    ap.add_argument("--out", required=True, help="output train_state.pt")
    args = ap.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        raise SystemExit(f"--alpha {args.alpha}: must be in [0, 1]")  # before the slow loads
    st = torch.load(args.state, map_location="cpu", weights_only=False)
    names = list(st["sp"])
    try:
        st = blend_state(st, load_unet(args.a, names), load_unet(args.b, names), args.alpha)
    except ValueError as e:
        raise SystemExit(f"--a/--b: {e}")
    atomic_save(st, args.out)
    print(f"wrote {args.out}: UNet = {1 - args.alpha:g} * {args.a} + {args.alpha:g} * {args.b}")


if __name__ == "__main__":
    main()
