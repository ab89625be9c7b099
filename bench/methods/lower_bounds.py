"""Lower bounds: methods without learning that every table should beat."""

from __future__ import annotations

from torch import Tensor, nn

from baselines.no_warp import NoWarp
from bench.methods.base import Batch, MethodCard, TryOnMethod

__all__ = ["NoWarpMethod"]


class NoWarpMethod(TryOnMethod):
    """The in-shop garment pasted over the person by its own mask (:class:`baselines.no_warp.NoWarp`)."""

    card = MethodCard(
        name="no_warp", title="no warp (lower bound)", family="lower bound: garment pasted by its mask, unwarped",
        citation="pftryon lower bound (as in the PF-AFN ablation of this suite)",
        inputs=("person", "cloth", "cloth_mask"), resolution=(256, 192), official_files=(), weights_source="none",
        parser_free=True, latency_model="no_warp",
    )  # fmt: skip

    @classmethod
    def build_weightless(cls) -> nn.Module:
        return NoWarp()

    def inputs(self, batch: Batch) -> tuple[Tensor, ...]:
        return batch["person"], batch["cloth"], batch["cloth_mask"]
