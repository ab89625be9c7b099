"""FID feature extractors per backend, and the builder the runner calls with a protocol's ``fid.backend``/``fid.mode``.

- ``torch-fidelity``: torch-fidelity's ``inception-v3-compat`` (:func:`bench.metrics.weights.build_inception`).
- ``clean-fid``: :class:`CleanFIDInception`, clean-fid's own per-image pipeline run on tensors. Its three modes:

  - ``clean``: each uint8 channel is resized to 299x299 as a float32 PIL image with PIL's (antialiased) bicubic filter,
    clipped to [0, 255]; the TorchScript Inception ``inception-2015-12-05.pt`` is fed ``(x - 128) / 128`` and its
    pool3 (2048-d) output is kept;
  - ``legacy_tensorflow``: no resize outside the network; the TorchScript model resizes inside
    (``return_features=True``), reproducing the TensorFlow (TTUR) FID pipeline;
  - ``legacy_pytorch``: ``torch.nn.functional.interpolate`` bilinear (``align_corners=False``) to 299x299 on [0, 255]
    floats, then pytorch-fid's Inception (``pt_inception-2015-12-05-6726825d.pth``) fed ``2 * x / 255 - 1``.

  The resize is clean-fid's own function (``cleanfid.resize.build_resizer``), the networks are clean-fid's own classes
  or file, and the weights come from local files only: clean-fid never gets the chance to download.
- ``pytorch-fid``: :class:`PytorchFIDInception`, pytorch-fid's own network and pipeline (``ToTensor`` to [0, 1],
  bilinear resize to 299 inside the network, ``2x - 1``): the ``pfafn`` protocol's FID (FS-VTON's README names
  pytorch-fid), so ``pytorch-fid`` is a runtime dependency.

Every extractor takes uint8 images ``[N, 3, H, W]`` and returns float32 features ``[N, 2048]``, so it plugs into
:class:`bench.metrics.image.InceptionStats` as ``extractor=``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import torch
from torch import Tensor, nn

from bench.metrics.image import library_version
from bench.metrics.weights import (
    WEIGHTS,
    MissingWeightsError,
    build_inception,
    reading_weights,
    resolve_weights,
    weights_info,
)

__all__ = [
    "CLEANFID_MODES", "FID_BACKENDS", "CleanFIDInception", "PytorchFIDInception", "build_feature_extractor",
    "fid_weights_name",
]  # fmt: skip

_logger = logging.getLogger(__name__)

FID_BACKENDS = ("torch-fidelity", "clean-fid", "pytorch-fid")
CLEANFID_MODES = ("clean", "legacy_pytorch", "legacy_tensorflow")

# Where clean-fid itself downloads and looks for its TorchScript Inception (features.feature_extractor, non-Windows).
_CLEANFID_OWN_DIR = "/tmp"

_MODE_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "clean": {
        "backbone": "clean-fid TorchScript Inception (inception-2015-12-05.pt, NVIDIA's port of the TF FID Inception)",
        "resize": "clean-fid make_resizer('PIL', quantize_after=False, 'bicubic', (299, 299)): each channel as a "
        "float32 PIL image, PIL bicubic (antialiased), clipped to [0, 255], not re-quantised",
        "normalisation": "(x - 128) / 128, then the model's `layers` (no resize inside)",
    },
    "legacy_tensorflow": {
        "backbone": "clean-fid TorchScript Inception (inception-2015-12-05.pt, NVIDIA's port of the TF FID Inception)",
        "resize": "none outside the network; the TorchScript model resizes to 299x299 inside (TF-style bilinear)",
        "normalisation": "inside the TorchScript model (return_features=True)",
    },
    "legacy_pytorch": {
        "backbone": "pytorch-fid's FID Inception (pt_inception-2015-12-05-6726825d.pth) via cleanfid.inception_pytorch",
        "resize": "clean-fid make_resizer('PyTorch', quantize_after=False, 'bilinear', (299, 299)): "
        "F.interpolate(align_corners=False, no antialias) on [0, 255] float32, clipped to [0, 255]",
        "normalisation": "x / 255, then 2x - 1 inside the network",
    },
}


def _load_torchscript(path: Path) -> nn.Module:
    """Load clean-fid's TorchScript Inception on the CPU (TorchScript loading is deprecated in torch 2.13, not gone)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.* is deprecated", category=DeprecationWarning)
        with reading_weights(path):
            return torch.jit.load(str(path), map_location="cpu")


