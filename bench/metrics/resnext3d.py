"""3D ResNeXt-101 (32x4d bottlenecks, Hara et al. CVPR 2018) for the ResNeXt variant of VFID.

The module layout is that of kenshohara/3D-ResNets-PyTorch ``models/resnext.py`` (shortcut type B: a strided 1x1x1
convolution + BatchNorm wherever a block changes shape), which CatV2TON copies as ``modules/fid_metrics/resnext3d.py``
and loads ``resnext-101.pth`` (Hugging Face ``zhengchong/VFID``, a Kinetics-400 checkpoint whose ``state_dict``
keys carry DataParallel's ``module.`` prefix) into with ``sample_size=224``. Its VFID feature is the 2048-d output
of the final average pool; the classifier is kept (so the checkpoint loads strictly) but never applied.

Written from the paper's architecture and the layout above; no code is taken from either repository.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

__all__ = ["RESNEXT_FEATURES", "ResNeXt3D", "resnext101_3d"]

RESNEXT_FEATURES = 2048
"""Channels of ``layer4``: the VFID (ResNeXt) feature."""


class _Bottleneck(nn.Module):
    """1x1x1 reduce, grouped 3x3x3 (``cardinality`` groups, carrying the stride), 1x1x1 expand (x2), residual."""

    def __init__(self, c_in: int, planes: int, cardinality: int, stride: int) -> None:
        super().__init__()
        mid = cardinality * (planes // 32)
        self.conv1 = nn.Conv3d(c_in, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(mid)
        self.conv2 = nn.Conv3d(mid, mid, 3, stride, padding=1, groups=cardinality, bias=False)
        self.bn2 = nn.BatchNorm3d(mid)
        self.conv3 = nn.Conv3d(mid, planes * 2, 1, bias=False)
        self.bn3 = nn.BatchNorm3d(planes * 2)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != planes * 2:
            self.downsample = nn.Sequential(nn.Conv3d(c_in, planes * 2, 1, stride, bias=False),
                                            nn.BatchNorm3d(planes * 2))  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNeXt3D(nn.Module):
    """A 3D ResNeXt on RGB clips ``[B, 3, T, H, W]``; :meth:`forward` gives the pooled ``[B, 2048]`` features.

    Args:
        blocks: Bottlenecks per stage (``(3, 4, 23, 3)``: ResNeXt-101).
        sample_size: Frame side the final pool is sized for (``ceil(sample_size / 32)`` wide).
        sample_duration: Clip length the final pool is sized for (``ceil(sample_duration / 16)`` long).
        cardinality: Groups of the 3x3x3 convolutions.
        num_classes: Classifier outputs (kept for strict loading, never applied).
    """

    def __init__(self, blocks: tuple[int, int, int, int] = (3, 4, 23, 3), sample_size: int = 224,
                 sample_duration: int = 16, cardinality: int = 32, num_classes: int = 400) -> None:  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv3d(3, 64, 7, stride=(1, 2, 2), padding=3, bias=False)
        self.bn1 = nn.BatchNorm3d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(3, stride=2, padding=1)
        c_in = 64
        for index, (planes, count) in enumerate(zip((128, 256, 512, 1024), blocks, strict=True)):
            stride = 1 if index == 0 else 2
            stage = []
            for block in range(count):
                stage.append(_Bottleneck(c_in, planes, cardinality, stride if block == 0 else 1))
                c_in = planes * 2
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
        self.pool = (math.ceil(sample_duration / 16), math.ceil(sample_size / 32), math.ceil(sample_size / 32))
        self.fc = nn.Linear(cardinality * 32 * 2, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Features ``[B, 2048]``: ``layer4`` average-pooled over :attr:`pool` (stride 1), flattened."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"Expected clips [B, 3, T, H, W], got {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return nn.functional.avg_pool3d(x, self.pool, stride=1).flatten(1)


def resnext101_3d(sample_duration: int = 16, sample_size: int = 224) -> ResNeXt3D:
    """ResNeXt-101 (32 groups), Kinetics-400 classifier shape: the architecture of ``resnext-101.pth``."""
    return ResNeXt3D((3, 4, 23, 3), sample_size, sample_duration)
