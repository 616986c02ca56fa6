"""Checks of the training tool's simulation helpers that do not need data or time:
    python tools/train/selftest.py      (run by smoke.sh; exits non-zero on a failure)
"""
import copy
import os
import random
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prompts import (FOUR, _center_dist_octagonal, _largest_component_device, center_click,  # noqa: E402
                     center_dist, component_labels, correction_center_click, initial_center_click,
                     largest_component)
from models import MultiverSegNet, ScribblePromptUNet  # noqa: E402
from train import (FLIPS, TEACHER_FLIPS, crop_tasks, degrade_labels, distill_kl, mean_teacher_logits,  # noqa: E402
                   ema_update, flip_average_logits, foreign_prior, interactive_step, parse_args,
                   unet_context_labels)
from blend_unet import blend_state  # noqa: E402
from data import SynthSource, dilate  # noqa: E402
from merge_states import merge_states  # noqa: E402
from first_clicks_check import reach, summarize, trace  # noqa: E402
from widen_unet import widen, widen_state  # noqa: E402


def check_degrade_labels():
    torch.manual_seed(1)
    lab = torch.zeros(16, 4, 1, 48, 40)
    lab[..., 10:30, 8:28] = 1  # a 20x20 square, 400 px
    lab[3, 2] = 0  # one empty label
    assert torch.equal(degrade_labels(lab, 0.0), lab), "p = 0 must keep every label"
    out = degrade_labels(lab, 1.0)
    assert out.shape == lab.shape
    assert set(out.unique().tolist()) <= {0.0, 1.0}, "labels stay binary"
    assert out[3, 2].sum() == 0, "an empty label stays empty"
    changed = 0
    for b in range(16):
        for s in range(4):
            a0, a1 = lab[b, s].sum().item(), out[b, s].sum().item()
            if (b, s) == (3, 2):
                continue
            assert a1 > 0, "a degraded label is never empty"
            # dilation by r <= 3 grows the square to at most 26x26; erosion by r <= 3 keeps
            # at least 14x14; a cut's half-side is < 48/8 + 1, so it removes at most 13x13
            assert 14 * 14 <= a1 <= 26 * 26, (b, s, a1)
            changed += a1 != a0
    assert changed >= 48, f"with p = 1 nearly every label changes ({changed} of 63)"
    many = lab.repeat(8, 1, 1, 1, 1)
    frac = (degrade_labels(many, 0.3) != many).flatten(2).any(2)  # per context entry
    assert 0.15 < frac.float().mean().item() < 0.45, frac.float().mean().item()


class _ClickBlobs(torch.nn.Module):
    """A stand-in UNet: foreground = the positive clicks (input channel 2: image, box, pos, neg,
    previous logits) dilated by 3 px (7x7 blocks)."""
    calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.where(dilate(x[:, 2:3], 3) > 0, 10.0, -10.0)


class _CopyImage(torch.nn.Module):
    """A stand-in UNet that predicts its image channel exactly (Dice 1 at the first click)."""
    calls = 0

    def forward(self, x):
        self.calls += 1
        return torch.where(x[:, 0:1] > 0.5, 10.0, -10.0)


def check_unet_context_labels():
    torch.manual_seed(2)
    lab = torch.zeros(2, 3, 1, 48, 48)
    lab[..., 10:30, 8:28] = 1  # 20x20 squares, 400 px
    lab[1, 2] = 0  # one empty label
    img = torch.rand_like(lab)
    out, sel = unet_context_labels(_ClickBlobs(), img, lab, 0.0, 5)
    assert torch.equal(out, lab) and not sel.any(), "p = 0 keeps every label"
    one, sel1 = unet_context_labels(_ClickBlobs(), img, lab, 1.0, 1)
    assert sel1.tolist() == [True] * 5 + [False], "every non-empty label is replaced, the empty one kept"
    assert one[1, 2].sum() == 0
    for b, s in [(0, 0), (0, 1), (1, 1)]:
        # one click at the square's deepest point, dilated by 3: a 7x7 block inside the square
        assert one[b, s].sum() == 49 and (one[b, s] <= lab[b, s]).all(), one[b, s].sum()
    net = _ClickBlobs()
    three, _ = unet_context_labels(net, img, lab, 1.0, 3)
    a = three.reshape(6, -1).sum(1)[:5]
    assert (a > 49).all() and (a <= 3 * 49).all(), a  # two more corrections, still below Dice 0.9
    assert net.calls == 3, net.calls
    net = _CopyImage()
    exact, _ = unet_context_labels(net, lab, lab, 1.0, 8)
    assert torch.equal(exact, lab) and net.calls == 1, "a prediction at Dice >= 0.9 stops the clicks"


def check_center_dist():
    torch.manual_seed(4)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    # a disk of radius 11.3 at a sub-pixel centre: the clicks land within a pixel of it (the
    # earlier chessboard map with raster-order ties put this one 1.4 px above it)
    cy, cx = 30.4, 33.7
    disk = (((yy - cy) ** 2 + (xx - cx) ** 2) <= 11.3 ** 2).float()[None, None]
    pts = [torch.nonzero(center_click(disk)[0, 0]).float() for _ in range(20)]
    for p in pts:
        assert abs(p[0, 0] - cy) <= 1.0 and abs(p[0, 1] - cx) <= 1.0, p
    # a 5 x 31 bar: 27 pixels along its ridge tie; clicks are spread over them, not the first
    bar = torch.zeros(1, 1, 20, 40)
    bar[..., 7:12, 4:35] = 1
    xs = torch.tensor([torch.nonzero(center_click(bar)[0, 0])[0, 1].item() for _ in range(60)]).float()
    assert torch.all(torch.nonzero(center_click(bar)[0, 0])[:, 0] == 9)
    assert xs.min() < 12 and xs.max() > 26 and abs(xs.mean() - 19) < 3, xs
    # the image border counts as background: a region touching it is deepest inside
    edge = torch.zeros(1, 1, 20, 20)
    edge[..., :, :9] = 1  # the left 9 columns
    assert torch.nonzero(center_click(edge)[0, 0])[0, 1].item() == 4
    d = center_dist(disk)
    assert abs(d.max().item() - 11.3) < 1.0 and d[0, 0, 0, 0] == 0
    # the off-CPU approximation stays within 10% (+1 px) of the exact map
    dd = _center_dist_octagonal(disk)
    assert torch.all((dd - d).abs() <= 0.1 * d + 1.0), (dd - d).abs().max()


