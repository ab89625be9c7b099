"""Flow-field helpers shared by the appearance-flow models.

Conventions (see docs/reference/method.md §0): a *flow* is an absolute sampling grid in normalised coordinates,
stored channel-first as ``[B, 2, H, W]`` with channel 0 = x and channel 1 = y, and every ``grid_sample`` uses
``align_corners=True`` (what PyTorch 0.4 / 1.1 did), so -1 and +1 are the centres of the first and last pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["apply_offset", "warp", "upsample_flow", "second_order_filters"]


def apply_offset(offset: torch.Tensor) -> torch.Tensor:
    """Turn pixel offsets ``[B, 2, h, w]`` (dx, dy) into a normalised sampling grid ``[B, h, w, 2]``.

    A zero offset gives the identity grid.
    """
    _, _, h, w = offset.shape
    rows = torch.arange(h, device=offset.device, dtype=offset.dtype).view(1, h, 1)
    cols = torch.arange(w, device=offset.device, dtype=offset.dtype).view(1, 1, w)
    x = (cols + offset[:, 0]) / ((w - 1.0) / 2.0) - 1.0
    y = (rows + offset[:, 1]) / ((h - 1.0) / 2.0) - 1.0
    return torch.stack((x, y), dim=-1)


def warp(x: torch.Tensor, grid: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Bilinearly sample ``x`` at ``grid`` (``[B, h, w, 2]`` or a channel-first flow ``[B, 2, h, w]``)."""
    if grid.shape[-1] != 2:
        grid = grid.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


def upsample_flow(flow: torch.Tensor) -> torch.Tensor:
    """Double the resolution of a normalised flow; the coordinates themselves need no rescaling."""
    return F.interpolate(flow, scale_factor=2.0, mode="bilinear", align_corners=False)


def second_order_filters(device: torch.device | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The four fixed 3x3 second-difference filters ``[4, 1, 3, 3]``: along x, along y and both diagonals."""
    filters = torch.zeros(4, 3, 3, device=device, dtype=dtype)
    filters[0, 1] = torch.tensor([1.0, -2.0, 1.0])
    filters[1, :, 1] = torch.tensor([1.0, -2.0, 1.0])
    filters[2] = torch.diag(torch.tensor([1.0, -2.0, 1.0]))
    filters[3] = torch.diag(torch.tensor([1.0, -2.0, 1.0])).flip(1)
    return filters.unsqueeze(1)
