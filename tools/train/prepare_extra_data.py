#!/usr/bin/env python3
"""Convert extra permissively licensed 2D segmentation tasks to the task layout.

Reads snapshots of public GitHub repositories that were mirrored as bare git
directories (``<mirror-root>/<owner>+<name>/repo``, as the ``fetch`` tool
writes them) with ``git show <commit>:<path>`` and writes, for every task,

    <out>/<task>/images/<id>.png   8-bit mode L, min-max to 0..255
    <out>/<task>/masks/<id>.png    8-bit mode L, values 0/255

with the same conventions as the training tasks in ``/work/shared/data``
(README section "Training tasks with permissive licenses"):

* RGB images are converted to gray with PIL ``convert("L")`` (ITU-R 601-2 luma);
* images whose longer side exceeds 512 px are downscaled so that it is 512 px
  (aspect ratio kept): Lanczos on the float image, then per-image min-max to
  0..255; masks with nearest neighbour;
* one binary structure per task (instances merged), mask 255 = label;
* pairs whose mask is empty or full after resizing are dropped.

Deterministic (sorted file lists, no randomness). Needs numpy and PIL only,
plus the ``git`` executable.

Sources
-------

chasedb1_retina_vessels
    CHASE_DB1 retinal vessel reference dataset (Kingston University London and
    St George's, University of London; Fraz et al. 2012). All 28 fundus
    photographs (14 children, both eyes, 999x960 JPEG) with the FIRST human
    observer's vessel annotation (``*_1stHO.png``).
    Copy used: ``matchi-1/Adaptive-Hierarchical-Feature-Modulation-U-Net-Model-
    for-Retinal-Vessel-Segmentation`` at commit
    dae7fb4ae7de6777f06415de2509bbf79408294a, folders
    ``data/raw/CHASEDB1/{training,test}/images/Image_NNX.jpg`` and
    ``data/raw/CHASEDB1/{training,test}/1st_manual/Image_NNX_1stHO.png``
    (the repository only re-splits the original files 01-07 / 08-14; files
    are at the original 999x960 resolution). The repository itself has no
    LICENSE file; it is used only as a copy of the public dataset.
    License: CC BY 4.0, read in ``dataset-ninja/chase-db1`` ``LICENSE.md``
    ("CHASE DB1: Retinal Vessel Reference Dataset is under CC BY 4.0",
    source link https://researchdata.kingston.ac.uk/96/). The Kingston
    University dataset page (researchinnovation.kingston.ac.uk/en/datasets/
    chasedb1-retinal-vessel-reference-dataset-4/) was found, but its stored
    excerpt ends before any licence field, so the CC BY 4.0 statement was
    read only at dataset-ninja; re-check on the Kingston page before release.
    Attribution: Fraz, Remagnino, Hoppe, Uyyanonvara, Rudnicka, Owen, Barman,
    "An ensemble classification-based approach applied to retinal blood
    vessel segmentation", IEEE Trans. Biomed. Eng. 59(9):2538-2548, 2012;
    Owen et al., IOVS 50(5):2004-2010, 2009; CHASE_DB1, Kingston University
    London.

usgra_nerve, usgra_vessel (held-out evaluation data since 2026-12-04; not written by ``main``)
    USGRA-Seg: ultrasound-guided regional anaesthesia B-mode images (Mindray
    TE7, L14-6Ns linear probe; interscalene, axillary, elbow, femoral and
    popliteal regions), acquired and annotated (LabelMe) by one examiner,
    Timm Kandaouroff, 2025. All 244 pairs: ``dataset/{images,masks}/NNNN.png``
    (204) and ``dataset/test/{images,masks}/NNNN.png`` (40; the test split
    is the repository author's, not ours). The masks are palette PNGs with
    0 background, 1 nerve, 2 blood vessel (the README says "nerves and
    blood vessels" without the values; read by eye on images 0001, 0050
    and 0120: value 1 marks the fascicular, honeycomb structures, value 2
    the round anechoic ones, 2026-12-04). One task per value; a pair whose
    value is absent is dropped (value 2 is absent from 25 masks).
    Copy used: ``tmkand/usgra-seg`` at commit
    66dc77df2a64c7d372d1e783648644561bc693c5, the author's own repository.
    License: CC BY 4.0, read in that repository's README ("The dataset
    located in the dataset/ directory is licensed under CC-BY 4.0") and in
    ``dataset/LICENSE`` (the full Attribution 4.0 International legal
    code). Attribution: Timm Kandaouroff, usgra-seg (github.com/tmkand/
    usgra-seg), 2025, CC BY 4.0.

Usage::

    python3 tools/train/prepare_extra_data.py --mirror-root /work/.mirror \\
        --out /work/newdata
"""

import argparse
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image

MAX_SIDE = 512

SOURCES = {
    "chasedb1_retina_vessels": {
        "repo": "matchi-1/Adaptive-Hierarchical-Feature-Modulation-U-Net-Model-"
                "for-Retinal-Vessel-Segmentation",
        "commit": "dae7fb4ae7de6777f06415de2509bbf79408294a",
    },
    "usgra": {
        "repo": "tmkand/usgra-seg",
        "commit": "66dc77df2a64c7d372d1e783648644561bc693c5",
    },
}

# USGRA-Seg's mask values (read by eye, see the module doc) and the task each becomes.
USGRA_LABELS = {1: "usgra_nerve", 2: "usgra_vessel"}


def git_dir(mirror_root, repo):
    return os.path.join(mirror_root, repo.replace("/", "+"), "repo")


