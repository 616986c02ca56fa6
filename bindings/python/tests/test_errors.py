"""Each bad input raises a clear error naming the argument, and changes nothing."""

import numpy as np
import pytest

import multiverseg as mvs


@pytest.fixture
def session(model, disks):
    s = mvs.Session(model)
    s.context_add(disks[0][0], disks[0][1])
    return s


def test_exceptions_mirror_the_c_status_codes():
    root = __file__.rsplit("/bindings/", 1)[0]
    header = open(root + "/crates/multiverseg-capi/include/multiverseg.h").read()
    names = {
        "MVS_ERR_INVALID_ARGUMENT": mvs.InvalidArgumentError,
        "MVS_ERR_IO": mvs.IoError,
        "MVS_ERR_FORMAT": mvs.FormatError,
        "MVS_ERR_NOT_FOUND": mvs.NotFoundError,
        "MVS_ERR_STATE": mvs.StateError,
        "MVS_ERR_BACKEND": mvs.BackendError,
        "MVS_ERR_INTERNAL": mvs.InternalError,
        "MVS_ERR_CANCELLED": mvs.CancelledError,
        "MVS_ERR_OUT_OF_MEMORY": mvs.OutOfMemoryError,
    }
    import re

    codes = dict(re.findall(r"(MVS_ERR_\w+) = (\d+)", header))
    assert set(codes) == set(names), "every status code has a Python class"
    for c, cls in names.items():
        assert cls.status == int(codes[c]), c
        assert issubclass(cls, mvs.MultiverSegError)


@pytest.mark.parametrize(
    "image, exc, words",
    [
        (np.zeros((8, 8), np.float64), TypeError, ["image", "float64", "uint8, uint16, int16 or float32"]),
        (np.zeros((8, 8), np.int32), TypeError, ["image", "int32"]),
        (np.zeros((4, 8, 8), np.uint8), ValueError, ["image", "2D", "3 dimensions"]),
        (np.zeros(8, np.uint8), ValueError, ["image", "1 dimensions"]),
        ([[1, 2], [3, 4]], TypeError, ["image", "numpy array", "list"]),
        (np.zeros((0, 8), np.uint8), mvs.InvalidArgumentError, ["image", "width and height"]),
        (np.full((8, 8), np.nan, np.float32), mvs.InvalidArgumentError, ["image"]),
    ],
    ids=["float64", "int32", "3d", "1d", "list", "empty", "nan"],
)
def test_bad_images(session, image, exc, words):
    with pytest.raises(exc) as e:
        session.set_image(image)
    for w in words:
        assert w in str(e.value)
    assert session.image_size is None
    with pytest.raises(exc):
        session.context_add(image, np.zeros((8, 8), np.uint8))
    assert session.context_count == 1


def test_bad_calls_raise_and_change_nothing(session, disks, tmp_path):
    img, truth, (cx, cy) = disks[1]
    ids = session.context_ids()
    with pytest.raises(mvs.StateError, match="image"):
        session.predict()
    with pytest.raises(mvs.StateError):
        session.add_click(1, 1)
    with pytest.raises(mvs.StateError):
        session.commit()
    session.set_image(img)
    with pytest.raises(mvs.StateError, match="undo"):
        session.undo()
    with pytest.raises(mvs.InvalidArgumentError, match="outside"):
        session.add_click(img.shape[1] + 5, 3)
    with pytest.raises(mvs.InvalidArgumentError, match="mask"):
        session.commit_mask(np.ones((3, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8 or bool"):
        session.add_scribble(np.ones(img.shape, np.float32))
    with pytest.raises(mvs.InvalidArgumentError, match="mask"):
        session.context_add(img, truth[:-1])
    with pytest.raises(mvs.NotFoundError, match="12345"):
        session.context_remove(12345)
    with pytest.raises(mvs.InvalidArgumentError, match="cap"):
        session.set_context_policy(cap=0)
    with pytest.raises(ValueError, match="select"):
        session.set_context_policy(cap=2, select="newest")
    with pytest.raises(mvs.InvalidArgumentError, match="window"):
        session.set_image(img, window=(5.0, 5.0))
    # none of that touched the context or the image
    assert session.context_ids() == ids
    assert session.image_size == (img.shape[1], img.shape[0])
    assert session.prompt_count == 0

    missing = tmp_path / "missing.mvsctx"
    with pytest.raises(mvs.IoError, match="missing.mvsctx"):
        session.context_load(missing)
    damaged = tmp_path / "damaged.mvsctx"
    session.context_save(damaged)
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(mvs.FormatError):
        session.context_load(damaged)
    assert session.context_ids() == ids
    with pytest.raises(mvs.IoError):
        session.context_import_folder(tmp_path / "nowhere")


def test_bad_model_arguments(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        mvs.Model.default(backend="tpu")
    with pytest.raises(ValueError, match="cpu_conv"):
        mvs.Model.default(backend="cpu", cpu_conv="direct")
    with pytest.raises(mvs.IoError, match="nothing.safetensors"):
        mvs.Model.load(tmp_path / "nothing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"<html>not a model</html>")
    with pytest.raises(mvs.FormatError):
        mvs.Model.load(junk)


def test_cpu_conv_choices_agree(model):
    """Both CPU convolutions are selectable and agree: probabilities within 1e-4 (the
    logits of each are within 3e-5 of an f64 reference; tests/fidelity.rs)."""
    exact = mvs.Model.default(backend="cpu", threads=1, cpu_conv="winograd2x2")
    assert "winograd 2x2" in exact.backend
    assert "winograd 4x4" in model.backend
    img = (np.arange(128 * 96).reshape(96, 128) % 251).astype(np.uint8)
    out = []
    for m in (model, exact):
        s = mvs.Session(m)
        s.set_image(img)
        s.add_click(40, 50, True)
        out.append(s.predict().probabilities)
    assert np.abs(out[0] - out[1]).max() < 1e-4