def _load_fid_inception(path: Path, package: ModuleType, **kwargs: Any) -> nn.Module:
    """Build ``package.InceptionV3(output_blocks=[3], **kwargs)`` with its weights read from ``path``.

    ``package`` is clean-fid's or pytorch-fid's copy of pytorch-fid's ``inception`` module. Both fetch the weights with
    a module-level ``load_state_dict_from_url``; it is replaced, during construction only, by a loader of the local
    file, so no download can happen.
    """
    expected_url = WEIGHTS["pt_inception"].url

    def load_local(url: str, **_: Any) -> dict[str, Tensor]:
        if url != expected_url:
            raise RuntimeError(f"{package.__name__} asked for {url}, expected {expected_url}: update WEIGHTS")
        with reading_weights(path):
            return torch.load(path, map_location="cpu", weights_only=True)

    with mock.patch.object(package, "load_state_dict_from_url", load_local), warnings.catch_warnings():
        # Both call torchvision's deprecated ``pretrained=False`` (no download either way).
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.models\._utils")
        return package.InceptionV3(output_blocks=[3], **kwargs)


class _FrozenExtractor(nn.Module):
    """A feature extractor locked in eval mode without gradients (like torchmetrics' ``NoTrainInceptionV3``)."""

    weights_path: str

    def train(self, mode: bool = True) -> _FrozenExtractor:
        """Stay in eval mode whatever is asked."""
        return super().train(False)

    def _freeze(self) -> None:
        self.eval().requires_grad_(False)


class CleanFIDInception(_FrozenExtractor):
    """clean-fid's FID feature pipeline for one mode: uint8 images ``[N, 3, H, W]`` -> float32 ``[N, 2048]``.

    Images go through clean-fid's own resize function one by one on the CPU (as its ``ResizeDataset`` does for decoded
    image files), then through the network on the module's device. Locked in eval mode, no gradients.

    Args:
        mode: ``"clean"`` (default; LaDI-VTON, CatVTON), ``"legacy_tensorflow"`` or ``"legacy_pytorch"``.
        weights_dir: Folder searched before the torch hub cache for ``inception-2015-12-05.pt`` (clean,
            legacy_tensorflow) or ``pt_inception-2015-12-05-6726825d.pth`` (legacy_pytorch).

    Raises:
        ValueError: If ``mode`` is unknown.
        MissingWeightsError: If the weights file is not found (never downloaded).
    """

    def __init__(self, mode: str = "clean", weights_dir: str | Path | None = None) -> None:
        if mode not in CLEANFID_MODES:
            raise ValueError(f"Unknown clean-fid mode {mode!r}; expected one of {CLEANFID_MODES}")
        super().__init__()
        from cleanfid.resize import build_resizer

        self.mode = mode
        self.weights_name = fid_weights_name("clean-fid", mode)
        try:
            path = resolve_weights(self.weights_name, weights_dir)
        except MissingWeightsError as error:
            if self.weights_name != "cleanfid_inception":
                raise
            own_copy = Path(_CLEANFID_OWN_DIR) / WEIGHTS["cleanfid_inception"].filename
            raise MissingWeightsError(f"{error} (clean-fid's own copy, if any, is {own_copy})") from None
        self.weights_path = str(path)
        with warnings.catch_warnings():  # clean-fid's PyTorch resizer calls warnings.filterwarnings("ignore")
            self._resize = build_resizer(mode)
        if mode == "legacy_pytorch":
            import cleanfid.inception_pytorch

            self.net = _load_fid_inception(path, cleanfid.inception_pytorch, resize_input=False)
        else:
            self.net = _load_torchscript(path)
        self._freeze()
        _logger.debug("built clean-fid %s extractor from %s", mode, path)

    def resize(self, images: Tensor) -> Tensor:
        """clean-fid's resize of uint8 images ``[N, 3, H, W]``: float32 ``[N, 3, 299, 299]`` on the CPU, in [0, 255].

        ``legacy_tensorflow`` returns the images unresized as float32. The result equals clean-fid's ``ResizeDataset``
        output on the same pixels (its ``ToTensor`` divides and multiplies uint8 values by 255, which is exact).
        """
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Expected uint8 images [N, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        arrays = images.detach().cpu().permute(0, 2, 3, 1).numpy()
        resized = [np.asarray(self._resize(np.ascontiguousarray(a)), dtype=np.float32) for a in arrays]
        return torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).contiguous()

    def forward(self, images: Tensor) -> Tensor:
        """Pool3 features ``[N, 2048]`` (float32) of uint8 images ``[N, 3, H, W]``."""
        x = self.resize(images)
        n = x.shape[0]
        device = next(self.net.parameters()).device
        x = x.to(device)
        with torch.no_grad():
            if self.mode == "clean":
                features = self.net.layers((x - 128) / 128)
            elif self.mode == "legacy_tensorflow":
                features = self.net(x, return_features=True)
            else:
                features = self.net(x / 255)[0]
        return features.reshape(n, 2048)

    def describe(self) -> dict[str, Any]:
        """How the features are computed (for :meth:`bench.metrics.image.InceptionStats.describe`)."""
        return {
            "backend": "clean-fid",
            "mode": self.mode,
            **_MODE_DESCRIPTIONS[self.mode],
            "layer": "2048 (pool3)",
            "input": "uint8; float [0, 1] quantised as floor(255x + 0.5) (clean-fid reads 8-bit image files)",
            "weights": weights_info(self.weights_name, self.weights_path),
            "libraries": {"clean-fid": library_version("clean-fid"), "torch": library_version("torch")},
        }


