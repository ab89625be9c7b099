"""Metrics for the benchmark: SSIM variants, PSNR, MSE, LPIPS, FID and KID, and video metrics.

What each metric is (label, direction, digits, summary, weights) lives in one place, :mod:`bench.metrics.specs`
(:func:`metric_spec`, :func:`list_metrics`). Functional core in :mod:`bench.metrics.functional`, stateful
``torchmetrics.Metric`` classes in :mod:`bench.metrics.image`, offline weight lookup and backbone builders in
:mod:`bench.metrics.weights`, FID feature extractors per backend (torch-fidelity, clean-fid) in
:mod:`bench.metrics.fid_backends`, video (VVT) metrics in :mod:`bench.metrics.video`, the flow end-point error
against synthetic ground truth in :mod:`bench.metrics.flow`.

Importing this package imports no torch: the specs are loaded at once, every other name below on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.metrics.specs import MetricSpec, list_metrics, metric_spec, register_metric

# The names exported from the implementation modules, imported on first use (torch and friends load with them).
_LAZY = {
    "fid_backends": ("CLEANFID_MODES", "FID_BACKENDS", "CleanFIDInception", "build_feature_extractor"),
    "functional": (
        "SSIM_VARIANTS", "TORCHMETRICS_UNCROPPED_SSIM_SINCE", "fid_from_features", "inception_score_from_probs",
        "kid_from_features", "lpips", "mse", "pil_luma", "psnr", "ssim", "ssim_pytorch_ssim", "ssim_skimage_gaussian",
        "ssim_torchmetrics", "ssim_torchmetrics_cropped", "to_uint8", "torchmetrics_ssim_variant",
    ),
    "flow": ("flow_epe",),
    "image": ("LPIPS", "MSE", "PSNR", "SSIM", "InceptionScore", "InceptionStats", "PairedImageMetric"),
    "video": ("R3D18VideoFeatures", "VideoFID", "VideoMetrics", "colour_flicker_error", "temporal_change_error"),
    "weights": (
        "WEIGHTS", "MissingWeightsError", "build_imagenet_inception", "build_inception", "build_lpips",
        "resolve_weights",
    ),
}  # fmt: skip
_HOME = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    """An exported name (imported from its module on first use), or a submodule (``bench.metrics.weights``)."""
    if name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    else:
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


__all__ = [
    "CLEANFID_MODES",
    "FID_BACKENDS",
    "LPIPS",
    "MSE",
    "PSNR",
    "SSIM",
    "SSIM_VARIANTS",
    "TORCHMETRICS_UNCROPPED_SSIM_SINCE",
    "WEIGHTS",
    "CleanFIDInception",
    "InceptionScore",
    "InceptionStats",
    "MetricSpec",
    "MissingWeightsError",
    "PairedImageMetric",
    "R3D18VideoFeatures",
    "VideoFID",
    "VideoMetrics",
    "build_feature_extractor",
    "build_imagenet_inception",
    "build_inception",
    "build_lpips",
    "colour_flicker_error",
    "fid_from_features",
    "inception_score_from_probs",
    "kid_from_features",
    "list_metrics",
    "lpips",
    "metric_spec",
    "mse",
    "pil_luma",
    "psnr",
    "register_metric",
    "resolve_weights",
    "ssim",
    "ssim_pytorch_ssim",
    "ssim_skimage_gaussian",
    "ssim_torchmetrics",
    "ssim_torchmetrics_cropped",
    "temporal_change_error",
    "to_uint8",
    "torchmetrics_ssim_variant",
]
