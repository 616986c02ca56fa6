"""Type stubs of the extension module multiverseg._native (see the docstrings there)."""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str
#: Side of the square the networks run at (128).
NET_SIZE: int

#: 2D (height, width) arrays of uint8, uint16, int16 or float32, any strides.
ImageArray = Union[
    npt.NDArray[np.uint8], npt.NDArray[np.uint16], npt.NDArray[np.int16], npt.NDArray[np.float32]
]
#: 2D (height, width) arrays of uint8 or bool; nonzero = foreground.
MaskArray = Union[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]
#: (lo, hi) intensities mapped to [0, 1]; None = the image's own min and max.
Window = Optional[Tuple[float, float]]
StrPath = Union[str, PathLike]

class Model:
    """Loaded weights with a backend; immutable, share it between sessions and threads."""

    @staticmethod
    def load(
        path: StrPath,
        backend: str = "auto",
        threads: int = 0,
        gpu_adapter: Optional[str] = None,
        memory_limit: int = 0,
        cpu_conv: str = "winograd4x4",
    ) -> "Model":
        """Loads a .safetensors file (``mvs convert``, ``mvs fetch``, tools/train) or a
        fetched model by name ("official-v1", "official-v0"; used when no such file
        exists). backend: "auto", "cpu" or "gpu"; threads: 0 = all cores; cpu_conv:
        "winograd4x4" (fastest, logits within 3e-5 of f64) or "winograd2x2" (rounds as
        PyTorch does). Raises IoError, FormatError, BackendError, NotFoundError (a name not
        fetched yet), ValueError (unknown backend or cpu_conv)."""
    @staticmethod
    def default(
        backend: str = "auto",
        threads: int = 0,
        gpu_adapter: Optional[str] = None,
        memory_limit: int = 0,
        cpu_conv: str = "winograd4x4",
    ) -> "Model":
        """The small default model built into the library."""
    @property
    def backend(self) -> str: ...
    @property
    def has_unet(self) -> bool: ...

class Prediction:
    """A prediction at the image's size."""

    #: float32 (height, width), probabilities in [0, 1].
    probabilities: npt.NDArray[np.float32]
    #: uint8 (height, width), 1 where the probability is above 0.5.
    mask: npt.NDArray[np.uint8]
    #: Mean binary entropy over the object's grown bounding box, in [0, 1].
    uncertainty: float

class Session:
    """One segmentation task: the context set, the current image and its prompts."""

    def __init__(self, model: Model) -> None: ...
    def set_image(self, image: ImageArray, window: Window = None) -> None:
        """Raises TypeError (dtype), ValueError (not 2D), InvalidArgumentError."""
    @property
    def image_size(self) -> Optional[Tuple[int, int]]:
        """(width, height) of the current image, or None."""
    def add_click(self, x: float, y: float, positive: bool = True) -> None:
        """(x, y) in pixels, x right, y down; 10.5 is the centre of pixel 10."""
    def add_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Corners in pixels; far edges exclusive."""
    def add_scribble(self, mask: MaskArray, positive: bool = True) -> None: ...
    def add_scribble_polyline(
        self, points: Sequence[Tuple[float, float]], radius: float = 0.0, positive: bool = True
    ) -> None: ...
    def undo(self) -> None:
        """Raises StateError when there is no prompt."""
    def clear_prompts(self) -> None: ...
    @property
    def prompt_count(self) -> int: ...
    def predict(self) -> Prediction:
        """Releases the GIL. Raises StateError, CancelledError, OutOfMemoryError,
        BackendError."""
    def predict_batch(
        self,
        images: Sequence[ImageArray],
        window: Window = None,
        progress: Optional[Callable[[int, int], Optional[bool]]] = None,
    ) -> list[Prediction]:
        """Context only, no prompts; the session does not change. progress(done, total)
        returning False cancels (CancelledError)."""
    def cancel(self) -> None: ...
    def commit(self) -> int: ...
    def commit_mask(self, mask: MaskArray) -> int: ...
    def context_add(self, image: ImageArray, mask: MaskArray, window: Window = None) -> int: ...
    def context_remove(self, id: int) -> None:
        """Raises NotFoundError."""
    def context_ids(self) -> list[int]: ...
    @property
    def context_count(self) -> int: ...
    def context_clear(self) -> None: ...
    def context_save(self, path: StrPath) -> None: ...
    def context_load(self, path: StrPath) -> None:
        """Raises IoError, FormatError; all or nothing."""
    def context_import_folder(self, path: StrPath, label: Optional[int] = None) -> list[int]: ...
    def set_context_policy(self, cap: Optional[int] = None, select: str = "latest") -> None:
        """select: "latest" or "similar"."""
    def set_after_prompt(self, after_prompt: str) -> None:
        """Which network predicts an image once it has a prompt: "multiverseg" (default),
        "unet", "mean" or "mean-for-clicks". Raises ValueError."""
    @property
    def after_prompt(self) -> str: ...
    @property
    def unet_flip_average(self) -> bool:
        """Flip averaging of the UNet (default False): the mean of its logits over the four
        flips of its input; MultiverSegNet's predictions do not change."""
    @unet_flip_average.setter
    def unet_flip_average(self, on: bool) -> None: ...

MODEL_NAMES: List[str]
"""The names ``fetch`` and ``Model.load`` know: "official-v1", "official-v0"."""
TERMS_NOTICE: str
"""Where the official weights come from, their license and what to cite."""

def fetch(
    name: str,
    cache_dir: Optional[str] = None,
    mirror: Optional[str] = None,
    force: bool = False,
    progress: Optional[Callable[[str, int, Optional[int]], object]] = None,
) -> Dict[str, Any]:
    """Downloads, checks and converts a named model (``multiverseg.fetch`` wraps it)."""

def resolve(name: str, cache_dir: Optional[str] = None) -> str:
    """The cached weights file of a fetched model; no network. Raises NotFoundError."""
