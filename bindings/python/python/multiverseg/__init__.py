"""MultiverSeg (Wong et al., ICCV 2025) without torch: in-context interactive segmentation
of 2D biomedical images, on any CPU or wgpu GPU.

The loop::

    import multiverseg as mvs
    model = mvs.Model.default()            # or mvs.Model.load("model.safetensors")
    s = mvs.Session(model)
    for image in images:                    # 2D numpy arrays
        s.set_image(image)
        s.add_click(40.5, 31.5)             # x, y in pixels
        p = s.predict()                     # p.probabilities, p.mask, p.uncertainty
        s.commit()                          # the image and its mask join the context set

The official weights: ``mvs.fetch("official-v1")`` once (downloads into the user cache
folder), then ``mvs.Model.load("official-v1")``.

Errors are subclasses of :class:`MultiverSegError`, one per C status code.
"""

import sys as _sys

from ._errors import (
    BackendError,
    CancelledError,
    FormatError,
    InternalError,
    InvalidArgumentError,
    IoError,
    MultiverSegError,
    NotFoundError,
    OutOfMemoryError,
    StateError,
)
from ._native import (
    MODEL_NAMES,
    NET_SIZE,
    TERMS_NOTICE,
    Model,
    Prediction,
    Session,
    __version__,
)
from ._native import fetch as _fetch
from ._native import resolve


def fetch(name, cache_dir=None, mirror=None, force=False, progress=None, quiet=False):
    """Downloads the official weights ``name`` ("official-v1": the ICCV 2025 weights,
    "official-v0": the first release) from the authors' URLs into the user cache folder
    ($MVS_CACHE_DIR, else e.g. ~/.cache/multiverseg), checks and converts them, and
    returns a dict: ``path`` (the .safetensors file), ``sha256``, ``cached`` (True when
    nothing was downloaded) and ``files`` (each downloaded checkpoint's ``file_name``,
    ``url``, ``bytes``, ``sha256``). Afterwards ``Model.load(name)`` finds it.

    Redirects are followed; a broken transfer is resumed. ``mirror``: a base URL holding
    the official file names (a local copy). ``progress(file_name, done, total)`` is called
    as bytes arrive (``total`` may be None). Unless ``quiet``, prints the SHA-256 of each
    file and the weights' terms to stderr.

    Raises InvalidArgumentError (unknown name), IoError (network or disk; the message says
    how to place the files by hand), FormatError (the server sent something other than the
    expected checkpoint; nothing is kept).
    """
    report = _fetch(
        name,
        cache_dir=None if cache_dir is None else str(cache_dir),
        mirror=mirror,
        force=force,
        progress=progress,
    )
    if not quiet:
        for f in report["files"]:
            print(f"downloaded {f['file_name']} sha256 {f['sha256']}", file=_sys.stderr)
        print(f"{report['path']} sha256 {report['sha256']}", file=_sys.stderr)
        print(TERMS_NOTICE, file=_sys.stderr)
    return report

__all__ = [
    "Model",
    "Session",
    "Prediction",
    "fetch",
    "resolve",
    "MODEL_NAMES",
    "TERMS_NOTICE",
    "NET_SIZE",
    "MultiverSegError",
    "InvalidArgumentError",
    "IoError",
    "FormatError",
    "NotFoundError",
    "StateError",
    "BackendError",
    "InternalError",
    "CancelledError",
    "OutOfMemoryError",
    "__version__",
]