def speck_case():
    """A 36 x 36 label whose prediction misses 15 specks of 2 x 2 (60 false-negative pixels)
    and adds one 6 x 6 false-positive block at rows/columns 26..31: (label, logits)."""
    lab = torch.zeros(1, 1, 40, 40)
    lab[..., 2:38, 2:38] = 1
    logits = torch.where(lab > 0, 5.0, -5.0)
    for k in range(15):
        y, x = 4 + 6 * (k // 5), 4 + 6 * (k % 5)
        logits[..., y:y + 2, x:x + 2] = -5.0
    lab[..., 26:32, 26:32] = 0
    logits[..., 26:32, 26:32] = 5.0
    return lab, logits


def check_center_click():
    m = torch.zeros(2, 1, 21, 31)
    m[0, 0, 2:19, 5:22] = 1  # 17x17 square: deepest point is its centre (10, 13)
    c = center_click(m)
    assert c[0].sum() == 1 and c[0, 0, 10, 13] == 1
    assert c[1].sum() == 0, "an empty region gets no click"
    # a prediction missing the right half: the correction is positive, inside the miss
    lab = torch.zeros(1, 1, 32, 32)
    lab[..., 4:28, 4:28] = 1
    logits = torch.full_like(lab, -5.0)
    logits[..., :, :16] = 5.0 * lab[..., :, :16]
    prompts = torch.zeros(1, 3, 32, 32)
    p = correction_center_click(prompts, lab, logits)
    ys, xs = torch.nonzero(p[0, 1], as_tuple=True)
    assert len(ys) == 1 and p[0, 2].sum() == 0 and xs.item() >= 16 and lab[0, 0, ys, xs] == 1
    # the evaluation compares the largest components, not the totals: 60 false-negative
    # pixels in 15 specks of 4 lose to one false-positive block of 36, clicked negative
    # inside it (the earlier rule clicked a speck, positive)
    lab, logits = speck_case()
    p = correction_center_click(torch.zeros(1, 3, 40, 40), lab, logits)
    ys, xs = torch.nonzero(p[0, 2], as_tuple=True)
    assert p[0, 1].sum() == 0 and len(ys) == 1 and 26 <= ys.item() < 32 and 26 <= xs.item() < 32
    old = correction_center_click(torch.zeros(1, 3, 40, 40), lab, logits, exact=False)
    assert old[0, 1].sum() == 1 and old[0, 2].sum() == 0, "the old rule (exact=False) compares totals"
    # the first click lands in the largest component, not the deepest one: a 4 x 60 bar
    # (240 px) beside a disk of radius 6 (113 px)
    m = torch.zeros(1, 1, 64, 64)
    m[..., 50:54, 2:62] = 1
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    m[0, 0][((yy - 20) ** 2 + (xx - 20) ** 2) <= 36] = 1
    ys, xs = torch.nonzero(initial_center_click(m)[0, 1], as_tuple=True)
    assert len(ys) == 1 and 50 <= ys.item() < 54, (ys, xs)
    ys, _ = torch.nonzero(initial_center_click(m, exact=False)[0, 1], as_tuple=True)
    assert ys.item() == 20, "the old rule (exact=False) takes the whole label's deepest point"


def check_component_labels():
    """The device labelling (used off the CPU) against scipy's: the same partition and the
    same largest component on random blobs at three scales and a spiral."""
    from scipy.ndimage import label
    g = torch.Generator().manual_seed(5)
    ms = []
    for s in (2, 4, 8):
        x = F.interpolate(torch.rand(64, 1, 128 // s, 128 // s, generator=g), size=(128, 128),
                          mode="bilinear", align_corners=False)
        ms.append((x > 0.55).float())
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    r, th = ((yy - 64) ** 2 + (xx - 64) ** 2).sqrt(), torch.atan2(yy - 64, xx - 64)
    ms.append(((((r - 4 * th) % 25.1) < 6) & (r < 62)).float()[None, None])
    m = torch.cat(ms + [torch.zeros(1, 1, 128, 128)])
    lab = component_labels(m)
    for i in range(m.shape[0]):
        ref, k = label(m[i, 0].numpy() > 0.5, FOUR)
        ours = lab[i, 0].numpy()
        assert ((ours > 0) == (ref > 0)).all()
        pairs = set(zip(ref[ref > 0].tolist(), ours[ref > 0].tolist()))
        assert len(pairs) == k == len({o for _, o in pairs}), (i, k, len(pairs))
    comp, ref_comp = largest_component(m, on_device=True), largest_component(m)
    area, ref_area = comp.flatten(1).sum(1), ref_comp.flatten(1).sum(1)
    assert torch.equal(area, ref_area), "the same largest area"
    for i in range(m.shape[0]):
        if not torch.equal(comp[i], ref_comp[i]):  # only where two largest components tie
            ref, _ = label(m[i, 0].numpy() > 0.5, FOUR)
            counts = np.bincount(ref.ravel())[1:]
            assert (counts == counts.max()).sum() > 1, i
    # ties at random: two equal squares are both picked
    two = torch.zeros(40, 1, 16, 16)
    two[..., 2:6, 2:6] = 1
    two[..., 9:13, 9:13] = 1
    picked = largest_component(two, on_device=True)[:, 0, 3, 3]
    assert 0 < picked.sum() < 40, picked.sum()
    assert comp[-1].sum() == 0 and area[-1] == 0, "an empty image has no component"
    # the correction off the CPU: the speck case of check_center_click, labelled on the device
    import prompts
    lab40, logits = speck_case()
    saved, prompts.largest_component = prompts.largest_component, _largest_component_device
    try:
        p = correction_center_click(torch.zeros(1, 3, 40, 40), lab40, logits)
    finally:
        prompts.largest_component = saved
    ys, xs = torch.nonzero(p[0, 2], as_tuple=True)
    assert p[0, 1].sum() == 0 and len(ys) == 1 and 26 <= ys.item() < 32 and 26 <= xs.item() < 32
    few = component_labels(m, sweeps=2)
    assert any(len(np.unique(few[i, 0].numpy())) > len(np.unique(lab[i, 0].numpy()))
               for i in range(m.shape[0])), "too few sweeps leave components split"


class Recorder(torch.nn.Module):
    """Wraps a network and keeps a copy of every input [N,5,H,W] it is called with."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.inputs = []

    def forward(self, x, ctx=None):
        self.inputs.append(x.detach().clone())
        return self.net(x, ctx) if ctx is not None else self.net(x)

    def prompt_mass(self, call):
        """The sum of the prompt channels (1..3) per row of that call's input: [N]."""
        return self.inputs[call][:, 1:4].flatten(1).sum(1)


def two_network_step(n_mvs, n_sp, size=32):
    """Inputs of interactive_step for n_mvs MultiverSegNet rows (two context entries each) and
    n_sp UNet rows of one noisy 14x16 block, with tiny recording networks that do not learn
    (SGD at lr 0). Returns (img, lab, parts, mvs, sp)."""
    lab = torch.zeros(n_mvs + n_sp, 1, size, size)
    lab[..., 8:24, 6:20] = 1
    img = lab + 0.1 * torch.randn_like(lab)
    ctx = torch.cat([img[:n_mvs, None].repeat(1, 2, 1, 1, 1), lab[:n_mvs, None].repeat(1, 2, 1, 1, 1)], 2)
    mvs, sp = Recorder(MultiverSegNet([8] * 4)), Recorder(ScribblePromptUNet([8] * 4))
    parts = [("mvs", mvs, torch.optim.SGD(mvs.parameters(), 0.0), slice(0, n_mvs), ctx),
             ("sp", sp, torch.optim.SGD(sp.parameters(), 0.0), slice(n_mvs, n_mvs + n_sp), None)]
    return img, lab, parts, mvs, sp


def check_no_prompt_frac():
    torch.manual_seed(2)
    img, lab, parts, mvs, sp = two_network_step(3, 2)
    args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--no-prompt-frac", "1", "--center-frac", "1"])
    interactive_step(parts, img, lab, args, None, "cpu")
    assert torch.all(mvs.prompt_mass(0) == 0), "MultiverSegNet's first step has no prompt"
    assert torch.all(mvs.prompt_mass(1) > 0), "a correction click follows the prompt-free step"
    assert torch.all(sp.prompt_mass(0) > 0), "the UNet's targets always start with a prompt"
    args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--center-frac", "1"])
    mvs.inputs.clear()
    interactive_step(parts, img, lab, args, None, "cpu")
    assert torch.all(mvs.prompt_mass(0) > 0), "the default keeps the first prompt"


def check_foreign_prior():
    torch.manual_seed(5)
    n, size = 64, 48
    lab = torch.zeros(n, 1, size, size)
    lab[..., 12:32, 10:30] = 1
    prior = foreign_prior(lab)
    assert prior.shape == lab.shape and torch.isfinite(prior).all()
    assert prior.abs().max() <= 12.0 + 1e-4, "logits within the scale's range"
    pred = (prior > 0).float()
    inter = (pred * lab).flatten(1).sum(1)
    dice = 2 * inter / (pred.flatten(1).sum(1) + lab.flatten(1).sum(1)).clamp(min=1)
    assert (dice < 0.999).float().mean() > 0.5, "most priors are wrong somewhere"
    assert dice.mean() > 0.5, f"but they are priors of this label (mean Dice {dice.mean():.3f})"
    # in the step: only UNet rows get it, with correction prompts from its errors
    n_mvs, n_sp = 2, 6
    img, lab, parts, mvs, sp = two_network_step(n_mvs, n_sp)
    args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--foreign-prior-frac", "1", "--center-frac", "1"])
    interactive_step(parts, img, lab, args, None, "cpu")
    assert torch.all(mvs.inputs[0][:, 4] == 0), "MultiverSegNet's rows start from zeros"
    prev = sp.inputs[0][:, 4:5]
    assert torch.all(prev.flatten(1).abs().amax(1) > 0), "every UNet row starts from a prior"
    # (correction_center_click breaks area ties with a coin: check where the clicks lie)
    pred, lb, pr = (prev > 0).float(), lab[n_mvs:], sp.inputs[0][:, 1:4]
    assert torch.all(pr.flatten(1).sum(1) > 0), "each UNet row has a first prompt"
    assert torch.all(pr[:, 1:2] * (1 - lb * (1 - pred)) == 0), "positive clicks on the prior's misses"
    assert torch.all(pr[:, 2:3] * (1 - (1 - lb) * pred) == 0), "negative clicks on its false positives"
    args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--center-frac", "1"])
    sp.inputs.clear()
    interactive_step(parts, img, lab, args, None, "cpu")
    assert torch.all(sp.inputs[0][:, 4] == 0), "the default starts from zeros"
    assert_refused(["--foreign-prior-frac", "1.5"], "--foreign-prior-frac out of range")


def assert_refused(extra, what):
    """train.py's parser must refuse `extra` (a usage error, SystemExit) on top of a minimal
    valid command line; `what` names the case in the failure."""
    try:
        parse_args(["--out", "/tmp/x", "--minutes", "1"] + extra)
    except SystemExit:
        return
    raise AssertionError(f"{what} must be refused")


def check_flip_pairs():
    """--flip-pairs: every input of a pair's second row (image, prompts, previous logits) is
    the first row's mirror image at every step, and the consistency loss is 0 for a
    flip-equivariant network (a 1x1 convolution) and positive for a random UNet."""
    h, size = 3, 32
    lab0 = torch.zeros(h, 1, size, size)
    lab0[0, :, 5:20, 3:17] = 1
    lab0[1, :, 10:28, 12:30] = 1
    lab0[2, :, 2:9, 20:31] = 1
    lab0[2, :, 20:30, 4:12] = 1  # two components
    for dims in FLIPS:
        torch.manual_seed(4)
        img0 = lab0 + 0.3 * torch.randn_like(lab0)
        img = torch.cat([img0, img0.flip(dims)])
        lab = torch.cat([lab0, lab0.flip(dims)])
        args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--flip-pairs", "1", "--extra-steps", "3",
                           "--center-frac", "0.5", "--unet-batch", str(2 * h)])
        for net, equivariant in ((ScribblePromptUNet([8] * 4), False), (torch.nn.Conv2d(5, 1, 1), True)):
            rec = Recorder(net)
            parts = [("sp", rec, torch.optim.SGD(rec.parameters(), 0.0), slice(0, 2 * h), None)]
            stats = interactive_step(parts, img, lab, args, None, "cpu", pairs=("sp", h, dims))
            assert len(rec.inputs) >= 3
            for x in rec.inputs:
                assert torch.equal(x[h:], x[:h].flip(dims)), f"pair rows differ beyond the flip {dims}"
            # the prompts grew during the interaction (so the mirroring was exercised on corrections)
            assert rec.inputs[-1][:, 1:4].sum() > rec.inputs[0][:, 1:4].sum()
            cons = stats["flip"][0].item()
            if equivariant:
                assert cons < 1e-9, f"a 1x1 convolution is flip-equivariant, got {cons}"
            else:
                assert cons > 1e-6, f"a random UNet is not flip-equivariant, got {cons}"
    args = parse_args(["--out", "/tmp/x", "--minutes", "1"])
    sp = ScribblePromptUNet([8] * 4)
    parts = [("sp", sp, torch.optim.SGD(sp.parameters(), 0.0), slice(0, 2 * h), None)]
    assert "flip" not in interactive_step(parts, img, lab, args, None, "cpu")
    assert_refused(["--flip-pairs", "1", "--unet-batch", "5"], "--flip-pairs with an odd --unet-batch")