class PytorchFIDInception(_FrozenExtractor):
    """pytorch-fid's FID feature pipeline: uint8 images ``[N, 3, H, W]`` -> float32 ``[N, 2048]``.

    As pytorch-fid's ``get_activations``: ``ToTensor`` (uint8 / 255), then its ``InceptionV3`` (pool3 block), which
    resizes to 299x299 with ``F.interpolate(mode="bilinear", align_corners=False)`` (no antialiasing) and maps to
    [-1, 1]. Weights from ``pt_inception-2015-12-05-6726825d.pth``.

    Args:
        weights_dir: Folder searched before the torch hub cache for the weights file.

    Raises:
        MissingWeightsError: If the weights file is not found (never downloaded).
    """

    def __init__(self, weights_dir: str | Path | None = None) -> None:
        import pytorch_fid.inception

        super().__init__()
        path = resolve_weights(fid_weights_name("pytorch-fid"), weights_dir)
        self.weights_path = str(path)
        self.net = _load_fid_inception(path, pytorch_fid.inception)
        self._freeze()

    def forward(self, images: Tensor) -> Tensor:
        """Pool3 features ``[N, 2048]`` (float32) of uint8 images ``[N, 3, H, W]``."""
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Expected uint8 images [N, 3, H, W], got {images.dtype} {tuple(images.shape)}")
        device = next(self.net.parameters()).device
        with torch.no_grad():
            return self.net(images.to(device).float().div(255))[0].reshape(len(images), 2048)

    def describe(self) -> dict[str, Any]:
        """How the features are computed (for :meth:`bench.metrics.image.InceptionStats.describe`)."""
        return {
            "backend": "pytorch-fid",
            "backbone": "pytorch-fid's FID Inception (pt_inception-2015-12-05-6726825d.pth)",
            "resize": "F.interpolate(299x299, bilinear, align_corners=False, no antialias) inside the network, on "
            "[0, 1] floats",
            "normalisation": "uint8 / 255 (ToTensor), then 2x - 1 inside the network",
            "layer": "2048 (pool3)",
            "input": "uint8; float [0, 1] quantised as floor(255x + 0.5) (pytorch-fid reads 8-bit image files)",
            "weights": weights_info("pt_inception", self.weights_path),
            "libraries": {"pytorch-fid": library_version("pytorch-fid"), "torch": library_version("torch")},
        }


def fid_weights_name(backend: str, mode: str | None = None) -> str:
    """The :data:`~bench.metrics.weights.WEIGHTS` entry a backend (and clean-fid mode) loads, for checks before work."""
    if backend == "torch-fidelity":
        return "inception"
    if backend == "clean-fid" and mode != "legacy_pytorch":
        return "cleanfid_inception"
    return "pt_inception"


def build_feature_extractor(
    backend: str = "torch-fidelity", mode: str | None = None, weights_dir: str | Path | None = None
) -> nn.Module:
    """The FID/KID feature extractor for a protocol's ``fid.backend`` and ``fid.mode``, built from local files.

    Example:
        ``InceptionStats(extractor=build_feature_extractor(protocol.fid.backend, protocol.fid.mode, weights_dir))``

    Args:
        backend: ``"torch-fidelity"``, ``"clean-fid"`` or ``"pytorch-fid"``.
        mode: clean-fid mode (``"clean"`` if None); must be None for the other backends.
        weights_dir: Folder searched before the torch hub cache.

    Returns:
        A module mapping uint8 ``[N, 3, H, W]`` to float32 ``[N, 2048]``, with ``weights_path``.

    Raises:
        ValueError: If ``backend`` or ``mode`` is unknown.
        MissingWeightsError: If the weights file is not found.
    """
    if backend not in FID_BACKENDS:
        raise ValueError(f"Unknown FID backend {backend!r}; expected one of {FID_BACKENDS}")
    if backend == "clean-fid":
        return CleanFIDInception("clean" if mode is None else mode, weights_dir)
    if mode is not None:
        raise ValueError(f"FID backend {backend!r} has no modes, got mode={mode!r}; leave fid.mode unset")
    return build_inception(weights_dir) if backend == "torch-fidelity" else PytorchFIDInception(weights_dir)
