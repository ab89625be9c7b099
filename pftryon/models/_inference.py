"""An inference-only copy of a model: BatchNorm folded into the preceding convolutions, channels-last weights.

Both rewrites keep the computation the same up to float rounding (checked by the tests at the golden
tolerances, and by ``python -m bench.speed model`` on every run). The copy's state dict differs from the
official layout (folded BatchNorms become ``Identity``), so save the original model, never the copy.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batchnorm_", "optimize_for_inference"]

M = TypeVar("M", bound=nn.Module)


def fold_batchnorm_(model: nn.Module) -> int:
    """Fold each eval-mode ``BatchNorm2d`` that directly follows a ``Conv2d`` in a ``Sequential``; returns how many."""
    folded = 0
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
                folded += 1
    return folded


def optimize_for_inference(model: M) -> M:
    """Return an eval-mode copy of ``model`` with BatchNorm folded and weights in channels-last layout."""
    fast = copy.deepcopy(model).eval()
    fold_batchnorm_(fast)
    return fast.to(memory_format=torch.channels_last)