def check_distill_flip():
    """--distill-flip: the teacher's flip average is flip-equivariant (and a 1x1 convolution's
    is its single pass); distill_kl is 0 on equal logits, positive otherwise, and its gradient
    moves the student's probabilities towards the teacher's; in interactive_step only the UNet
    rows call the teacher (four passes per graded step), the teacher draws no random numbers
    (the interaction is the same with and without it), and the term is absent when off."""
    torch.manual_seed(11)
    x = torch.randn(3, 5, 32, 32)
    unet = ScribblePromptUNet([8] * 4).eval()
    avg = flip_average_logits(unet, x)
    for dims in TEACHER_FLIPS[1:]:
        d = (flip_average_logits(unet, x.flip(dims)) - avg.flip(dims)).abs().max().item()
        assert d < 1e-5, f"the flip average is equivariant under {dims}: {d}"
    assert (avg - unet(x)).abs().max() > 1e-4, "a random UNet's single pass is not its flip average"
    conv = torch.nn.Conv2d(5, 1, 1)
    assert (flip_average_logits(conv, x) - conv(x)).abs().max() < 1e-5
    lab = (torch.rand(3, 1, 32, 32) < 0.2).float()
    t = torch.randn(3, 1, 32, 32) * 3
    assert abs(distill_kl(t, t, lab).item()) < 1e-5, "no loss on equal logits"
    s = torch.randn(3, 1, 32, 32, requires_grad=True)
    loss = distill_kl(s, t, lab)
    assert loss.item() > 1e-3
    loss.backward()
    toward = torch.sign(torch.sigmoid(t) - torch.sigmoid(s.detach()))
    assert (-s.grad.sign() == toward).float().mean() > 0.99, "descent moves towards the teacher"

    class Counting(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net, self.rows = net, []

        def forward(self, x):
            self.rows.append(x.shape[0])
            return self.net(x)

    args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--distill-flip", "1", "--center-frac", "0.5",
                       "--extra-steps", "2", "--resume", "state.pt", "--train", "sp"])
    runs = {}
    for label, with_teacher in (("off", False), ("on", True)):
        torch.manual_seed(12)
        img, lab, parts, mvs, sp = two_network_step(3, 2)
        teacher = Counting(sp.net) if with_teacher else None
        stats = interactive_step(parts, img, lab, args, None, "cpu", teacher=teacher)
        runs[label] = (sp.inputs, mvs.inputs, stats, teacher)
    sp_on, mvs_on, stats, teacher = runs["on"]
    assert len(sp_on) > args.steps, "this draw runs no-gradient steps first (they never call the teacher)"
    assert teacher.rows == [2] * (4 * args.steps), f"UNet rows only, four passes per step: {teacher.rows}"
    assert stats["distill"][0].item() > 0, "a random UNet differs from its flip average"
    assert "distill" not in runs["off"][2]
    for a, b in zip(runs["off"][0] + runs["off"][1], sp_on + mvs_on):
        assert torch.equal(a, b), "the teacher changes no prompt and draws no random number"
    assert_refused(["--distill-flip", "-1"], "a negative --distill-flip")
    assert_refused(["--distill-flip", "1", "--train", "sp"], "--distill-flip without --resume")
    assert_refused(["--distill-flip", "1", "--train", "mvs", "--resume", "s.pt"], "--distill-flip without sp")


