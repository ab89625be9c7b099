"""Metrics for the benchmark: SSIM variants, PSNR, LPIPS, FID and KID.

Functional core in :mod:`bench.metrics.functional`, stateful ``torchmetrics.Metric`` classes in
:mod:`bench.metrics.image`, offline weight lookup and backbone builders in :mod:`bench.metrics.weights`.
"""

from __future__ import annotations

from bench.metrics.functional import (
    SSIM_VARIANTS,
    fid_from_features,
    kid_from_features,
    lpips,
    pil_luma,
    psnr,
    ssim,
    ssim_pytorch_ssim,
    ssim_skimage_gaussian,
    ssim_torchmetrics,
    to_uint8,
)
from bench.metrics.image import LPIPS, PSNR, SSIM, InceptionStats, PairedImageMetric
from bench.metrics.weights import (
    WEIGHTS,
    MissingWeightsError,
    build_inception,
    build_lpips,
    resolve_weights,
)

__all__ = [
    "LPIPS",
    "PSNR",
    "SSIM",
    "SSIM_VARIANTS",
    "WEIGHTS",
    "InceptionStats",
    "MissingWeightsError",
    "PairedImageMetric",
    "build_inception",
    "build_lpips",
    "fid_from_features",
    "kid_from_features",
    "lpips",
    "pil_luma",
    "psnr",
    "resolve_weights",
    "ssim",
    "ssim_pytorch_ssim",
    "ssim_skimage_gaussian",
    "ssim_torchmetrics",
    "to_uint8",
]