def git_ls(gdir, commit, prefix):
    out = subprocess.run(
        ["git", "--git-dir", gdir, "ls-tree", "-r", "--name-only", commit, "--", prefix],
        check=True, capture_output=True).stdout.decode()
    return sorted(p for p in out.splitlines() if p)


def git_bytes(gdir, commit, path):
    return subprocess.run(["git", "--git-dir", gdir, "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


def open_image(data):
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def target_size(w, h, max_side=MAX_SIDE):
    """(w, h) scaled so that the longer side is at most max_side, aspect ratio kept."""
    s = max(w, h)
    if s <= max_side:
        return w, h
    scale = max_side / s
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def to_gray_float(im):
    """PIL image -> float32 2D array (RGB via convert("L"), 16-bit kept as is)."""
    if im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LA"):
        im = im.convert("L")
    arr = np.asarray(im)
    if arr.ndim == 3:
        arr = np.asarray(im.convert("L"))
    return arr.astype(np.float32)


def prep_image(im):
    arr = to_gray_float(im)
    h, w = arr.shape
    tw, th = target_size(w, h)
    if (tw, th) != (w, h):
        arr = np.asarray(Image.fromarray(arr, mode="F").resize((tw, th), Image.LANCZOS),
                         dtype=np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if hi <= lo:
        return None
    out = np.round((arr - lo) * (255.0 / (hi - lo)))
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="L")


def prep_mask(binary):
    h, w = binary.shape
    m = Image.fromarray(binary.astype(np.uint8) * 255, mode="L")
    tw, th = target_size(w, h)
    if (tw, th) != (w, h):
        m = m.resize((tw, th), Image.NEAREST)
    arr = np.asarray(m)
    if not arr.any() or arr.all():
        return None
    return m


def write_pair(out_dir, task, ident, img, mask):
    if img is None or mask is None:
        return False
    if img.size != mask.size:
        raise RuntimeError(f"{task}/{ident}: size mismatch {img.size} vs {mask.size}")
    for sub, pic in (("images", img), ("masks", mask)):
        d = os.path.join(out_dir, task, sub)
        os.makedirs(d, exist_ok=True)
        pic.save(os.path.join(d, ident + ".png"), optimize=True)
    return True


def build_chasedb1(mirror_root, out_dir):
    task = "chasedb1_retina_vessels"
    src = SOURCES[task]
    gdir = git_dir(mirror_root, src["repo"])
    commit = src["commit"]
    base = "data/raw/CHASEDB1"
    files = git_ls(gdir, commit, base)
    images = [p for p in files if "/images/" in p and p.endswith(".jpg")]
    gts = {os.path.basename(p)[: -len("_1stHO.png")]: p
           for p in files if "/1st_manual/" in p and p.endswith("_1stHO.png")}
    n = 0
    for p in sorted(images, key=os.path.basename):
        ident = os.path.splitext(os.path.basename(p))[0]  # Image_01L
        if ident not in gts:
            print(f"  {task}: no 1stHO annotation for {ident}, skipped", file=sys.stderr)
            continue
        im = open_image(git_bytes(gdir, commit, p))
        gt = open_image(git_bytes(gdir, commit, gts[ident]))
        g = np.asarray(gt)
        if g.ndim == 3:
            g = g[..., 0]
        if g.shape != (im.size[1], im.size[0]):
            raise RuntimeError(f"{task}/{ident}: image {im.size} vs mask {g.shape}")
        if write_pair(out_dir, task, ident, prep_image(im), prep_mask(g > 0)):
            n += 1
    return {task: n}


def build_usgra(mirror_root, out_dir):
    src = SOURCES["usgra"]
    gdir = git_dir(mirror_root, src["repo"])
    commit = src["commit"]
    files = git_ls(gdir, commit, "dataset")
    counts = {task: 0 for task in USGRA_LABELS.values()}
    for folder, prefix in (("dataset", ""), ("dataset/test", "test_")):
        names = [os.path.basename(p) for p in files
                 if os.path.dirname(p) == folder + "/images" and p.endswith(".png")]
        for name in sorted(names):
            ident = prefix + os.path.splitext(name)[0]
            im = open_image(git_bytes(gdir, commit, f"{folder}/images/{name}"))
            lab = np.asarray(open_image(git_bytes(gdir, commit, f"{folder}/masks/{name}")))
            if lab.ndim == 3:
                raise RuntimeError(f"usgra/{ident}: expected a palette or gray mask")
            if lab.shape != (im.size[1], im.size[0]):
                raise RuntimeError(f"usgra/{ident}: image {im.size} vs mask {lab.shape}")
            img = prep_image(im)
            for value, task in USGRA_LABELS.items():
                if write_pair(out_dir, task, ident, img, prep_mask(lab == value)):
                    counts[task] += 1
    return counts


# The training tasks this script writes. USGRA-Seg was one of them on 2026-12-04 (one rejected
# UNet run read it) and is since then a held-out evaluation set instead
# (tools/eval/prepare_heldout.py --set usgra, which calls build_usgra): training must not read it.
BUILDERS = [build_chasedb1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror-root", default="/work/.mirror",
                    help="folder holding <owner>+<name>/repo bare git mirrors")
    ap.add_argument("--out", required=True, help="output folder for the task folders")
    args = ap.parse_args()
    for build in BUILDERS:
        # Each builder returns {task: pairs written}.
        for task, n in build(args.mirror_root, args.out).items():
            print(f"{task}: {n} pairs")


if __name__ == "__main__":
    main()
