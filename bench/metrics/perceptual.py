"""MS-SSIM (torchmetrics) and DISTS (piq), each as a functional score and a per-sample metric class.

- :func:`ms_ssim`: torchmetrics ``multiscale_structural_similarity_index_measure`` with its defaults (Gaussian 11,
  sigma 1.5, the five scales and betas of Wang et al. 2003, ``normalize="relu"``), ``data_range=1``. Five scales
  halve the image four times and the last scale still needs more than an 11-px window (torchmetrics checks
  ``side // 16 > 10``), so both sides must be at least :data:`MS_SSIM_MIN_SIDE` (176) px; smaller images are refused
  in one line (no silent fallback to fewer scales, whose values would not be comparable).
- :func:`dists`: DISTS (Ding et al. 2020) as ``piq.DISTS`` computes it: ImageNet-normalised input, VGG16 with L2
  pooling, structure and texture terms weighted by the published alpha / beta; images whose short side exceeds 256 px
  are first resized (bilinear) to 256 on the short side, as piq and the authors' ``prepare_image`` do. Reported as
  piq's distance ``1 - similarity`` (lower is better, 0 for identical images). The VGG16 trunk and the alpha / beta
  file are loaded from local files only (:func:`build_dists`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bench.metrics import functional as MF
from bench.metrics.image import PairedImageMetric, library_version
from bench.metrics.weights import resolve_weights, weights_info

__all__ = ["DISTS", "MSSSIM", "MS_SSIM_MIN_SIDE", "build_dists", "dists", "ms_ssim"]

_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIDE = 11 * 2 ** (len(_BETAS) - 1)
"""Smallest side (px) torchmetrics' five-scale MS-SSIM with an 11-px window accepts (``side // 16 > 10``)."""


def ms_ssim(preds: Tensor, target: Tensor) -> Tensor:
    """Per-sample MS-SSIM (torchmetrics defaults, data range 1), in float64.

    Raises:
        ValueError: images smaller than :data:`MS_SSIM_MIN_SIDE` on either side.
    """
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    MF._check_images(preds, target)
    if min(preds.shape[-2:]) < MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"MS-SSIM needs images of at least {MS_SSIM_MIN_SIDE} px on each side (5 scales, 11-px window), got "
            f"{preds.shape[-2]}x{preds.shape[-1]}; score a larger resolution or leave ms_ssim out"
        )
    return multiscale_structural_similarity_index_measure(
        preds.double(), target.double(), data_range=1.0, reduction="none"
    ).reshape(-1)


class MSSSIM(PairedImageMetric):
    """Per-sample MS-SSIM (higher is better); ``compute()`` returns ``[N]`` float64. See :func:`ms_ssim`."""

    higher_is_better: ClassVar[bool] = True

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return ms_ssim(preds, target)

    def describe(self) -> dict[str, Any]:
        """How MS-SSIM is computed."""
        return {
            "metric": "ms_ssim",
            "implementation": "torchmetrics multiscale_structural_similarity_index_measure(data_range=1.0, "
            "reduction='none'), float64",
            "window": "gaussian 11x11, sigma 1.5",
            "scales": len(_BETAS),
            "betas": list(_BETAS),
            "normalize": "relu (torchmetrics default)",
            "min_side": MS_SSIM_MIN_SIDE,
            "smaller_images": "refused (no fallback to fewer scales)",
            "colour": "RGB in [0, 1]",
            "libraries": {"torchmetrics": library_version("torchmetrics")},
            "higher_is_better": True,
        }


def build_dists(weights_dir: str | Path | None = None) -> nn.Module:
    """piq's DISTS built from local files: ``vgg16-397923af.pth`` (torchvision) and ``dists_weights.pt`` (piq).

    ``piq.DISTS()`` fetches both through torch.hub; here each is resolved with
    :func:`bench.metrics.weights.resolve_weights` (``weights_dir``, then the hub cache) and handed to piq's own
    ``ContentLoss`` machinery, so the computation is piq's. ``reduction="none"``; eval mode, no gradients.

    Raises:
        MissingWeightsError: a file is absent (never downloaded).
    """
    import torchvision
    from piq.perceptual import DISTS as PiqDISTS
    from piq.perceptual import VGG16_LAYERS, ContentLoss

    vgg_path, dists_path = resolve_weights("vgg", weights_dir), resolve_weights("dists", weights_dir)
    vgg = torchvision.models.vgg16(weights=None)
    vgg.load_state_dict(torch.load(vgg_path, map_location="cpu", weights_only=True))
    alpha_beta = torch.load(dists_path, map_location="cpu", weights_only=True)
    channels = [3, 64, 128, 256, 512, 512]
    weights = [*torch.split(alpha_beta["alpha"], channels, dim=1), *torch.split(alpha_beta["beta"], channels, dim=1)]
    layers = [VGG16_LAYERS[name] for name in ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")]
    model = PiqDISTS.__new__(PiqDISTS)
    ContentLoss.__init__(model, vgg.features, layers=layers, weights=weights, replace_pooling=True, reduction="none",
                         normalize_features=False, allow_layers_weights_mismatch=True)  # fmt: skip
    model.weights_paths = {"vgg": str(vgg_path), "dists": str(dists_path)}
    return model.eval().requires_grad_(False)


def dists(preds: Tensor, target: Tensor, *, model: nn.Module | None = None,
          weights_dir: str | Path | None = None) -> Tensor:  # fmt: skip
    """Per-sample DISTS distance ``1 - similarity`` (piq), float64; lower is better.

    Args:
        preds: Float images ``[N, 3, H, W]`` in [0, 1].
        target: Float images of the same shape.
        model: From :func:`build_dists` (built from local files when omitted).
        weights_dir: Where to look for the weights when ``model`` is omitted.
    """
    MF._check_images(preds, target)
    model = build_dists(weights_dir).to(preds.device) if model is None else model
    with torch.no_grad():
        return model(preds.float(), target.float()).reshape(-1).double()


class DISTS(PairedImageMetric):
    """Per-sample DISTS distance (lower is better); ``compute()`` returns ``[N]`` float64. See :func:`dists`.

    Args:
        weights_dir: Folder searched before the torch hub cache for the two weights files.
        model: A prebuilt model from :func:`build_dists`.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(self, weights_dir: str | Path | None = None, model: nn.Module | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = build_dists(weights_dir) if model is None else model

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return dists(preds, target, model=self.model)

    def describe(self) -> dict[str, Any]:
        """How DISTS is computed, with both weights files."""
        paths = self.model.weights_paths
        return {
            "metric": "dists",
            "implementation": "piq.DISTS computation (VGG16, L2 pooling, structure + texture terms), reduction none",
            "value": "1 - DISTS similarity (piq's distance); 0 for identical images",
            "resize": "short side > 256 px: bilinear to 256 on the short side (piq, as the authors' prepare_image)",
            "weights": {name: weights_info(name, path) for name, path in paths.items()},
            "colour": "RGB in [0, 1], ImageNet mean/std normalisation",
            "libraries": {"piq": library_version("piq"), "torchvision": library_version("torchvision")},
            "higher_is_better": False,
        }