def check_distill_mean():
    """--distill-mean: the target is the mean of the two teachers' logits on the rows that ask
    for it and MultiverSegNet's alone on the others; in interactive_step the mean applies only
    to centre-click rows once they have a prompt (a teacher equal to the student then adds
    nothing at a bare first step or on other rows), the teachers draw no random numbers, and
    with --mvs-label-weight 0 MultiverSegNet's loss is W x the distillation term alone."""
    torch.manual_seed(21)
    x = torch.randn(4, 5, 32, 32)
    ctx = torch.randn(4, 2, 2, 32, 32)
    m, u = MultiverSegNet([8] * 4).eval(), ScribblePromptUNet([8] * 4).eval()
    use = torch.tensor([True, False, True, False])
    t = mean_teacher_logits(m, u, x, ctx, use)
    with torch.no_grad():
        tm, tu = m(x, ctx), u(x)
    assert torch.allclose(t[use], 0.5 * (tm + tu)[use], atol=1e-6), "the mean on the rows that ask"
    assert torch.allclose(t[~use], tm[~use], atol=1e-6), "MultiverSegNet alone on the others"
    base = ["--out", "/tmp/x", "--minutes", "1", "--resume", "s.pt", "--train", "mvs", "--steps", "3",
            "--no-prompt-frac", "1"]
    other_unet = ScribblePromptUNet([8] * 4).eval()  # built before the draws the runs compare
    runs = {}
    for label, extra in (("off", []), ("clicks", ["--center-frac", "1", "--distill-mean", "2"]),
                         ("other", ["--center-frac", "0", "--distill-mean", "2"]),
                         ("alone", ["--center-frac", "1", "--distill-mean", "2", "--mvs-label-weight", "0"])):
        torch.manual_seed(22)
        img, lab, parts, mvs, sp = two_network_step(3, 2)
        teachers = None
        if extra:
            teachers = (copy.deepcopy(mvs.net).eval(), other_unet)
        if label == "off":
            extra = ["--center-frac", "1"]
        args = parse_args(base + extra)
        stats = interactive_step(parts, img, lab, args, None, "cpu", mean_teacher=teachers)
        runs[label] = (mvs.inputs + sp.inputs, stats)
    assert "distill" not in runs["off"][1]
    assert runs["clicks"][1]["distill"][0].item() > 1e-4, "the mean of two different nets moves it"
    assert abs(runs["other"][1]["distill"][0].item()) < 1e-5, \
        "a teacher equal to the student adds nothing where MultiverSegNet alone is the target"
    for a, b in zip(runs["off"][0], runs["clicks"][0]):
        assert torch.equal(a, b), "the teachers change no prompt and draw no random number"
    s_alone = runs["alone"][1]
    assert abs(s_alone["mvs"][0].item() - 2 * s_alone["distill"][0].item()) < 1e-5, \
        "with --mvs-label-weight 0 the loss is W x the distillation term"
    assert runs["clicks"][1]["mvs"][0].item() > s_alone["mvs"][0].item() + 1e-3, "the label loss is there by default"
    assert_refused(["--distill-mean", "-1"], "a negative --distill-mean")
    assert_refused(["--distill-mean", "1", "--train", "mvs"], "--distill-mean without --resume")
    assert_refused(["--distill-mean", "1", "--train", "sp", "--resume", "s.pt"], "--distill-mean without mvs")
    assert_refused(["--mvs-label-weight", "0", "--train", "mvs"], "MultiverSegNet without any loss")
    assert_refused(["--distill-mean", "1", "--distill-flip", "1", "--resume", "s.pt"], "both distillations")


def check_ema():
    """--ema-sp: after n updates toward fixed weights w from e0 the average is
    w + decay^n (e0 - w) (float64 closed form); decay 0 copies the weights; the model is not
    touched; a decay outside [0, 1) is refused."""
    torch.manual_seed(5)
    model, ema = ScribblePromptUNet([8] * 4), ScribblePromptUNet([8] * 4)
    e0 = {k: v.double().clone() for k, v in ema.state_dict().items()}
    w = {k: v.double().clone() for k, v in model.state_dict().items()}
    assert any((e0[k] - w[k]).abs().max() > 0.1 for k in w), "two random UNets should differ"
    d, n = 0.9, 7
    for _ in range(n):
        ema_update(ema, model, d)
    for k, v in ema.state_dict().items():
        want = w[k] + d ** n * (e0[k] - w[k])
        assert (v.double() - want).abs().max() < 1e-5, k
        assert torch.equal(model.state_dict()[k].double(), w[k]), "the model changed"
    ema_update(ema, model, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), model.state_dict().values()))
    for flag in ("--ema-sp", "--ema-mvs"):
        for bad in ("1", "-0.1"):
            assert_refused([flag, bad], f"{flag} {bad}")


