"""Garment-region SSIM and LPIPS: scored inside the garment mask and outside it, so a method that repaints the
background is told apart from one that warps the garment well.

Definitions (``M`` a boolean mask ``[N, 1, H, W]`` at the evaluation size, ``|M|`` its pixel count):

- **masked SSIM** = ``sum_{M} s / |M|`` where ``s`` is the channel mean of the SSIM map in the torchmetrics >= 1.4.2
  form (Gaussian 11, sigma 1.5, reflect padding of 5 px so the map has the image's size, data range 1, float64).
  Windows near the mask edge see pixels on both sides: the value measures the structure *at* the masked pixels.
- **masked LPIPS** = ``sum_{M} d / |M|`` where ``d`` is the spatial LPIPS map (``lpips.LPIPS(spatial=True)``: each
  layer's distance upsampled bilinearly to the input size and summed over layers).
- Each is computed with ``M`` = the garment and with ``M`` = its complement (``outside``: background, skin, hair and
  the other clothes). An empty region gives NaN for that sample (reported, never counted as a number).

The garment mask comes from the reference person's parse (the dataset's own label set mapped to
:data:`bench.data.schema.COMMON`): ``upper`` for upper-body try-on (VITON, VITON-HD, MPV, VVT, Dress Code
``upper_body``), ``bottom`` for Dress Code ``lower_body``, ``dress`` for ``dresses`` (:data:`GARMENT_CLASS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from bench.data.schema import COMMON, to_common
from bench.metrics import functional as MF
from bench.metrics.image import library_version
from bench.metrics.weights import build_lpips, weights_info

__all__ = ["GARMENT_CLASS", "REGION_METRICS", "GarmentRegion", "garment_mask", "masked_lpips", "masked_ssim"]

GARMENT_CLASS: dict[str | None, str] = {None: "upper", "upper_body": "upper", "lower_body": "bottom",
                                        "dresses": "dress"}  # fmt: skip
"""The common parse class of the tried-on garment, per Dress Code category (``None``: upper-body datasets)."""

REGION_METRICS = ("ssim_garment", "ssim_outside", "lpips_garment", "lpips_outside")


def garment_mask(parse: Tensor, label_set: str, category: str | None = None) -> Tensor:
    """Boolean ``[H, W]`` mask of the garment class of ``category`` in a parse map of ``label_set``."""
    if category not in GARMENT_CLASS:
        raise ValueError(f"Unknown category {category!r}; expected one of {sorted(map(str, GARMENT_CLASS))}")
    return to_common(parse, label_set) == COMMON.index(GARMENT_CLASS[category])


def _check_mask(preds: Tensor, mask: Tensor) -> Tensor:
    if mask.dtype != torch.bool or mask.shape != (preds.shape[0], 1, *preds.shape[-2:]):
        raise ValueError(f"Expected a bool mask [N, 1, H, W] for images {tuple(preds.shape)}, got {mask.dtype} "
                         f"{tuple(mask.shape)}")  # fmt: skip
    return mask.to(preds.device)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values [N, 1, H, W]`` over each sample's mask pixels (NaN where the mask is empty), float64."""
    weight = mask.double()
    return (values.double() * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))


