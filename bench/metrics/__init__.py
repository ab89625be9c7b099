"""Metrics for the benchmark: SSIM variants, PSNR, MSE, LPIPS, FID and KID, and video metrics.

Functional core in :mod:`bench.metrics.functional`, stateful ``torchmetrics.Metric`` classes in
:mod:`bench.metrics.image`, offline weight lookup and backbone builders in :mod:`bench.metrics.weights`, FID feature
extractors per backend (torch-fidelity, clean-fid) in :mod:`bench.metrics.fid_backends`, video (VVT) metrics in
:mod:`bench.metrics.video`.
"""

from __future__ import annotations

from bench.metrics.fid_backends import CLEANFID_MODES, FID_BACKENDS, CleanFIDInception, build_feature_extractor
from bench.metrics.functional import (
    SSIM_VARIANTS,
    fid_from_features,
    inception_score_from_probs,
    kid_from_features,
    lpips,
    mse,
    pil_luma,
    psnr,
    ssim,
    ssim_pytorch_ssim,
    ssim_skimage_gaussian,
    ssim_torchmetrics,
    ssim_torchmetrics_pre15,
    to_uint8,
)
from bench.metrics.image import LPIPS, MSE, PSNR, SSIM, InceptionScore, InceptionStats, PairedImageMetric
from bench.metrics.video import (
    R3D18VideoFeatures,
    VideoFID,
    VideoMetrics,
    colour_flicker_error,
    temporal_change_error,
)
from bench.metrics.weights import (
    WEIGHTS,
    MissingWeightsError,
    build_imagenet_inception,
    build_inception,
    build_lpips,
    resolve_weights,
)

__all__ = [
    "CLEANFID_MODES",
    "FID_BACKENDS",
    "LPIPS",
    "MSE",
    "PSNR",
    "SSIM",
    "SSIM_VARIANTS",
    "WEIGHTS",
    "CleanFIDInception",
    "InceptionScore",
    "InceptionStats",
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
    "lpips",
    "mse",
    "pil_luma",
    "psnr",
    "resolve_weights",
    "ssim",
    "ssim_pytorch_ssim",
    "ssim_skimage_gaussian",
    "ssim_torchmetrics",
    "ssim_torchmetrics_pre15",
    "temporal_change_error",
    "to_uint8",
]
