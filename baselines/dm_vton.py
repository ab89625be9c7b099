"""DM-VTON (Distilled Mobile VTON, Nguyen-Ngoc et al., ISMAR 2023): PF-AFN's flow network on MobileNetV2.

The warp module keeps PF-AFN's cascaded flow estimator (correlation, ``netMain``, ``netRefine``, flow
composition) but replaces its two ResBlock encoders and FPNs by two MobileNetV2 feature pyramids. The
generator is a MobileNetV2 U-Net. The composition is PF-AFN's.

Written from docs/reference/conformance.md §7 (the official code is
``pipelines/dmvton_pipeline.py`` ``DMVTONPipeline(align_corners=True)``, which builds
``models/warp_modules/mobile_afwm.py`` ``MobileAFWM(3, True)`` and ``models/generators/mobile_unet.py``
``MobileNetV2_unet(7, 4)``, at KiseKloset/DM-VTON 8dc7048). Module paths, parameter names and shapes follow
the official code, so the released ``dmvton_pf_warp.pt`` / ``dmvton_pf_gen.pt`` load unchanged;
tests/conformance/manifests/dmvton_{warp,gen}.json pin them. Every ``grid_sample`` uses
``align_corners=True``, as ``scripts/test.sh`` (``--align_corners``) and the pipeline's default do.

Each feature pyramid applies **one** 3x3 smoothing convolution to all five levels; the official module
lists it under five state-dict keys (``smooth_layers.0`` … ``smooth_layers.4``). Loading a state dict writes
the five entries in key order into the one convolution, so ``smooth_layers.4`` is the one in effect;
:meth:`DMVTON.from_official` also checks that a checkpoint's five copies are equal.

Training (:mod:`baselines.training.flow`): ``MobileAFWM(..., trace=True)`` also returns the per-level tensors of
the official train phase (``phase='train'``: person features ``cond_fea_all``, garment features ``warp_fea_all``,
flows, offsets, warped pyramids); the inference outputs do not change. Width knobs (``width_mult``, ``fpn_dim``,
``flow_channels``, ``gen_width_mult``) default to the official widths; :func:`dm_vton` registers the family with
:func:`pftryon.models.register_model`, so training checkpoints save and load with ``save_pretrained`` /
``load_pretrained``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pftryon.models import (
    CheckpointError,
    WarpGenFiles,
    WarpOutput,
    clean_state_dict,
    mask_garment,
    read_state_dict,
    register_model,
)
from pftryon.models.afwm import DEFAULT_FLOW_CHANNELS, AFlowNet
from pftryon.models.pf_afn import render_parser_free

__all__ = [
    "DMVTON",
    "OFFICIAL_GEN_FILE",
    "OFFICIAL_WARP_FILE",
    "InvertedResidual",
    "MobileAFWM",
    "MobileNetV2FPN",
    "MobileNetV2UNet",
    "dm_vton",
    "read_official_checkpoint",
]

OFFICIAL_WARP_FILE = "dmvton_pf_warp.pt"
OFFICIAL_GEN_FILE = "dmvton_pf_gen.pt"
# The training format stores `best_fid`, possibly a numpy float64: allow rebuilding numpy scalars (numpy 2 and
# the numpy 1 module name) and nothing else beyond torch's weights-only defaults.
_NUMPY_SCALAR_GLOBALS = [
    np._core.multiarray.scalar,
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    np.dtype,
    np.dtypes.Float64DType,
]

# MobileNetV2 stages as (expansion, width, stride), one inverted residual each.
_FPN_STAGES = ((1, 16, 1), (6, 24, 2), (6, 32, 2), (6, 64, 2), (6, 96, 2), (6, 160, 2), (6, 320, 1))
_UNET_STAGES = ((1, 16, 1), (6, 24, 2), (6, 32, 2), (6, 64, 2), (6, 96, 1), (6, 160, 2), (6, 320, 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, 3x3 depthwise (with the stride), 1x1 linear projection.

    BatchNorm after each conv and ReLU6 after the first two; the input is added back when the stride is
    1 and the widths agree.

    Args:
        inp: Input channels.
        oup: Output channels.
        stride: Depthwise stride (1 or 2).
        expansion: Hidden width is ``round(inp * expansion)``.
        expand_always: Keep the 1x1 expansion even when ``expansion`` is 1 (the warp's pyramids do; the
            generator's backbone drops it, so its first conv is the depthwise one).
    """

    def __init__(self, inp: int, oup: int, stride: int, expansion: int, *, expand_always: bool = False) -> None:
        super().__init__()
        hidden = round(inp * expansion)
        self.use_residual = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expansion != 1 or expand_always:
            layers += [nn.Conv2d(inp, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2FPN(nn.Module):
    """DM-VTON's feature pyramid (official ``MobileNetV2_dynamicFPN``): five 256-channel levels, finest first.

    A stride-1 3x3 stem (32 channels, BN, ReLU6), seven inverted-residual stages, 1x1 lateral convs on the
    five stride-2 stages, and a top-down path that starts from the global average of the last stage
    (``top_layer``, 1x1), adds each lateral after a bilinear resize to its size, and smooths every level
    with one shared 3x3 conv. At 256x192 the levels are 128x96 … 8x6, as PF-AFN's FPN gives.

    Args:
        in_channels: Input channels.
        width_mult: Multiplier of the MobileNetV2 widths (1.0 in the official model).
        fpn_dim: Width of the pyramid levels (256).
    """

    def __init__(self, in_channels: int, width_mult: float = 1.0, fpn_dim: int = 256) -> None:
        super().__init__()
        width = int(32 * width_mult)
        self.first_layer = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU6(inplace=True)
        )
        blocks, lateral_widths = [], []
        for expansion, stage_width, stride in _FPN_STAGES:
            out = int(stage_width * width_mult)
            blocks.append(nn.Sequential(InvertedResidual(width, out, stride, expansion, expand_always=True)))
            lateral_widths.append(out if stride > 1 else None)
            width = out
        self.inverted_residual_blocks = nn.ModuleList(blocks)
        self.lateral_from = [i for i, w in enumerate(lateral_widths) if w is not None]
        self.average_pool = nn.AdaptiveAvgPool2d(1)
        self.top_layer = nn.Conv2d(width, fpn_dim, 1)
        self.lateral_layers = nn.ModuleList(nn.Conv2d(lateral_widths[i], fpn_dim, 1) for i in self.lateral_from)
        smooth = nn.Conv2d(fpn_dim, fpn_dim, 3, padding=1)
        self.smooth_layers = nn.ModuleList(smooth for _ in self.lateral_from)  # one module, listed per level

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.first_layer(x)
        laterals = []
        for i, block in enumerate(self.inverted_residual_blocks):
            x = block(x)
            if i in self.lateral_from:
                laterals.append(self.lateral_layers[len(laterals)](x))
        level = self.top_layer(self.average_pool(x))
        pyramid = []
        for lateral, smooth in zip(reversed(laterals), self.smooth_layers, strict=True):
            level = F.interpolate(level, size=lateral.shape[-2:], mode="bilinear", align_corners=False) + lateral
            pyramid.append(smooth(level))
        return pyramid[::-1]


class MobileAFWM(nn.Module):
    """DM-VTON's warp module: two :class:`MobileNetV2FPN` (garment, person) and PF-AFN's ``AFlowNet``.

    Args:
        condition_channels: Channels of the person input (3: the person image).
        width_mult: MobileNetV2 width multiplier of both pyramids.
        fpn_dim: Pyramid width.
        flow_channels: Hidden widths of the flow heads (``netMain``, ``netRefine``; official ``(128, 64, 32)``).

    Inputs must have H and W divisible by 32. ``trace=True`` (training) also returns the per-level tensors.
    """

    def __init__(
        self,
        condition_channels: int = 3,
        width_mult: float = 1.0,
        fpn_dim: int = 256,
        flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS,
    ) -> None:
        super().__init__()
        self.image_mobile = MobileNetV2FPN(3, width_mult, fpn_dim)
        self.cond_mobile = MobileNetV2FPN(condition_channels, width_mult, fpn_dim)
        self.aflow_net = AFlowNet(len(self.image_mobile.lateral_layers), fpn_dim, flow_channels)

    def forward(
        self, condition: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor | None = None, *, trace: bool = False
    ) -> WarpOutput:
        if condition.shape[-2:] != cloth.shape[-2:] or any(s % 32 for s in cloth.shape[-2:]):
            raise ValueError(
                f"DM-VTON needs person and garment of one size divisible by 32, got {tuple(condition.shape[-2:])} "
                f"and {tuple(cloth.shape[-2:])}"
            )
        person_pyramid = self.cond_mobile(condition)
        cloth_pyramid = self.image_mobile(cloth)
        return self.aflow_net(cloth, cloth_pyramid, person_pyramid, edge, trace=trace)


def _conv_bn(inp: int, oup: int, kernel_size: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(oup),
        nn.ReLU6(inplace=True),
    )


class MobileNetV2UNet(nn.Module):
    """DM-VTON's generator (official ``MobileNetV2_unet``): a MobileNetV2 encoder and a light U-Net decoder.

    Encoder (``backbone.features``): 3x3 stride-2 conv-BN-ReLU6 (32), seven inverted residuals (widths 16,
    24, 32, 64, 96, 160, 320) and a 1x1 conv-BN-ReLU6 to 512, down to 1/32. Decoder, four times: a 4x4
    stride-2 transposed conv, concatenation after the encoder feature of that size (widths 96, 32, 24,
    16), an inverted residual (expansion 6). Then nearest x2 upsampling and a 3x3 conv without bias.

    Args:
        input_channels: 7 (person, warped garment, warped edge).
        output_channels: 4 (rendered RGB and composition-mask logits).
        width_mult: Multiplier of every width above (1.0 in the official model; each width ``int(w * width_mult)``,
            at least 1).
    """

    def __init__(self, input_channels: int = 7, output_channels: int = 4, width_mult: float = 1.0) -> None:
        super().__init__()

        def scaled(channels: int) -> int:
            return max(1, int(channels * width_mult))

        self.backbone = nn.Module()
        features: list[nn.Module] = [_conv_bn(input_channels, scaled(32), 3, 2)]
        width = scaled(32)
        for expansion, out, stride in _UNET_STAGES:
            features.append(InvertedResidual(width, scaled(out), stride, expansion))
            width = scaled(out)
        features.append(_conv_bn(width, scaled(512), 1, 1))
        self.backbone.features = nn.Sequential(*features)
        for i, (inp, skip) in enumerate(((512, 96), (96, 32), (32, 24), (24, 16)), start=1):
            setattr(self, f"dconv{i}", nn.ConvTranspose2d(scaled(inp), scaled(skip), 4, stride=2, padding=1))
            setattr(self, f"invres{i}", InvertedResidual(2 * scaled(skip), scaled(skip), 1, 6))
        self.conv_last = nn.Conv2d(scaled(16), output_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone.features
        skips = []
        # Skips after the features at 1/2, 1/4, 1/8 and 1/16 (the last after the stride-1 96-wide stage).
        for start, stop in ((0, 2), (2, 3), (3, 4), (4, 6)):
            for n in range(start, stop):
                x = features[n](x)
            skips.append(x)
        for n in range(6, len(features)):
            x = features[n](x)
        for i, skip in enumerate(reversed(skips), start=1):
            x = getattr(self, f"invres{i}")(torch.cat([skip, getattr(self, f"dconv{i}")(x)], dim=1))
        return self.conv_last(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def read_official_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a DM-VTON checkpoint: a plain state dict or the training format ``{"model": state_dict, ...}``.

    The official loader (``utils/torch_utils.py``) takes ``checkpoint["model"]`` when present, else the
    whole object; training saves ``{"epoch", "best_fid", "model", "optimizer"}``. The file is read with
    ``weights_only=True``, numpy scalars allowed (``best_fid``); only the state dict is kept, with
    ``module.`` prefixes stripped. Safetensors files and missing files go through
    :func:`pftryon.models.read_state_dict`.

    Raises:
        CheckpointError: If the file is missing, cannot be read safely or holds no state dict.
    """
    path = Path(path)
    if path.suffix == ".safetensors" or not path.is_file():
        return read_state_dict(path)
    try:
        with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError):
        return read_state_dict(path)  # fails again, with the standard one-line message
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("model"), Mapping) and checkpoint["model"]:
        checkpoint = checkpoint["model"]
    if not isinstance(checkpoint, Mapping) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(
            f"{path}: expected a state dict or a {{'model': state_dict, ...}} training checkpoint, "
            f"got {type(checkpoint).__name__}"
        )
    return clean_state_dict(checkpoint)


def _check_smooth_aliases(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse a checkpoint whose copies of a pyramid's shared smoothing conv differ (they cannot, if genuine)."""
    for pyramid in ("image_mobile", "cond_mobile"):
        for name in ("weight", "bias"):
            copies = sorted(k for k in state if k.startswith(f"{pyramid}.smooth_layers.") and k.endswith(f".{name}"))
            differing = [k for k in copies[1:] if not torch.equal(state[k], state[copies[0]])]
            if differing:
                raise CheckpointError(
                    f"{source}: {', '.join(differing)} differ from {copies[0]}; DM-VTON shares one smoothing conv "
                    "per pyramid, so a genuine checkpoint stores identical copies"
                )


class DMVTON(WarpGenFiles, nn.Module):
    """DM-VTON inference: MobileNetV2 flow warp of the garment, MobileNetV2 U-Net rendering and composition.

    ``DMVTON()(person, cloth, edge)`` applies the official preprocessing itself, as the official pipeline
    does (the edge is binarised at 0.5 and the garment multiplied by it).

    Args:
        width_mult: Width multiplier of the warp's MobileNetV2 pyramids (official 1.0).
        fpn_dim: Warp pyramid width (official 256).
        flow_channels: Hidden widths of the warp's flow heads (official ``(128, 64, 32)``).
        gen_width_mult: Width multiplier of the generator (official 1.0).

    Example:
        >>> model = DMVTON(width_mult=0.25, fpn_dim=8).eval()
        >>> out = model(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 64))
        >>> out["tryon"].shape
        torch.Size([1, 3, 64, 64])
    """

    architecture = "dm_vton"
    required_inputs: ClassVar[tuple[str, ...]] = ("person", "cloth", "cloth_mask")

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        fpn_dim: int = 256,
        flow_channels: Sequence[int] = DEFAULT_FLOW_CHANNELS,
        gen_width_mult: float = 1.0,
    ) -> None:
        super().__init__()
        self.config = {"width_mult": width_mult, "fpn_dim": fpn_dim, "flow_channels": list(flow_channels),
                       "gen_width_mult": gen_width_mult}  # fmt: skip
        self.warp = MobileAFWM(3, width_mult, fpn_dim, flow_channels)
        self.gen = MobileNetV2UNet(7, 4, gen_width_mult)

    def forward(self, person: torch.Tensor, cloth: torch.Tensor, edge: torch.Tensor) -> dict[str, torch.Tensor]:
        """Warp the garment onto the person and render the try-on.

        Args:
            person: Person image ``[B, 3, H, W]`` in [-1, 1]; H and W multiples of 32.
            cloth: Garment image ``[B, 3, H, W]`` in [-1, 1].
            edge: Garment mask ``[B, 1, H, W]`` in [0, 1].

        Returns:
            ``warped_cloth``, ``flow`` (normalised sampling grid ``[B, 2, H, W]``, channels x then y),
            ``warped_edge``, ``gen_out`` (raw 4 channels), ``rendered``, ``mask`` and ``tryon`` in [-1, 1].
        """
        return render_parser_free(self.warp, self.gen, person, *mask_garment(cloth, edge))

    @classmethod
    def read_official(cls, path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
        """Read a plain state dict or the official training format (:func:`read_official_checkpoint`)."""
        return read_official_checkpoint(path)

    @classmethod
    def check_official_warp(cls, state: dict[str, torch.Tensor], source: str) -> None:
        """Check that the copies of the shared smoothing conv in the warp file agree.

        Raises:
            CheckpointError: If they differ.
        """
        _check_smooth_aliases(state, source)


@register_model
def dm_vton(**config: Any) -> DMVTON:
    """DM-VTON (the mobile student; any size divisible by 32)."""
    return DMVTON(**config)
