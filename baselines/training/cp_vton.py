"""CP-VTON and CP-VTON+ training: the GMM stage, then the TOM stage on the frozen GMM's warp.

Written from the official scripts: sergeywong/cp-vton ``train.py`` (``train_gmm``, ``train_tom``), ``cp_dataset.py``
and ``networks.py``; minar09/cp-vton-plus ``train.py``, ``cp_dataset.py`` and ``networks.py`` (``GicLoss``).

===============  =================================================================================================
stage            loss
===============  =================================================================================================
``cp-gmm``       ``L1(warped cloth, im_c)``; ``im_c`` = the person's garment region of the parse, white elsewhere
``cpplus-gmm``   ``L1(warped cloth, im_c) + 40 * Lgic``; the GMM reads the cloth mask (:func:`grid_regularisation`)
``cp-tom``       ``L1(tryon, person) + VGG(tryon, person) + L1(composition mask, warped cloth mask)``
``cpplus-tom``   the same with the mask term against the parse's garment mask; the TOM also reads the warped mask
===============  =================================================================================================

Both stages train a whole :class:`~baselines.cp_vton.CPVTON` (``width`` from the config, built at ``config.size``,
multiples of 32) exported as ``{"model": ...}`` (architecture ``cp_vton``), so ``final/model`` is what the TOM
stage's ``init`` and the ``cp_vton`` / ``cp_vton_plus`` / ``tps_only`` methods load. The GMM stage leaves the TOM at
its initialisation (and starts its GMM from ``init`` when one is given, as the official ``--checkpoint``). The TOM
stage copies the GMM of ``init`` (the GMM stage's final model) and keeps it frozen in eval mode: officially the GMM's
test pass writes ``warp-cloth`` / ``warp-mask`` JPEGs of the train set that the TOM reads back (mask ``>= 128``);
here the frozen GMM computes them on the fly, without the JPEG round trip, and the warped mask is binarised at 0.5
as the ``>= 128`` threshold does.

What the training batch (:mod:`pftryon.train.stage`) stands in for: the 22-channel agnostic comes from the common
parse and the pose maps (:func:`~baselines.cp_vton_agnostic.agnostic_from_common`; CP-VTON+'s body mask is
``parse > 0``), the garment region from the common classes ``upper`` and ``dress``. The VGG term follows
``config.perceptual``: ``vgg19`` is :class:`pftryon.losses.VGGLoss`, the same loss as CP-VTON's ``VGGLoss`` (VGG19
relu1_1 .. relu5_1 of the torchvision weights, weights 1/32 .. 1, L1, raw [-1, 1] inputs, target detached);
``none`` leaves it out (logged). The schedule (:data:`pftryon.train.config._OFFICIAL`) is the official 200k steps at
batch 4 and a constant 1e-4 (the scripts build a ``LambdaLR`` but never step it): 56 epochs of VITON's train set.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from baselines.cp_vton import CPVTON
from baselines.cp_vton_agnostic import COMMON_CLOTH, agnostic_from_common, cloth_target, common_labels
from pftryon.layers import compose_tryon, warp
from pftryon.losses import VGGLoss
from pftryon.models import load_pretrained, load_state_dict_checked
from pftryon.train.config import TrainConfig
from pftryon.train.stage import ParamGroup, Stage
from pftryon.train.stages import register_stage

__all__ = ["CPPlusGMM", "CPPlusTOM", "CPVTONGMM", "CPVTONTOM", "GIC_WEIGHT", "grid_regularisation"]

_logger = logging.getLogger(__name__)

GIC_WEIGHT = 40.0
"""CP-VTON+'s weight on the grid regularisation (``loss = Lwarp + 40 * Lgic``)."""


def grid_regularisation(grid: torch.Tensor) -> torch.Tensor:
    """CP-VTON+'s ``GicLoss`` divided by ``B * H * W``, as its ``train_gmm`` does.

    For each interior pixel, ``| |Gx(left) - Gx| - |Gx(right) - Gx| | + | |Gy(up) - Gy| - |Gy(down) - Gy| |``:
    neighbouring grid points should be evenly spaced along x in x and along y in y. Summed over the interior pixels.

    Args:
        grid: TPS sampling grid ``[B, H, W, 2]`` of (x, y).
    """
    gx, gy = grid[..., 0], grid[..., 1]
    centre_x, centre_y = gx[:, 1:-1, 1:-1], gy[:, 1:-1, 1:-1]
    left, right = (gx[:, 1:-1, :-2] - centre_x).abs(), (gx[:, 1:-1, 2:] - centre_x).abs()
    up, down = (gy[:, :-2, 1:-1] - centre_y).abs(), (gy[:, 2:, 1:-1] - centre_y).abs()
    total = ((left - right).abs() + (up - down).abs()).sum()
    return total / (grid.shape[0] * grid.shape[1] * grid.shape[2])


