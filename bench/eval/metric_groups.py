"""The metrics ``pftryon eval`` computes, grouped by what feeds them: which images a run reads, which pass scores
them."""

from __future__ import annotations

from bench.metrics.region import REGION_METRICS

__all__: list[str] = []

# Metrics by what feeds them: one value per pair, per video transition, or from two feature sets.
_PAIRED = ("ssim", "psnr", "mse", "lpips", "is", "ms_ssim", "dists", "clip_sim", "dino_sim", *REGION_METRICS)
_TEMPORAL = ("tce", "flicker")
_INCEPTION_SET = ("fid", "kid", "precision", "recall")  # the protocol's FID features
_DINO_SET = ("fd_dinov2",)
