"""Trains MultiverSegNet and ScribblePrompt-UNet on generated tasks, within a wall-time budget.

The recipe of the MultiverSeg paper (sections 3.3 and 5.1), scaled down: tasks with
a target and a random-size context set; three simulated interaction steps per
target (initial clicks/boxes/scribbles, then corrections drawn from the current
error region, the previous logits in channel 4); loss = soft Dice + focal, summed
over the steps. The UNet is trained the same way without context. See README.md.

Outputs in --out: mvs.pt and sp.pt ({"model": state_dict}, float32, official
tensor names: `mvs convert --multiverseg mvs.pt --scribbleprompt sp.pt` reads them),
train_state.pt (for --resume), loss.csv, data_sources.txt, config.json.
Everything is written atomically at the end, every --save-minutes, and on SIGTERM/SIGINT.
"""
import argparse
import copy
import csv
import json
import os
import random
import signal
import sys
import time

T0 = time.time()  # the --minutes budget counts from here (setup included)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import TaskSampler, dilate, erode, gaussian_blur, mix_arg  # noqa: E402
from models import MultiverSegNet, ScribblePromptUNet, export_state_dict  # noqa: E402
from prompts import (correction_center_click, correction_prompts, initial_center_click,  # noqa: E402
                     initial_prompts)