def check_resume_seed():
    """--seed on --resume: the streams come from (seed, step), so another seed or another step
    gives other draws and the same pair the same draws; --seed defaults to None, which train.py
    reads as 'restore the state's streams' on --resume and as 0 otherwise; a negative seed is
    refused; init_streams does each of these (it fails if the restore came after the seeding,
    the bug that made --seed a no-op on --resume until 2026-12-06)."""
    from train import init_streams, resume_seed, rng_state, seed_all, set_rng_state

    def draws_now():
        return torch.rand(8), np.random.rand(4), random.random()

    def draws(seed):
        seed_all(seed, torch.device("cpu"))
        return draws_now()

    def eqs(x, y):  # per stream (torch, numpy, random): equal draws?
        return [np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(x, y)]

    def same(x, y):
        return all(eqs(x, y))

    base = draws(resume_seed(223, 8653))
    for other in (resume_seed(223, 8653), resume_seed(203, 8653), resume_seed(223, 8654)):
        eq = eqs(base, draws(other))
        want = other == resume_seed(223, 8653)
        assert all(eq) == want and any(eq) == want, (other, eq)
    assert parse_args(["--out", "/tmp/x", "--minutes", "1"]).seed is None
    assert parse_args(["--out", "/tmp/x", "--minutes", "1", "--seed", "5"]).seed == 5
    assert_refused(["--seed", "-1"], "--seed -1")
    # init_streams, as train.py calls it once the state is loaded: a resume without --seed
    # draws what the saved run would have drawn next, one with --seed what (seed, step) gives,
    # and a fresh run keeps the streams it was seeded with (they drew its initial weights)
    cpu = torch.device("cpu")
    seed_all(5, cpu)
    state = {"rng": rng_state(cpu), "step": 8653}
    saved_next = draws_now()
    seed_all(99, cpu)
    assert init_streams(state, None, cpu) == "restored"
    assert same(draws_now(), saved_next), "a resume without --seed must continue the saved streams"
    assert init_streams(state, 229, cpu) == "seed 229 at step 8653"
    got = draws_now()
    assert same(got, draws(resume_seed(229, 8653))) and not any(eqs(got, saved_next))
    seed_all(3, cpu)
    before = rng_state(cpu)
    assert init_streams(None, None, cpu) == "seed 0" and init_streams(None, 7, cpu) == "seed 7"
    after = draws_now()
    set_rng_state(before, cpu)
    assert same(after, draws_now()), "a fresh run's streams must not be re-seeded"


def check_parse_mix():
    """--mix: the weights as given; a misspelt name, a missing or bad weight, a repeated name
    and an all-zero mix are refused, by parse_mix with a message naming the entry and by
    train.py's argument parser."""
    from data import parse_mix
    assert parse_mix("synth:0.3, multi:0.2,superpixel:0,real:0.5") == {
        "synth": 0.3, "multi": 0.2, "superpixel": 0.0, "real": 0.5}
    for bad, says in (("synth:0.5,multy:0.2", "multy"), ("synth", "missing"), ("synth:1,real", "missing"),
                      ("synth:x", "'x'"),
                      ("synth:-1", "synth:-1"), ("synth:nan", "synth:nan"), ("synth:1,synth:2", "twice"),
                      ("synth:0,real:0", "no source")):
        try:
            parse_mix(bad)
        except ValueError as e:
            assert says in str(e), (bad, str(e))
        else:
            raise AssertionError(f"--mix {bad} must be refused")
        assert_refused(["--mix", bad], f"train.py --mix {bad}")


def check_short_frac():
    torch.manual_seed(3)
    lab = torch.zeros(2, 1, 32, 32)
    lab[..., 8:24, 6:20] = 1
    img = lab + 0.1 * torch.randn_like(lab)
    sp = Recorder(ScribblePromptUNet([8] * 4))
    parts = [("sp", sp, torch.optim.SGD(sp.parameters(), 0.0), slice(0, 2), None)]

    def calls(extra_args):
        args = parse_args(["--out", "/tmp/x", "--minutes", "1", "--extra-steps", "6"] + extra_args)
        counts = []
        for _ in range(12):
            sp.inputs.clear()
            interactive_step(parts, img, lab, args, None, "cpu")
            counts.append(len(sp.inputs))
        return counts
    # short-frac 1: every iteration runs only the `steps` (3) steps with a loss
    assert calls(["--short-frac", "1"]) == [3] * 12
    # without it the extra-step count is uniform in 0..6: 12 draws all 0 has odds 7^-12
    assert max(calls([])) > 3


