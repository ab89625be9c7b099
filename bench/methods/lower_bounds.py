"""Lower bounds and ablation rows: methods without learning (or without a part) that every table should beat."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from baselines.no_flow import IdentityFlowTryOn
from baselines.no_warp import NoWarp
from bench.methods.base import Batch, MethodCard, Size, TryOnMethod
from bench.methods.flow import MaskedGarmentMethod, masked_garment_example_inputs
from pftryon.models import OFFICIAL_GEN_FILE, OFFICIAL_WARP_FILE, PFAFN

__all__ = ["NoWarpMethod", "PFAFNNoFlowMethod"]


class NoWarpMethod(TryOnMethod):
    """The in-shop garment pasted over the person by its own mask (:class:`baselines.no_warp.NoWarp`)."""

    card = MethodCard(
        name="no_warp", title="no warp (lower bound)", family="lower bound: garment pasted by its mask, unwarped",
        citation="pftryon lower bound (as in the PF-AFN ablation of this suite)",
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192), official_files=(), weights_source="none",
        parser_free=True, latency_model="no_warp",
    )  # fmt: skip
    timing_summary = "no-warp lower bound: the garment pasted by its mask (no network)"

    @classmethod
    def build_weightless(cls) -> nn.Module:
        return NoWarp()

    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        return batch["person"], batch["cloth"], batch["cloth_mask"]

    @classmethod
    def example_inputs(
        cls, batch_size: int, size: Size, generator: torch.Generator | None = None
    ) -> tuple[Tensor, ...]:
        """PF-AFN's random inputs (the garment already masked: the paste is the same)."""
        return masked_garment_example_inputs(batch_size, size, generator)


class PFAFNNoFlowMethod(MaskedGarmentMethod):
    """PF-AFN's trained generator on the unwarped garment (:class:`baselines.no_flow.IdentityFlowTryOn`): the identity
    flow in place of the warp, the ablation row that shows what the appearance flow contributes.

    Loads PF-AFN's weights (official files or a pftryon PF-AFN checkpoint); only the generator is used. The inputs
    are PF-AFN's (``PF-AFN_test/test.py``).
    """

    card = MethodCard(
        name="pf_afn_no_flow", title="PF-AFN, identity flow (ablation)",
        family="ablation: PF-AFN's generator and composition on the unwarped garment",
        citation="pftryon ablation of Ge et al., Parser-Free Virtual Try-on via Distilling Appearance Flows, CVPR 2021",
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192),
        official_files=(OFFICIAL_WARP_FILE, OFFICIAL_GEN_FILE),
        weights_source="PF-AFN's: geyuying/PF-AFN README, checkpoints/PFAFN/ (only the generator is used), or a "
        "pftryon PF-AFN checkpoint", parser_free=True, latency_model="pf_afn_no_flow",
    )  # fmt: skip
    model_class = PFAFN
    checkpoint_submodules = ("gen",)  # the only part used
    timing_summary = "PF-AFN identity-flow ablation: PF-AFN's generator + composition on the unwarped garment (no warp)"

    def __init__(self, model: nn.Module, checkpoints: Mapping[str, str], config: Mapping[str, Any]) -> None:
        super().__init__(IdentityFlowTryOn(model) if isinstance(model, PFAFN) else model, checkpoints, config)