def log(*a):
    print(*a, flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--minutes", type=float, required=True,
                    help="wall-time budget of this run in minutes, setup and saving included")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    ap.add_argument("--resume", default=None, help="train_state.pt to continue from")
    ap.add_argument("--data", default=None, help="folder of task folders <task>/{images,masks}/*.png")
    ap.add_argument("--mix", default="synth:0.45,superpixel:0.3,real:0.25", type=mix_arg,
                    help="source weights NAME:WEIGHT,...: synth, multi (many small objects), ring (synth's ring family only), superpixel, real "
                         "(an unknown name or a bad weight is refused; a source without data, e.g. real "
                         "without --data, is dropped and the rest renormalized)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--nf", type=int, default=64, help="MultiverSegNet features per block (4 blocks)")
    ap.add_argument("--unet-nf", type=int, default=32, help="ScribblePrompt-UNet features per level (4 levels)")
    ap.add_argument("--batch", type=int, default=32, help="tasks per iteration (MultiverSegNet targets)")
    ap.add_argument("--unet-batch", type=int, default=64,
                    help="UNet targets per iteration, taken from all images of the iteration's tasks")
    ap.add_argument("--max-context", type=int, default=8, help="context size S drawn from 1..max (per batch)")
    ap.add_argument("--steps", type=int, default=3, help="simulated interaction steps per target (with a loss)")
    ap.add_argument("--extra-steps", type=int, default=0,
                    help="per iteration, 0..N further interaction steps run first without gradients, so the "
                         "network also learns from the prompts and previous logits of long interactions "
                         "(the evaluation clicks up to 20 times)")
    ap.add_argument("--short-frac", type=float, default=0.0,
                    help="with --extra-steps: fraction of iterations that run no extra steps, so the first "
                         "prompt's prediction (one click, a box) keeps being trained; the extra-step count "
                         "is otherwise uniform in 0..N, which trains step 1 in only 1/(N+1) of them")
    ap.add_argument("--center-frac", type=float, default=0.0,
                    help="fraction of the targets whose prompts follow the evaluation's center-click protocol: "
                         "one click at the deepest point of the label's largest component, then one click per "
                         "step at the deepest point of the largest error component (prompts.correction_center_click)")
    ap.add_argument("--flip-pairs", type=float, default=0.0,
                    help="weight of a mirror-consistency loss for the UNet (0: off). Half of its batch is the "
                         "other half mirrored (one flip per iteration: left-right, up-down or both) with the "
                         "prompts and previous logits mirrored too, so each pair asks the same question; the "
                         "loss adds W x the squared difference of the pair's probabilities (one mapped back "
                         "through the flip), summed over pixels and divided by the label's area + 1 (the "
                         "logged loss includes it; `flip` in the log is its mean per step). A "
                         "flip-equivariant UNet scores 0; the architecture allows one, but nothing else in "
                         "training keeps sub-pixel geometry symmetric (issue 14: versions 6 and 7 expect an "
                         "object right of and below a click; tools/train/check_click_bias.py)")
    ap.add_argument("--ema-sp", type=float, default=0.0,
                    help="decay of an exponential moving average of the UNet's weights (0: off; e.g. 0.99 "
                         "averages over about the last 100 UNet iterations), updated after each UNet step and "
                         "written beside sp.pt as sp_ema.pt (same format, for `mvs convert`) and into "
                         "train_state.pt (a resumed run continues it; a state without one starts it from the "
                         "current weights). Issue 14: the UNet's answers on the Fiji test's disk and its "
                         "held-out Dice swing between checkpoints 100 iterations apart (weights/MODEL_HISTORY.md); "
                         "an average of the trajectory is steadier than its last point")
    ap.add_argument("--ema-mvs", type=float, default=0.0,
                    help="the same weight average for MultiverSegNet (0: off; e.g. 0.98), updated after each "
                         "MultiverSegNet step, written beside mvs.pt as mvs_ema.pt and kept in train_state.pt "
                         "as mvs_ema. Issue 14: on the CPU at batch 8 and lr 1e-4, MultiverSegNet runs longer "
                         "than about 250 iterations lost held-out clicks (weights/MODEL_HISTORY.md); a lower "
                         "learning rate with an average of the trajectory is the next thing to try")
    ap.add_argument("--no-prompt-frac", type=float, default=0.0,
                    help="fraction of MultiverSegNet targets whose first step has no prompt at all (context "
                         "only), as the evaluation's first prediction and the propagation over a volume are; "
                         "corrections follow from that prediction's errors. The UNet's targets always get prompts")
    ap.add_argument("--foreign-prior-frac", type=float, default=0.0,
                    help="fraction of the UNet's targets whose first step starts from a foreign prior in the "
                         "previous-logits channel (foreign_prior: the label perturbed, blurred and scaled to "
                         "logits, as another network's prediction is) with correction prompts drawn from that "
                         "prior's errors, as in AfterPrompt::Unet / Mean where the UNet's mask input is "
                         "MultiverSegNet's prediction; the other targets start from zeros. The prior is set "
                         "before the --extra-steps no-gradient steps, which replace it: with --short-frac S "
                         "the graded steps see it only in batches without extra steps (fprior1: about half "
                         "the batches, so about a quarter of the UNet's targets at F = 0.5)")
    ap.add_argument("--distill-flip", type=float, default=0.0,
                    help="weight of a distillation loss for the UNet (0: off; needs --resume and sp in --train): "
                         "at every graded step its logits "
                         "are pulled towards those of a frozen teacher, the UNet as the run starts (the "
                         "resumed state's last weights, not its average; not saved, so resuming a distillation "
                         "run's own state makes its student the next teacher), averaged over the input as it is and flipped left-right, up-down "
                         "and both, each flipped back (the library's opt-in flip averaging, "
                         "Session::set_unet_flip_average), on the same input (image, prompts and the "
                         "student's previous logits). The loss adds W x the Bernoulli KL divergence from the "
                         "teacher's probabilities to the student's, summed over pixels and divided by the "
                         "label's area + 1 (`distill` in the log: its mean per step; the logged `sp loss` includes W x it). Issue 14: the "
                         "flip-averaged UNet reaches issue 14's 153 of 306 images in four passes; this asks "
                         "one pass to learn it")
    ap.add_argument("--distill-mean", type=float, default=0.0,
                    help="weight of a distillation loss for MultiverSegNet (0: off; needs --resume and mvs in "
                         "--train): at every graded step of a target whose prompts follow the centre-click "
                         "protocol (--center-frac) and are not empty, its logits are pulled towards the mean "
                         "of a frozen MultiverSegNet's (with the same context) and a frozen UNet's logits on "
                         "the same input, both as the run starts (the resumed state's last weights); at the "
                         "other graded steps (no prompt yet, or boxes and scribbles) towards the frozen "
                         "MultiverSegNet's alone, which keeps its prompt-free and scribble predictions where "
                         "they were. The loss adds W x distill_kl (`distill` in the log). Issue 14: after a "
                         "click, the mean of the two networks' logits (AfterPrompt::MeanForClicks, opt-in) "
                         "saves 17.5%% of the clicks on the 12 evaluation tasks against MultiverSegNet's 3.8%%; "
                         "this asks MultiverSegNet to learn it, so that the paper's session (the default) gains")
    ap.add_argument("--mvs-label-weight", type=float, default=1.0,
                    help="weight of MultiverSegNet's loss against the labels (soft Dice + focal; 1: the "
                         "recipe). 0 with --distill-mean trains on the teacher alone: every CPU "
                         "MultiverSegNet run against labels at batch 8 moved it by more than the held-out "
                         "rule resolves (weights/MODEL_HISTORY.md)")
    ap.add_argument("--context-label-noise", type=float, default=0.0,
                    help="probability per context entry that its label is replaced by a degraded copy "
                         "(dilated or eroded by 1-3 px, or with a random square cut out), as the "
                         "evaluation's context holds the model's own binarized predictions, not ground truth")
    ap.add_argument("--context-from-unet", type=float, default=0.0,
                    help="probability per context entry that its label is the ScribblePrompt-UNet's own "
                         "binarized prediction after the evaluation's center clicks (until Dice 0.9 or "
                         "--context-unet-clicks), as the evaluation's context holds masks made that way; "
                         "the other entries keep --context-label-noise. The UNet runs without gradients")
    ap.add_argument("--context-unet-clicks", type=int, default=8,
                    help="click budget of --context-from-unet (the evaluation's is 20)")
    ap.add_argument("--lr", type=float, default=3e-4, help="MultiverSegNet Adam learning rate")
    ap.add_argument("--unet-lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up iterations, counted on the shared iteration counter (a resumed run past it has none)")
    ap.add_argument("--decay-frac", type=float, default=0.25,
                    help="the last fraction of this run's time budget decays the lr linearly")
    ap.add_argument("--min-lr-frac", type=float, default=0.1, help="lr factor at the end of the decay")
    ap.add_argument("--clip", type=float, default=1.0, help="gradient norm clipping (0: off)")
    ap.add_argument("--focal-weight", type=float, default=1.0)
    ap.add_argument("--focal-gamma", type=float, default=2.0)
    ap.add_argument("--train", default="mvs,sp", help="which networks to train: mvs, sp or both")
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"],
                    help="autocast precision (auto: bf16 on cuda, off on cpu); weights stay float32")
    ap.add_argument("--log-every", type=int, default=20, help="iterations per progress line / loss.csv row")
    ap.add_argument("--save-minutes", type=float, default=2.0, help="periodic save interval")
    ap.add_argument("--data-chunk", type=int, default=0,
                    help="iterations of tasks generated at once (same S for them; fewer kernel launches); "
                         "0: 4 on cuda, 1 on cpu")
    ap.add_argument("--profile", action="store_true",
                    help="synchronize and report the time split data / train step in the progress lines")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="cudnn autotuning (off by default: shapes change with S, little gain measured)")
    ap.add_argument("--seed", type=int, default=None,
                    help="random seed of the task stream and the initial weights (default 0). With "
                         "--resume and no --seed, the state's random streams are restored (an exact "
                         "continuation of an interrupted run); with --seed, the streams are seeded from "
                         "(seed, the state's step) instead, so a resumed run with a new seed draws new "
                         "tasks, and one resumed with its old seed does not replay its first tasks. "
                         "Until 2026-12-06 --seed did nothing on --resume")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--crop", type=_crop_sizes, default=[0],
                    help="train on C x C windows of the --size images (0: off): each window holds a random "
                         "foreground pixel of its label, so objects keep the evaluation's pixel scale while "
                         "a step costs about (C/size)^2 as much (MultiverSegNet on the CPU). A list "
                         "(e.g. 64,128) draws one size per batch uniformly; a size >= --size is the full image, "
                         "so large objects are still seen whole")
    args = ap.parse_args(argv)
    if args.flip_pairs < 0 or (args.flip_pairs > 0 and args.unet_batch % 2):
        ap.error(f"--flip-pairs {args.flip_pairs} needs a weight >= 0 and an even --unet-batch "
                 f"(got {args.unet_batch}): half the UNet's rows mirror the other half")
    if args.distill_flip < 0:
        ap.error(f"--distill-flip {args.distill_flip} must be >= 0")
    trained = {x.strip() for x in args.train.split(",")}
    if args.distill_flip > 0 and ("sp" not in trained or not args.resume):
        ap.error(f"--distill-flip {args.distill_flip} needs --resume (the teacher is the resumed UNet) "
                 f"and sp in --train (got --train {args.train})")
    if args.distill_mean < 0 or args.mvs_label_weight < 0:
        ap.error(f"--distill-mean {args.distill_mean} and --mvs-label-weight {args.mvs_label_weight} must be >= 0")
    if args.distill_mean > 0 and ("mvs" not in trained or not args.resume):
        ap.error(f"--distill-mean {args.distill_mean} needs --resume (the teachers are the resumed networks) "
                 f"and mvs in --train (got --train {args.train})")
    if args.distill_mean > 0 and args.distill_flip > 0:
        ap.error("--distill-mean and --distill-flip share the `distill` log: train one network per run")
    if args.mvs_label_weight == 0 and args.distill_mean == 0 and "mvs" in trained:
        ap.error("--mvs-label-weight 0 without --distill-mean leaves MultiverSegNet no loss")
    if not 0.0 <= args.foreign_prior_frac <= 1.0:
        ap.error(f"--foreign-prior-frac {args.foreign_prior_frac} must be in [0, 1]")
    if args.seed is not None and args.seed < 0:
        ap.error(f"--seed {args.seed} must be >= 0")
    for flag in ("ema_sp", "ema_mvs"):
        if not 0.0 <= getattr(args, flag) < 1.0:
            ap.error(f"--{flag.replace('_', '-')} {getattr(args, flag)} must be in [0, 1)")
    return args