def masked_ssim(preds: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Per-sample SSIM averaged over the mask pixels (see the module docstring); ``[N]`` float64."""
    MF._check_images(preds, target)
    mask = _check_mask(preds, mask)
    ssim_map = MF._gaussian_ssim_map(preds, target, 0.01**2, 0.03**2, pad="reflect").mean(dim=1, keepdim=True)
    return _masked_mean(ssim_map, mask)


def masked_lpips(preds: Tensor, target: Tensor, mask: Tensor, *, model: nn.Module) -> Tensor:
    """Per-sample spatial LPIPS averaged over the mask pixels; ``model`` from ``build_lpips(backend="lpips")``."""
    MF._check_images(preds, target)
    mask = _check_mask(preds, mask)
    if not type(model).__module__.startswith("lpips"):
        raise ValueError("masked LPIPS needs the lpips package's model (build_lpips(backend='lpips'))")
    dtype = next(model.parameters()).dtype
    spatial, model.spatial = model.spatial, True
    try:
        with torch.no_grad():
            distance = model(2 * preds.to(dtype) - 1, 2 * target.to(dtype) - 1)
    finally:
        model.spatial = spatial
    return _masked_mean(distance, mask)


class GarmentRegion(Metric):
    """SSIM and LPIPS inside the garment mask and outside it, per sample.

    ``update(preds, target, mask)`` takes float images ``[N, 3, H, W]`` in [0, 1] and the garment mask (bool
    ``[N, 1, H, W]``); ``compute()`` returns ``{name: [N] float64}`` for the names in :data:`REGION_METRICS` that
    were asked for.

    Args:
        metrics: A subset of :data:`REGION_METRICS`.
        lpips_net: LPIPS trunk (lpips package, v0.1 heads).
        weights_dir: Folder searched for the LPIPS trunk before the torch hub cache.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable: ClassVar[bool] = False
    higher_is_better: ClassVar[bool | None] = None  # SSIM higher, LPIPS lower: see describe()
    full_state_update: ClassVar[bool] = False

    def __init__(self, metrics: tuple[str, ...] = REGION_METRICS,
                 lpips_net: Literal["alex", "vgg", "squeeze"] = "alex", weights_dir: str | Path | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        unknown = sorted(set(metrics) - set(REGION_METRICS))
        if unknown:
            raise ValueError(f"Unknown region metrics {unknown}; expected a subset of {REGION_METRICS}")
        super().__init__(**kwargs)
        self.names = tuple(m for m in REGION_METRICS if m in metrics)
        needs_lpips = any(m.startswith("lpips") for m in self.names)
        self.lpips_net = lpips_net
        self.model = build_lpips(lpips_net, "lpips", weights_dir) if needs_lpips else None
        for name in self.names:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor, target: Tensor, mask: Tensor) -> None:
        """Score a batch inside and outside ``mask``."""
        regions = {"garment": mask, "outside": ~mask}
        for name in self.names:
            kind, region = name.split("_")
            if kind == "ssim":
                value = masked_ssim(preds, target, regions[region])
            else:
                value = masked_lpips(preds, target, regions[region], model=self.model)  # type: ignore[arg-type]
            getattr(self, name).append(value)

    def compute(self) -> dict[str, Tensor]:
        """Per-sample values by name (NaN where a region is empty)."""
        return {name: dim_zero_cat(getattr(self, name)).reshape(-1) for name in self.names}

    def describe(self) -> dict[str, Any]:
        """How the region metrics are computed."""
        path = getattr(self.model, "weights_path", None)
        return {
            "metric": "garment_region",
            "implementation": "bench.metrics.region: masked mean of the SSIM map / spatial LPIPS map",
            "mask": "reference person's parse mapped to the common label set; garment = upper (upper-body datasets, "
            "Dress Code upper_body), bottom (lower_body), dress (dresses); outside = every other pixel; the parse "
            "resized with nearest neighbour to the evaluation size",
            "ssim": "mean over the region's pixels of the channel-mean SSIM map, torchmetrics >= 1.4.2 form "
            "(gaussian 11, sigma 1.5, reflect padding, data range 1), float64",
            "lpips": f"mean over the region's pixels of lpips.LPIPS(net={self.lpips_net!r}, spatial=True), v0.1, "
            "at the evaluation size (no LPIPS resize)",
            "weights": weights_info(self.lpips_net, path) if path else None,
            "empty_region": "NaN for that sample, left out of the mean (n says how many were scored)",
            "higher_is_better": {"ssim": True, "lpips": False},
            "libraries": {"lpips": library_version("lpips"), "torchmetrics": library_version("torchmetrics")},
        }
