"""Flow metrics: the end-point error of a predicted warp against the true garment flow of synthetic data."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["flow_epe"]


def flow_epe(flow: Tensor, truth: Tensor) -> Tensor:
    """Mean end-point error in pixels, per sample, where ``truth`` is defined.

    Both are normalised sampling grids ``[B, 2, H, W]`` (channels x, y; ``align_corners=True``, so a unit is
    ``(W - 1) / 2`` pixels in x and ``(H - 1) / 2`` in y); ``truth`` is NaN outside the true garment region.
    A sample without a defined pixel gives NaN.
    """
    height, width = truth.shape[-2:]
    scale = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64).view(1, 2, 1, 1)
    error = ((flow.double() - truth.double()) * scale).norm(dim=1)
    valid = ~error.isnan()
    return torch.where(valid, error, 0.0).sum(dim=(1, 2)) / valid.sum(dim=(1, 2))