def check_blend_state():
    torch.manual_seed(4)
    st = {"sp": ScribblePromptUNet([4] * 4).state_dict(), "step": 7}
    a = {n: torch.randn_like(v) for n, v in st["sp"].items()}
    b = {n: torch.randn_like(v) for n, v in st["sp"].items()}
    for alpha in (0.0, 0.3, 1.0):
        out = blend_state(st, a, b, alpha)
        assert out["step"] == 7 and out is not st
        for n in a:
            want = (1 - alpha) * a[n].double() + alpha * b[n].double()
            assert (out["sp"][n].double() - want).abs().max() < 1e-6, n
    assert st["sp"] is not out["sp"]  # the input state keeps its own UNet
    # --net mvs blends MultiverSegNet's tensors and leaves the UNet's alone
    st2 = {"sp": st["sp"], "mvs": {"w": torch.randn(3, 2), "b": torch.randn(3)}, "step": 7}
    am = {n: torch.randn_like(v) for n, v in st2["mvs"].items()}
    bm = {n: torch.randn_like(v) for n, v in st2["mvs"].items()}
    out = blend_state(st2, am, bm, 0.25, net="mvs")
    assert out["sp"] is st2["sp"] and out["step"] == 7
    for n in am:
        want = 0.75 * am[n].double() + 0.25 * bm[n].double()
        assert (out["mvs"][n].double() - want).abs().max() < 1e-6, n
    for bad in ((a, b, 0.5, "mvs"), (am, bm, 0.5, "unet")):  # UNet tensors for mvs; a bad net
        try:
            blend_state(st2, *bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted net {bad[3]} with a wrong tensor set or name")
    name = next(iter(a))
    for bad_alpha, bad_b in ((1.5, b), (-0.1, b), (0.5, {**b, name: torch.zeros(3)}),
                             (0.5, {n: v for n, v in b.items() if n != name})):
        try:
            blend_state(st, a, bad_b, bad_alpha)
        except ValueError:
            continue
        raise AssertionError(f"accepted alpha {bad_alpha} / a bad tensor set")
    # a state with a UNet weight average (--ema-sp) gets the blend there too, as a copy; a
    # MultiverSegNet blend leaves the average alone
    st3 = {**st2, "sp_ema": {n: torch.randn_like(v) for n, v in st["sp"].items()}}
    out = blend_state(st3, a, b, 0.3)
    for n in a:
        assert torch.equal(out["sp_ema"][n], out["sp"][n]), n
    assert out["sp_ema"][name].data_ptr() != out["sp"][name].data_ptr()
    assert blend_state(st3, am, bm, 0.25, net="mvs")["sp_ema"] is st3["sp_ema"]
    # the same for a MultiverSegNet average (--ema-mvs); a UNet blend leaves it alone
    st4 = {**st3, "mvs_ema": {n: torch.randn_like(v) for n, v in st2["mvs"].items()}}
    out = blend_state(st4, am, bm, 0.25, net="mvs")
    mname = next(iter(am))
    assert all(torch.equal(out["mvs_ema"][n], out["mvs"][n]) for n in am)
    assert out["mvs_ema"][mname].data_ptr() != out["mvs"][mname].data_ptr()
    assert blend_state(st4, a, b, 0.3)["mvs_ema"] is st4["mvs_ema"]


def check_ring_holes():
    """Synthetic ring tasks include thin rings and rings whose hole is an object of its own
    (the white-blood-cell cytoplasm around its nucleus), not only background."""
    from scipy.ndimage import binary_fill_holes
    torch.manual_seed(0)
    img, lab = SynthSource(128, "cpu").sample(192, 1)
    thin, distinct = 0, 0
    for i in range(img.shape[0]):
        ring = lab[i, 0] > 0
        hole = torch.from_numpy(binary_fill_holes(ring.numpy())) & ~ring
        if ring.sum() < 30 or hole.sum() < 0.3 * ring.sum():
            continue
        thin += bool(hole.sum() > 2 * ring.sum())
        outside = (dilate(ring[None, None].float(), 3)[0, 0] > 0) & ~ring & ~hole
        if outside.sum() > 0:
            gap = (img[i, 0][hole].mean() - img[i, 0][outside].mean()).abs()
            distinct += bool(gap > 0.15)
    assert thin >= 2, f"{thin} thin rings among 192 tasks"
    assert distinct >= 2, f"{distinct} rings with a distinct hole among 192 tasks"


def check_ring_source():
    """The `ring` mix entry (`SynthSource(rings=True)`): every task is of the ring family, so
    far more of its labels enclose a hole than the plain synth source's (a quarter of whose
    tasks are rings), from the same random draws; its holes are at least the task's contrast
    away from the ring; `many` and `rings` together are refused; the TaskSampler accepts the
    entry."""
    from scipy.ndimage import binary_fill_holes
    from data import TaskSampler

    def with_hole(src):
        torch.manual_seed(3)
        _, lab = src.sample(48, 1)
        n = 0
        for i in range(lab.shape[0]):
            ring = lab[i, 0].numpy() > 0
            n += bool((binary_fill_holes(ring) & ~ring).sum() >= 0.3 * max(ring.sum(), 1))
        return n
    rings, plain = with_hole(SynthSource(128, "cpu", rings=True)), with_hole(SynthSource(128, "cpu"))
    assert rings >= 30 and rings >= 2 * plain, (rings, plain)
    try:
        SynthSource(64, "cpu", many=True, rings=True)
    except ValueError:
        pass
    else:
        raise AssertionError("many and rings together were accepted")
    # A hole is at least the task's contrast away from its ring (a filled hole through
    # distractor_intensity, an empty one as background): the mean intensities of hole and ring
    # differ by less than 0.05 in 3 of 131 such tasks with seed 0 (rim, bias field and
    # texture move the means), against 12 before the hole was drawn that way.
    torch.manual_seed(0)
    img, lab = SynthSource(128, "cpu", rings=True).sample(160, 1)
    close = 0
    for i in range(img.shape[0]):
        ring = lab[i, 0].numpy() > 0
        hole = binary_fill_holes(ring) & ~ring
        if ring.sum() >= 30 and hole.sum() >= 0.3 * ring.sum():
            close += bool(abs(img[i, 0].numpy()[hole].mean() - img[i, 0].numpy()[ring].mean()) < 0.05)
    assert close <= 6, f"{close} ring tasks whose hole looks like the ring"
    sampler = TaskSampler(64, "cpu", None, "ring:1.0", log=lambda *_: None)
    im, lb = sampler.sample(4, 2)
    assert sampler.names == ["ring"] and sampler.sources["ring"].rings
    assert im.shape == (4, 3, 1, 64, 64) and lb.shape == im.shape


def check_many_objects():
    """The many-object family (`--mix ...,multi:W`): labels of several components each, laid
    out anew in every image of a task, distractor objects only outside the label, only
    where the tasks draw them and of an intensity apart from the label's, and the
    TaskSampler accepts the mix entry."""
    import data
    from scipy.ndimage import label as components
    torch.manual_seed(0)
    img, lab = SynthSource(128, "cpu", many=True).sample(24, 2)
    counts = [components(lab[i, 0].numpy())[1] for i in range(lab.shape[0])]
    assert sorted(counts)[len(counts) // 2] >= 4, counts
    # the two images of a task do not share a layout (one layout warped would overlap a lot)
    iou = []
    for t in range(24):
        a, b = lab[2 * t, 0] > 0, lab[2 * t + 1, 0] > 0
        if (a | b).sum() > 0:
            iou.append(float((a & b).sum() / (a | b).sum()))
    assert sorted(iou)[len(iou) // 2] < 0.3, iou
    # distractors: the same draws with every task's distractor coin (the p = 0.5 ones: in this
    # family they decide only the distractors and the flips of a warp whose fields it discards;
    # the others, ring holes and rims, forced off) set to "distractors" and to "none" (bern draws nothing
    # then, so the rest of the random stream is the same), rendered without
    # the blur and the min-max rescaling (each would spread a change to every pixel): the labels
    # agree, the images differ only outside the label, and in most tasks they do differ there
    saved = data.bern, data.gaussian_blur, data.minmax
    out = {}
    try:
        data.gaussian_blur = lambda x, sigma, kmax=13: x
        data.minmax = lambda x: x
        for on in (True, False):
            data.bern = lambda n, p, device, on=on: torch.full((n,), on and p == 0.5, dtype=torch.bool,
                                                               device=device)
            torch.manual_seed(1)
            out[on] = SynthSource(64, "cpu", many=True).sample(16, 1)
    finally:
        data.bern, data.gaussian_blur, data.minmax = saved
    (img_on, lab_on), (img_off, lab_off) = out[True], out[False]
    assert torch.equal(lab_on, lab_off)
    differ = (img_on - img_off).abs() > 1e-6
    assert not differ[lab_on > 0].any(), "a distractor drawn inside the label"
    # an image may differ nowhere (its few distractors all under the label); most must differ
    assert differ.flatten(1).any(1).sum() >= 12, differ.flatten(1).any(1)
    # distractors do not look like the label: per task, the median intensity of the distractor
    # pixels and of the label's differ (at least 0.29 in these draws; before the minimum
    # contrast of 2026-12-05 four of the 16 tasks were below 0.09, the lowest 0.027)
    gaps = [abs(float(img_on[i, 0][differ[i, 0]].median() - img_on[i, 0][lab_on[i, 0] > 0].median()))
            for i in range(16) if differ[i, 0].any() and (lab_on[i, 0] > 0).any()]
    assert len(gaps) >= 12 and min(gaps) >= 0.15, sorted(gaps)
    # the intensity map itself: at least cmin from fg, within [0, 1], uniform over the allowed
    # intensities (the first version piled draws onto fg +- cmin, often the background's value)
    g = torch.Generator().manual_seed(2)
    u, fg = torch.rand(20000, generator=g), torch.rand(20000, generator=g) * 1.2 - 0.1
    cmin = 0.12 + 0.48 * torch.rand(20000, generator=g)
    d = data.distractor_intensity(u, fg, cmin)
    ok = ((fg - cmin).clamp(0, 1) + 1 - (fg + cmin).clamp(0, 1)) > 0
    assert ((d[ok] - fg[ok]).abs() >= cmin[ok] - 1e-6).all() and d.min() >= 0 and d.max() <= 1
    d = data.distractor_intensity(torch.rand(20000, generator=g), torch.full((20000,), 0.5),
                                  torch.full((20000,), 0.2))
    for lo, hi, share in ((0.0, 0.3, 0.5), (0.7, 1.0, 0.5), (0.0, 0.15, 0.25), (0.85, 1.0, 0.25)):
        got = float(((d >= lo) & (d <= hi)).float().mean())
        assert abs(got - share) < 0.02, (lo, hi, got)
    assert torch.unique(d.mul(1e4).round(), return_counts=True)[1].max() < 20, "draws pile up on one value"
    from data import TaskSampler
    sampler = TaskSampler(64, "cpu", None, "multi:1.0", log=lambda *_: None)
    im, lb = sampler.sample(4, 2)
    assert sampler.names == ["multi"] and im.shape == (4, 3, 1, 64, 64) and lb.shape == im.shape


def check_widen_unet():
    """Net2Net widening keeps the UNet's logits (odd widths, random weights and PReLU slopes,
    a non-square input), noise changes them a little, and narrowing is refused."""
    torch.manual_seed(3)
    narrow = ScribblePromptUNet([8] * 4)
    with torch.no_grad():
        for n, p in narrow.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if n.endswith("conv.1.weight") else 0.2))
    x = torch.randn(2, 5, 48, 80)  # the UNet needs multiples of 16
    for nf in (8, 13, 21):
        wide = ScribblePromptUNet([nf] * 4)
        wide.load_state_dict(widen(narrow.state_dict(), nf))
        with torch.no_grad():
            a, b = narrow(x), wide(x)
        assert (a - b).abs().max() <= 1e-5 * a.abs().max().clamp(min=1), (nf, (a - b).abs().max())
    wide.load_state_dict(widen(narrow.state_dict(), 21, noise=1e-2))
    with torch.no_grad():
        d = (narrow(x) - wide(x)).abs().max()
    assert 0 < d < 0.1 * narrow(x).abs().max(), d
    try:
        widen(narrow.state_dict(), 4)
    except ValueError as e:
        assert "--nf 4" in str(e), e
    else:
        raise AssertionError("narrowing accepted")


def check_widen_state():
    """A state with a weight average: the average (not the last weights) is widened, the
    nf-8 average is dropped, the input state is untouched; without one the last weights are."""
    torch.manual_seed(4)
    nets = {k: ScribblePromptUNet([8] * 4) for k in ("sp", "sp_ema")}
    for net in nets.values():
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p) * 0.2)
    st = {k: net.state_dict() for k, net in nets.items()}
    st.update(mvs="m", opt_mvs="om", opt_sp="os", step=7, config={"unet_lr": 1e-4, "unet_nf": 8})
    x = torch.randn(1, 5, 32, 48)
    for has_ema in (True, False):
        inp = dict(st) if has_ema else {k: v for k, v in st.items() if k != "sp_ema"}
        out, err, _, src = widen_state(inp, 11, noise=0.0)
        want = "sp_ema" if has_ema else "sp"
        assert src == want and err <= 1e-4, (src, err)
        assert "sp_ema" not in out and ("sp_ema" in inp) == has_ema, "average dropped, input kept"
        assert out["config"]["unet_nf"] == 11 and inp["config"]["unet_nf"] == 8
        assert out["mvs"] == "m" and out["opt_mvs"] == "om" and out["step"] == 7
        assert out["opt_sp"] != "os", "a fresh Adam state for the wider UNet"
        wide = ScribblePromptUNet([11] * 4)
        wide.load_state_dict(out["sp"])
        with torch.no_grad():
            a, b, other = nets[want](x), wide(x), nets["sp" if has_ema else "sp_ema"](x)
        assert (a - b).abs().max() <= 1e-5 * a.abs().max().clamp(min=1)
        assert (other - b).abs().max() > 1e-2, "the wrong entry was widened"


