"""FS-VTON (Flow-Style VTON, He et al., CVPR 2022): PF-AFN with a style-modulated flow estimator.

The warp module keeps PF-AFN's two feature encoders and FPNs, its refinement heads and its coarse-to-fine
flow composition, but drops the correlation layer: at each pyramid level the flow offset is predicted from
the (already warped) garment features alone, by StyleGAN2-modulated convolutions whose style is one global
vector computed from the coarsest person and garment features. The generator is PF-AFN's ResUnet,
unchanged, and so is the composition.

Written from docs/reference/conformance.md §6 (the official test code is
``test/models/afwm.py`` ``AFWM(opt, 3)``, ``test/models/networks.py`` ``ResUnetGenerator(7, 4, 5, ngf=64)``
and ``test/test.py`` at SenHe/Flow-Style-VTON ed25d52). Module paths, parameter names and shapes follow the
official code, so the released ``PFAFN_warp_epoch_101.pth`` / ``PFAFN_gen_epoch_101.pth`` load unchanged;
tests/conformance/manifests/fsvton_{warp,gen}.json pin them. Every ``grid_sample`` uses
``align_corners=True`` (the PyTorch 1.1 behaviour the official code was written for).

Training (:mod:`baselines.training.flow`): ``trace=True`` also returns the per-level tensors of the official
train-phase ``AFlowNet`` (``train/models/afwm.py``) that the warp loss and distillation use; the inference outputs
are the same with or without it. The width knobs (``ngf``, ``channels``, ``fpn_dim``, ``flow_channels``,
``style_channels``, ``style_hidden``) default to the official widths; :func:`fs_vton` registers the family with
:func:`pftryon.models.register_model`, so training checkpoints save and load with ``save_pretrained`` /
``load_pretrained``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from pftryon.layers import apply_offset, second_order_filters, upsample_flow, warp
from pftryon.layers.styled import StyledConvBlock, StyledFlowBlock
from pftryon.models import ResUnetGenerator, WarpGenFiles, WarpOutput, mask_garment, register_model
from pftryon.models.afwm import (
    DEFAULT_CHANNELS,
    DEFAULT_FLOW_CHANNELS,
    FeatureEncoder,
    RefinePyramid,
    flow_head,
    new_trace,
    trace_level,
)
from pftryon.models.pf_afn import render_parser_free

__all__ = ["FSVTON", "OFFICIAL_GEN_FILE", "OFFICIAL_WARP_FILE", "StyleAFWM", "StyleAFlowNet", "fs_vton"]

OFFICIAL_WARP_FILE = "PFAFN_warp_epoch_101.pth"
OFFICIAL_GEN_FILE = "PFAFN_gen_epoch_101.pth"
_COST_CHANNELS = 49  # netStyle's width: the 7x7 cost volume of PF-AFN, kept as a channel count
_STYLE_HIDDEN = 128  # netF's hidden width


def _style_head(fpn_dim: int, coarsest: tuple[int, int]) -> nn.Sequential:
    """Reduce the coarsest FPN level to one vector: a conv covering the whole map, then LeakyReLU(0.1)."""
    return nn.Sequential(nn.Conv2d(fpn_dim, fpn_dim // 2, coarsest), nn.LeakyReLU(0.1))


class StyleAFlowNet(nn.Module):
    """FS-VTON's flow estimator (official ``AFlowNet`` of the test code).

    Coarse to fine, at each level: warp the garment feature with the flow so far; ``netStyle`` (two
    modulated convs ``fpn_dim -> 49 -> 49``) and ``netF`` (modulated ``49 -> 128 -> 2``) predict a pixel
    offset, which is composed with the flow; ``netRefine`` predicts a second offset from the garment
    feature warped by the new flow concatenated with the person feature; the flow is then upsampled x2.
    The style is ``cat[cond_style(person level), image_style(garment level)]`` at the coarsest level.

    Args:
        num_pyramid: Pyramid levels.
        fpn_dim: FPN width (the style vector has ``2 * (fpn_dim // 2)`` entries).
        coarsest: ``(h, w)`` of the coarsest level, which the style convs cover exactly; (8, 6) at 256x192.
        flow_channels: Hidden widths of every ``netRefine`` head (official ``(128, 64, 32)``).
        style_channels: Width of ``netStyle``'s output and ``netF``'s input (official 49).
        style_hidden: Hidden width of ``netF`` (official 128).
    """

    def __init__(
        self,
        num_pyramid: int = 5,
        fpn_dim: int = 256,
        coarsest: tuple[int, int] = (8, 6),
        flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS,
        style_channels: int = _COST_CHANNELS,
        style_hidden: int = _STYLE_HIDDEN,
    ) -> None:
        super().__init__()
        style_dim = 2 * (fpn_dim // 2)
        self.coarsest = tuple(coarsest)
        self.netRefine = nn.ModuleList(flow_head(2 * fpn_dim, flow_channels) for _ in range(num_pyramid))
        self.netStyle = nn.ModuleList(StyledConvBlock(fpn_dim, style_channels, style_dim) for _ in range(num_pyramid))
        self.netF = nn.ModuleList(
            StyledFlowBlock(style_channels, 2, style_dim, style_hidden) for _ in range(num_pyramid)
        )
        self.cond_style = _style_head(fpn_dim, coarsest)
        self.image_style = _style_head(fpn_dim, coarsest)
        # Fixed second-difference filters of the training loss (official train code: `aflow_net.weight`).
        self.register_buffer("curvature_filters", second_order_filters(), persistent=False)

    def forward(
        self,
        cloth: torch.Tensor,
        cloth_pyramid: Sequence[torch.Tensor],
        person_pyramid: Sequence[torch.Tensor],
        edge: torch.Tensor | None = None,
        *,
        trace: bool = False,
    ) -> WarpOutput:
        """Estimate the flow from the pyramids (finest first) and warp ``cloth`` (and ``edge``) with it.

        ``trace=True`` (needs ``edge``) also fills the per-level lists of :class:`~pftryon.models.WarpOutput`, as
        the official train-phase ``AFlowNet`` returns them (its two offsets per level: ``netF``'s and
        ``netRefine``'s).
        """
        if trace and edge is None:
            raise ValueError("StyleAFlowNet(trace=True) needs the garment edge to warp its pyramid")
        if tuple(cloth_pyramid[-1].shape[-2:]) != self.coarsest:
            raise ValueError(
                f"FS-VTON's style convs are built for a coarsest level of {self.coarsest}, got "
                f"{tuple(cloth_pyramid[-1].shape[-2:])}: build the model for this image size"
            )
        batch = cloth.shape[0]
        style = torch.cat(
            [self.cond_style(person_pyramid[-1]).view(batch, -1), self.image_style(cloth_pyramid[-1]).view(batch, -1)],
            dim=1,
        )
        record = new_trace() if trace else {}
        flow = None
        levels = len(self.netRefine)
        for i in range(levels):
            cloth_feature = cloth_pyramid[levels - 1 - i]
            person_feature = person_pyramid[levels - 1 - i]
            aligned = cloth_feature if flow is None else warp(cloth_feature, flow.detach())
            offset = self.netF[i](self.netStyle[i](aligned, style), style)
            grid = apply_offset(offset)
            flow = grid.permute(0, 3, 1, 2) if flow is None else warp(flow, grid)
            refine_offset = self.netRefine[i](torch.cat([warp(cloth_feature, flow), person_feature], dim=1))
            flow = upsample_flow(warp(flow, apply_offset(refine_offset)))
            if trace:
                trace_level(record, 0.5 ** (levels - 1 - i), cloth, edge, person_feature, cloth_feature,
                            (offset, refine_offset), flow, self.curvature_filters)  # fmt: skip
        assert flow is not None
        warped_edge = None if edge is None else warp(edge, flow, padding_mode="zeros")
        return WarpOutput(warped=warp(cloth, flow), flow=flow, warped_edge=warped_edge, **record)


class StyleAFWM(nn.Module):
    """FS-VTON's warp module (official ``AFWM``): PF-AFN's encoders and FPNs plus :class:`StyleAFlowNet`.

    Args:
        condition_channels: Channels of the person input (3: the person image).
        channels: Encoder widths of the five stages.
        fpn_dim: FPN width.
        fine_height: Image height the model is built for (the style convs depend on it); a multiple of 32.
        fine_width: Image width, a multiple of 32.
        flow_channels, style_channels, style_hidden: Widths of the flow estimator (:class:`StyleAFlowNet`).
    """

    def __init__(
        self,
        condition_channels: int = 3,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        fpn_dim: int = 256,
        fine_height: int = 256,
        fine_width: int = 192,
        flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS,
        style_channels: int = _COST_CHANNELS,
        style_hidden: int = _STYLE_HIDDEN,
    ) -> None:
        super().__init__()
        factor = 2 ** len(channels)
        if fine_height % factor or fine_width % factor:
            raise ValueError(
                f"fine_height and fine_width must be multiples of {factor}, got {fine_height}x{fine_width}"
            )
        self.image_features = FeatureEncoder(3, channels)
        self.cond_features = FeatureEncoder(condition_channels, channels)
        self.image_FPN = RefinePyramid(channels, fpn_dim)
        self.cond_FPN = RefinePyramid(channels, fpn_dim)
        self.aflow_net = StyleAFlowNet(
            len(channels), fpn_dim, (fine_height // factor, fine_width // factor), flow_channels, style_channels,
            style_hidden,
        )  # fmt: skip

    def forward(
        self, condition: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor | None = None, *, trace: bool = False
    ) -> WarpOutput:
        person_pyramid = self.cond_FPN(self.cond_features(condition))
        cloth_pyramid = self.image_FPN(self.image_features(cloth))
        return self.aflow_net(cloth, cloth_pyramid, person_pyramid, edge, trace=trace)


class FSVTON(WarpGenFiles, nn.Module):
    """FS-VTON inference: style-flow warp of the garment, ResUnet rendering and composition.

    ``FSVTON()(person, cloth, edge)`` applies the official test preprocessing itself (the edge is
    binarised at 0.5 and the garment multiplied by it; see :func:`pftryon.models.mask_garment`).

    Args:
        ngf: Generator width (64 in the official model).
        channels: Warp-encoder widths (official ``(64, 128, 256, 256, 256)``).
        fpn_dim: Warp FPN width (256).
        fine_height: Image height; the warp's style convs are built for it (official 256).
        fine_width: Image width (official 192).
        flow_channels: Hidden widths of the warp's ``netRefine`` heads (official ``(128, 64, 32)``).
        style_channels: Width between the warp's ``netStyle`` and ``netF`` (official 49).
        style_hidden: Hidden width of ``netF`` (official 128).

    Example:
        >>> model = FSVTON(ngf=8, channels=(8, 8, 8, 8, 8), fpn_dim=8, fine_height=64, fine_width=64).eval()
        >>> out = model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64))
        >>> out["tryon"].shape
        torch.Size([1, 3, 64, 64])
    """

    architecture = "fs_vton"
    required_inputs: ClassVar[tuple[str, ...]] = ("person", "cloth", "cloth_mask")

    def __init__(
        self,
        *,
        ngf: int = 64,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        fpn_dim: int = 256,
        fine_height: int = 256,
        fine_width: int = 192,
        flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS,
        style_channels: int = _COST_CHANNELS,
        style_hidden: int = _STYLE_HIDDEN,
    ) -> None:
        super().__init__()
        self.config = {
            "ngf": ngf, "channels": list(channels), "fpn_dim": fpn_dim, "fine_height": fine_height,
            "fine_width": fine_width, "flow_channels": list(flow_channels), "style_channels": style_channels,
            "style_hidden": style_hidden,
        }  # fmt: skip
        self.fine_size = (fine_height, fine_width)
        self.warp = StyleAFWM(
            3, channels, fpn_dim, fine_height, fine_width, flow_channels, style_channels, style_hidden
        )
        self.gen = ResUnetGenerator(7, 4, num_downs=5, ngf=ngf)

    def forward(self, person: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor) -> dict[str, torch.Tensor]:
        """Warp the garment onto the person and render the try-on.

        Args:
            person: Person image ``[B, 3, H, W]`` in [-1, 1], at the size the model was built for.
            cloth: Garment image ``[B, 3, H, W]`` in [-1, 1].
            edge: Garment mask ``[B, 1, H, W]`` in [0, 1].

        Returns:
            ``warped_cloth``, ``flow`` (normalised sampling grid ``[B, 2, H, W]``, channels x then y),
            ``warped_edge``, ``gen_out`` (raw 4 channels), ``rendered``, ``mask`` and ``tryon`` in [-1, 1].

        Raises:
            ValueError: If the images are not of the size the model was built for.
        """
        if tuple(person.shape[-2:]) != self.fine_size or tuple(cloth.shape[-2:]) != self.fine_size:
            raise ValueError(
                f"FS-VTON was built for {self.fine_size[0]}x{self.fine_size[1]} images, got person "
                f"{tuple(person.shape[-2:])} and garment {tuple(cloth.shape[-2:])}"
            )
        return render_parser_free(self.warp, self.gen, person, *mask_garment(cloth, edge))


@register_model
def fs_vton(**config: Any) -> FSVTON:
    """FS-VTON (256x192 as released; the style convs tie it to ``fine_height`` x ``fine_width``)."""
    return FSVTON(**config)
