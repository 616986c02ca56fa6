"""Training tasks for MultiverSeg-style in-context segmentation, made on the fly.

A *task* is a set of related images with one binary label each: image 0 is the
target, images 1..S the context. Three sources, all producing tensors on the
training device (generation runs on the GPU when training does):

* ``synth``: fully synthetic. A task draws a "style" (shape family, size,
  intensities, texture spectrum, blur, noise, distractor objects); its images are
  that style under different random deformations and noise.
* ``superpixel``: one real unlabeled image, one of its superpixels as the label
  (SLIC / Felzenszwalb, computed once at startup); the task's images are strong
  random augmentations of that one image.
* ``real``: task folders ``<data>/<task>/{images,masks}/<id>.png``; a task draws
  1+S of its images (with replacement when it has fewer).

All images are grayscale in [0, 1] (min-max per image, as the library's default
preprocessing does) at ``size`` x ``size``; labels are {0, 1}. Randomness comes
from torch's global generators only (CPU and the device's), so saving their
states makes a run resumable.
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

# scikit-image sample images that ship inside the wheel and whose docstrings state
# public domain or CC0 (checked in skimage.data's docstrings, scikit-image 0.26):
# (file name, short description, license as stated upstream).
SKIMAGE_IMAGES = [
    ("astronaut.png", "astronaut Eileen Collins (NASA)", "public domain (NASA)"),
    ("brick.png", "brick wall texture (CC0Textures)", "CC0"),
    ("camera.png", "camera man (Lav Varshney)", "CC0"),
    ("cell.png", "cell, quantitative phase image (Paul Mueller)", "CC0"),
    ("chelsea.png", "Chelsea the cat (Stefan van der Walt)", "CC0"),
    ("clock_motion.png", "motion-blurred clock (Stefan van der Walt)", "public domain"),
    ("coffee.png", "coffee cup (Rachel Michetti)", "CC0"),
    ("grass.png", "grass texture (DeviantArt linolafett)", "CC0"),
    ("gravel.png", "gravel texture (CC0Textures)", "CC0"),
    ("horse.png", "horse silhouette (openclipart, Andreas Preuss)", "CC0"),
    ("hubble_deep_field.jpg", "Hubble eXtreme Deep Field (NASA)", "public domain (NASA)"),
    ("microaneurysms.png", "retina crop, HRF database (Andreas Maier)", "CC0"),
    ("retina.jpg", "fundus photograph (Mikael Haggstrom, Wikimedia)", "CC0 1.0"),
    ("rocket.jpg", "DSCOVR launch (SpaceX)", "public domain (SpaceX)"),
    ("text.png", "corner test image (Wikipedia)", "public domain"),
]
# Left out on purpose (license not stated as PD/CC0 in the docstring, or not in the
# wheel): coins, moon, page, immunohistochemistry, logo, lfw_subset, phantom,
# chessboard, color, motorcycle, kidney/lily/skin/... (downloaded on demand).

OCTAVES = (2, 4, 8, 16, 32)


# ----------------------------------------------------------------------------
# Small batched image operations (device-agnostic)
# ----------------------------------------------------------------------------

def urand(n, lo, hi, device):
    return lo + (hi - lo) * torch.rand(n, device=device)


def bern(n, p, device):
    return torch.rand(n, device=device) < p


def spectrum_weights(n, device, lo=0.0, hi=len(OCTAVES) - 1.0):
    """Per-item octave weights peaked at a random octave (a texture "scale")."""
    peak = urand(n, lo, hi, device)
    o = torch.arange(len(OCTAVES), device=device, dtype=torch.float32)
    w = torch.exp(-((o[None] - peak[:, None]) ** 2) / (2 * 0.7 ** 2)) + 0.03
    return w / w.sum(1, keepdim=True)


def fractal_noise(weights, size):
    """Smooth random fields [n,1,size,size], zero mean, unit std per item."""
    n = weights.shape[0]
    dev = weights.device
    out = torch.zeros(n, 1, size, size, device=dev)
    for o, c in enumerate(OCTAVES):
        c = min(c, size // 2)
        z = torch.randn(n, 1, c + 1, c + 1, device=dev)
        out = out + weights[:, o, None, None, None] * F.interpolate(
            z, size=(size, size), mode="bicubic", align_corners=True)
    out = out - out.mean(dim=(1, 2, 3), keepdim=True)
    return out / (out.std(dim=(1, 2, 3), keepdim=True) + 1e-6)


def gaussian_blur(x, sigma, kmax=13):
    """Per-item Gaussian blur of x [n,1,H,W] with sigma [n] (pixels, <= 2)."""
    n, _, h, w = x.shape
    r = kmax // 2
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    s = sigma.clamp(min=1e-3)[:, None].to(x.dtype)
    g = torch.exp(-(t[None] ** 2) / (2 * s ** 2))
    g = g / g.sum(1, keepdim=True)
    y = F.pad(x.reshape(1, n, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, g.view(n, 1, -1, 1), groups=n)
    y = F.conv2d(y, g.view(n, 1, 1, -1), groups=n)
    return y.view(n, 1, h, w)


def erode(m, r=1):
    return -F.max_pool2d(-m, 2 * r + 1, 1, r)


def dilate(m, r=1):
    return F.max_pool2d(m, 2 * r + 1, 1, r)


def affine(n, device, rot=0.0, scale=(1.0, 1.0), aniso=0.0, shear=0.0, trans=0.0,
           flip=False, rot90=False):
    """Random 3x3 affine matrices [n,3,3] mapping output to input coordinates."""
    a = urand(n, -rot, rot, device)
    if rot90:
        a = a + (math.pi / 2) * torch.randint(0, 4, (n,), device=device)
    ls = urand(n, math.log(scale[0]), math.log(scale[1]), device)
    la = urand(n, -aniso, aniso, device)
    sx, sy = torch.exp(ls + la), torch.exp(ls - la)
    sh = urand(n, -shear, shear, device)
    if flip:
        sx = sx * torch.where(bern(n, 0.5, device), -1.0, 1.0)
        sy = sy * torch.where(bern(n, 0.5, device), -1.0, 1.0)
    c, s = torch.cos(a), torch.sin(a)
    m = torch.zeros(n, 3, 3, device=device)
    # R @ Shear @ S
    m[:, 0, 0] = c * sx
    m[:, 0, 1] = (c * sh - s) * sy
    m[:, 1, 0] = s * sx
    m[:, 1, 1] = (s * sh + c) * sy
    m[:, 0, 2] = urand(n, -trans, trans, device)
    m[:, 1, 2] = urand(n, -trans, trans, device)
    m[:, 2, 2] = 1.0
    return m


def elastic(n, size, amp, device, cells=5):
    """Smooth displacement fields [n,size,size,2] (normalized units), amp [n]."""
    d = torch.randn(n, 2, cells, cells, device=device)
    d = F.interpolate(d, size=(size, size), mode="bicubic", align_corners=True)
    return d.permute(0, 2, 3, 1) * amp[:, None, None, None]


def warp(x, m, size, disp=None, mode="bilinear", padding="zeros"):
    """Resample x [n,C,h,w] to [n,C,size,size] through affine m [n,3,3] (+disp)."""
    grid = F.affine_grid(m[:, :2, :], (x.shape[0], x.shape[1], size, size), align_corners=False)
    if disp is not None:
        grid = grid + disp
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=False)


def minmax(x):
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp(min=1e-6)


def per_task(v, k):
    """Repeat per-task values [B,...] for the k images of each task -> [B*k,...]."""
    return v.repeat_interleave(k, dim=0)


def intensity_aug(img, k, strength=1.0):
    """Task-level and within-task intensity augmentation of img [B*k,1,H,W]."""
    n = img.shape[0]
    b = n // k
    dev = img.device
    x = minmax(img)
    # task level: inversion and gamma shared by all images of a task
    inv = per_task(bern(b, 0.15, dev), k)
    x = torch.where(inv[:, None, None, None], 1.0 - x, x)
    g_task = per_task(torch.exp(urand(b, -0.4, 0.4, dev) * strength), k)
    # within task: gamma jitter, contrast/brightness, blur, noise
    g = g_task * torch.exp(urand(n, -0.15, 0.15, dev) * strength)
    x = x.clamp(min=0).pow(g[:, None, None, None])
    x = x * urand(n, 1 - 0.2 * strength, 1 + 0.2 * strength, dev)[:, None, None, None] \
        + urand(n, -0.1, 0.1, dev)[:, None, None, None] * strength
    sig = torch.where(bern(n, 0.3, dev), urand(n, 0.0, 1.0, dev), torch.zeros(n, device=dev))
    x = gaussian_blur(x, sig)
    ns = torch.where(bern(n, 0.5, dev), urand(n, 0.0, 0.05 * strength, dev), torch.zeros(n, device=dev))
    x = x + ns[:, None, None, None] * torch.randn_like(x)
    return minmax(x)


# ----------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------

def distractor_intensity(u, fg, cmin):
    """The many-object family's distractor intensity [b] (and, in the ring source, a filled
    hole's): the uniform draw u in [0, 1] mapped
    monotonically onto [0, fg - cmin] and [fg + cmin, 1] (within [0, 1]; fg may lie a little
    outside it), so uniform over the intensities at least cmin from the label's fg. Where
    no such intensity exists (not produced by `SynthSource.sample`, whose fg is at least cmin
    from a background in [0, 1]) u is returned. Run many3 (2026-12-05) used a first version that
    moved a too-close draw to fg +- cmin, which is the background's intensity whenever fg had
    itself been moved away from the background: about 30% of its tasks had distractors at the
    background's intensity, told apart only by texture and noise."""
    lo_len = (fg - cmin).clamp(0.0, 1.0)
    hi_start = (fg + cmin).clamp(0.0, 1.0)
    total = lo_len + (1.0 - hi_start)
    t = u * total
    d = torch.where(t < lo_len, t, hi_start + (t - lo_len))
    return torch.where(total > 0, d, u)