def _crop_sizes(text):
    """--crop's value: comma-separated window sides in pixels, each >= 0."""
    try:
        sizes = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 0:
        raise argparse.ArgumentTypeError(f"expected sizes >= 0 like 64 or 64,128, got {text!r}")
    return sizes


ARCH_KEYS = ("nf", "unet_nf", "size")


def base_steps(st):
    """Iterations per network in a state; states older than the `steps` field count `step`."""
    return dict(st.get("steps") or {"mvs": st["step"], "sp": st["step"]})


def soft_dice_focal(logits, target, focal_weight, gamma):
    """Per-batch mean of (1 - soft Dice) + focal_weight * focal BCE. float32."""
    logits = logits.float()
    p = torch.sigmoid(logits)
    inter = (p * target).flatten(1).sum(1)
    denom = p.flatten(1).sum(1) + target.flatten(1).sum(1)
    dice = 1 - (2 * inter + 1) / (denom + 1)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    pt = torch.where(target > 0.5, p, 1 - p)
    focal = ((1 - pt) ** gamma * bce).flatten(1).mean(1)
    return (dice + focal_weight * focal).mean()


def hard_dice_rows(logits, target):
    """Dice of the binarized logits (> 0) with target, per row of [N,1,H,W]: a [N] tensor."""
    pred = (logits.detach() > 0).float()
    inter = (pred * target).flatten(1).sum(1)
    return (2 * inter + 1e-6) / (pred.flatten(1).sum(1) + target.flatten(1).sum(1) + 1e-6)


def hard_dice(logits, target):
    return hard_dice_rows(logits, target).mean()


# --flip-pairs: the mirror drawn per iteration (dims of [N,C,H,W]): left-right, up-down, both
FLIPS = ((3,), (2,), (2, 3))


def flip_consistency(logits, lab, h, dims):
    """The --flip-pairs loss of a part's logits [2h,1,H,W] whose rows h..2h mirror rows 0..h
    through flip(dims): per pair, the squared difference of the probabilities (the second
    row mapped back through the flip) summed over pixels over the first label's area + 1
    (lab [2h,1,H,W]); mean over pairs. 0 for a flip-equivariant network. float32."""
    p = torch.sigmoid(logits.float())
    diff = (p[:h] - p[h:2 * h].flip(dims)) ** 2
    return (diff.flatten(1).sum(1) / (lab[:h].flatten(1).sum(1) + 1)).mean()


# --distill-flip: the teacher's flips, the identity and FLIPS (the library's order)
TEACHER_FLIPS = ((),) + FLIPS


@torch.no_grad()
def flip_average_logits(model, x):
    """The mean of model's logits over x [N,C,H,W] as it is and flipped left-right, up-down
    and both, each flipped back: the library's opt-in UNet flip averaging
    (crates/multiverseg/src/workflow/flip_average.rs) on a square input. float32 [N,1,H,W]."""
    out = 0.0
    for dims in TEACHER_FLIPS:
        y = model(x.flip(dims) if dims else x).float()
        out = out + (y.flip(dims) if dims else y)
    return out / len(TEACHER_FLIPS)


def distill_kl(logits, teacher_logits, lab):
    """The --distill-flip loss: per row, the Bernoulli KL divergence KL(teacher || student)
    of the probabilities, summed over pixels, divided by the label's area + 1 (lab
    [N,1,H,W], as flip_consistency); mean over rows. 0 when the logits match; float32."""
    s = logits.float()
    t = torch.sigmoid(teacher_logits.float())
    # BCE(s; t) - H(t): the KL, with the same gradient as the soft-target BCE
    kl = F.binary_cross_entropy_with_logits(s, t, reduction="none") \
        - F.binary_cross_entropy_with_logits(teacher_logits.float(), t, reduction="none")
    return (kl.flatten(1).sum(1) / (lab.flatten(1).sum(1) + 1)).mean()


@torch.no_grad()
def mean_teacher_logits(mvs_teacher, unet_teacher, x, ctx, use_mean):
    """The --distill-mean target for MultiverSegNet rows x [N,5,H,W] with context ctx: the
    frozen MultiverSegNet's logits, replaced by their mean with the frozen UNet's on the rows
    where use_mean [N] is true (the library's AfterPrompt::Mean, session.rs). float32 [N,1,H,W].
    The UNet runs on every row (small beside MultiverSegNet) rather than after a check of
    use_mean, which would synchronise with the device at every step."""
    t = mvs_teacher(x, ctx).float()
    u = unet_teacher(x).float()
    return torch.where(use_mean[:, None, None, None], 0.5 * (t + u), t)


