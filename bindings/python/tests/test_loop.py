"""The interactive loop with a growing context, save/load, the batch path and dtypes."""

import numpy as np
import pytest

import multiverseg as mvs


def dice(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)


def test_the_loop_with_a_growing_context(model, disks):
    s = mvs.Session(model)
    for k, (img, truth, (cx, cy)) in enumerate(disks):
        s.set_image(img)
        assert s.image_size == (img.shape[1], img.shape[0])
        s.add_click(cx, cy)
        p = s.predict()
        assert p.probabilities.shape == img.shape and p.probabilities.dtype == np.float32
        assert p.mask.shape == img.shape and p.mask.dtype == np.uint8
        assert np.array_equal(p.mask, (p.probabilities > 0.5).astype(np.uint8))
        assert 0.0 <= p.probabilities.min() and p.probabilities.max() <= 1.0
        assert 0.0 <= p.uncertainty <= 1.0
        # predict is a pure function of the session's state
        assert np.array_equal(s.predict().probabilities, p.probabilities)
        # the user finishes the image by hand; it joins the context
        new_id = s.commit_mask(truth)
        assert s.context_ids()[-1] == new_id
        assert s.context_count == k + 1
        assert s.image_size is None
    # With five ground-truth examples of the same structure, a new image without any
    # prompt is segmented from the context alone.
    img, truth, _ = disks[-1]
    s.context_remove(s.context_ids()[-1])
    s.set_image(img)
    assert dice(s.predict().mask, truth) > 0.5


def test_prompts_undo_and_commit(model, disks):
    s = mvs.Session(model)
    img, truth, (cx, cy) = disks[0]
    s.set_image(img)
    s.add_box(cx - 20, cy - 20, cx + 20, cy + 20)
    s.add_click(cx, cy)
    scribble = np.zeros_like(truth, dtype=bool)
    scribble[int(cy), int(cx) - 3 : int(cx) + 3] = True
    s.add_scribble(scribble)
    s.add_scribble_polyline([(1.5, 1.5), (8.5, 3.5)], radius=1.0, positive=False)
    assert s.prompt_count == 4
    full = s.predict().probabilities
    s.undo()
    assert s.prompt_count == 3
    assert not np.array_equal(s.predict().probabilities, full)
    s.clear_prompts()
    assert s.prompt_count == 0
    s.add_click(cx, cy)
    s.predict()
    assert s.commit() == s.context_ids()[0]


def test_context_save_load_gives_the_same_predictions(model, disks, tmp_path):
    a = mvs.Session(model)
    for img, truth, _ in disks[:3]:
        a.context_add(img, truth)
    path = tmp_path / "task.mvsctx"
    a.context_save(path)
    b = mvs.Session(model)
    b.context_load(str(path))
    assert b.context_count == 3
    img = disks[4][0]
    a.set_image(img)
    b.set_image(img)
    assert np.array_equal(a.predict().probabilities, b.predict().probabilities)


def test_predict_batch_equals_single_predictions(model, disks):
    s = mvs.Session(model)
    for img, truth, _ in disks[:2]:
        s.context_add(img, truth)
    images = [d[0] for d in disks[2:]]
    seen = []
    batch = s.predict_batch(images, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i + 1, len(images)) for i in range(len(images))]
    for img, p in zip(images, batch):
        s.set_image(img)
        single = s.predict()
        assert np.array_equal(p.probabilities, single.probabilities)
        assert p.uncertainty == single.uncertainty


def test_a_cancelled_batch_changes_nothing(model, disks):
    s = mvs.Session(model)
    s.context_add(disks[0][0], disks[0][1])
    ids = s.context_ids()
    with pytest.raises(mvs.CancelledError):
        s.predict_batch([d[0] for d in disks], progress=lambda done, total: done < 2)
    assert s.context_ids() == ids

    def boom(done, total):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        s.predict_batch([disks[1][0]], progress=boom)
    assert s.context_ids() == ids


def test_context_policy(model, disks):
    s = mvs.Session(model)
    for img, truth, _ in disks[:4]:
        s.context_add(img, truth)
    s.set_image(disks[5][0])
    everything = s.predict().probabilities
    s.set_context_policy(cap=1, select="similar")
    one = s.predict().probabilities
    assert not np.array_equal(one, everything)
    s.set_context_policy()
    assert np.array_equal(s.predict().probabilities, everything)