def check_merge_states():
    """Two runs from one state, one per network: each network, optimizer and weight average
    from its run, the counters add up, and runs from elsewhere are refused."""
    t = lambda v: {"w": torch.full((2,), float(v))}  # noqa: E731
    base = {"mvs": t(0), "sp": t(0), "opt_mvs": "om0", "opt_sp": "os0", "step": 10,
            "wall_s": 100.0, "steps": {"mvs": 8, "sp": 6}, "rng": "r0"}
    a = {**base, "mvs": t(1), "opt_mvs": "om1", "step": 13, "wall_s": 130.0, "rng": "ra"}
    b = {**base, "sp": t(2), "opt_sp": "os2", "step": 15, "wall_s": 160.0, "rng": "rb"}
    m = merge_states(base, a, b)
    assert torch.equal(m["mvs"]["w"], t(1)["w"]) and torch.equal(m["sp"]["w"], t(2)["w"])
    assert (m["opt_mvs"], m["opt_sp"], m["rng"]) == ("om1", "os2", "ra")
    assert m["steps"] == {"mvs": 11, "sp": 11} and m["step"] == 18 and m["wall_s"] == 190.0
    assert base["steps"] == {"mvs": 8, "sp": 6} and base["step"] == 10  # inputs unchanged
    # weight averages come with their network: mvs_ema from --mvs, sp_ema from --sp or none
    m = merge_states(base, {**a, "mvs_ema": "ma", "sp_ema": "stale"}, {**b, "sp_ema": "sb", "mvs_ema": "x"})
    assert (m["mvs_ema"], m["sp_ema"]) == ("ma", "sb")
    assert "sp_ema" not in merge_states(base, {**a, "sp_ema": "stale"}, b)
    for bad_a, bad_b, name in ((b, b, "--mvs"), (a, a, "--sp"), ({**a, "step": 9}, b, "--mvs")):
        try:
            merge_states(base, bad_a, bad_b)
        except ValueError as e:
            assert str(e).startswith(name), e
            continue
        raise AssertionError(f"accepted a bad {name}")


def check_crop_tasks():
    # each window holds foreground, comes from its own image at the same pixel scale
    g = torch.Generator().manual_seed(0)
    b, n, h, c = 3, 4, 128, 64
    img = torch.rand(b, n, 1, h, h, generator=g)
    lab = torch.zeros(b, n, 1, h, h)
    for k in range(b * n):
        y, x = int(torch.randint(0, h - 5, (1,), generator=g)), int(torch.randint(0, h - 5, (1,), generator=g))
        lab.view(b * n, 1, h, h)[k, :, y:y + 5, x:x + 5] = 1  # a 5x5 square anywhere, corners too
    lab[0, 1] = 0  # one empty label: a uniform window
    for _ in range(20):
        ci, cl = crop_tasks(img, lab, c, g)
        assert ci.shape == (b, n, 1, c, c) and cl.shape == ci.shape
        for i in range(b):
            for j in range(n):
                if (i, j) != (0, 1):
                    assert cl[i, j].sum() > 0, (i, j)
                # the window is a c x c block of its own image (random floats: the corner locates it)
                ys, xs = torch.nonzero(img[i, j, 0] == ci[i, j, 0, 0, 0], as_tuple=True)
                y, x = int(ys[0]), int(xs[0])
                assert torch.equal(img[i, j, 0, y:y + c, x:x + c], ci[i, j, 0])
                assert torch.equal(lab[i, j, 0, y:y + c, x:x + c], cl[i, j, 0])
    same_i, same_l = crop_tasks(img, lab, h, g)
    assert same_i is img and same_l is lab
    # --crop takes one size or a list (one size drawn per batch); bad lists are refused
    base = ["--out", "x", "--minutes", "1"]
    assert parse_args(base).crop == [0] and parse_args(base + ["--crop", "64"]).crop == [64]
    assert parse_args(base + ["--crop", "64,128"]).crop == [64, 128]
    for bad in ("-3", "64,x", ""):
        assert_refused(["--crop", bad], f"--crop {bad!r}")


