"""Inception-v1 I3D (Carreira & Zisserman, CVPR 2017) in the module layout of its PyTorch port, for video FID / FVD.

The layout (module names, TF-style "SAME" padding computed from each input's size, BatchNorm after every
convolution but the classifier) is that of piergiaj/pytorch-i3d ``pytorch_i3d.py``, which the published video
metric checkpoints are saved from, so their state dicts load here with ``strict=True``:

- **VFID** (CatV2TON ``modules/fid_metrics/inception3d.py`` and ``fid.py``, the ``i3d.pt`` of the Hugging Face
  repository ``zhengchong/VFID``): BatchNorm eps 1e-3, average pool ``(1, 7, 7)``; the feature is the pooled
  ``Mixed_5c`` output averaged over time (1024-d).
- **FVD** (cd-fvd ``cdfvd/third_party/i3d/pytorch_i3d.py`` = TATS ``tats/fvd/pytorch_i3d.py``, the
  ``i3d_pretrained_400.pt`` converted from the TF-hub I3D of the original FVD): BatchNorm eps 1e-5, average pool
  ``(2, 7, 7)``; the feature is the 400 Kinetics logits averaged over time.

Written from the paper's architecture and the layout above; no code is taken from either repository.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["I3D_FEATURES", "InceptionI3D"]

I3D_FEATURES = 1024
"""Channels of ``Mixed_5c``, the pooled feature VFID uses."""

# Inception modules: input channels and the widths of (1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | 3x3 max pool -> 1x1).
_MIXED: dict[str, tuple[int, tuple[int, int, int, int, int, int]]] = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


def _triple(value: int | tuple[int, int, int]) -> tuple[int, int, int]:
    return (value, value, value) if isinstance(value, int) else value


def _same_padding(x: Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> Tensor:
    """Zero-pad ``[B, C, T, H, W]`` as TensorFlow's "SAME" does (the extra pixel, if any, at the end)."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class _Unit3D(nn.Module):
    """Convolution (no bias) + BatchNorm + ReLU, or (``classifier``) a biased 1x1x1 convolution alone."""

    def __init__(self, c_in: int, c_out: int, kernel: int | tuple[int, int, int] = 1, stride: int = 1,
                 bn_eps: float = 1e-3, classifier: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.kernel, self.stride = _triple(kernel), _triple(stride)
        self.conv3d = nn.Conv3d(c_in, c_out, self.kernel, self.stride, bias=classifier)
        self.bn = None if classifier else nn.BatchNorm3d(c_out, eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(_same_padding(x, self.kernel, self.stride))
        return x if self.bn is None else F.relu(self.bn(x))


class _SamePool(nn.Module):
    """Max pooling after "SAME" zero padding (inputs are post-ReLU, so the zeros never win over a real value)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool3d(_same_padding(x, self.kernel, self.stride), self.kernel, self.stride)


class _Mixed(nn.Module):
    """An Inception module: four branches concatenated along the channels."""

    def __init__(self, c_in: int, widths: tuple[int, int, int, int, int, int], bn_eps: float) -> None:
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        self.b0 = _Unit3D(c_in, w0, bn_eps=bn_eps)
        self.b1a = _Unit3D(c_in, w1a, bn_eps=bn_eps)
        self.b1b = _Unit3D(w1a, w1b, 3, bn_eps=bn_eps)
        self.b2a = _Unit3D(c_in, w2a, bn_eps=bn_eps)
        self.b2b = _Unit3D(w2a, w2b, 3, bn_eps=bn_eps)
        self.b3a = _SamePool((3, 3, 3), (1, 1, 1))
        self.b3b = _Unit3D(c_in, w3, bn_eps=bn_eps)

    def forward(self, x: Tensor) -> Tensor:
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


class InceptionI3D(nn.Module):
    """Inception-v1 I3D on RGB clips ``[B, 3, T, H, W]`` (the checkpoints expect values in [-1, 1]).

    Spatially the network needs at least 193 px per side (``Mixed_5c`` is ``ceil(H / 32)`` wide and the final
    average pool is 7 wide: 224 px is what every published metric feeds); temporally ``ceil(T / 8)`` steps reach
    the pool, which must be at least ``pool_frames`` long.

    Args:
        num_classes: Classifier outputs (400: Kinetics-400).
        bn_eps: BatchNorm epsilon (1e-3 in pytorch-i3d and CatV2TON's VFID copy; 1e-5 in the TATS / cd-fvd FVD copy).
        pool_frames: Temporal size of the final average pool (1 for VFID, 2 for FVD); spatially it is 7x7, stride 1.
    """

    def __init__(self, num_classes: int = 400, bn_eps: float = 1e-3, pool_frames: int = 1) -> None:
        super().__init__()
        self.pool_frames = pool_frames
        stem: list[tuple[str, nn.Module]] = [
            ("Conv3d_1a_7x7", _Unit3D(3, 64, 7, 2, bn_eps)),
            ("MaxPool3d_2a_3x3", _SamePool((1, 3, 3), (1, 2, 2))),
            ("Conv3d_2b_1x1", _Unit3D(64, 64, bn_eps=bn_eps)),
            ("Conv3d_2c_3x3", _Unit3D(64, 192, 3, bn_eps=bn_eps)),
            ("MaxPool3d_3a_3x3", _SamePool((1, 3, 3), (1, 2, 2))),
        ]
        pools = {"Mixed_4b": ("MaxPool3d_4a_3x3", (3, 3, 3)), "Mixed_5b": ("MaxPool3d_5a_2x2", (2, 2, 2))}
        self._order: list[str] = []
        for name, module in stem:
            self.add_module(name, module)
            self._order.append(name)
        for name, (c_in, widths) in _MIXED.items():
            if name in pools:
                pool_name, kernel = pools[name]
                self.add_module(pool_name, _SamePool(kernel, (2, 2, 2)))
                self._order.append(pool_name)
            self.add_module(name, _Mixed(c_in, widths, bn_eps))
            self._order.append(name)
        self.logits = _Unit3D(I3D_FEATURES, num_classes, classifier=True)

    def forward_features(self, x: Tensor) -> Tensor:
        """``Mixed_5c`` average-pooled over ``(pool_frames, 7, 7)`` with stride 1: ``[B, 1024, T', H', W']``."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"Expected clips [B, 3, T, H, W], got {tuple(x.shape)}")
        if math.ceil(min(x.shape[-2:]) / 32) < 7:
            raise ValueError(f"I3D needs frames of at least 193 px per side (224 as published), got {x.shape[-2:]}")
        for name in self._order:
            x = getattr(self, name)(x)
        return F.avg_pool3d(x, (self.pool_frames, 7, 7), stride=1)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits averaged over the remaining time steps: ``[B, num_classes]`` (dropout never applied)."""
        return self.logits(self.forward_features(x)).mean(dim=(2, 3, 4))
