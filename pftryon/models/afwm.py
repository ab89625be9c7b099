"""AFWM: the appearance-flow warping module of PF-AFN and PB-AFN (docs/reference/method.md §2).

Module names, nesting and indices follow the official code so that ``warp_model_final.pth`` loads
unchanged. One class serves inference and training: ``trace=True`` also returns the per-level tensors the
training losses need (flows, warped images and edges, person features, offsets, second differences).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pftryon.layers.correlation import local_correlation
from pftryon.layers.flow import apply_offset, second_order_filters, upsample_flow, warp

__all__ = [
    "AFWM",
    "DEFAULT_CHANNELS",
    "DEFAULT_FLOW_CHANNELS",
    "AFlowNet",
    "FeatureEncoder",
    "RefinePyramid",
    "WarpOutput",
    "flow_head",
    "new_trace",
    "trace_level",
]

DEFAULT_CHANNELS = (64, 128, 256, 256, 256)
# Hidden widths of every netMain / netRefine head in the official model.
DEFAULT_FLOW_CHANNELS = (128, 64, 32)


class _DownSample(nn.Module):
    """Pre-activation downsampling: BN, ReLU, 3x3 stride-2 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class _ResBlock(nn.Module):
    """Pre-activation residual block: ``x + (BN, ReLU, conv, BN, ReLU, conv)(x)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x) + x


class FeatureEncoder(nn.Module):
    """Five stride-2 stages (downsample + two residual blocks); returns the features finest first."""

    def __init__(self, in_channels: int, channels: Sequence[int] = DEFAULT_CHANNELS) -> None:
        super().__init__()
        ins = [in_channels, *channels[:-1]]
        self.encoders = nn.ModuleList(
            nn.Sequential(_DownSample(i, o), _ResBlock(o), _ResBlock(o)) for i, o in zip(ins, channels, strict=True)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for encoder in self.encoders:
            x = encoder(x)
            features.append(x)
        return features


class RefinePyramid(nn.Module):
    """FPN: 1x1 lateral convs, nearest x2 top-down path, 3x3 smoothing; returns levels finest first."""

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, fpn_dim: int = 256) -> None:
        super().__init__()
        self.adaptive = nn.ModuleList(nn.Conv2d(c, fpn_dim, 1) for c in reversed(channels))
        self.smooth = nn.ModuleList(nn.Conv2d(fpn_dim, fpn_dim, 3, padding=1) for _ in channels)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        pyramid = []
        previous = None
        for adaptive, smooth, feature in zip(self.adaptive, self.smooth, reversed(features), strict=True):
            level = adaptive(feature)
            if previous is not None:
                level = level + F.interpolate(previous, scale_factor=2.0, mode="nearest")
            previous = smooth(level)
            pyramid.append(previous)
        return pyramid[::-1]


def flow_head(in_channels: int, hidden: Sequence[int] = DEFAULT_FLOW_CHANNELS) -> nn.Sequential:
    """PF-AFN's netMain/netRefine head: 3x3 convs ``in_channels -> hidden... -> 2`` (official hidden 128, 64, 32),
    LeakyReLU(0.1) between them (module indices 0, 2, 4, ...)."""
    widths = [in_channels, *hidden, 2]
    layers: list[nn.Module] = []
    for i, (c_in, c_out) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(nn.LeakyReLU(0.1))
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
    return nn.Sequential(*layers)


@dataclass
class WarpOutput:
    """What AFWM returns. Per-level lists run coarse to fine and are filled only with ``trace=True``.

    Attributes:
        warped: the garment warped at full resolution ``[B, 3, H, W]``.
        flow: the normalised sampling grid ``[B, 2, H, W]`` (channels x, y).
        warped_edge: the garment mask warped with zero padding, when an edge was given.
        person_features: the person-branch FPN feature at each level (distillation targets).
        cloth_features: the garment-branch FPN feature at each level, unwarped (DM-VTON distils them too).
        flows: the flow after each level's x2 upsampling (H/16 ... H).
        offsets: the raw pixel offsets of netMain and netRefine, two per level.
        warped_pyramid: the garment downscaled to each flow's size and warped with it.
        warped_edge_pyramid: the same for the garment mask (zero padding).
        flow_curvature_x: second differences of the x channel of each flow ``[B, 4, h-2, w-2]``.
        flow_curvature_y: the same for the y channel.
    """

    warped: torch.Tensor
    flow: torch.Tensor
    warped_edge: torch.Tensor | None = None
    person_features: list[torch.Tensor] | None = None
    cloth_features: list[torch.Tensor] | None = None
    flows: list[torch.Tensor] | None = None
    offsets: list[torch.Tensor] | None = None
    warped_pyramid: list[torch.Tensor] | None = None
    warped_edge_pyramid: list[torch.Tensor] | None = None
    flow_curvature_x: list[torch.Tensor] | None = None
    flow_curvature_y: list[torch.Tensor] | None = None


class AFlowNet(nn.Module):
    """Cascaded coarse-to-fine flow estimation from correlation (netMain) and concatenation (netRefine).

    Args:
        num_pyramid: pyramid levels, one netMain and one netRefine head each.
        fpn_dim: FPN width (netRefine sees both branches' features, ``2 * fpn_dim`` channels).
        flow_channels: hidden widths of every head (official ``(128, 64, 32)``).
    """

    def __init__(
        self, num_pyramid: int = 5, fpn_dim: int = 256, flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS
    ) -> None:
        super().__init__()
        self.netMain = nn.ModuleList(flow_head(49, flow_channels) for _ in range(num_pyramid))
        self.netRefine = nn.ModuleList(flow_head(2 * fpn_dim, flow_channels) for _ in range(num_pyramid))
        # Fixed second-difference filters; official training code saved them as `aflow_net.weight`.
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
        if trace and edge is None:
            raise ValueError("AFlowNet(trace=True) needs the garment edge to warp its pyramid")
        levels = len(self.netMain)
        record = new_trace() if trace else {}
        flow = None
        for i, (main, refine) in enumerate(zip(self.netMain, self.netRefine, strict=True)):
            cloth_feature = cloth_pyramid[levels - 1 - i]
            person_feature = person_pyramid[levels - 1 - i]
            aligned = cloth_feature if flow is None else warp(cloth_feature, flow.detach())
            cost = F.leaky_relu(local_correlation(aligned, person_feature), 0.1)
            offset = main(cost)
            grid = apply_offset(offset)
            flow = grid.permute(0, 3, 1, 2) if flow is None else warp(flow, grid)
            refine_offset = refine(_concat_like(warp(cloth_feature, flow), person_feature))
            flow = upsample_flow(warp(flow, apply_offset(refine_offset)))
            if trace:
                trace_level(record, 0.5 ** (levels - 1 - i), cloth, edge, person_feature, cloth_feature,
                            (offset, refine_offset), flow, self.curvature_filters)  # fmt: skip
        assert flow is not None
        warped_edge = None if edge is None else warp(edge, flow, padding_mode="zeros")
        return WarpOutput(warped=warp(cloth, flow), flow=flow, warped_edge=warped_edge, **record)


_TRACE_FIELDS = (
    "person_features",
    "cloth_features",
    "offsets",
    "flows",
    "warped_pyramid",
    "warped_edge_pyramid",
    "flow_curvature_x",
    "flow_curvature_y",
)


def new_trace() -> dict[str, list[torch.Tensor]]:
    """An empty record of the per-level tensors of a traced flow estimator (the list fields of :class:`WarpOutput`)."""
    return {name: [] for name in _TRACE_FIELDS}


def trace_level(
    record: dict[str, list[torch.Tensor]],
    scale: float,
    cloth: torch.Tensor,
    edge: torch.Tensor,
    person_feature: torch.Tensor,
    cloth_feature: torch.Tensor,
    offsets: Sequence[torch.Tensor],
    flow: torch.Tensor,
    curvature_filters: torch.Tensor,
) -> None:
    """Append one pyramid level to ``record`` (:func:`new_trace`): the level's features and raw ``offsets``, its
    (upsampled) ``flow``, the garment and its edge downscaled by ``scale`` and warped with it, and the flow's second
    differences. Shared by every flow estimator whose training losses follow PF-AFN's (§2.7, §4.1)."""
    record["person_features"].append(person_feature)
    record["cloth_features"].append(cloth_feature)
    record["offsets"] += list(offsets)
    record["flows"].append(flow)
    record["warped_pyramid"].append(warp(_rescale(cloth, scale), flow))
    record["warped_edge_pyramid"].append(warp(_rescale(edge, scale), flow, padding_mode="zeros"))
    record["flow_curvature_x"].append(F.conv2d(flow[:, 0:1], curvature_filters))
    record["flow_curvature_y"].append(F.conv2d(flow[:, 1:2], curvature_filters))


def _concat_like(warped: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
    """``cat([warped, feature], dim=1)`` in ``feature``'s memory format. ``grid_sample`` returns NCHW; on the
    channels-last fast path a plain cat would also be NCHW and the next convolution would transpose all of it again
    (~50 ms at 128x96x512 on 2 cores); writing the cat into a channels-last tensor costs one pass (``out=`` has no
    autograd: under a graph, the plain cat)."""
    graph = torch.is_grad_enabled() and (warped.requires_grad or feature.requires_grad)
    if graph or feature.is_contiguous() or not feature.is_contiguous(memory_format=torch.channels_last):
        return torch.cat([warped, feature], dim=1)
    b, c, h, w = feature.shape
    out = torch.empty(
        b, warped.shape[1] + c, h, w, dtype=feature.dtype, device=feature.device, memory_format=torch.channels_last
    )
    return torch.cat([warped, feature], dim=1, out=out)


def _rescale(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x if scale == 1.0 else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


class AFWM(nn.Module):
    """Appearance-flow warping module: warps the garment (``cloth``) onto the person (``condition``).

    Args:
        condition_channels: channels of the person input: 3 (PF-AFN, the person image) or 45 (PB-AFN,
            preserve masks + one-hot DensePose + pose maps).
        channels: encoder widths of the five stages.
        fpn_dim: FPN width.
        flow_channels: hidden widths of the netMain and netRefine flow heads (official ``(128, 64, 32)``).

    Inputs must have H and W divisible by 32.
    """

    def __init__(
        self,
        condition_channels: int = 3,
        channels: Sequence[int] = DEFAULT_CHANNELS,
        fpn_dim: int = 256,
        flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS,
    ) -> None:
        super().__init__()
        self.image_features = FeatureEncoder(3, channels)
        self.cond_features = FeatureEncoder(condition_channels, channels)
        self.image_FPN = RefinePyramid(channels, fpn_dim)
        self.cond_FPN = RefinePyramid(channels, fpn_dim)
        self.aflow_net = AFlowNet(len(channels), fpn_dim, flow_channels)

    def forward(
        self, condition: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor | None = None, *, trace: bool = False
    ) -> WarpOutput:
        if condition.shape[-2:] != cloth.shape[-2:] or any(s % 32 for s in cloth.shape[-2:]):
            raise ValueError(
                f"AFWM needs person and garment of one size divisible by 32, got {tuple(condition.shape[-2:])} "
                f"and {tuple(cloth.shape[-2:])}"
            )
        person_pyramid = self.cond_FPN(self.cond_features(condition))
        cloth_pyramid = self.image_FPN(self.image_features(cloth))
        return self.aflow_net(cloth, cloth_pyramid, person_pyramid, edge, trace=trace)