def check_first_clicks_errors():
    """first_clicks_check.py refuses a missing model, an unknown task and --clicks 0 with a
    usage error (exit status 2), not a traceback."""
    import tempfile
    import first_clicks_check
    with tempfile.TemporaryDirectory() as d:
        model = os.path.join(d, "m.safetensors")
        open(model, "wb").close()
        for argv in (["--model", os.path.join(d, "nope.safetensors"), "--reach"],
                     ["--model", model, d, "no_such_task"],
                     ["--model", model, "--clicks", "0", "--reach"]):
            saved = sys.argv
            sys.argv = ["first_clicks_check.py"] + argv
            try:
                first_clicks_check.main()
            except SystemExit as e:
                assert e.code == 2, (argv, e.code)
            else:
                raise AssertionError(f"first_clicks_check {argv} must be refused")
            finally:
                sys.argv = saved


def check_shift_probe():
    """check_shift.py measures where a mask sits: a fake UNet that predicts the image's disk
    gives Dice 1 and no shift in every case, one that predicts it 3 rows lower and 2 columns
    left gives dy +3, dx -2, an empty prediction gives Dice 0 and no centroid, and fakes that
    echo one prompt channel see the box and the click in the right channels and cases."""
    import math
    from check_shift import disk, probe
    img, lab = disk()
    exact = lambda x: x[:, :1] * 20 - 10
    shifted = lambda x: torch.roll(x[:, :1], (3, -2), (2, 3)) * 20 - 10
    empty = lambda x: torch.full_like(x[:, :1], -1.0)
    for case, (d, dy, dx) in probe(exact, img, lab).items():
        assert abs(d - 1) < 1e-9 and abs(dy) < 1e-6 and abs(dx) < 1e-6, (case, d, dy, dx)
    for case, (d, dy, dx) in probe(shifted, img, lab).items():
        assert abs(dy - 3) < 1e-4 and abs(dx + 2) < 1e-4 and d < 0.95, (case, d, dy, dx)
    for case, (d, dy, dx) in probe(empty, img, lab).items():
        assert d == 0 and math.isnan(dy) and math.isnan(dx), (case, d, dy, dx)
    # the prompt channels: a fake that returns the box channel predicts the box in the box
    # case only; one that returns the positive-click channel predicts the click's pixel (row
    # 64, column 55; the disk's centroid is at row 63.5, column 55.5) in the click case only
    area = float(lab.sum())
    box_only = lambda x: x[:, 1:2] * 20 - 10
    res = probe(box_only, img, lab)
    ys, xs = torch.nonzero(lab[0, 0] > 0, as_tuple=True)
    box_area = float((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    assert abs(res["box"][0] - 2 * area / (area + box_area)) < 1e-9, res
    assert res["no prompt"][0] == 0 and res["centre click"][0] == 0, res
    pos_only = lambda x: x[:, 2:3] * 20 - 10
    res = probe(pos_only, img, lab)
    assert abs(res["centre click"][1] - 0.5) < 1e-4 and abs(res["centre click"][2] + 0.5) < 1e-4, res
    assert res["box"][0] == 0 and res["no prompt"][0] == 0, res


def check_first_clicks_trace():
    # a fake UNet that ignores the prompts and always predicts the first square and a false
    # positive beside it: every click after the first must then be negative (the false positive,
    # 64 px, is the largest error component; the missed second square has 36 px)
    lab = torch.zeros(1, 1, 32, 32)
    lab[..., 4:12, 4:12] = 1
    lab[..., 20:26, 20:26] = 1
    fixed = torch.full((1, 1, 32, 32), -5.0)
    fixed[..., 4:12, 4:20] = 5.0
    seen = []

    def unet(x):
        assert x.shape == (1, 5, 32, 32), x.shape
        seen.append((x[0, 2].sum().item(), x[0, 3].sum().item()))  # positive, negative clicks
        return fixed

    rows = trace(unet, torch.rand(1, 1, 32, 32), lab, 3)
    assert len(rows) == 3, rows
    assert [r[0] for r in rows] == [True, False, False], "first click positive, then negative"
    # the fed prompts: the one positive click, then negatives (a repeated tied deepest pixel
    # may land on the same one, so the third step holds one or two)
    assert seen[0] == (1.0, 0.0) and seen[1] == (1.0, 1.0) and seen[2] in ((1.0, 1.0), (1.0, 2.0)), seen
    for r in rows:
        assert abs(r[1] - 2 * 64 / (100 + 128)) < 1e-6, r
        assert abs(r[2] - 1.28) < 1e-6 and r[3] == 1 and r[4] == 2, r
    lines = summarize([rows, rows[:1]])
    assert len(lines) == 3 and "positive  2/2" in lines[0] and "positive  0/1" in lines[1], lines
    # reach, on convolutions of weights 1 (gradient 1 at every pixel they see): a 3x3 one sees
    # 3 rows, 5 of its 9 pixels lie within 1 px (more than half) and all within sqrt(2); a 5x5
    # one sees 5 rows, 13 of 25 within 2 px and 21 of 25 (84%) within sqrt(5), all within sqrt(8)
    for k, want in ((3, (3, 1.0, 2 ** 0.5)), (5, (5, 2.0, 8 ** 0.5))):
        conv = torch.nn.Conv2d(5, 1, k, padding=k // 2, bias=False)
        torch.nn.init.ones_(conv.weight)
        got = reach(conv, 32)
        assert got[0] == want[0] and abs(got[1] - want[1]) < 1e-5 and abs(got[2] - want[2]) < 1e-5, (k, got)
    two = torch.nn.Sequential(torch.nn.Conv2d(5, 5, 3, padding=1), torch.nn.Conv2d(5, 1, 3, padding=1))
    assert reach(two, 32)[0] == 5, reach(two, 32)


if __name__ == "__main__":
    check_widen_unet()
    check_widen_state()
    check_first_clicks_trace()
    check_shift_probe()
    check_first_clicks_errors()
    check_crop_tasks()
    check_merge_states()
    check_ring_holes()
    check_ring_source()
    check_many_objects()
    check_parse_mix()
    check_blend_state()
    check_short_frac()
    check_flip_pairs()
    check_distill_flip()
    check_distill_mean()
    check_ema()
    check_resume_seed()
    check_no_prompt_frac()
    check_foreign_prior()
    check_degrade_labels()
    check_unet_context_labels()
    check_center_dist()
    check_center_click()
    check_component_labels()
    print("selftest OK")