def test_after_prompt(model, disks):
    s = mvs.Session(model)
    for img, truth, _ in disks[:2]:
        s.context_add(img, truth)
    assert s.after_prompt == "multiverseg"
    with pytest.raises(ValueError, match="after_prompt"):
        s.set_after_prompt("Mean")
    assert s.after_prompt == "multiverseg"
    img, truth, _ = disks[3]
    s.set_image(img)
    ys, xs = np.nonzero(truth)
    s.add_click(float(xs.mean()), float(ys.mean()), True)
    pm = s.predict().probabilities.astype(np.float64)
    s.set_after_prompt("unet")
    assert s.after_prompt == "unet"
    pu = s.predict().probabilities.astype(np.float64)
    assert not np.array_equal(pu, pm)
    s.set_after_prompt("mean")
    pa = s.predict().probabilities.astype(np.float64)
    # the mean of the two networks' logits, where no probability saturates
    ok = (pm > 0.01) & (pm < 0.99) & (pu > 0.01) & (pu < 0.99)
    assert ok.any()
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    np.testing.assert_allclose(logit(pa[ok]), (logit(pm[ok]) + logit(pu[ok])) / 2, atol=1e-3)
    s.set_after_prompt("mean-for-clicks")
    assert np.array_equal(s.predict().probabilities, pa.astype(np.float32))


def test_unet_flip_average(model, disks):
    s = mvs.Session(model)
    assert s.unet_flip_average is False
    img, truth, (cx, cy) = disks[3]
    s.set_image(img)
    s.add_click(cx, cy, True)
    one_pass = s.predict().probabilities  # the UNet: no context yet
    s.unet_flip_average = True
    assert s.unet_flip_average is True
    averaged = s.predict().probabilities
    assert not np.array_equal(averaged, one_pass)
    # with a context MultiverSegNet predicts, and the setting does not change it
    for cimg, ctruth, _ in disks[:2]:
        s.context_add(cimg, ctruth)
    mvs_on = s.predict().probabilities
    s.unet_flip_average = False
    assert np.array_equal(s.predict().probabilities, mvs_on)
    assert not np.array_equal(mvs_on, averaged)


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: a.astype(np.uint16) * 257,
        lambda a: a.astype(np.int16) - 128,
        lambda a: a.astype(np.float32) / 255.0,
    ],
    ids=["uint16", "int16", "float32"],
)
def test_every_dtype_gives_the_uint8_result(model, disks, convert):
    img, _, (cx, cy) = disks[0]
    s = mvs.Session(model)
    s.set_image(img)
    s.add_click(cx, cy)
    ref = s.predict().probabilities
    s.set_image(convert(img))
    s.add_click(cx, cy)
    got = s.predict().probabilities
    # The same [0, 1] image up to float rounding of the min-max scaling.
    assert np.abs(got - ref).max() < 1e-4


def test_a_window_maps_intensities(model, disks):
    img, _, (cx, cy) = disks[0]
    ct = img.astype(np.int16) * 8 - 1000  # like Hounsfield units
    s = mvs.Session(model)
    s.set_image(img, window=(0.0, 255.0))
    ref = s.predict().probabilities
    s.set_image(ct, window=(-1000.0, 1040.0))
    assert np.abs(s.predict().probabilities - ref).max() < 1e-4


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a[::2, :],
        lambda a: a[:, ::3],
        lambda a: a.T,
        lambda a: a[::-1, :],
        lambda a: a[5:60, 7:80],
        lambda a: np.asfortranarray(a),
    ],
    ids=["row-step", "column-step", "transposed", "flipped", "crop", "fortran"],
)
def test_non_contiguous_views_equal_their_copies(model, disks, view):
    img = disks[1][0].astype(np.float32)
    v = view(img)
    s = mvs.Session(model)
    s.set_image(v)
    s.add_click(v.shape[1] / 2, v.shape[0] / 2)
    got = s.predict().probabilities
    s.set_image(np.ascontiguousarray(v))
    s.add_click(v.shape[1] / 2, v.shape[0] / 2)
    assert np.array_equal(got, s.predict().probabilities)