class SynthSource:
    name = "synth"

    def __init__(self, size, device, many=False, rings=False):
        """many=True: every task is of the many-objects family (see `_many_field`); the
        `multi` entry of TaskSampler's mix. rings=True: every task is of the ring family (a
        band around a hole, in 60% of tasks a hole with its own appearance, as cytoplasm around
        a nucleus); the `ring` entry of the mix, which adds ring tasks without changing the
        other families' share within `synth` (a quarter of it). Not both."""
        if many and rings:
            raise ValueError("SynthSource: many and rings exclude each other")
        self.size = size
        self.device = device
        self.many = many
        self.rings = rings
        lin = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size * 2 - 1
        self.yy, self.xx = torch.meshgrid(lin, lin, indexing="ij")

    def _polar_field(self, b, ring):
        dev = self.device
        cx, cy = urand(b, -0.45, 0.45, dev), urand(b, -0.45, 0.45, dev)
        r0 = torch.exp(urand(b, math.log(0.1), math.log(0.6), dev))
        dx = self.xx[None] - cx[:, None, None]
        dy = self.yy[None] - cy[:, None, None]
        rho = torch.sqrt(dx ** 2 + dy ** 2)
        th = torch.atan2(dy, dx)
        r = torch.ones_like(rho)
        for kk in range(2, 6):
            a = urand(b, 0.0, 0.3 / kk ** 0.7, dev)
            ph = urand(b, 0.0, 2 * math.pi, dev)
            r = r + a[:, None, None] * torch.cos(kk * th + ph[:, None, None])
        r = r.clamp(min=0.3) * r0[:, None, None]
        f = (r - rho) / r0[:, None, None]
        if not ring:
            return f[:, None], None, None
        # Inner radius q r: rings from thick (q = 0.45) to thin (q = 0.92, a band of 8% of the
        # radius; white-blood-cell cytoplasm around its nucleus is about that), but the band
        # stays at least about 2 px wide at 128 x 128 (0.035 in these units, 1 = 64 px): thinner
        # bands on small rings broke into specks.
        qmax = (1 - 0.035 / r0).clamp(0.5, 0.92)
        q = (0.45 + torch.rand(b, device=dev) * (qmax - 0.45))[:, None, None]
        hole = (q * r - rho) / r0[:, None, None]
        return torch.minimum(f, -hole)[:, None], hole[:, None], q[:, 0, 0]

    def _many_field(self, b, k, m=64):
        """Many small objects per image (nuclei, cells, worms cut short): a field [b*k, 1, H, W]
        positive inside any of the image's ellipses, scattered anew in every image (a task draws
        a count of 4-60, each image 0.7-1.3 times it, within 2-64), with a task-level radius
        (0.03-0.15, 1 = half the image; each object 0.7-1.3 times it) and elongation, and a
        second field of the same kind, with half as many objects, for distractors (their
        intensity differs from the label's by at least the task's foreground/background
        contrast, `distractor_intensity`; for runs many1/many2 of weights/MODEL_HISTORY.md it was drawn
        independently and was sometimes close to it). Why: on the BBBC038 nuclei the UNet
        trained on the four other families segments the clicked object only and never spreads
        to the others (weights/MODEL_HISTORY.md, "What the first clicks do")."""
        dev = self.device
        n = b * k
        r0 = per_task(torch.exp(urand(b, math.log(0.03), math.log(0.15), dev)), k)
        el = per_task(urand(b, 1.0, 1.8, dev), k)
        count = per_task(torch.exp(urand(b, math.log(4.0), math.log(60.0), dev)), k)
        count = (count * urand(n, 0.7, 1.3, dev)).clamp(2, m)
        out = []
        for which in range(2):
            cx, cy = urand(n * m, -1.0, 1.0, dev).view(n, m), urand(n * m, -1.0, 1.0, dev).view(n, m)
            r = r0[:, None] * urand(n * m, 0.7, 1.3, dev).view(n, m)
            th = urand(n * m, 0.0, math.pi, dev).view(n, m)
            a, c = r * el[:, None].sqrt(), r / el[:, None].sqrt()
            dx = self.xx[None, None] - cx[..., None, None]
            dy = self.yy[None, None] - cy[..., None, None]
            u = (dx * th.cos()[..., None, None] + dy * th.sin()[..., None, None]) / a[..., None, None]
            v = (-dx * th.sin()[..., None, None] + dy * th.cos()[..., None, None]) / c[..., None, None]
            f = 1 - torch.sqrt(u ** 2 + v ** 2)
            keep = torch.arange(m, device=dev)[None] < (count if which == 0 else count * 0.5)[:, None]
            f = torch.where(keep[..., None, None], f, torch.full_like(f, -1.0))
            out.append(f.amax(1, keepdim=True))
        return out[0], out[1]

    def sample(self, b, k):
        dev, size = self.device, self.size
        n = b * k
        # --- task-level label field ("shape family")
        fam = torch.randint(0, 4, (b,), device=dev)  # 0 blobs, 1 polar, 2 ring, 3 tubes
        if self.many:
            fam = torch.full_like(fam, 4)  # 4 many objects, drawn per image below
        if self.rings:
            fam = torch.full_like(fam, 2)  # the same draws follow; only the family is fixed
        spec = spectrum_weights(b, dev, 0.0, 2.5)
        base = fractal_noise(spec, size)
        tau = urand(b, 0.0, 1.8, dev)[:, None, None, None]
        blob = base - tau
        width = urand(b, 0.06, 0.4, dev)[:, None, None, None]
        tube = width - fractal_noise(spectrum_weights(b, dev, 0.3, 2.0), size).abs()
        field = torch.where((fam == 0)[:, None, None, None], blob, tube)
        field = torch.where((fam == 1)[:, None, None, None], self._polar_field(b, False)[0], field)
        ring, hole, q = self._polar_field(b, True)
        field = torch.where((fam == 2)[:, None, None, None], ring, field)
        dfield = fractal_noise(spectrum_weights(b, dev, 0.0, 3.0), size) - urand(b, 0.5, 2.0, dev)[:, None, None, None]
        has_d = bern(b, 0.5, dev)
        # In 60% of the ring tasks the hole is an object of its own (the distractor's
        # appearance), as a nucleus inside its cytoplasm: the label is the ring, not the disk.
        filled = (fam == 2) & bern(b, 0.6, dev)
        dfield = torch.where(filled[:, None, None, None], hole, dfield)
        has_d = torch.where(filled, torch.ones_like(has_d), has_d)
        # --- per-image geometry: task transform then a smaller per-image one
        mt = per_task(affine(b, dev, rot=math.pi, scale=(0.85, 1.2), aniso=0.15, flip=True), k)
        mi = affine(n, dev, rot=0.25, scale=(0.85, 1.15), aniso=0.08, shear=0.08, trans=0.12)
        m = mt @ mi
        disp = elastic(n, size, urand(n, 0.0, 0.05, dev), dev)
        f2 = warp(torch.cat([per_task(field, k), per_task(dfield, k)], 1), m, size, disp, padding="reflection")
        if self.many:
            # objects scattered anew in each image: no task-level warp; distractor objects
            # (the second appearance) in half the tasks, as has_d below decides
            f2 = torch.cat(self._many_field(b, k), 1)
        eps = per_task(urand(b, 0.0, 0.35, dev), k)[:, None, None, None]
        jitter = fractal_noise(per_task(spec, k), size)
        # The contour jitter scales with the structure's thickness (tubes: their width; rings:
        # their band, whose field peaks at (1 - q) / 2), or it would break thin ones apart.
        jscale = torch.where(fam == 2, 0.5 * (1 - q), torch.full_like(q, 0.5))
        jscale = torch.where(fam == 3, width[:, 0, 0, 0], jscale)
        # small objects: a jitter of half their radius would shatter them
        jscale = per_task(torch.where(fam == 4, torch.full_like(q, 0.15), jscale), k)
        lab = (f2[:, :1] + eps * jscale[:, None, None, None] * jitter > 0).float()
        dis = ((f2[:, 1:] > 0) & per_task(has_d, k)[:, None, None, None]).float()
        # --- task-level appearance
        mu = urand(3 * b, 0.0, 1.0, dev).view(b, 3)  # bg, fg, distractor
        cmin = urand(b, 0.12, 0.6, dev)
        diff = mu[:, 1] - mu[:, 0]
        sign = torch.where(diff >= 0, 1.0, -1.0)
        fg = torch.where(diff.abs() < cmin, mu[:, 0] + sign * cmin, mu[:, 1])
        fg = torch.where((fg > 1) | (fg < 0), mu[:, 0] - sign * cmin, fg)
        dmu = mu[:, 2]
        if self.many:
            # Many-object tasks: unlabelled look-alikes would teach "do not spread to objects
            # like the clicked one", the opposite of the family's purpose, so the distractors
            # differ from the label's intensity by at least the task's fg/bg contrast (cmin;
            # the same draw, no new one, so the other families' streams are unchanged).
            dmu = distractor_intensity(dmu, fg, cmin)
        if self.rings:
            # The ring source only (synth's stream stays as it was): a filled hole is drawn at
            # least the task's contrast away from the ring, or in about 15% of those tasks the
            # label was a ring on what looked like a solid disk (the review of 2026-12-06).
            dmu = torch.where(filled, distractor_intensity(dmu, fg, cmin), dmu)
        mu = torch.stack([mu[:, 0], fg, dmu], 1)
        rim_p = bern(b, 0.25, dev)
        rim_v = urand(b, 0.0, 1.0, dev)
        tex_amp = urand(3 * b, 0.0, 0.25, dev).view(b, 3)
        tex_spec = spectrum_weights(b, dev, 1.0, 4.0)
        # --- render
        mu_n = per_task(mu, k) + 0.04 * torch.randn(n, 3, device=dev)
        amp_n = per_task(tex_amp, k)
        ts = per_task(tex_spec, k)
        img = mu_n[:, 0, None, None, None] + amp_n[:, 0, None, None, None] * fractal_noise(ts, size)
        dimg = mu_n[:, 2, None, None, None] + amp_n[:, 2, None, None, None] * fractal_noise(ts, size)
        fimg = mu_n[:, 1, None, None, None] + amp_n[:, 1, None, None, None] * fractal_noise(ts, size)
        img = torch.where(dis > 0, dimg, img)
        img = torch.where(lab > 0, fimg, img)
        rim = (lab - erode(lab, 1)) * per_task(rim_p, k)[:, None, None, None]
        img = torch.where(rim > 0, per_task(rim_v, k)[:, None, None, None], img)
        bias = 1 + per_task(urand(b, 0.0, 0.3, dev), k)[:, None, None, None] * fractal_noise(
            spectrum_weights(n, dev, 0.0, 1.0), size)
        img = img * bias
        img = gaussian_blur(img, per_task(urand(b, 0.0, 1.5, dev), k))
        img = img + per_task(urand(b, 0.0, 0.08, dev), k)[:, None, None, None] * torch.randn_like(img)
        return minmax(img), lab


