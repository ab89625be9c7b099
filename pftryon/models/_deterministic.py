"""Deterministic, architecture-agnostic weights (the rule of docs/reference/conformance.md §3).

Every tensor is drawn from a generator seeded by the SHA-256 of its state-dict key, so the same key gets
the same values in any model, in any order. The golden vectors of the official models were computed with
these weights; tests and benchmarks use them where no trained checkpoint exists. They are *not* trained
weights: nothing computed with them is a quality number.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

__all__ = ["deterministic_state_dict", "deterministic_tensor", "init_deterministic_"]


def deterministic_tensor(key: str, shape: Sequence[int]) -> torch.Tensor:
    """The tensor the conformance rule assigns to state-dict entry ``key`` of ``shape``."""
    shape = tuple(int(s) for s in shape)
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.long)
    seed = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little") % 2**63
    g = torch.Generator().manual_seed(seed)
    if key.endswith("running_mean"):
        return 0.1 * torch.randn(shape, generator=g)
    if key.endswith("running_var"):
        return 1.0 + 0.5 * torch.rand(shape, generator=g)
    if len(shape) >= 2:
        return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    if key.endswith("bias"):
        return 0.1 * torch.randn(shape, generator=g)
    if key.endswith("weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=g)
    raise ValueError(f"no deterministic rule for state-dict key {key!r}")


def deterministic_state_dict(shapes: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """Build a state dict from ``{key: shape}`` (a conformance manifest or a model's own shapes)."""
    return {key: deterministic_tensor(key, shape) for key, shape in shapes.items()}


def init_deterministic_(module: nn.Module) -> nn.Module:
    """Overwrite every parameter and buffer of ``module`` with its deterministic value; returns it."""
    state = deterministic_state_dict({k: v.shape for k, v in module.state_dict().items()})
    module.load_state_dict(state)
    return module
