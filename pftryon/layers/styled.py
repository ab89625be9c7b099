"""Style-modulated convolutions (StyleGAN2 style), as FS-VTON's flow estimator uses them.

A global style vector scales each input channel of a convolution kernel (modulation); each output filter
is then rescaled to unit norm (demodulation). Both the kernel and the style affine use the equalised
learning rate of StyleGAN: the stored weights are multiplied at run time by ``sqrt(2 / fan_in)``.
Parameter names follow FS-VTON's ``test/models/afwm.py`` (``ModulatedConv2d``, ``EqualLinear`` through
``EqualLR``) so that its checkpoints load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EqualLinear", "EqualLRLinear", "ModulatedConv2d", "StyledConvBlock", "StyledFlowBlock"]

# LeakyReLU(0.2) scaled by sqrt(2) keeps the activation variance of a unit-variance input (StyleGAN2).
_NEGATIVE_SLOPE = 0.2
_ACTIVATION_GAIN = math.sqrt(2.0)
_DEMODULATION_EPS = 1e-5


class EqualLRLinear(nn.Module):
    """A linear layer with the equalised learning rate: ``x @ (weight_orig * sqrt(2 / in_dim)).T + bias``.

    The parameters are registered as ``bias`` then ``weight_orig``, the names and order the official
    ``EqualLR`` hook leaves on an ``nn.Linear``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.weight_orig = nn.Parameter(torch.randn(out_dim, in_dim))
        self.scale = math.sqrt(2.0 / in_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight_orig * self.scale, self.bias)


class EqualLinear(nn.Module):
    """The official ``EqualLinear`` wrapper: one :class:`EqualLRLinear` under the attribute ``linear``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = EqualLRLinear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class ModulatedConv2d(nn.Module):
    """Modulated, demodulated ``k x k`` convolution with zero padding ``k // 2`` (stride 1).

    For a style ``s = mlp_class_std(style)`` (one scale per input channel and sample), the kernel of
    sample ``b`` is ``w_b[o, i] = s[b, i] * weight[o, i] * sqrt(2 / (fin * k * k))``, divided by
    ``sqrt(sum_{i, kernel} w_b[o, i]**2 + 1e-5)``; the bias ``[1, fout, 1, 1]`` is added after the
    convolution. Samples are convolved as groups of one batched convolution, as the official code does.

    Args:
        fin: Input channels.
        fout: Output channels.
        kernel_size: Kernel size (odd).
        style_dim: Length of the style vector.
    """

    def __init__(self, fin: int, fout: int, kernel_size: int = 3, style_dim: int = 256) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = fin, fout, kernel_size
        self.weight = nn.Parameter(torch.randn(fout, fin, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(1, fout, 1, 1))
        self.mlp_class_std = EqualLinear(style_dim, fin)
        self.scale = math.sqrt(2.0 / (fin * kernel_size * kernel_size))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, _, height, width = x.shape
        modulation = self.mlp_class_std(style).view(batch, 1, self.in_channels, 1, 1)
        weight = modulation * (self.weight * self.scale).unsqueeze(0)  # [B, fout, fin, k, k]
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + _DEMODULATION_EPS)
        weight = weight.view(batch * self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        out = F.conv2d(x.reshape(1, -1, height, width), weight, padding=self.kernel_size // 2, groups=batch)
        return out.view(batch, self.out_channels, height, width) + self.bias


def _activate(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, _NEGATIVE_SLOPE) * _ACTIVATION_GAIN


class StyledConvBlock(nn.Module):
    """Two modulated 3x3 convolutions (``fin -> fout -> fout``), each followed by LeakyReLU(0.2) times sqrt(2)."""

    def __init__(self, fin: int, fout: int, style_dim: int = 256) -> None:
        super().__init__()
        self.conv0 = ModulatedConv2d(fin, fout, 3, style_dim)
        self.conv1 = ModulatedConv2d(fout, fout, 3, style_dim)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return _activate(self.conv1(_activate(self.conv0(x, style)), style))


class StyledFlowBlock(nn.Module):
    """FS-VTON's ``Styled_F_ConvBlock``: modulated 3x3 ``fin -> hidden``, LeakyReLU(0.2) times sqrt(2), modulated
    3x3 ``hidden -> fout`` with no activation (the output is a raw flow offset when ``fout`` is 2)."""

    def __init__(self, fin: int, fout: int, style_dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        self.conv0 = ModulatedConv2d(fin, hidden, 3, style_dim)
        self.conv1 = ModulatedConv2d(hidden, fout, 3, style_dim)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.conv1(_activate(self.conv0(x, style)), style)