def _to_square(a, pad_value=0.0):
    """Zero-pad a 2D numpy array to a square at the bottom/right, as the library does
    (DESIGN.md section 3), so that padded training images look like padded inputs."""
    h, w = a.shape
    s = max(h, w)
    out = np.full((s, s), pad_value, dtype=a.dtype)
    out[:h, :w] = a
    return out


def _resize(a, r):
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(r, r), mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()


def _load_gray(path):
    from PIL import Image
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def find_tasks(data_dir):
    """Task folders under data_dir that hold images/ and masks/ with matching PNGs."""
    tasks = []
    if not data_dir or not os.path.isdir(data_dir):
        return tasks
    for name in sorted(os.listdir(data_dir)):
        d = os.path.join(data_dir, name)
        im_d, mk_d = os.path.join(d, "images"), os.path.join(d, "masks")
        if not (os.path.isdir(im_d) and os.path.isdir(mk_d)):
            continue
        ids = sorted(f for f in os.listdir(im_d) if f.lower().endswith(".png")
                     and os.path.exists(os.path.join(mk_d, f)))
        if ids:
            tasks.append((name, [os.path.join(im_d, f) for f in ids], [os.path.join(mk_d, f) for f in ids]))
    return tasks


class RealSource:
    name = "real"

    def __init__(self, tasks, size, device):
        self.size = size
        self.device = device
        self.res = 2 * size
        self.images, self.masks, self.names = [], [], []
        for name, ims, mks in tasks:
            ti, tm = [], []
            for pi, pm in zip(ims, mks):
                im = _load_gray(pi)
                mk = (_load_gray(pm) > 0.5).astype(np.float32)
                ti.append(_resize(_to_square(im), self.res))
                tm.append(_resize(_to_square(mk), self.res))
            self.images.append(torch.tensor(np.stack(ti))[:, None].to(device))
            self.masks.append(torch.tensor(np.stack(tm))[:, None].to(device))
            self.names.append(name)

    def __len__(self):
        return len(self.images)

    def sample(self, b, k):
        dev, size = self.device, self.size
        n = b * k
        ti = torch.randint(0, len(self.images), (b,)).tolist()
        imgs, labs = [], []
        for t in ti:
            m = self.images[t].shape[0]
            if m >= k:
                idx = torch.randperm(m)[:k]
            else:
                idx = torch.cat([torch.randperm(m) for _ in range(-(-k // m))])[:k]
            idx = idx.to(dev)
            imgs.append(self.images[t][idx])
            labs.append(self.masks[t][idx])
        img = torch.cat(imgs)
        lab = torch.cat(labs)
        mt = per_task(affine(b, dev, rot=0.35, scale=(0.85, 1.2), aniso=0.1, trans=0.1, flip=True), k)
        mi = affine(n, dev, rot=0.15, scale=(0.9, 1.1), aniso=0.05, shear=0.05, trans=0.05)
        disp = elastic(n, size, urand(n, 0.0, 0.03, dev), dev)
        out = warp(torch.cat([img, lab], 1), mt @ mi, size, disp)
        return out[:, :1], (out[:, 1:] > 0.5).float()


class SuperpixelSource:
    name = "superpixel"

    def __init__(self, images, size, device, log=print, min_contrast=0.3, cache=None):
        """images: list of (name, 2D float numpy array in [0,1]). cache: a file that keeps
        the segmentations between runs (computing them takes minutes on a small CPU); it is
        used only when it was made from the same image names, size and contrast."""
        self.size = size
        self.device = device
        key = {"names": [n for n, _ in images], "size": size, "min_contrast": min_contrast}
        if cache and os.path.exists(cache):
            st = torch.load(cache, map_location="cpu", weights_only=False)
            if st.get("key") == key:
                for k in ("bank", "segs", "seg_img", "c_seg", "c_id", "c_cy", "c_cx", "c_ext"):
                    setattr(self, k, st[k].to(device))
                self.res = 2 * size
                self.n_images = self.bank.shape[0]
                log(f"superpixels: {self.n_images} image crops, {self.c_seg.numel()} segments from {cache}")
                return
        self._build(images, size, device, log, min_contrast)
        if cache:
            st = {k: getattr(self, k).cpu() for k in ("bank", "segs", "seg_img", "c_seg", "c_id", "c_cy",
                                                      "c_cx", "c_ext")}
            st["key"] = key
            torch.save(st, cache + ".tmp")
            os.replace(cache + ".tmp", cache)

    def _build(self, images, size, device, log, min_contrast):
        from scipy.ndimage import find_objects
        from skimage.segmentation import felzenszwalb, slic
        self.size = size
        self.device = device
        r = self.res = 2 * size
        bank, segs, seg_img = [], [], []
        cand = []  # (seg index, segment id, cy, cx, half extent) in normalized coords
        rng = np.random.default_rng(0)
        for name, a in images:
            crops = [_to_square(a) if min(a.shape) * 1.6 < max(a.shape) else self._center_square(a)]
            if min(a.shape) >= 2 * r:  # large images: add two zoomed-in crops
                for _ in range(2):
                    c = int(min(a.shape) * rng.uniform(0.35, 0.6))
                    y0 = rng.integers(0, a.shape[0] - c + 1)
                    x0 = rng.integers(0, a.shape[1] - c + 1)
                    crops.append(a[y0:y0 + c, x0:x0 + c])
            for c in crops:
                im = np.clip(_resize(c, r), 0, 1)
                if im.std() < 0.02:
                    continue
                bi = len(bank)
                bank.append(im)
                settings = [("slic", dict(n_segments=24, compactness=0.1)),
                            ("slic", dict(n_segments=80, compactness=0.1)),
                            ("fz", dict(scale=150, sigma=0.8, min_size=r * r // 300)),
                            ("fz", dict(scale=500, sigma=0.8, min_size=r * r // 150))]
                for kind, kw in settings:
                    if kind == "slic":
                        lab = slic(im, channel_axis=None, start_label=0, **kw)
                    else:
                        lab = felzenszwalb(im, **kw)
                    si = len(segs)
                    segs.append(lab.astype(np.int32))
                    seg_img.append(bi)
                    lab1 = lab.astype(np.int64) - lab.min()
                    counts = np.bincount(lab1.ravel())
                    yy, xx = np.mgrid[0:r, 0:r]
                    sy = np.bincount(lab1.ravel(), weights=yy.ravel())
                    sx = np.bincount(lab1.ravel(), weights=xx.ravel())
                    boxes = find_objects(lab1 + 1)
                    for sid, cnt in enumerate(counts):
                        if not (0.004 <= cnt / lab.size <= 0.35) or boxes[sid] is None:
                            continue
                        ys, xs = boxes[sid]
                        cy = (sy[sid] / cnt + 0.5) / r * 2 - 1
                        cx = (sx[sid] / cnt + 0.5) / r * 2 - 1
                        ext = max(ys.stop - ys.start, xs.stop - xs.start) / r  # fraction of the side
                        cand.append((si, int(sid + lab.min()), cy, cx, ext))
        self.n_images = len(bank)
        self.bank = torch.tensor(np.stack(bank))[:, None].to(device)
        self.segs = torch.tensor(np.stack(segs)).to(device)
        self.seg_img = torch.tensor(seg_img, device=device)
        c = np.array(cand, dtype=np.float64)
        # drop segments that do not stand out from their surroundings (texture
        # patches with arbitrary borders): |mean inside - mean of a ring around|
        # must be at least min_contrast image standard deviations.
        keep = self._contrast(bank, segs, seg_img, c, device) >= min_contrast
        log(f"superpixels: kept {int(keep.sum())} of {len(c)} candidate segments "
            f"(contrast >= {min_contrast} std)")
        c = c[keep]
        self.c_seg = torch.tensor(c[:, 0], dtype=torch.long, device=device)
        self.c_id = torch.tensor(c[:, 1], dtype=torch.int32, device=device)
        self.c_cy = torch.tensor(c[:, 2], dtype=torch.float32, device=device)
        self.c_cx = torch.tensor(c[:, 3], dtype=torch.float32, device=device)
        self.c_ext = torch.tensor(c[:, 4], dtype=torch.float32, device=device)
        log(f"superpixels: {self.n_images} image crops at {r}px, {len(segs)} segmentations, "
            f"{len(c)} candidate segments used")

    @staticmethod
    def _contrast(bank, segs, seg_img, c, device, chunk=256):
        r = bank[0].shape[0]
        rr = max(2, r // 40)
        bank_t = torch.tensor(np.stack(bank), device=device)
        segs_t = torch.tensor(np.stack(segs), device=device)
        out = []
        for i in range(0, len(c), chunk):
            cc = c[i:i + chunk]
            si = torch.tensor(cc[:, 0], dtype=torch.long, device=device)
            sid = torch.tensor(cc[:, 1], dtype=torch.int32, device=device)
            img = bank_t[torch.tensor(seg_img, device=device)[si]]
            m = (segs_t[si] == sid[:, None, None]).float()[:, None]
            ring = F.max_pool2d(m, 2 * rr + 1, 1, rr) - m
            img = img[:, None]
            mi = (img * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp(min=1)
            mr = (img * ring).flatten(1).sum(1) / ring.flatten(1).sum(1).clamp(min=1)
            sd = img.flatten(1).std(1).clamp(min=1e-3)
            out.append(((mi - mr).abs() / sd).cpu())
        return torch.cat(out).numpy()

    @staticmethod
    def _center_square(a):
        h, w = a.shape
        s = min(h, w)
        y0, x0 = (h - s) // 2, (w - s) // 2
        return a[y0:y0 + s, x0:x0 + s]

    def sample(self, b, k):
        dev, size = self.device, self.size
        n = b * k
        ci = torch.randint(0, self.c_seg.shape[0], (b,), device=dev)
        si = self.c_seg[ci]
        lab = (self.segs[si] == self.c_id[ci][:, None, None]).float()[:, None]
        img = self.bank[self.seg_img[si]]
        # task view: zoom so the segment spans a random fraction of the view
        ext = self.c_ext[ci]  # fraction of the side
        half = (ext * urand(b, 1.2, 3.5, dev)).clamp(0.2, 0.9)  # half-width in normalized units (1 = whole)
        view = affine(b, dev, rot=math.pi, scale=(1.0, 1.0), aniso=0.15, flip=True)
        view[:, :2, :2] = view[:, :2, :2] * half[:, None, None]
        view[:, 0, 2] = self.c_cx[ci] + urand(b, -0.3, 0.3, dev) * half
        view[:, 1, 2] = self.c_cy[ci] + urand(b, -0.3, 0.3, dev) * half
        mi = affine(n, dev, rot=0.5, scale=(0.8, 1.25), aniso=0.12, shear=0.12, trans=0.15)
        disp = elastic(n, size, urand(n, 0.0, 0.06, dev), dev)
        out = warp(torch.cat([per_task(img, k), per_task(lab, k)], 1), per_task(view, k) @ mi, size, disp,
                   padding="reflection")
        im = out[:, :1]
        # stronger per-image appearance change than the other sources
        g = torch.exp(urand(n, -0.5, 0.5, dev))[:, None, None, None]
        im = minmax(im).clamp(min=0).pow(g)
        return im, (out[:, 1:] > 0.5).float()


def skimage_images(log=print):
    """The license-clean scikit-image sample images found in the installed wheel."""
    try:
        import skimage.data
    except Exception as e:  # pragma: no cover
        log(f"scikit-image not importable ({e}); no scikit-image sample images")
        return [], []
    d = os.path.dirname(skimage.data.__file__)
    out, used = [], []
    for fname, desc, lic in SKIMAGE_IMAGES:
        p = os.path.join(d, fname)
        if not os.path.exists(p):
            continue
        try:
            out.append((fname, _load_gray(p)))
            used.append(f"scikit-image {skimage.__version__} skimage/data/{fname}: {desc}; license: {lic}")
        except Exception as e:  # pragma: no cover
            log(f"cannot read {p}: {e}")
    return out, used


MIX_SOURCES = ("synth", "multi", "ring", "superpixel", "real")


def parse_mix(mix):
    """'NAME:WEIGHT,...' (train.py's --mix) -> {name: weight}. NAME is one of MIX_SOURCES,
    each at most once; WEIGHT a finite number >= 0 (relative: they are renormalized), at
    least one > 0. ValueError naming the bad entry otherwise: a misspelt name used to be
    ignored silently, so a run trained without the source it asked for."""
    weights = {}
    for part in mix.split(","):
        name, sep, value = part.partition(":")
        name = name.strip()
        if name in MIX_SOURCES and not sep:
            raise ValueError(f"--mix entry {part!r}: the weight is missing (NAME:WEIGHT)")
        if not sep or name not in MIX_SOURCES:
            raise ValueError(f"--mix entry {part!r}: expected NAME:WEIGHT with NAME one of "
                             f"{', '.join(MIX_SOURCES)}")
        if name in weights:
            raise ValueError(f"--mix entry {part!r}: {name} is given twice")
        try:
            w = float(value)
        except ValueError:
            raise ValueError(f"--mix entry {part!r}: weight {value.strip()!r} is not a number") from None
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"--mix entry {part!r}: weight must be finite and >= 0")
        weights[name] = w
    if not any(w > 0 for w in weights.values()):
        raise ValueError(f"--mix {mix!r}: no source has a weight > 0")
    return weights


def mix_arg(mix):
    """argparse `type=` for --mix: the string itself once `parse_mix` accepts it, else an
    argparse.ArgumentTypeError with parse_mix's message (a usage error, exit status 2)."""
    import argparse
    try:
        parse_mix(mix)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return mix


class TaskSampler:
    """Mixture of the sources; sample(b, s) -> images, labels [b, 1+s, 1, H, W].
    `mix` as `parse_mix` reads it (ValueError on a bad one)."""

    def __init__(self, size, device, data_dir=None, mix="synth:0.45,superpixel:0.3,real:0.25",
                 log=print, superpixel_cache=None):
        self.size = size
        self.device = device
        self.sources = {}
        self.provenance = []
        weights = parse_mix(mix)
        if weights.get("synth", 0) > 0:
            self.sources["synth"] = SynthSource(size, device)
            self.provenance.append("synthetic tasks generated on the fly (no external data)")
        if weights.get("multi", 0) > 0:
            self.sources["multi"] = SynthSource(size, device, many=True)
            self.provenance.append("synthetic many-object tasks generated on the fly (no external data)")
        if weights.get("ring", 0) > 0:
            self.sources["ring"] = SynthSource(size, device, rings=True)
            self.provenance.append("synthetic ring tasks generated on the fly (no external data)")
        tasks = find_tasks(data_dir)
        if weights.get("real", 0) > 0 and tasks:
            self.sources["real"] = RealSource(tasks, size, device)
            for name, ims, _ in tasks:
                self.provenance.append(f"real task {name}: {len(ims)} image/mask pairs from {os.path.join(data_dir, name)} "
                                       f"(license: see that data set's MANIFEST/README)")
        elif weights.get("real", 0) > 0:
            log(f"no task folders under --data {data_dir!r}: the real source is off")
        if weights.get("superpixel", 0) > 0:
            imgs = []
            for name, ims, _ in tasks:
                # at most 12 images per task, evenly spaced: the segmentation of every image
                # of a 200-image task took minutes at startup and adds little variety
                step = max(1, -(-len(ims) // 12))
                for p in ims[::step]:
                    imgs.append((f"{name}/{os.path.basename(p)}", _load_gray(p)))
            sk, used = skimage_images(log)
            imgs += sk
            try:
                self.sources["superpixel"] = SuperpixelSource(imgs, size, device, log, cache=superpixel_cache)
                if tasks:
                    self.provenance.append(f"superpixel tasks on up to 12 images of each real task above "
                                           f"(labels not used)")
                self.provenance += ["superpixel tasks on " + u for u in used]
            except ImportError as e:
                log(f"scikit-image missing ({e}): the superpixel source is off")
        names = [k for k in weights if k in self.sources and weights[k] > 0]
        if not names:
            raise SystemExit("no data source available")
        self.names = names
        w = torch.tensor([weights[k] for k in names])
        self.probs = w / w.sum()
        log("task sources: " + ", ".join(f"{k} {p:.2f}" for k, p in zip(names, self.probs.tolist())))

    def sample(self, b, s):
        k = s + 1
        counts = torch.bincount(torch.multinomial(self.probs, b, replacement=True),
                                minlength=len(self.names)).tolist()
        imgs, labs = [], []
        for name, c in zip(self.names, counts):
            if c == 0:
                continue
            got = 0
            tries = 0
            while got < c and tries < 8:
                want = c - got
                m = want + max(2, want // 2)  # oversample, keep valid targets
                im, lb = self.sources[name].sample(m, k)
                im = intensity_aug(im, k, 0.5 if name == "superpixel" else 1.0)
                im = im.view(m, k, 1, self.size, self.size)
                lb = lb.view(m, k, 1, self.size, self.size)
                area = lb[:, 0].sum(dim=(1, 2, 3))
                ok = (area >= 6) & (area <= 0.9 * self.size * self.size)
                idx = torch.nonzero(ok).flatten()[:want]
                imgs.append(im[idx])
                labs.append(lb[idx])
                got += idx.numel()
                tries += 1
            if got < c:  # give up on validity for the rest (rare)
                im, lb = self.sources[name].sample(c - got, k)
                imgs.append(intensity_aug(im, k).view(c - got, k, 1, self.size, self.size))
                labs.append(lb.view(c - got, k, 1, self.size, self.size))
        img = torch.cat(imgs)
        lab = torch.cat(labs)
        perm = torch.randperm(b, device=img.device)
        return img[perm], lab[perm]
