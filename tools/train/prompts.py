"""Batched simulation of user prompts (clicks, boxes, scribbles), on any device.

Prompt maps follow DESIGN.md section 3 (the network's target channels 1..3):
  box  -> channel 1, a filled rectangle (the label's bounding box, jittered);
  pos  -> channel 2, neg -> channel 3: a click is one pixel set to 1, a scribble
          a thin curve; both are added and clamped to [0, 1].
(DESIGN.md: a positive click also clears channel 3 at its pixel and vice versa.
Simulated positive prompts always lie on the label and negative ones off it, so
that never happens here.)
Functions take masks [N,1,H,W] in {0,1}; all prompt slots of a batch are drawn in
one batched call, so the number of kernel launches does not grow with N.
"""
import math

import numpy as np

import torch
import torch.nn.functional as F

from data import bern, dilate, urand


def dist_map(mask, iters=None):
    """Approximate (chessboard) distance to the region's edge, capped at iters
    (default a quarter of the image side).

    The image border does not count as an edge (like scipy's distance transform
    of the mask inside the array). A fixed number of steps (no data-dependent
    early exit) keeps the GPU queue free of synchronisations.
    """
    if iters is None:
        iters = max(4, mask.shape[-1] // 4)
    if mask.device.type == "cpu":
        return _dist_map_cpu(mask, iters)
    d = torch.zeros_like(mask)
    m = mask
    for _ in range(iters):
        d = d + m
        m = -F.max_pool2d(-m, 3, 1, 1)
    return d


def _per_image_cpu(mask, transform):
    """transform (a bool [H,W] array with some foreground -> a float [H,W] array) applied to
    each image of mask [N,1,H,W] on the CPU, one image at a time (scipy has no batch
    axis); images without foreground give 0."""
    m = mask.detach().numpy() > 0.5
    out = np.zeros(m.shape, dtype=np.float32)
    for i in range(m.shape[0]):
        if m[i, 0].any():
            out[i, 0] = transform(m[i, 0])
    return torch.from_numpy(out).to(mask.dtype)


def _dist_map_cpu(mask, iters):
    """dist_map on the CPU by scipy's chessboard distance transform: the same values (a
    pixel k chessboard steps from the nearest background pixel survives k - 1 erosions) at
    a small fraction of the cost of the iterated erosions there. With no background at all
    every pixel survives every erosion (iters)."""
    from scipy.ndimage import distance_transform_cdt
    return _per_image_cpu(mask, lambda mi: np.full(mi.shape, iters) if mi.all() else
                          np.minimum(distance_transform_cdt(mi, metric="chessboard"), iters))


def _sample_pixels(weight, valid=None):
    """One pixel per item drawn with probability ~ weight [N,1,H,W].

    Returns flat indices [N] and a validity mask [N] (False where weight is all 0).
    """
    n = weight.shape[0]
    w = weight.reshape(n, -1).float()
    tot = w.sum(1)
    ok = tot > 0
    if valid is not None:
        ok = ok & valid
    w = torch.where(ok[:, None], w, torch.ones_like(w))
    idx = torch.multinomial(w, 1).squeeze(1)
    return idx, ok


def _click_weights(region, d):
    """Mix of uniform-in-region clicks and clicks near the region's center."""
    n = region.shape[0]
    dev = region.device
    mode = torch.randint(0, 3, (n,), device=dev)[:, None, None, None]
    w = torch.where(mode == 0, region, torch.where(mode == 1, d, d ** 4))
    return w * region


def click_map(region, d, active):
    """One-pixel maps [N,1,H,W] of a click inside region (zero where inactive)."""
    n, _, h, w = region.shape
    idx, ok = _sample_pixels(_click_weights(region, d), active)
    on = torch.zeros(n, h * w, device=region.device)
    on.scatter_(1, idx[:, None], ok[:, None].float())
    return on.view(n, 1, h, w)


def _curve(start_idx, n_pts, h, w, dev):
    """Smooth random curves from flat start indices: [N, n_pts] flat pixel indices."""
    n = start_idx.shape[0]
    y0 = (start_idx // w).float()
    x0 = (start_idx % w).float()
    theta0 = urand(n, 0, 2 * math.pi, dev)
    curv = urand(n, -0.15, 0.15, dev)
    dth = 0.15 * torch.randn(n, n_pts, device=dev)
    dth = F.avg_pool1d(dth[:, None], 9, 1, 4, count_include_pad=False)[:, 0]
    th = theta0[:, None] + torch.cumsum(dth + curv[:, None], 1)
    # walk in both directions from the start point (a stroke through the start)
    half = n_pts // 2
    sgn = torch.ones(n, n_pts, device=dev)
    sgn[:, half:] = -1
    step = torch.cat([torch.cos(th) * sgn, torch.sin(th) * sgn], 0).view(2, n, n_pts)
    fw = torch.cumsum(step[:, :, :half], 2)
    bw = torch.cumsum(step[:, :, half:], 2)
    xs = torch.cat([x0[:, None] + fw[0], x0[:, None] + bw[0]], 1).round().clamp(0, w - 1).long()
    ys = torch.cat([y0[:, None] + fw[1], y0[:, None] + bw[1]], 1).round().clamp(0, h - 1).long()
    return ys * w + xs


def scribble(region, d, active):
    """One scribble inside region (a float map [N,1,H,W], zero where inactive).

    Two kinds, chosen per item: a smooth random stroke through an interior point,
    clipped to the region; or a piece of the region's medial axis (ridge of the
    distance map) within a random disc, like a centerline scribble.
    """
    n, _, h, w = region.shape
    dev = region.device
    idx, ok = _sample_pixels(region * (d ** 2), active)
    # random stroke
    n_pts = int(max(8, 0.6 * h))
    pts = _curve(idx, n_pts, h, w, dev)
    length = (urand(n, 0.1, 1.0, dev) * n_pts).long()
    keep = (torch.arange(n_pts, device=dev)[None] % (n_pts // 2)) < (length[:, None] // 2)
    stroke = torch.zeros(n, h * w, device=dev)
    stroke.scatter_(1, pts, keep.float())
    stroke = stroke.view(n, 1, h, w)
    # medial-axis piece
    cap = max(4, h // 4)
    ridge = ((d >= F.max_pool2d(d, 3, 1, 1)) & (region > 0) & (d < cap)).float()
    yy = torch.arange(h, device=dev).view(1, 1, h, 1).float()
    xx = torch.arange(w, device=dev).view(1, 1, 1, w).float()
    cy = (idx // w).float().view(n, 1, 1, 1)
    cx = (idx % w).float().view(n, 1, 1, 1)
    rad = (urand(n, 0.08, 0.5, dev) * h).view(n, 1, 1, 1)
    axis = ridge * (((yy - cy) ** 2 + (xx - cx) ** 2) <= rad ** 2).float()
    axis_ok = axis.flatten(1).sum(1) > 0
    kind = (bern(n, 0.5, dev) & axis_ok)[:, None, None, None]
    s = torch.where(kind, axis, stroke)
    # thickness 1 or 3 px, always inside the region
    thick = bern(n, 0.4, dev)[:, None, None, None]
    s = torch.where(thick, dilate(s, 1), s) * region
    # fall back to a single pixel when the scribble came out empty
    empty = s.flatten(1).sum(1) == 0
    dot = torch.zeros(n, h * w, device=dev)
    dot.scatter_(1, idx[:, None], 1.0)
    s = torch.where(empty[:, None, None, None], dot.view(n, 1, h, w) * region, s)
    return s * ok[:, None, None, None].float()


def prompt_maps(region, d, active, scribbles):
    """A click (where ~scribbles) or a scribble (where scribbles) inside region,
    for the active items; [N,1,H,W] in {0,1}."""
    c = click_map(region, d, active & ~scribbles)
    s = scribble(region, d, active & scribbles)
    return torch.where(scribbles[:, None, None, None], s, c)


def add_box(prompts, mask, active):
    """The label's bounding box, each side jittered by up to 10% of its extent."""
    n, _, h, w = mask.shape
    dev = mask.device
    rows = mask[:, 0].amax(2) > 0  # [N,H]
    cols = mask[:, 0].amax(1) > 0  # [N,W]
    ar_h = torch.arange(h, device=dev)
    ar_w = torch.arange(w, device=dev)
    y0 = torch.where(rows, ar_h, h).amin(1).float()
    y1 = torch.where(rows, ar_h, -1).amax(1).float() + 1
    x0 = torch.where(cols, ar_w, w).amin(1).float()
    x1 = torch.where(cols, ar_w, -1).amax(1).float() + 1
    eh, ew = (y1 - y0).clamp(min=1), (x1 - x0).clamp(min=1)
    j = 0.1
    y0 = (y0 + urand(n, -j, j, dev) * eh).floor().clamp(0, h - 1)
    y1 = (y1 + urand(n, -j, j, dev) * eh).ceil().clamp(1, h)
    x0 = (x0 + urand(n, -j, j, dev) * ew).floor().clamp(0, w - 1)
    x1 = (x1 + urand(n, -j, j, dev) * ew).ceil().clamp(1, w)
    y1 = torch.maximum(y1, y0 + 1)
    x1 = torch.maximum(x1, x0 + 1)
    box = ((ar_h[None, :, None] >= y0[:, None, None]) & (ar_h[None, :, None] < y1[:, None, None])
           & (ar_w[None, None, :] >= x0[:, None, None]) & (ar_w[None, None, :] < x1[:, None, None]))
    box = box & (active & rows.any(1))[:, None, None]
    prompts[:, 0:1] = torch.maximum(prompts[:, 0:1], box[:, None].float())


def initial_prompts(mask):
    """Step-1 prompts for masks [N,1,H,W]: returns [N,3,H,W] (box, pos, neg).

    Per item a prompt kind (clicks, box, scribbles); 1-3 positive prompts (a box
    counts as one; with a box the other prompts are clicks or scribbles at random)
    and 0-3 negative ones. Negatives are drawn from the whole background or, half
    of the time, from a band around the object. All prompt slots are simulated in
    one batched call (few kernel launches).
    """
    n, _, h, w = mask.shape
    dev = mask.device
    kind = torch.randint(0, 3, (n,), device=dev)  # 0 clicks, 1 box, 2 scribbles
    n_pos = torch.randint(1, 4, (n,), device=dev)
    n_neg = torch.randint(0, 4, (n,), device=dev)
    bg = 1 - mask
    band = dilate(mask, int(max(2, 0.08 * h))) * bg
    use_band = bern(n, 0.5, dev)[:, None, None, None] & (band.flatten(1).sum(1) > 0)[:, None, None, None]
    neg_region = torch.where(use_band, band, bg)
    d_pos, d_neg = dist_map(torch.cat([mask, neg_region])).split(n)
    is_box = kind == 1
    box = torch.zeros(n, 1, h, w, device=dev)
    add_box(box, mask, is_box)
    slot = torch.arange(3, device=dev)[:, None]  # [3,1]
    act_pos = (n_pos[None] > slot) & ~(is_box[None] & (slot == 0))
    act_neg = n_neg[None] > slot
    act = torch.cat([act_pos, act_neg]).flatten()  # [6N]
    scr = ((kind == 2)[None] | ((kind == 1)[None] & (torch.rand(6, n, device=dev) < 0.5))).flatten()
    regions = torch.cat([mask.repeat(3, 1, 1, 1), neg_region.repeat(3, 1, 1, 1)])
    dists = torch.cat([d_pos.repeat(3, 1, 1, 1), d_neg.repeat(3, 1, 1, 1)])
    maps = prompt_maps(regions, dists, act, scr).view(6, n, 1, h, w)
    pos = maps[:3].sum(0).clamp(max=1)
    neg = maps[3:].sum(0).clamp(max=1)
    return torch.cat([box, pos, neg], 1)


def correction_prompts(prompts, mask, logits, scribbles):
    """Adds 1-3 corrections from the error regions of the current prediction.

    False negatives -> positive prompts, false positives -> negative ones. Each
    correction picks the larger error region with probability 0.8 (else the
    other, if not empty). `scribbles` [N] bool: scribble or click corrections.
    Positive prompts always lie on the label and negative ones off it, so adding
    a click never has to clear the other channel. Returns a new tensor.
    """
    n, _, h, w = mask.shape
    dev = mask.device
    pred = (logits.detach() > 0).float()
    fn = mask * (1 - pred)
    fp = (1 - mask) * pred
    a_fn = fn.flatten(1).sum(1)
    a_fp = fp.flatten(1).sum(1)
    d_fn, d_fp = dist_map(torch.cat([fn, fp])).split(n)
    n_corr = torch.randint(1, 4, (n,), device=dev)
    big_fn = (a_fn >= a_fp)[None]
    pick_fn = torch.where(torch.rand(3, n, device=dev) < 0.8, big_fn, ~big_fn)
    pick_fn = torch.where((a_fp == 0)[None], True, pick_fn)
    pick_fn = torch.where((a_fn == 0)[None], False, pick_fn)
    act = (n_corr[None] > torch.arange(3, device=dev)[:, None]) & ((a_fn + a_fp) > 0)[None]
    sel = pick_fn.flatten()[:, None, None, None]
    regions = torch.where(sel, fn.repeat(3, 1, 1, 1), fp.repeat(3, 1, 1, 1))
    dists = torch.where(sel, d_fn.repeat(3, 1, 1, 1), d_fp.repeat(3, 1, 1, 1))
    maps = prompt_maps(regions, dists, act.flatten(), scribbles.repeat(3)).view(3, n, 1, h, w)
    pf = pick_fn[:, :, None, None, None].float()
    pos = (prompts[:, 1:2] + (maps * pf).sum(0)).clamp(max=1)
    neg = (prompts[:, 2:3] + (maps * (1 - pf)).sum(0)).clamp(max=1)
    return torch.cat([prompts[:, 0:1], pos, neg], 1)


def center_dist(region):
    """Euclidean distance [N,1,H,W] from each pixel of region to the nearest pixel outside it,
    pixels beyond the image border counting as outside, as the evaluation's center clicks
    measure it (crates/multiverseg/src/simulate/morph.rs `distance_inside`); 0 outside.

    On the CPU exact (scipy's distance_transform_edt of the zero-padded mask). On other
    devices an octagonal approximation (erosions alternating a 3x3 square and a cross, with
    the border as background), a fixed number of steps (no synchronisation).
    """
    if region.device.type == "cpu":
        from scipy.ndimage import distance_transform_edt
        return _per_image_cpu(region, lambda mi: distance_transform_edt(np.pad(mi, 1))[1:-1, 1:-1])
    return _center_dist_octagonal(region)


def _center_dist_octagonal(region):
    """center_dist off the CPU: erosions alternating a 3x3 square and a cross (an octagonal
    metric, within ~8% of the Euclidean one), the border as background."""
    h, w = region.shape[-2:]
    d = torch.zeros_like(region)
    m = region
    for k in range((max(h, w) + 1) // 2):
        d = d + m
        p = F.pad(m, (1, 1, 1, 1))  # zeros: the border is background
        if k % 2 == 0:
            m = -F.max_pool2d(-p, 3, 1, 0)
        else:
            m = torch.minimum(torch.minimum(p[..., 1:-1, :-2], p[..., 1:-1, 2:]),
                              torch.minimum(p[..., :-2, 1:-1], p[..., 2:, 1:-1])) * m
    return d


def center_click(region, d=None):
    """A one-pixel map [N,1,H,W] at the deepest point of each region (the maximum of its
    Euclidean distance map `center_dist`, ties broken at random), where the evaluation's
    center clicks land (DESIGN.md section 5; the evaluation takes the largest component's
    deepest point, which is the whole region's unless a smaller component is deeper).
    An earlier version used a chessboard distance with the first maximum in raster order:
    its clicks sat at the top-left end of an object's ridge, and networks trained on them
    learned to extend one click's mask down and to the right. Empty regions give an empty map."""
    n, _, h, w = region.shape
    if d is None:
        d = center_dist(region)
    flat = (d * region).reshape(n, -1)
    # ties at random: distinct distances (square roots of integers <= 2 * 128^2 in a 128
    # image) differ by more than 1e-3, so the jitter reorders none of them
    jitter = 1e-3 * torch.rand_like(flat) * (flat > 0)
    idx = (flat + jitter).argmax(1)
    on = torch.zeros(n, h * w, device=region.device)
    on.scatter_(1, idx[:, None], (flat.amax(1) > 0).float()[:, None])
    return on.view(n, 1, h, w)


# 4-connectivity, as the evaluation's components (crates/multiverseg/src/simulate/morph.rs)
FOUR = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def largest_component(region, on_device=None):
    """The largest 4-connected component [N,1,H,W] of each image of region [N,1,H,W], as the
    evaluation picks it (crates/multiverseg/src/simulate/mod.rs `largest_component`), ties at
    random; its area is its sum. On the CPU scipy's label; on other devices (or with
    on_device=True) `_largest_component_device` (no host synchronisation). Empty images give
    an empty map."""
    if on_device is None:
        on_device = region.device.type != "cpu"
    if on_device:
        return _largest_component_device(region)
    from scipy.ndimage import label

    def largest(mi):
        lab, _ = label(mi, FOUR)
        counts = np.bincount(lab.ravel())[1:]
        best = np.flatnonzero(counts == counts.max())
        return lab == best[int(torch.randint(len(best), ()))] + 1
    return _per_image_cpu(region, largest)


def _run_max(lab, m):
    """Every pixel of each horizontal run of m [N,H,W] (bool) gets the run's largest lab."""
    n = lab.shape[0]
    start = m & ~F.pad(m, (1, 0))[..., :-1]
    run = torch.cumsum(start.flatten(1).long(), 1) * m.flatten(1).long()
    top = torch.zeros(n, run.shape[1] + 1, device=lab.device, dtype=lab.dtype)
    top = top.scatter_reduce(1, run, lab.flatten(1), "amax")
    return torch.where(m, top.gather(1, run).view_as(lab), lab)


def component_labels(region, sweeps=None):
    """4-connected component labels [N,1,H,W] of region [N,1,H,W] with a fixed number of
    device operations: every pixel starts with its own index + 1; each sweep gives every
    horizontal run, then every vertical run, its largest label, and then lets each pixel take
    the label of the pixel its label names (pointer jumping). A component ends with the
    largest index in it once the sweeps suffice: the selftest's blobs at 128 x 128 need up to
    16 and a spiral of width 6 needs 12; sizes scale the need (a 256 spiral 32), and a thin
    spiral of width 2 needs 48 at 128. Too few leave a component split in parts, so its area
    is underestimated. Default: 32 per 128 pixels of the longer side. 0 outside the region."""
    n, _, h, w = region.shape
    if sweeps is None:
        sweeps = 32 * -(-max(h, w) // 128)
    m = region[:, 0] > 0.5
    idx = torch.arange(1, h * w + 1, device=region.device, dtype=torch.float32).view(1, h, w)
    lab = torch.where(m, idx, torch.zeros((), device=region.device))
    mt = m.transpose(1, 2).contiguous()
    for _ in range(sweeps):
        lab = _run_max(lab, m)
        lab = _run_max(lab.transpose(1, 2).contiguous(), mt).transpose(1, 2).contiguous()
        flat = lab.view(n, -1)
        named = flat.gather(1, (flat - 1).clamp(min=0).long()).view_as(lab)
        lab = torch.where(m, torch.maximum(lab, named), lab)
    return lab[:, None]


def _largest_component_device(region, sweeps=None):
    """largest_component with component_labels: no host synchronisation, ties at random."""
    n = region.shape[0]
    lab = component_labels(region, sweeps).flatten(1).long()
    inside = lab > 0
    area = torch.zeros(n, lab.shape[1] + 1, device=region.device).scatter_add(1, lab, inside.float())
    own = area.gather(1, lab) * inside
    best = own.amax(1, keepdim=True)
    # one random score per label, so that every tied component is equally likely
    score = torch.rand(n, lab.shape[1] + 1, device=region.device).gather(1, lab)
    at = torch.where((own == best) & inside, score, torch.full_like(score, -1.0)).argmax(1, keepdim=True)
    pick = lab.gather(1, at)
    return ((lab == pick) & inside).to(region.dtype).view_as(region)


def initial_center_click(mask, exact=True):
    """The evaluation's first step: one positive click at the deepest point of the label's
    largest 4-connected component (`exact`, the default). `exact=False` takes the whole
    label's deepest point, which lies in another component when that one is deeper but
    smaller (the rule before 2026-12-03). Returns [N,3,H,W] (box, pos, neg)."""
    z = torch.zeros_like(mask)
    region = largest_component(mask) if exact else mask
    return torch.cat([z, center_click(region), z], 1)


def correction_center_click(prompts, mask, logits, exact=True):
    """The evaluation's correction (DESIGN.md section 5): one click at the deepest point of
    the largest error component (false negatives -> positive, false positives -> negative).
    `exact` (the default) labels the components as the evaluation does
    (simulate::largest_error; scipy on the CPU, `component_labels` elsewhere); `exact=False`
    is the rule before 2026-12-03: the error type with the larger total area, clicked at the
    deepest point of all its pixels. On the nine real training tasks the second rule clicks
    another region than the first in 68% of version 6's UNet correction steps
    (`tools/train/click_rule_check.py`). Where the prediction is already exact nothing is
    added. Returns a new [N,3,H,W] tensor."""
    pred = (logits.detach() > 0).float()
    fn = mask * (1 - pred)
    fp = (1 - mask) * pred
    n = mask.shape[0]
    if exact:
        # the larger of the largest false-negative and the largest false-positive
        # 4-connected component (ties at random), clicked at its own deepest point
        comps = largest_component(torch.cat([fn, fp]))
        a_fn, a_fp = comps.flatten(1).sum(1).split(n)
        coin = torch.rand(n, dtype=torch.float64, device=a_fn.device) < 0.5
        use_fn = ((a_fn > a_fp) | ((a_fn == a_fp) & coin))[:, None, None, None]
        c = center_click(torch.where(use_fn, comps[:n], comps[n:]))
    else:
        d_fn, d_fp = center_dist(torch.cat([fn, fp])).split(n)
        use_fn = (fn.flatten(1).sum(1) >= fp.flatten(1).sum(1))[:, None, None, None]
        c = center_click(torch.where(use_fn, fn, fp), torch.where(use_fn, d_fn, d_fp))
    pos = torch.where(use_fn, (prompts[:, 1:2] + c).clamp(max=1), prompts[:, 1:2])
    neg = torch.where(use_fn, prompts[:, 2:3], (prompts[:, 2:3] + c).clamp(max=1))
    return torch.cat([prompts[:, 0:1], pos, neg], 1)
