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

Errors are subclasses of :class:`MultiverSegError`, one per C status code.
"""

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
from ._native import NET_SIZE, Model, Prediction, Session, __version__

__all__ = [
    "Model",
    "Session",
    "Prediction",
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
