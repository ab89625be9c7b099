"""ResUnetGenerator: PF-AFN's try-on generator (docs/reference/method.md §3.1).

A U-Net whose every level carries two residual blocks on the way down and up; stride-2 3x3 convolutions
down, nearest x2 upsampling + 3x3 convolution up, BatchNorm, no convolution biases. Nesting and indices
follow the official code so that ``gen_model_final.pth`` loads unchanged (keys ``model.model.…``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ResUnetGenerator"]


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class _ResidualBlock(nn.Module):
    """``relu(x + (conv, BN, ReLU, conv, BN)(x))``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            _conv3x3(channels, channels),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            _conv3x3(channels, channels),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.block(x) + x)


class _SkipBlock(nn.Module):
    """One U-Net level: ``cat([x, up(sub(down(x)))])``, or just the output for the outermost level."""

    def __init__(
        self,
        outer: int,
        inner: int,
        input_channels: int | None = None,
        submodule: nn.Module | None = None,
        *,
        outermost: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        down = _conv3x3(input_channels or outer, inner, stride=2)
        upsample = nn.Upsample(scale_factor=2.0, mode="nearest")
        if outermost:
            layers = [down, nn.ReLU(inplace=True), _ResidualBlock(inner), _ResidualBlock(inner), submodule,
                      upsample, _conv3x3(2 * inner, outer)]  # fmt: skip
        elif submodule is None:  # innermost
            layers = [down, nn.ReLU(inplace=True), _ResidualBlock(inner), _ResidualBlock(inner), upsample,
                      _conv3x3(inner, outer), nn.BatchNorm2d(outer), nn.ReLU(inplace=True),
                      _ResidualBlock(outer), _ResidualBlock(outer)]  # fmt: skip
        else:
            layers = [down, nn.BatchNorm2d(inner), nn.ReLU(inplace=True), _ResidualBlock(inner),
                      _ResidualBlock(inner), submodule, upsample, _conv3x3(2 * inner, outer),
                      nn.BatchNorm2d(outer), nn.ReLU(inplace=True), _ResidualBlock(outer),
                      _ResidualBlock(outer)]  # fmt: skip
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)


class ResUnetGenerator(nn.Module):
    """Residual U-Net generator.

    Args:
        input_channels: 7 for PF-AFN (person, warped garment, warped edge), 8 for PB-AFN.
        output_channels: 4 (rendered RGB + composition mask logits).
        num_downs: number of stride-2 levels (5: 256x192 -> 8x6); inputs must divide by 2**num_downs.
        ngf: width of the first level.
    """

    def __init__(self, input_channels: int = 7, output_channels: int = 4, num_downs: int = 5, ngf: int = 64) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"ResUnetGenerator needs num_downs >= 5, got {num_downs}")
        block = _SkipBlock(8 * ngf, 8 * ngf)
        for _ in range(num_downs - 5):
            block = _SkipBlock(8 * ngf, 8 * ngf, submodule=block)
        for outer, inner in ((4 * ngf, 8 * ngf), (2 * ngf, 4 * ngf), (ngf, 2 * ngf)):
            block = _SkipBlock(outer, inner, submodule=block)
        self.model = _SkipBlock(output_channels, ngf, input_channels, submodule=block, outermost=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
