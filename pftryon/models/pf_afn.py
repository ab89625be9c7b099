"""PF-AFN (parser-free student) and PB-AFN (parser-based tutor): warp module + generator + composition.

Both pair an :class:`~pftryon.models.afwm.AFWM` (attribute ``warp``) with a
:class:`~pftryon.models.resunet.ResUnetGenerator` (attribute ``gen``), as the official code keeps them in
two checkpoint files. See docs/reference/method.md §1 (test pipeline) and §4.4 (the tutor's use).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from pftryon.layers.compose import compose_tryon
from pftryon.models._registry import register_model
from pftryon.models._two_file import WarpGenFiles
from pftryon.models.afwm import AFWM, DEFAULT_CHANNELS, DEFAULT_FLOW_CHANNELS, WarpOutput
from pftryon.models.resunet import ResUnetGenerator

__all__ = ["PBAFN", "PFAFN", "mask_garment", "render_parser_free", "OFFICIAL_WARP_FILE", "OFFICIAL_GEN_FILE"]

OFFICIAL_WARP_FILE = "warp_model_final.pth"
OFFICIAL_GEN_FILE = "gen_model_final.pth"


def mask_garment(cloth: torch.Tensor, edge: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The official test preprocessing: binarise the edge at 0.5 and zero the garment outside it.

    Args:
        cloth: garment image in [-1, 1], ``[B, 3, H, W]``.
        edge: garment mask in [0, 1], ``[B, 1, H, W]`` (JPEG-stored, hence the threshold).

    Returns:
        ``(cloth * edge, edge)`` with the binarised edge.
    """
    edge = (edge > 0.5).to(cloth.dtype)
    return cloth * edge, edge


class _FlowTryOn(WarpGenFiles, nn.Module):
    """A warp module and a generator in two official files (``warp_model_final.pth``, ``gen_model_final.pth``)."""

    architecture: ClassVar[str]
    condition_channels: ClassVar[int]  # the warp's person-side input channels
    generator_inputs: ClassVar[int]  # the generator's input channels

    def __init__(
        self,
        *,
        ngf: int = 64,
        channels: tuple[int, ...] = DEFAULT_CHANNELS,
        fpn_dim: int = 256,
        flow_channels: tuple[int, ...] = DEFAULT_FLOW_CHANNELS,
    ) -> None:
        super().__init__()
        self.config = {"ngf": ngf, "channels": list(channels), "fpn_dim": fpn_dim, "flow_channels": list(flow_channels)}
        self.warp = AFWM(self.condition_channels, channels, fpn_dim, flow_channels)
        self.gen = ResUnetGenerator(self.generator_inputs, 4, num_downs=5, ngf=ngf)


def _outputs(warped: WarpOutput, gen_out: torch.Tensor, gate: torch.Tensor) -> dict[str, torch.Tensor]:
    composed = compose_tryon(warped.warped, gen_out, gate=gate)
    return {"warped_cloth": warped.warped, "flow": warped.flow, "warped_edge": warped.warped_edge,
            "gen_out": gen_out, **composed}  # fmt: skip


def render_parser_free(
    warp: nn.Module, gen: nn.Module, person: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The parser-free test pipeline of PF-AFN and its successors (FS-VTON, DM-VTON): warp the masked garment to the
    person, generate from ``[person, warped garment, warped edge]``, compose gated by the warped edge.

    Returns ``warped_cloth``, ``flow``, ``warped_edge``, ``gen_out``, ``rendered``, ``mask`` and ``tryon``.
    """
    warped = warp(person, cloth, edge)
    assert warped.warped_edge is not None
    gen_out = gen(torch.cat([person, warped.warped, warped.warped_edge], dim=1))
    return _outputs(warped, gen_out, warped.warped_edge)


class PFAFN(_FlowTryOn):
    """Parser-free appearance flow network: person image + garment + garment mask → try-on.

    ``PFAFN()(person, cloth, edge)`` expects the official preprocessing (:func:`mask_garment`): images in
    [-1, 1], ``cloth`` already multiplied by the binary ``edge``. Returns a dict with ``warped_cloth``,
    ``flow`` (normalised sampling grid, channels x then y), ``warped_edge``, ``gen_out`` (raw generator
    output), ``rendered``, ``mask`` and ``tryon``.

    Args:
        ngf: generator width (64 in the official model).
        channels: warp-encoder widths (official ``(64, 128, 256, 256, 256)``).
        fpn_dim: warp FPN width (256).
        flow_channels: hidden widths of the warp's flow heads (official ``(128, 64, 32)``); checkpoints saved
            before this argument existed have no such entry in their config and load with the official widths.
    """

    architecture = "pf_afn"
    required_inputs: ClassVar[tuple[str, ...]] = ("person", "cloth", "cloth_mask")

    condition_channels, generator_inputs = 3, 7

    def forward(self, person: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor) -> dict[str, torch.Tensor]:
        return render_parser_free(self.warp, self.gen, person, cloth, edge)


class PBAFN(_FlowTryOn):
    """Parser-based tutor (PB-AFN): a 45-channel person representation instead of the person image.

    ``PBAFN()(representation, cloth, edge, preserve_region, arms_mask)`` where ``representation`` is
    cat[preserve masks (2), one-hot DensePose (25), pose maps (18)], ``preserve_region`` the person pixels
    to keep (face, hair, lower body, hands; 3 channels) and ``arms_mask`` the DensePose arm parts. The
    generator also sees ``arms_mask * (1 - warped_edge)``, the skin it must re-synthesise. The composition
    mask is gated by the warped edge, and also by ``clothes_mask`` when given (end-to-end training).
    Constructor arguments as :class:`PFAFN`.
    """

    architecture = "pb_afn"
    required_inputs: ClassVar[tuple[str, ...]] = ("parse", "densepose", "keypoints", "cloth", "cloth_mask")

    condition_channels, generator_inputs = 45, 8

    def forward(
        self,
        representation: torch.Tensor,
        cloth: torch.Tensor,
        edge: torch.Tensor,
        preserve_region: torch.Tensor,
        arms_mask: torch.Tensor,
        clothes_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        warped = self.warp(representation, cloth, edge)
        assert warped.warped_edge is not None
        skin = arms_mask * (1 - warped.warped_edge)
        gen_out = self.gen(torch.cat([preserve_region, warped.warped, warped.warped_edge, skin], dim=1))
        gate = warped.warped_edge if clothes_mask is None else warped.warped_edge * clothes_mask
        return _outputs(warped, gen_out, gate)


@register_model
def pf_afn(**config: Any) -> PFAFN:
    """PF-AFN as released (256x192, 73.2 M parameters)."""
    return PFAFN(**config)


@register_model
def pb_afn(**config: Any) -> PBAFN:
    """The PB-AFN tutor (45-channel person representation)."""
    return PBAFN(**config)
