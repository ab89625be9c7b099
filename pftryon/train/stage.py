"""The contract between a training stage and the :class:`~pftryon.train.trainer.Trainer`.

A stage owns the networks it trains (and frozen helpers such as the tutor), says which parameters each
optimiser *phase* updates (PF-AFN's student warp stage trains only the person branch and ``netRefine`` first,
then everything with a fresh Adam), and computes the loss of one batch. The trainer owns everything else:
optimisers, learning-rate schedule, mixed precision, DDP, checkpoints, resume and logging.

The batch a stage receives (collated by :class:`~pftryon.train.data.TrainingPairs`; ``B`` samples at ``H x W``):

===================  ==========================================================================================
key                  value
===================  ==========================================================================================
``person``           float32 ``[B, 3, H, W]`` in [-1, 1]: the real person image
``cloth``            float32 ``[B, 3, H, W]`` in [-1, 1]: the person's own (paired) garment, in-shop
``cloth_mask``       float32 ``[B, 1, H, W]`` in {0, 1}
``cloth_un``         float32 ``[B, 3, H, W]``: another garment of the set (drawn per sample, epoch and seed)
``cloth_mask_un``    float32 ``[B, 1, H, W]``
``parse``            int64 ``[B, H, W]``: labels of the 14-class common set (:data:`PARSE_CLASSES`)
``densepose``        int64 ``[B, H, W]``: DensePose part index 0..24 (from the parse when the dataset has none)
``pose``             float32 ``[B, 18, H, W]`` in {-1, 1}: :func:`pftryon.representation.pose_maps`
``index``            int64 ``[B]``: the sample's index in the dataset
===================  ==========================================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

__all__ = ["PARSE_CLASSES", "ParamGroup", "Stage"]

# The common parse classes, in label order (equal to bench.data.schema.COMMON; a test keeps them equal).
PARSE_CLASSES = (
    "background", "hair", "face", "upper", "bottom", "dress", "left_arm", "right_arm",
    "left_leg", "right_leg", "left_shoe", "right_shoe", "neck", "accessory",
)  # fmt: skip


@dataclass
class ParamGroup:
    """Parameters updated together at ``config.lr * lr_scale`` (times the linear decay factor)."""

    name: str
    params: list[nn.Parameter]
    lr_scale: float = 1.0


class Stage(nn.Module):
    """One training stage. Subclasses implement :meth:`forward`, :meth:`param_groups` and :meth:`exported`.

    ``forward(batch, epoch)`` returns ``(loss, logs)``: the scalar to minimise and named scalar tensors
    (loss terms, distillation weights...) for the JSONL log. ``epoch`` is 1-based, as in the official scripts.
    Calling the stage through ``forward`` (not a helper method) keeps it wrappable by DDP.
    """

    name: ClassVar[str]

    def phase(self, epoch: int) -> int:
        """Optimiser phase at ``epoch`` (1-based). A new phase gets a new optimiser. Default: one phase."""
        return 0

    def param_groups(self, phase: int) -> list[ParamGroup]:
        """What the optimiser of ``phase`` updates; every other parameter is frozen during it."""
        raise NotImplementedError

    def exported(self) -> dict[str, nn.Module]:
        """The trained networks, by name (e.g. ``{"warp": ..., "gen": ...}``), as checkpoints export them."""
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """Plain data the run's record keeps (``final/training.json``, key ``stage``): the model built, what was
        initialised from where, deviations from the official recipe. Default: nothing."""
        return {}

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError
