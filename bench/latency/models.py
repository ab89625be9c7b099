"""What is timed: every try-on method, through its adapter (:mod:`bench.methods`): the model of
:meth:`~bench.methods.TryOnMethod.build_for_timing` on :meth:`~bench.methods.TryOnMethod.example_inputs`, at sides
that are multiples of its ``size_multiple``. A name is a registered method (``pftryon methods``) or an adapter as
``module:Class``; :func:`latency_spec` resolves it, :func:`build_latency_model` builds it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.data.readers import InputError
from bench.registry import did_you_mean

__all__ = ["WEIGHTS_NOTE", "LatencySpec", "Size", "build_latency_model", "latency_models", "latency_spec"]

Size = tuple[int, int]
WEIGHTS_NOTE = (
    "deterministic stand-ins (pftryon.models.init_deterministic_), not trained weights: "
    "latency does not depend on weight values, and no quality figure comes from these runs"
)


@dataclass(frozen=True)
class LatencySpec:
    """How one method is timed, as its adapter says (:func:`latency_spec`).

    Attributes:
        build: ``build(size, config)`` returns the model with deterministic weights, eval mode, on the CPU
            (:meth:`~bench.methods.TryOnMethod.build_for_timing`).
        inputs: ``inputs(batch, size, generator)`` returns the forward arguments on the CPU (float32; label maps
            int64) (:meth:`~bench.methods.TryOnMethod.example_inputs`).
        multiple: Height and width must be multiples of this.
        summary: One line on what is timed.
        stages: The networks of the pipeline, as submodule names of the timed model, whose time the stage split
            reports (the adapter's ``checkpoint_submodules``: one network per official file, e.g. ``warp`` and
            ``gen``, ``gmm`` and ``tom``); empty: no split.
    """

    build: Callable[[Size, Mapping[str, Any] | None], nn.Module]
    inputs: Callable[[int, Size, torch.Generator], tuple[torch.Tensor, ...]]
    multiple: int
    summary: str
    stages: tuple[str, ...] = ()

    def make_inputs(
        self,
        batch: int,
        size: Size,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        seed: int = 0,
    ) -> tuple[torch.Tensor, ...]:
        """Random inputs of the right shapes (images in [-1, 1], masks in {0, 1}), drawn from ``seed``; ``dtype``
        applies to floating-point inputs (label maps keep theirs)."""
        generator = torch.Generator().manual_seed(seed)
        inputs = self.inputs(batch, size, generator)
        return tuple(x.to(device=device, dtype=dtype if x.is_floating_point() else x.dtype) for x in inputs)


def latency_models() -> list[str]:
    """The names ``pftryon latency --model`` takes (besides ``module:Class``): every registered method, sorted."""
    from bench.methods import list_methods

    return list_methods()


def latency_spec(name: str) -> LatencySpec:
    """How method ``name`` (a registered name or ``module:Class``) is timed, read from its adapter.

    Raises:
        InputError: an unknown name (with the closest names), or an adapter that does not load.
    """
    from bench.methods import METHODS, method_class

    if ":" not in name and name not in METHODS and name not in (names := latency_models()):
        raise InputError(f"Unknown model {name!r}.{did_you_mean(name, names)} Available: {', '.join(names)}, or an "
                         "adapter class as module:Class")  # fmt: skip
    adapter = method_class(name)
    summary = adapter.timing_summary or f"{adapter.card.title}: its adapter's model on example_inputs"
    return LatencySpec(
        adapter.build_for_timing,
        adapter.example_inputs,
        adapter.size_multiple,
        summary,
        tuple(adapter.checkpoint_submodules),
    )


def _check_size(name: str, size: Sequence[int]) -> Size:
    spec = latency_spec(name)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise InputError(f"size must be (height, width) as two positive integers, got {size!r}")
    height, width = size
    m = spec.multiple
    if height % m or width % m:
        near = "x".join(str(max(m, round(s / m) * m)) for s in (height, width))
        raise InputError(f"{name} needs height and width divisible by {m}, got {height}x{width} (e.g. {near})")
    return height, width


def build_latency_model(name: str, size: Size = (256, 192), config: Mapping[str, Any] | None = None) -> nn.Module:
    """Build a method's model for timing: eval mode, float32, on the CPU, deterministic weights.

    Args:
        name: A registered method or ``module:Class`` (see :func:`latency_spec`).
        size: ``(height, width)`` the model will be timed at.
        config: Constructor arguments (e.g. a tiny width for tests); the released architecture when ``None``.

    Returns:
        The model of :meth:`~bench.methods.TryOnMethod.build_for_timing`.

    Raises:
        ValueError: If ``name`` is not registered or ``size`` does not suit the model.
    """
    size = _check_size(name, size)
    return latency_spec(name).build(size, dict(config or {})).eval()
