"""The no-warp lower bound: the in-shop garment pasted over the person by its own mask, unwarped.

Any try-on method that does worse than this has learnt nothing about the garment's fit; it is the floor of every
table. It has no weights.
"""

from __future__ import annotations

import torch
from torch import nn

from pftryon.models import mask_garment

__all__ = ["NoWarp"]


class NoWarp(nn.Module):
    """``NoWarp()(person, cloth, edge)``: ``person * (1 - m) + cloth * m`` with ``m`` the edge binarised at 0.5.

    Inputs as PF-AFN's (images in [-1, 1], ``edge`` ``[B, 1, H, W]`` in [0, 1]). Returns ``tryon``,
    ``warped_cloth`` (the masked garment, where it lies in the shop image) and ``warped_edge`` (its mask).
    """

    def forward(self, person: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor) -> dict[str, torch.Tensor]:
        clothes, mask = mask_garment(cloth, edge)
        return {"tryon": person * (1 - mask) + clothes, "warped_cloth": clothes, "warped_edge": mask}