def interactive_step(parts, img, lab, args, amp_dtype, device_type, pairs=None, teacher=None,
                     mean_teacher=None):
    """One optimizer step per network over `args.steps` simulated interactions.

    parts: list of (name, model, optimizer, row slice, context or None); the rows of
    img/lab [N,1,H,W] are split between the networks, and the prompts of all rows
    are simulated together (one batched call per step: few kernel launches).
    pairs: None or (name, h, dims) for --flip-pairs: rows h..2h of that part's slice are
    rows 0..h mirrored through flip(dims) (img and lab already are); their prompts and
    previous logits are overwritten with the mirrored ones of rows 0..h after every
    simulation, so a pair differs only by the flip, and the part's loss adds
    args.flip_pairs x flip_consistency.
    teacher: None or the frozen UNet of --distill-flip: the part without a context adds
    args.distill_flip x distill_kl against its flip-averaged logits on the same input.
    Returns {name: detached tensor [summed loss, Dice after step 1, after the last]}, and
    with pairs also "flip": [summed flip_consistency over the steps with a loss, 0, 0], with
    a teacher "distill": [summed distill_kl over the steps with a loss, 0, 0].
    mean_teacher: None or (frozen MultiverSegNet, frozen UNet) of --distill-mean: the part with
    a context adds args.distill_mean x distill_kl against mean_teacher_logits (the mean on its
    centre-click rows that have a prompt, MultiverSegNet alone on the others) and weighs its
    label loss by args.mvs_label_weight; "distill" as above.
    """
    n = img.shape[0]
    center = torch.rand(n, device=img.device) < args.center_frac
    cmask = center[:, None, None, None]

    # rows of networks with a context may start without any prompt (in-context prediction);
    # no random draw when the option is off, so default runs keep their random stream
    bare = None
    if args.no_prompt_frac > 0:
        has_ctx = torch.zeros(n, dtype=torch.bool, device=img.device)
        for _, _, _, sl, ctx in parts:
            if ctx is not None:
                has_ctx[sl] = True
        bare = (has_ctx & (torch.rand(n, device=img.device) < args.no_prompt_frac))[:, None, None, None]

    def first_prompts():
        p = torch.where(cmask, initial_center_click(lab), initial_prompts(lab))
        return p if bare is None else torch.where(bare, torch.zeros_like(p), p)

    pair_rows = None
    if pairs is not None:
        pname, h, dims = pairs
        start = next(sl for name, _, _, sl, _ in parts if name == pname).start
        pair_rows = (slice(start, start + h), slice(start + h, start + 2 * h), dims)

    def mirror(t):
        """t with the second rows of each pair replaced by the first ones mirrored."""
        if pair_rows is None:
            return t
        a, b, dims = pair_rows
        return torch.cat([t[:b.start], t[a].flip(dims), t[b.stop:]])

    def corrections(prompts, prev):
        return mirror(torch.where(cmask, correction_center_click(prompts, lab, prev),
                                  correction_prompts(prompts, lab, prev, scribble_corr)))

    prompts = mirror(first_prompts())
    prev = torch.zeros_like(lab)
    # drawn only when set, so runs without the option keep their random stream
    if getattr(args, "foreign_prior_frac", 0.0) > 0:
        unet_rows = torch.zeros(n, dtype=torch.bool, device=img.device)
        for _, _, _, sl, ctx in parts:
            if ctx is None:
                unet_rows[sl] = True
        fmask = (unet_rows & (torch.rand(n, device=img.device) < args.foreign_prior_frac))[:, None, None, None]
        prior = foreign_prior(lab)
        prev = mirror(torch.where(fmask, prior, prev))
        # the first prompts of those rows correct the prior, as the evaluation's first click
        # corrects MultiverSegNet's prompt-free prediction
        scribble0 = torch.rand(n, device=img.device) < 0.4
        fixed = torch.where(cmask, correction_center_click(torch.zeros_like(prompts), lab, prev),
                            correction_prompts(torch.zeros_like(prompts), lab, prev, scribble0))
        prompts = mirror(torch.where(fmask, fixed, prompts))
    scribble_corr = torch.rand(n, device=img.device) < 0.4
    stats = {}
    if pairs is not None:
        stats["flip"] = torch.zeros(3, device=img.device)
    if teacher is not None or mean_teacher is not None:
        stats["distill"] = torch.zeros(3, device=img.device)
    for name, model, opt, sl, _ in parts:
        opt.zero_grad(set_to_none=True)
        stats[name] = torch.zeros(3, device=img.device)
    # Long interactions, cheaply: the first `extra` steps run without gradients.
    extra = int(torch.randint(0, args.extra_steps + 1, (1,)).item()) if args.extra_steps > 0 else 0
    # drawn only when set, so runs without the option keep their random stream
    if args.short_frac > 0 and torch.rand(1).item() < args.short_frac:
        extra = 0
    with torch.no_grad():
        for _ in range(extra):
            x = torch.cat([img, prompts, prev], 1)
            outs = []
            for name, model, opt, sl, ctx in parts:
                with torch.autocast(device_type=device_type, dtype=amp_dtype or torch.float32,
                                    enabled=amp_dtype is not None):
                    outs.append((model(x[sl], ctx) if ctx is not None else model(x[sl])).float())
            prev = mirror(torch.cat(outs))
            prompts = corrections(prompts, prev)
    for step in range(args.steps):
        x = torch.cat([img, prompts, prev], 1)
        outs = []
        for name, model, opt, sl, ctx in parts:
            with torch.autocast(device_type=device_type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                logits = model(x[sl], ctx) if ctx is not None else model(x[sl])
            loss = soft_dice_focal(logits, lab[sl], args.focal_weight, args.focal_gamma)
            if ctx is not None:
                loss = args.mvs_label_weight * loss  # x 1.0 by default: exact, the recipe unchanged
            if mean_teacher is not None and ctx is not None:
                # the mean where the library would take it: centre clicks (the protocol the
                # 17.5% was measured with; MeanForClicks), once the image has a prompt
                prompted = x[sl, 1:4].flatten(1).abs().sum(1) > 0
                with torch.autocast(device_type=device_type, dtype=amp_dtype or torch.float32,
                                    enabled=amp_dtype is not None):
                    t_logits = mean_teacher_logits(*mean_teacher, x[sl], ctx, prompted & center[sl])
                dist = distill_kl(logits, t_logits, lab[sl])
                stats["distill"][0] += dist.detach()
                loss = loss + args.distill_mean * dist
            if pairs is not None and name == pairs[0]:
                cons = flip_consistency(logits, lab[sl], pairs[1], pairs[2])
                stats["flip"][0] += cons.detach()
                loss = loss + args.flip_pairs * cons
            if teacher is not None and ctx is None:
                with torch.autocast(device_type=device_type, dtype=amp_dtype or torch.float32,
                                    enabled=amp_dtype is not None):
                    t_logits = flip_average_logits(teacher, x[sl])
                dist = distill_kl(logits, t_logits, lab[sl])
                stats["distill"][0] += dist.detach()
                loss = loss + args.distill_flip * dist
            loss.backward()  # per step: same gradient as the summed loss, less memory
            logits = logits.detach().float()
            stats[name][0] += loss.detach()
            if step == 0:
                stats[name][1] += hard_dice(logits, lab[sl])
            if step == args.steps - 1:
                stats[name][2] += hard_dice(logits, lab[sl])
            outs.append(logits)
        prev = mirror(torch.cat(outs))
        if step < args.steps - 1:
            prompts = corrections(prompts, prev)
    for name, model, opt, sl, _ in parts:
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
    return stats


def crop_tasks(img, lab, c, gen=None):
    """Random c x c windows of tasks img/lab [B,N,1,H,W] (N = target + context entries).

    Each of the B*N images gets its own window, placed so that it holds a foreground pixel
    of its label drawn uniformly (shifted by up to c/4 so that the object is not always
    centred), clamped to the image; an empty label gets a uniform window. Returns
    new [B,N,1,c,c] tensors; c >= H returns the inputs themselves.
    """
    b, n, _, h, w = img.shape
    if c <= 0 or (c >= h and c >= w):
        return img, lab
    fi, fl = img.reshape(b * n, 1, h, w), lab.reshape(b * n, 1, h, w)
    flat = fl.reshape(b * n, -1)
    weights = torch.where(flat.sum(1, keepdim=True) > 0, flat, torch.ones_like(flat))
    idx = torch.multinomial(weights, 1, generator=gen).squeeze(1).cpu()
    jit = torch.randint(-(c // 4), c // 4 + 1, (b * n, 2), generator=gen).cpu()
    ys = ((idx // w) - c // 2 + jit[:, 0]).clamp(0, h - c).tolist()
    xs = ((idx % w) - c // 2 + jit[:, 1]).clamp(0, w - c).tolist()
    oi = torch.stack([fi[k, :, y:y + c, x:x + c] for k, (y, x) in enumerate(zip(ys, xs))])
    ol = torch.stack([fl[k, :, y:y + c, x:x + c] for k, (y, x) in enumerate(zip(ys, xs))])
    return oi.reshape(b, n, 1, c, c), ol.reshape(b, n, 1, c, c)


def degrade_labels(lab, p):
    """Context labels [B,S,1,H,W] in {0,1}, each replaced with probability p by an imperfect
    copy, like a prediction that stopped at ~90% Dice: dilated or eroded by 1-3 px, or with a
    square of up to a quarter of the side cut out of the foreground (a missed part). A
    degraded label that came out empty keeps the original."""
    b, s, _, h, w = lab.shape
    dev = lab.device
    x = lab.reshape(b * s, 1, h, w)
    n = x.shape[0]
    out = x.clone()
    kind = torch.randint(0, 3, (n,), device=dev)
    radius = torch.randint(1, 4, (n,), device=dev)
    for r in (1, 2, 3):
        pick_r = radius == r
        out = torch.where(((kind == 0) & pick_r)[:, None, None, None], dilate(x, r), out)
        out = torch.where(((kind == 1) & pick_r)[:, None, None, None], erode(x, r), out)
    # a square cut centred on a random foreground pixel
    flat = x.reshape(n, -1)
    w_fg = torch.where(flat.sum(1, keepdim=True) > 0, flat, torch.ones_like(flat))
    idx = torch.multinomial(w_fg, 1).squeeze(1)
    cy, cx = (idx // w).float(), (idx % w).float()
    half = torch.rand(n, device=dev) * (h / 8) + 1
    yy = torch.arange(h, device=dev).view(1, h, 1).float()
    xx = torch.arange(w, device=dev).view(1, 1, w).float()
    sq = ((yy - cy[:, None, None]).abs() <= half[:, None, None]) & \
         ((xx - cx[:, None, None]).abs() <= half[:, None, None])
    cut = x * (~sq[:, None]).float()
    out = torch.where((kind == 2)[:, None, None, None], cut, out)
    use = (torch.rand(n, device=dev) < p) & (out.flatten(1).sum(1) > 0)
    out = torch.where(use[:, None, None, None], out, x)
    return out.reshape(b, s, 1, h, w)


@torch.no_grad()
def foreign_prior(lab):
    """Previous-logits maps [N,1,H,W] that look like another network's prediction of the
    labels lab [N,1,H,W] in {0,1}: each label independently dilated or eroded by 1-6 px
    (p 0.6), cut by a square of up to a quarter of the side (p 0.4), given a false-positive
    disk of radius 2..H/8 px anywhere (p 0.4) and shifted by up to 6 px (p 0.3); then
    blurred (sigma 0.5-2 px) and mapped to logits a * (2 m - 1), a log-uniform in [1.5, 12]
    (prompt-free predictions are less sure than a converged UNet's). For
    --foreign-prior-frac: the UNet learns to refine a mask it did not make. Known limits (run
    fprior1 used them as they are): the shift rolls, so an object at a border wraps to the
    other side; about one label in ten gets no perturbation (0.4 x 0.6 x 0.6 x 0.7), and its
    blurred prior thresholds to the label itself, so that row's first step has no prompt."""
    n, _, h, w = lab.shape
    dev = lab.device
    m = lab.clone()
    r = torch.randint(1, 7, (n,), device=dev)
    morph = torch.rand(n, device=dev) < 0.6
    grow = torch.rand(n, device=dev) < 0.5
    for k in range(1, 7):
        pick = (morph & (r == k))[:, None, None, None]
        m = torch.where(pick & grow[:, None, None, None], dilate(lab, k), m)
        m = torch.where(pick & ~grow[:, None, None, None], erode(lab, k), m)
    yy = torch.arange(h, device=dev).view(1, h, 1).float()
    xx = torch.arange(w, device=dev).view(1, 1, w).float()
    flat = lab.reshape(n, -1)
    w_fg = torch.where(flat.sum(1, keepdim=True) > 0, flat, torch.ones_like(flat))
    idx = torch.multinomial(w_fg, 1).squeeze(1)
    cy, cx = (idx // w).float(), (idx % w).float()
    half = torch.rand(n, device=dev) * (h / 8) + 1
    sq = ((yy - cy[:, None, None]).abs() <= half[:, None, None]) & \
         ((xx - cx[:, None, None]).abs() <= half[:, None, None])
    cut = (torch.rand(n, device=dev) < 0.4)[:, None, None]
    m = m * (~(sq & cut)[:, None]).float()
    by, bx = torch.rand(n, device=dev) * h, torch.rand(n, device=dev) * w
    br = 2 + torch.rand(n, device=dev) * (h / 8 - 2)
    disk = ((yy - by[:, None, None]) ** 2 + (xx - bx[:, None, None]) ** 2) <= br[:, None, None] ** 2
    blob = (torch.rand(n, device=dev) < 0.4)[:, None, None]
    m = torch.maximum(m, (disk & blob)[:, None].float())
    shift = torch.rand(n, device=dev) < 0.3
    dy = torch.randint(-6, 7, (n,), device=dev)
    dx = torch.randint(-6, 7, (n,), device=dev)
    rolled = torch.stack([m[i].roll((int(dy[i]), int(dx[i])), (1, 2)) for i in range(n)]) \
        if bool(shift.any()) else m
    m = torch.where(shift[:, None, None, None], rolled, m)
    m = gaussian_blur(m, 0.5 + 1.5 * torch.rand(n, device=dev))
    a = torch.exp(torch.empty(n, device=dev).uniform_(np.log(1.5), np.log(12.0)))
    return a[:, None, None, None] * (2 * m - 1)


@torch.no_grad()
def unet_context_labels(unet, img, lab, p, clicks, amp_dtype=None, device_type="cpu"):
    """Context labels [B,S,1,H,W] in {0,1}, each non-empty one replaced with probability p by
    the UNet's binarized prediction (logits > 0) on its image img [B,S,1,H,W] under the
    evaluation's prompts: a center click, then one correction click per step at the deepest
    point of the largest error component (prompts.correction_center_click), stopping at Dice
    >= 0.9 or after `clicks` clicks, as eval::protocol does for the masks it adds to the context. Returns (labels, replaced [B*S]).
    An empty prediction keeps the original label."""
    b, s, _, h, w = lab.shape
    fi, fl = img.reshape(b * s, 1, h, w), lab.reshape(b * s, 1, h, w)
    sel = (torch.rand(b * s, device=lab.device) < p) & (fl.flatten(1).sum(1) > 0)
    idx = torch.nonzero(sel).flatten()
    if idx.numel() == 0:
        return lab, sel
    x_img, x_lab = fi[idx], fl[idx]
    prompts = initial_center_click(x_lab)
    prev = torch.zeros_like(x_lab)
    out = torch.zeros_like(x_lab)
    done = torch.zeros(idx.numel(), dtype=torch.bool, device=lab.device)
    for k in range(1, clicks + 1):
        with torch.autocast(device_type=device_type, dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            logits = unet(torch.cat([x_img, prompts, prev], 1)).float()
        stop = ~done & ((hard_dice_rows(logits, x_lab) >= 0.9) | (k == clicks))
        out = torch.where(stop[:, None, None, None], (logits > 0).float(), out)
        done |= stop
        if bool(done.all()):
            break
        prev = logits
        prompts = correction_center_click(prompts, x_lab, logits)
    keep = out.flatten(1).sum(1) > 0
    res = fl.clone()
    res[idx[keep]] = out[keep]
    sel = torch.zeros_like(sel)
    sel[idx[keep]] = True
    return res.reshape(b, s, 1, h, w), sel


def lr_factor(it, now, args, run_start, run_end):
    w = min(1.0, (it + 1) / max(1, args.warmup))
    frac = (now - run_start) / max(1e-6, run_end - run_start)
    start = 1.0 - args.decay_frac
    if args.decay_frac > 0 and frac > start:
        d = min(1.0, (frac - start) / args.decay_frac)
        w *= 1.0 - (1.0 - args.min_lr_frac) * d
    return w


def _sync_time(device, on):
    if on and device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.time()


@torch.no_grad()
def ema_update(ema, model, decay):
    """ema <- decay * ema + (1 - decay) * model, tensor by tensor over the state dicts (two
    modules of one architecture; non-float buffers are copied)."""
    for e, w in zip(ema.state_dict().values(), model.state_dict().values()):
        if e.is_floating_point():
            e.lerp_(w.detach(), 1.0 - decay)
        else:
            e.copy_(w)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def rng_state(device):
    st = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def seed_all(seed, device):
    """Seed torch (and CUDA on a cuda device), Python's random and NumPy with one integer."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if device.type == "cuda":
        torch.cuda.manual_seed(seed)


def resume_seed(seed, step):
    """The seed of a run resumed with --seed: a 32-bit hash of (seed, step) (NumPy's
    SeedSequence), so two seeds, or one seed resumed at two steps, give unrelated streams."""
    return int(np.random.SeedSequence([seed, step]).generate_state(1)[0])


def init_streams(state, seed, device):
    """Set the random streams of the training loop; returns what was done, for config.json.

    state: a resumed train_state.pt (its "rng" and "step") or None; seed: --seed or None.
    A fresh run keeps the streams seed_all(seed or 0) started before its initial weights were
    drawn -> "seed N"; a resumed run without --seed gets the state's streams back (an exact
    continuation) -> "restored"; one with --seed is seeded with resume_seed(seed, step) ->
    "seed N at step S". Called after the state is loaded, so nothing later overrides it: until
    2026-12-06 the restore came after the seeding, and --seed did nothing on --resume."""
    if state is None:
        return f"seed {0 if seed is None else seed}"
    if seed is None:
        set_rng_state(state["rng"], device)
        return "restored"
    seed_all(resume_seed(seed, state["step"]), device)
    return f"seed {seed} at step {state['step']}"


def set_rng_state(st, device):
    torch.set_rng_state(st["torch"])
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)
    elif device.type == "cuda":
        log("note: the resumed state has no CUDA RNG state (it came from a CPU run)")


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available")
    os.makedirs(args.out, exist_ok=True)
    run_end = T0 + 60.0 * args.minutes
    nets = set(x.strip() for x in args.train.split(",") if x.strip())

    state = None
    if args.resume:
        state = torch.load(args.resume, map_location="cpu", weights_only=False)
        for k in ARCH_KEYS:
            if state["config"][k] != getattr(args, k):
                log(f"note: --{k.replace('_', '-')} {getattr(args, k)} overridden by the checkpoint's {state['config'][k]}")
                setattr(args, k, state["config"][k])
    seed_all(0 if args.seed is None else args.seed, device)  # the initial weights of a fresh run
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        log(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        log(f"device: cpu ({args.threads} threads), torch {torch.__version__}")
    amp_dtype = None
    if args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda"):
        amp_dtype = torch.bfloat16

    sampler = TaskSampler(args.size, device, args.data, args.mix, log=log,
                          superpixel_cache=os.path.join(args.out, "superpixel_cache.pt"))
    with open(os.path.join(args.out, "data_sources.txt"), "w") as f:
        f.write("\n".join(sampler.provenance) + "\n")
    log("data sources:\n  " + "\n  ".join(sampler.provenance))

    mvs = MultiverSegNet([args.nf] * 4).to(device)
    unet = ScribblePromptUNet([args.unet_nf] * 4).to(device)
    fused = {"fused": True} if device.type == "cuda" else {}
    opt_mvs = torch.optim.Adam(mvs.parameters(), lr=args.lr, **fused)
    opt_sp = torch.optim.Adam(unet.parameters(), lr=args.unet_lr, **fused)
    it = 0
    wall_before = 0.0  # wall seconds of earlier runs (resume)
    steps_before = {"mvs": 0, "sp": 0}
    if state is not None:
        mvs.load_state_dict(state["mvs"])
        unet.load_state_dict(state["sp"])
        opt_mvs.load_state_dict(state["opt_mvs"])
        opt_sp.load_state_dict(state["opt_sp"])
        it = state["step"]
        steps_before = base_steps(state)  # a run may train one network only
        wall_before = state["wall_s"]
    # the --distill-flip teacher: the UNet as this run starts, frozen
    teacher = None
    if args.distill_flip > 0:  # parse_args made sure sp trains
        teacher = copy.deepcopy(unet).requires_grad_(False).eval()
        log(f"UNet distillation (--distill-flip {args.distill_flip}): the teacher is the UNet as the run "
            "starts, flip-averaged")
    # the --distill-mean teachers: both networks as this run starts, frozen
    mean_teacher = None
    if args.distill_mean > 0:  # parse_args made sure mvs trains
        mean_teacher = (copy.deepcopy(mvs).requires_grad_(False).eval(),
                        copy.deepcopy(unet).requires_grad_(False).eval())
        log(f"MultiverSegNet distillation (--distill-mean {args.distill_mean}, --mvs-label-weight "
            f"{args.mvs_label_weight}): the teacher is the mean of MultiverSegNet's and the UNet's logits "
            "after centre clicks, MultiverSegNet's alone otherwise, both as the run starts")
    args.streams = init_streams(state, args.seed, device)  # recorded in config.json
    if state is not None:
        log(f"resumed from {args.resume}: step {it}, {wall_before:.1f} s of earlier training; "
            + ("its random streams restored" if args.streams == "restored"
               else f"random streams seeded from --seed {args.seed} and step {it}"))
    # weight averages: {network key: (average, network, decay)}, saved as f"{key}_ema"; a
    # state's average of a network trained without its flag is dropped (train/README: what ships)
    emas = {}
    for key, net, name, decay in (("sp", unet, "UNet", args.ema_sp),
                                  ("mvs", mvs, "MultiverSegNet", args.ema_mvs)):
        if decay > 0:
            avg = copy.deepcopy(net).requires_grad_(False)
            resumed_ema = state is not None and f"{key}_ema" in state
            if resumed_ema:
                avg.load_state_dict(state[f"{key}_ema"])
            emas[key] = (avg, net, decay)
            log(f"{name} weight average (--ema-{key} {decay}): "
                + ("continued from the state" if resumed_ema else "started from the current weights"))
    it_resumed = it  # this run's iterations are it - it_resumed
    n_mvs = sum(p.numel() for p in mvs.parameters())
    n_sp = sum(p.numel() for p in unet.parameters())
    log(f"MultiverSegNet nf={args.nf}: {n_mvs} params ({4 * n_mvs / 2**20:.2f} MiB f32); "
        f"ScribblePrompt-UNet nf={args.unet_nf}: {n_sp} params ({4 * n_sp / 2**20:.2f} MiB f32)")
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(vars(args), f, indent=1)

    csv_path = os.path.join(args.out, "loss.csv")
    new_csv = not os.path.exists(csv_path) or state is None
    csv_f = open(csv_path, "w" if new_csv else "a", newline="")
    cw = csv.writer(csv_f)
    if new_csv:
        cw.writerow(["step", "wall_s", "network", "loss", "dice_first", "dice_last", "iters"])

    stop = {"flag": False}

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping after this iteration and saving")
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def save(final=False):
        t = time.time()
        if "mvs" in nets or final:
            atomic_save({"model": export_state_dict(mvs)}, os.path.join(args.out, "mvs.pt"))
        if "sp" in nets or final:
            atomic_save({"model": export_state_dict(unet)}, os.path.join(args.out, "sp.pt"))
        for key, (avg, _, _) in emas.items():
            if key in nets or final:
                atomic_save({"model": export_state_dict(avg)}, os.path.join(args.out, f"{key}_ema.pt"))
        extra = {f"{key}_ema": avg.state_dict() for key, (avg, _, _) in emas.items()}
        atomic_save({
            "mvs": mvs.state_dict(), "sp": unet.state_dict(),
            "opt_mvs": opt_mvs.state_dict(), "opt_sp": opt_sp.state_dict(),
            "step": it, "wall_s": wall_before + (time.time() - T0),
            "steps": {k: steps_before[k] + (it - it_resumed if k in nets else 0) for k in ("mvs", "sp")},
            "rng": rng_state(device), "config": vars(args), **extra,
        }, os.path.join(args.out, "train_state.pt"))
        csv_f.flush()
        log(f"saved step {it} to {args.out} ({time.time() - t:.1f} s)")

    run_start = time.time()
    log(f"setup took {run_start - T0:.1f} s; training until {args.minutes:.2f} min after start")
    last_save = run_start
    acc = {k: torch.zeros(3, device=device) for k in ("mvs", "sp", "flip", "distill")}
    acc_n = 0
    s_hist = []
    it_time = 0.0
    t_log = time.time()
    it_log = it
    first_it = it
    chunk = args.data_chunk or (4 if device.type == "cuda" else 1)
    queue = []
    prof = np.zeros(2)
    while not stop["flag"]:
        now = time.time()
        # stop early enough to finish one more iteration and the save
        if now + 1.5 * it_time + 5.0 > run_end and it > first_it or now + 5.0 > run_end:
            break
        t_it = time.time()
        fac = lr_factor(it, now, args, run_start, run_end)
        for g in opt_mvs.param_groups:
            g["lr"] = args.lr * fac
        for g in opt_sp.param_groups:
            g["lr"] = args.unet_lr * fac
        tp0 = _sync_time(device, args.profile)
        if not queue:
            s_n = int(torch.randint(1, args.max_context + 1, (1,)).item())
            ci, cl = sampler.sample(args.batch * chunk, s_n)  # [B*chunk,1+S,1,H,W]
            queue = list(zip(ci.split(args.batch), cl.split(args.batch)))
        img, lab = queue.pop(0)
        # one window size per batch (the batch is stacked); unchanged for 0 or a full-size entry
        # (a single size draws nothing, so single-size runs keep their random stream)
        crop = args.crop[int(torch.randint(len(args.crop), (1,)).item())] if len(args.crop) > 1 \
            else args.crop[0]
        img, lab = crop_tasks(img, lab, crop)
        tp1 = _sync_time(device, args.profile)
        rows_img, rows_lab, parts = [], [], []
        pairs = None
        n0 = 0
        if "mvs" in nets:
            ctx_lab = lab[:, 1:]
            if args.context_label_noise > 0:
                ctx_lab = degrade_labels(ctx_lab, args.context_label_noise)
            if args.context_from_unet > 0:
                own, sel = unet_context_labels(unet, img[:, 1:], lab[:, 1:], args.context_from_unet,
                                               args.context_unet_clicks, amp_dtype, device.type)
                # entries the UNet predicted take its mask; the others keep the degraded copy
                ctx_lab = torch.where(sel.view(*own.shape[:2], 1, 1, 1), own, ctx_lab)
            ctx = torch.cat([img[:, 1:], ctx_lab], 2)
            rows_img.append(img[:, 0])
            rows_lab.append(lab[:, 0])
            parts.append(("mvs", mvs, opt_mvs, slice(0, args.batch), ctx))
            n0 = args.batch
        if "sp" in nets:
            fi, fl = img.flatten(0, 1), lab.flatten(0, 1)
            area = fl.flatten(1).sum(1)
            ok = torch.nonzero((area >= 6) & (area <= 0.9 * fl[0].numel())).flatten()
            # a fixed batch size (drawn with replacement when short) keeps shapes static
            # with --flip-pairs half the rows are drawn, the other half their mirror images
            n_draw = args.unet_batch // 2 if args.flip_pairs > 0 else args.unet_batch
            ok = ok[torch.randint(0, ok.numel(), (n_draw,), device=device)]
            ri, rl = fi[ok], fl[ok]
            if args.flip_pairs > 0:
                dims = FLIPS[int(torch.randint(len(FLIPS), (1,)).item())]  # one flip per iteration
                ri, rl = torch.cat([ri, ri.flip(dims)]), torch.cat([rl, rl.flip(dims)])
                pairs = ("sp", n_draw, dims)
            rows_img.append(ri)
            rows_lab.append(rl)
            parts.append(("sp", unet, opt_sp, slice(n0, n0 + args.unet_batch), None))
        stats = interactive_step(parts, torch.cat(rows_img), torch.cat(rows_lab), args, amp_dtype, device.type,
                                 pairs=pairs, teacher=teacher, mean_teacher=mean_teacher)
        for k, v in stats.items():
            acc[k] += v
        for key, (avg, net, decay) in emas.items():
            if key in nets:
                ema_update(avg, net, decay)
        tp2 = _sync_time(device, args.profile)
        prof += np.array([tp1 - tp0, tp2 - tp1])
        acc_n += 1
        s_hist.append(s_n)
        it += 1
        if device.type == "cuda" and it % 10 == 0:
            torch.cuda.synchronize()
        it_time = (time.time() - t_it) if it_time == 0 else 0.9 * it_time + 0.1 * (time.time() - t_it)
        if it % args.log_every == 0:
            tnow = time.time()
            wall = wall_before + tnow - T0
            rate = (it - it_log) / (tnow - t_log)
            parts = [f"step {it:6d}", f"t={tnow - T0:6.1f}s", f"{rate:5.2f} it/s", f"S~{np.mean(s_hist):.1f}"]
            for k in ("mvs", "sp"):
                if k not in nets:
                    continue
                v = (acc[k] / acc_n).tolist()
                parts.append(f"{k} loss {v[0]:.4f} dice1 {v[1]:.3f} dice{args.steps} {v[2]:.3f}")
                cw.writerow([it, f"{wall:.1f}", k, f"{v[0]:.5f}", f"{v[1]:.4f}", f"{v[2]:.4f}", acc_n])
                acc[k].zero_()
            # the extra loss terms (flip: the UNet's; distill: the UNet's with --distill-flip,
            # MultiverSegNet's with --distill-mean): their mean per step with a loss (rows "flip"
            # and "distill" in loss.csv)
            for k, on in (("flip", args.flip_pairs > 0 and "sp" in nets), ("distill", teacher is not None or mean_teacher is not None)):
                if on:
                    v = acc[k][0].item() / (acc_n * args.steps)
                    parts.append(f"{k} {v:.4f}")
                    cw.writerow([it, f"{wall:.1f}", k, f"{v:.5f}", "", "", acc_n])
                    acc[k].zero_()
            parts.append(f"lr x{fac:.3f}")
            if args.profile:
                parts.append("ms/it data {:.0f} train {:.0f}".format(*(1e3 * prof / acc_n)))
                prof[:] = 0
            if device.type == "cuda":
                parts.append(f"mem {torch.cuda.max_memory_allocated(device) / 2**30:.1f}G")
            log(" | ".join(parts))
            csv_f.flush()
            acc_n = 0
            s_hist = []
            t_log, it_log = tnow, it
        if time.time() - last_save > 60.0 * args.save_minutes:
            save()
            last_save = time.time()
    save(final=True)
    csv_f.close()
    log(f"done: step {it}, this run {time.time() - T0:.1f} s "
        f"({it - first_it} iterations), total {wall_before + time.time() - T0:.1f} s")


if __name__ == "__main__":
    main()
