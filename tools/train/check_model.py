"""Checks that tools/train/models.py computes exactly what tools/reference.py does.

Random weights from reference.py's `mvs_state_dict` / `unet_state_dict` are loaded
(strict: same names, same shapes) into the trainable modules; both run in float64
on random inputs (batched here, one task at a time in the reference) and must agree
to < 1e-10. Also checks that `export_state_dict` of a fresh module has exactly the
reference's names and shapes, in float32, and round-trips through the reference.

Run: python tools/train/check_model.py   (CPU, a few seconds)
"""
import argparse
import os
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import reference as ref  # noqa: E402
from models import MultiverSegNet, ScribblePromptUNet, export_state_dict, save_checkpoint  # noqa: E402


def check_checkpoints(d, size):
    """mvs.pt / sp.pt: {"model": state_dict}, float32, finite, exactly the reference's
    names and shapes for their width, and the reference forward equals ours."""
    gen = torch.Generator().manual_seed(2)
    ok = True
    for name in ("mvs", "sp"):
        path = os.path.join(d, name + ".pt")
        top = torch.load(path, map_location="cpu", weights_only=True)
        sd = top["model"]
        if name == "mvs":
            nf = sd["enc_blocks.0.cross.cross_conv.weight"].shape[0]
            refsd = ref.mvs_state_dict([nf] * 4, gen=gen)
            net = MultiverSegNet([nf] * 4)
        else:
            nf = sd["downs.0.conv.0.weight"].shape[0]
            refsd = ref.unet_state_dict([nf] * 4, gen=gen)
            net = ScribblePromptUNet([nf] * 4)
        names = list(sd.keys()) == list(refsd.keys())
        shapes = names and all(tuple(sd[k].shape) == tuple(refsd[k].shape) for k in refsd)
        f32 = all(v.dtype == torch.float32 for v in sd.values())
        finite = all(bool(torch.isfinite(v).all()) for v in sd.values())
        net.load_state_dict(sd, strict=True)
        net = net.double().eval()
        sd64 = ref.to64(sd)
        t, _, ci, cl = ref.make_inputs(gen, size, size, 3)
        t[:, 4] = 0
        with torch.no_grad():
            if name == "mvs":
                a = net(t, torch.cat([ci[0], cl[0]], dim=1)[None])
                b = ref.multiverseg_forward(sd64, t, ci, cl)
            else:
                a = net(t)
                b = ref.unet_forward(sd64, t)
        diff = (a - b).abs().max().item()
        good = list(top.keys()) == ["model"] and names and shapes and f32 and finite and diff < 1e-10
        ok &= good
        mb = os.path.getsize(path) / 1e6
        print(f"{path}: nf={nf}, {len(sd)} tensors, names/order {'match' if names else 'DIFFER'}, "
              f"shapes {'match' if shapes else 'DIFFER'}, float32 {f32}, finite {finite}, {mb:.2f} MB, "
              f"ours vs reference forward {diff:.2e} {'OK' if good else 'FAIL'}")
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nf", type=int, default=8)
    ap.add_argument("--unet-nf", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--checkpoints", default=None,
                    help="instead: check DIR/mvs.pt and DIR/sp.pt written by train.py")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.checkpoints:
        sys.exit(0 if check_checkpoints(args.checkpoints, args.size) else 1)
    gen = torch.Generator().manual_seed(1)
    h = w = args.size
    tol = 1e-10
    ok = True

    mvs_sd = ref.to64(ref.mvs_state_dict([args.nf] * 4, gen=gen))
    unet_sd = ref.to64(ref.unet_state_dict([args.unet_nf] * 4, gen=gen))
    mvs = MultiverSegNet([args.nf] * 4).double()
    unet = ScribblePromptUNet([args.unet_nf] * 4).double()
    mvs.load_state_dict(mvs_sd, strict=True)
    unet.load_state_dict(unet_sd, strict=True)
    mvs.eval()
    unet.eval()

    # Batched inputs: B tasks with S context entries each (same S in a batch).
    with torch.no_grad():
        for s_n in (0, 1, 3, 5):
            bsz = 3
            targets, ctxs = [], []
            for _ in range(bsz):
                ta, tb, ci, cl = ref.make_inputs(gen, h, w, max(s_n, 1))
                targets.append(tb)
                ctxs.append(torch.cat([ci[0], cl[0]], dim=1)[:s_n])  # [S,2,H,W]
            t = torch.cat(targets)
            c = torch.stack(ctxs)  # [B,S,2,H,W]
            y = mvs(t, c)
            err = 0.0
            scale = 0.0
            for i in range(bsz):
                ci = c[i:i + 1, :, 0:1]
                cl = c[i:i + 1, :, 1:2]
                r = ref.multiverseg_forward(mvs_sd, t[i:i + 1], ci, cl)
                err = max(err, (y[i:i + 1] - r).abs().max().item())
                scale = max(scale, r.abs().max().item())
            good = err < tol
            ok &= good
            print(f"MultiverSegNet nf={args.nf} S={s_n} B={bsz}: max |ours - reference| = {err:.3e} "
                  f"(logits up to {scale:.2f}) {'OK' if good else 'FAIL'}")
        t = torch.cat([ref.make_inputs(gen, h, w, 1)[1] for _ in range(4)])
        y = unet(t)
        err = max((y[i:i + 1] - ref.unet_forward(unet_sd, t[i:i + 1])).abs().max().item() for i in range(4))
        good = err < tol
        ok &= good
        print(f"ScribblePrompt-UNet nf={args.unet_nf} B=4: max |ours - reference| = {err:.3e} {'OK' if good else 'FAIL'}")

    # Export of freshly initialised modules: names, shapes, dtype, round trip.
    for name, fresh, refsd, fwd in (
        ("mvs", MultiverSegNet([args.nf] * 4), ref.mvs_state_dict([args.nf] * 4, gen=gen), "mvs"),
        ("sp", ScribblePromptUNet([args.unet_nf] * 4), ref.unet_state_dict([args.unet_nf] * 4, gen=gen), "unet"),
    ):
        sd = export_state_dict(fresh)
        same_names = list(sd.keys()) == list(refsd.keys())
        same_set = set(sd) == set(refsd)
        shapes = all(tuple(sd[k].shape) == tuple(refsd[k].shape) for k in refsd) if same_set else False
        f32 = all(v.dtype == torch.float32 for v in sd.values())
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, name + ".pt")
            save_checkpoint(fresh, p)
            loaded = torch.load(p, map_location="cpu", weights_only=True)["model"]
        t, _, ci, cl = ref.make_inputs(gen, h, w, 2)
        with torch.no_grad():
            fresh64 = fresh.double().eval()
            l64 = ref.to64(loaded)
            if fwd == "mvs":
                a = fresh64(t, torch.cat([ci[0], cl[0]], dim=1)[None])
                b = ref.multiverseg_forward(l64, t, ci, cl)
            else:
                a = fresh64(t)
                b = ref.unet_forward(l64, t)
        rt = (a - b).abs().max().item()
        good = same_set and shapes and f32 and rt < tol
        ok &= good
        print(f"export {name}: {len(sd)} tensors, names {'identical (same order)' if same_names else ('same set' if same_set else 'DIFFER')}, "
              f"shapes {'match' if shapes else 'DIFFER'}, float32 {f32}, "
              f"{sum(v.numel() for v in sd.values())} params, saved+reloaded forward diff {rt:.3e} {'OK' if good else 'FAIL'}")

    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