def _garment_region(parse: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The parse's garment mask ``pcm`` ``[B, 1, H, W]`` (common ``upper`` and ``dress``), like ``like``."""
    labels = torch.tensor(common_labels(COMMON_CLOTH), device=parse.device)
    return torch.isin(parse, labels).unsqueeze(1).to(like)


def _scalars(terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach().float() for name, value in terms.items()}


class _CPStage(Stage):
    """A whole :class:`CPVTON` at the config's width and size; ``plus`` picks CP-VTON+."""

    plus: ClassVar[bool]

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        if config.stage != self.name:
            raise ValueError(f"{type(self).__name__} trains stage {self.name!r}, got a config for {config.stage!r}")
        height, width = config.size  # multiples of 32 (TrainConfig)
        self.train_config = config
        self.model = CPVTON(plus=self.plus, fine_height=height, fine_width=width, width=config.width)

    def exported(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def _load_gmm(self, init: str) -> None:
        """Copy the GMM of the ``cp_vton`` checkpoint ``init`` (same variant, size and width) into ours."""
        source = load_pretrained(init)
        if not isinstance(source, CPVTON):
            raise ValueError(f"{self.name}: init {init} holds {type(source).__name__}, expected a cp_vton checkpoint")
        ours = self.model.config
        differing = [k for k in ours if source.config.get(k) != ours[k]]
        if differing:
            details = ", ".join(f"{k}: {source.config.get(k)!r} (init) vs {ours[k]!r}" for k in differing)
            raise ValueError(f"{self.name}: init {init} is another CP-VTON ({details})")
        load_state_dict_checked(self.model.gmm, source.gmm.state_dict(), source=f"{init} (gmm)")

    def _agnostic(self, batch: dict[str, torch.Tensor], network: str) -> torch.Tensor:
        return agnostic_from_common(batch["parse"], batch["person"], batch["pose"], plus=self.plus, stage=network)

    def _gmm_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The GMM's second input: the cloth mask for CP-VTON+, the cloth for CP-VTON."""
        return batch["cloth_mask"] if self.plus else batch["cloth"]


class _GMMStage(_CPStage):
    """The GMM: L1 between the warped cloth and ``im_c`` (plus ``40 * Lgic`` for CP-VTON+). From scratch, or from the
    GMM of ``init`` when given (the official ``--checkpoint``)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        if config.init is not None:
            self._load_gmm(config.init)

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [ParamGroup("gmm", list(self.model.gmm.parameters()))]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        grid, _ = self.model.gmm(self._agnostic(batch, "gmm"), self._gmm_input(batch))
        warped = warp(batch["cloth"], grid, "border")
        target = cloth_target(batch["parse"], batch["person"], common_labels(COMMON_CLOTH))
        warp_l1 = F.l1_loss(warped, target)
        if not self.plus:
            return warp_l1, _scalars({"warp_l1": warp_l1})
        gic = grid_regularisation(grid)
        return warp_l1 + GIC_WEIGHT * gic, _scalars({"warp_l1": warp_l1, "gic": gic})


class _TOMStage(_CPStage):
    """The TOM on the frozen GMM of ``init``: ``L1 + VGG + mask L1`` (weights 1, 1, 1)."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__(config)
        self.perceptual = VGGLoss(config.vgg_weights) if config.perceptual == "vgg19" else None
        if self.perceptual is None:
            _logger.info("%s: perceptual: none, the VGG19 term of the TOM loss is skipped", self.name)
        if config.init is None:
            _logger.warning("%s: no `init` checkpoint; the frozen GMM keeps its random weights", self.name)
        else:
            self._load_gmm(config.init)
        self.model.gmm.requires_grad_(False)

    def train(self, mode: bool = True) -> _TOMStage:
        """Set the TOM's mode; the frozen GMM stays in eval mode, as the official GMM test pass runs."""
        super().train(mode)
        self.model.gmm.eval()
        return self

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [ParamGroup("tom", list(self.model.tom.parameters()))]

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cloth, person = batch["cloth"], batch["person"]
        agnostic = self._agnostic(batch, "gmm")
        with torch.no_grad():
            grid, _ = self.model.gmm(agnostic, self._gmm_input(batch))
            warped_cloth = warp(cloth, grid, "border")
            warped_mask = (warp(batch["cloth_mask"], grid, "zeros") >= 0.5).to(cloth.dtype)
        tom_in = [self._agnostic(batch, "tom"), warped_cloth, warped_mask] if self.plus else [agnostic, warped_cloth]
        out = compose_tryon(warped_cloth, self.model.tom(torch.cat(tom_in, dim=1)))
        mask_target = _garment_region(batch["parse"], cloth) if self.plus else warped_mask
        terms = {"l1": F.l1_loss(out["tryon"], person), "mask_l1": F.l1_loss(out["mask"], mask_target)}
        if self.perceptual is not None:
            terms["vgg"] = self.perceptual(out["tryon"], person)
        return torch.stack(list(terms.values())).sum(), _scalars(terms)


@register_stage
class CPVTONGMM(_GMMStage):
    """``cp-gmm``: CP-VTON's GMM (agnostic and cloth)."""

    name = "cp-gmm"
    plus = False


@register_stage
class CPVTONTOM(_TOMStage):
    """``cp-tom``: CP-VTON's TOM (25 input channels; mask term against the warped cloth mask)."""

    name = "cp-tom"
    plus = False


@register_stage
class CPPlusGMM(_GMMStage):
    """``cpplus-gmm``: CP-VTON+'s GMM (agnostic and cloth mask; grid regularisation)."""

    name = "cpplus-gmm"
    plus = True


@register_stage
class CPPlusTOM(_TOMStage):
    """``cpplus-tom``: CP-VTON+'s TOM (26 input channels with the warped mask; mask term against the parse's
    garment mask)."""

    name = "cpplus-tom"
    plus = True
