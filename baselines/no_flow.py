"""The identity-flow ablation of PF-AFN: its trained generator given the garment unwarped.

PF-AFN's test pipeline (:func:`pftryon.models.pf_afn.render_parser_free`) with the warp module replaced by the
identity: the warped garment is the in-shop garment, the warped edge its mask, the flow the identity grid. The
generator and the composition are PF-AFN's, with the weights of a trained PF-AFN. Set beside PF-AFN, the row shows
what the appearance flow contributes; set beside the no-warp lower bound (:mod:`baselines.no_warp`), what the
generator does with an unaligned garment.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pftryon.layers import apply_offset
from pftryon.models import WarpOutput, mask_garment
from pftryon.models.pf_afn import render_parser_free

__all__ = ["IdentityFlowTryOn", "IdentityWarp"]


class IdentityWarp(nn.Module):
    """A warp module that leaves the garment where it is: ``warped = cloth``, ``warped_edge = edge``, identity flow."""

    def forward(self, condition: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor | None = None) -> WarpOutput:
        batch, _, height, width = cloth.shape
        flow = apply_offset(cloth.new_zeros(batch, 2, height, width)).permute(0, 3, 1, 2)
        return WarpOutput(warped=cloth, flow=flow, warped_edge=edge)


class IdentityFlowTryOn(nn.Module):
    """``IdentityFlowTryOn(pf_afn)(person, cloth, edge)``: PF-AFN's generator and composition on the unwarped garment.

    Args:
        model: a trained parser-free flow model with a 7-channel generator ``gen`` (a :class:`~pftryon.PFAFN`); its
            warp module is not used.

    Inputs and outputs as :class:`~pftryon.PFAFN` (the official preprocessing, :func:`~pftryon.models.mask_garment`,
    is applied here, so the edge may be soft).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.gen = model.gen
        self.warp = IdentityWarp()
        self.config: dict[str, Any] = dict(getattr(model, "config", {}))

    def forward(self, person: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor) -> dict[str, torch.Tensor]:
        return render_parser_free(self.warp, self.gen, person, *mask_garment(cloth, edge))
