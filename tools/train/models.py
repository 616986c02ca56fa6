"""Trainable PyTorch modules for MultiverSegNet and ScribblePrompt-UNet.

Written from DESIGN.md section 2 (not from the official code). Parameter names
and layouts are exactly those of the official checkpoints, as produced by
tools/reference.py (`mvs_state_dict`, `unet_state_dict`), so `export_state_dict`
gives a state dict that `mvs convert` reads unchanged.

Both modules work on batches:
  MultiverSegNet.forward(target [B,5,H,W], context [B,S,2,H,W]) -> logits [B,1,H,W]
  ScribblePromptUNet.forward(x [B,5,H,W]) -> logits [B,1,H,W]
"""
import collections

import torch
import torch.nn as nn
import torch.nn.functional as F

LEAK = 0.01


def _up(x):
    # nn.UpsamplingBilinear2d semantics: bilinear, align_corners=True.
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


def _init_conv(conv, nonlinear=True):
    if nonlinear:
        nn.init.kaiming_normal_(conv.weight, a=LEAK, nonlinearity="leaky_relu")
    else:
        nn.init.xavier_normal_(conv.weight)
    nn.init.zeros_(conv.bias)


class ConvOp(nn.Module):
    """conv 3x3 (bias) -> LeakyReLU(0.01) -> GroupNorm(1 group, affine)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norml = nn.GroupNorm(1, cout, eps=1e-5, affine=True)
        _init_conv(self.conv)

    def forward(self, x):
        return self.norml(F.leaky_relu(self.conv(x), LEAK))


class _Vmapped(nn.Module):
    """Holder giving the official `<half>.vmapped.<...>` parameter names."""

    def __init__(self, cin, cout):
        super().__init__()
        self.vmapped = ConvOp(cin, cout)

    def forward(self, x):
        return self.vmapped(x)


class _Cross(nn.Module):
    """Holder giving the official `cross.cross_conv.{weight,bias}` names.

    One weight [F, ct+cs, 3, 3]: the first ct input channels act on the target,
    the rest on each context entry; the bias is added once (target half).
    """

    def __init__(self, ct, cs, f):
        super().__init__()
        self.ct = ct
        self.cross_conv = nn.Conv2d(ct + cs, f, 3, padding=1)
        _init_conv(self.cross_conv)

    def forward(self, t, s):
        """t [B,ct,H,W], s [B,S,cs,H,W] -> z [B,S,F,H,W] after LeakyReLU."""
        w, b = self.cross_conv.weight, self.cross_conv.bias
        bsz, n = s.shape[:2]
        zt = F.conv2d(t, w[:, : self.ct], b, padding=1)
        zs = F.conv2d(s.flatten(0, 1), w[:, self.ct:], None, padding=1)
        z = zs.unflatten(0, (bsz, n)) + zt.unsqueeze(1)
        return F.leaky_relu(z, LEAK)


class CrossBlock(nn.Module):
    def __init__(self, ct, cs, f):
        super().__init__()
        self.cross = _Cross(ct, cs, f)
        self.target = _Vmapped(f, f)
        self.support = _Vmapped(f, f)

    def forward(self, t, s, need_support=True):
        z = self.cross(t, s)
        t_new = self.target(z.mean(dim=1))
        if not need_support:
            return t_new, None
        s_new = self.support(z.flatten(0, 1)).unflatten(0, z.shape[:2])
        return t_new, s_new


class _OutConv(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv = nn.Conv2d(cin, 1, 1)
        _init_conv(self.conv, nonlinear=False)

    def forward(self, x):
        return self.conv(x)


class MultiverSegNet(nn.Module):
    """In-context + interactive network. in_channels (5, 2); encoder blocks nf."""

    def __init__(self, nf=(64, 64, 64, 64), in_t=5, in_c=2):
        super().__init__()
        nf = list(nf)
        self.nf = nf
        self.enc_blocks = nn.ModuleList()
        ct, cs = in_t, in_c
        for f in nf:
            self.enc_blocks.append(CrossBlock(ct, cs, f))
            ct = cs = f
        self.dec_blocks = nn.ModuleList()
        for f in nf[-2::-1]:
            # skip features equal the decoder block's own width (encoder reversed)
            self.dec_blocks.append(CrossBlock(ct + f, cs + f, f))
            ct = cs = f
        self.out_conv = _OutConv(ct)

    def forward(self, target, context=None):
        """target [B,5,H,W]; context [B,S,2,H,W] (image, label) or None/S=0."""
        b, _, h, w = target.shape
        if context is None or context.shape[1] == 0:
            context = torch.full((b, 1, 2, h, w), 0.5, dtype=target.dtype, device=target.device)
        t, s = target, context
        skips = []
        n_enc = len(self.enc_blocks)
        for i, blk in enumerate(self.enc_blocks):
            t, s = blk(t, s)
            if i == n_enc - 1:
                break
            skips.append((t, s))
            t = F.max_pool2d(t, 2)
            s = F.max_pool2d(s.flatten(0, 1), 2).unflatten(0, s.shape[:2])
        n_dec = len(self.dec_blocks)
        for i, blk in enumerate(self.dec_blocks):
            ts, ss = skips.pop()
            t = torch.cat([_up(t), ts], dim=1)
            s = torch.cat([_up(s.flatten(0, 1)).unflatten(0, s.shape[:2]), ss], dim=2)
            # The last block's context output feeds nothing: skip it.
            t, s = blk(t, s, need_support=(i < n_dec - 1))
        return self.out_conv(t)


class _ConvPReLU(nn.Module):
    """Gives the official `<name>.conv.0.*` (conv) and `.conv.1.weight` (PReLU) names."""

    def __init__(self, cin, cout, k=3, prelu=True):
        super().__init__()
        layers = [nn.Conv2d(cin, cout, k, padding=k // 2)]
        if prelu:
            layers.append(nn.PReLU(1))
        self.conv = nn.Sequential(*layers)
        nn.init.kaiming_normal_(layers[0].weight, a=0.25 if prelu else 1.0)
        nn.init.zeros_(layers[0].bias)

    def forward(self, x):
        return self.conv(x)


class _Up(nn.Module):
    def forward(self, x):
        return _up(x)


class ScribblePromptUNet(nn.Module):
    """Interactive-only UNet: 5 input channels, features like [32, 32, 32, 32]."""

    def __init__(self, features=(32, 32, 32, 32), in_ch=5):
        super().__init__()
        features = list(features)
        self.features = features
        self.downs = nn.ModuleList()
        c = in_ch
        for f in features:
            self.downs.append(_ConvPReLU(c, f))
            c = f
        self.bottleneck = _ConvPReLU(c, features[-1])
        c = features[-1]
        # ups.{2j} = parameterless upsampling, ups.{2j+1} = conv on [skip, upsampled]
        self.ups = nn.ModuleList()
        for f in reversed(features):
            self.ups.append(_Up())
            self.ups.append(_ConvPReLU(f + c, f))
            c = f
        self.final_conv = _ConvPReLU(c, 1, k=1, prelu=False)

    def forward(self, x):
        skips = []
        for d in self.downs:
            x = d(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for j in range(len(self.features)):
            x = self.ups[2 * j](x)
            x = torch.cat([skips.pop(), x], dim=1)
            x = self.ups[2 * j + 1](x)
        return self.final_conv(x)


def export_state_dict(model):
    """A plain OrderedDict of float32, contiguous, CPU tensors (no _metadata)."""
    out = collections.OrderedDict()
    for k, v in model.state_dict().items():
        out[k] = v.detach().to(device="cpu", dtype=torch.float32).contiguous().clone()
    return out


def save_checkpoint(model, path):
    torch.save({"model": export_state_dict(model)}, path)
