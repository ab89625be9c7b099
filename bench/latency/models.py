"""What is timed: :data:`LATENCY_MODELS` (how to build each model and random inputs for it), the try-on methods
without an entry (timed through their adapter) and :func:`build_latency_model`."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from bench.data.readers import InputError
from pftryon.models import create_model, init_deterministic_

__all__ = ["LATENCY_MODELS", "WEIGHTS_NOTE", "LatencySpec", "Size", "build_latency_model"]

Size = tuple[int, int]
WEIGHTS_NOTE = (
    "deterministic stand-ins (pftryon.models.init_deterministic_), not trained weights: "
    "latency does not depend on weight values, and no quality figure comes from these runs"
)


@dataclass(frozen=True)
class LatencySpec:
    """How to build one timeable model and random inputs for it.

    Attributes:
        build: ``build(size, config)`` returns the model with its random initialisation; ``size`` matters to
            models built for one resolution (CP-VTON's GMM).
        inputs: ``inputs(batch, size, generator)`` returns the forward arguments on the CPU (float32; label maps
            int64).
        submodules: The submodules given deterministic weights (one official checkpoint file each).
        multiple: Height and width must be multiples of this.
        summary: One line on what is timed.
    """

    build: Callable[[Size, Mapping[str, Any]], nn.Module]
    inputs: Callable[[int, Size, torch.Generator], tuple[torch.Tensor, ...]]
    submodules: tuple[str, ...]
    multiple: int
    summary: str

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


def _image(g: torch.Generator, batch: int, size: Size, channels: int = 3) -> torch.Tensor:
    return torch.rand(batch, channels, *size, generator=g) * 2 - 1


def _mask(g: torch.Generator, batch: int, size: Size, channels: int = 1) -> torch.Tensor:
    return (torch.rand(batch, channels, *size, generator=g) > 0.5).float()


def _pfafn_inputs(batch: int, size: Size, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    edge = _mask(g, batch, size)
    return _image(g, batch, size), _image(g, batch, size) * edge, edge  # person, cloth (masked), edge


def _pbafn_inputs(batch: int, size: Size, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    edge = _mask(g, batch, size)
    representation = _mask(g, batch, size, 45)  # preserve masks (2) + one-hot DensePose (25) + pose maps (18)
    cloth = _image(g, batch, size) * edge
    return representation, cloth, edge, _image(g, batch, size), _mask(g, batch, size)  # ..., preserve, arms


def _cpvton_inputs(batch: int, size: Size, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    # agnostic: body shape (1) + head RGB (3) + pose maps (18); cloth; cloth mask.
    return _image(g, batch, size, 22), _image(g, batch, size), _mask(g, batch, size)


def _tps_only_inputs(batch: int, size: Size, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    return (*_cpvton_inputs(batch, size, g), _image(g, batch, size))  # ..., person


def _build_pftryon(name: str, size: Size, config: Mapping[str, Any]) -> nn.Module:
    return create_model(name, **config)


def _build_baseline(name: str, size: Size, config: Mapping[str, Any]) -> nn.Module:
    from baselines import create_baseline

    return create_baseline(name, **{"fine_height": size[0], "fine_width": size[1], **config})


def _build_at_size(name: str, size: Size, config: Mapping[str, Any]) -> nn.Module:
    """A baseline built for the timed size whatever size its configuration (a checkpoint's) names (CP-VTON)."""
    from baselines import create_baseline

    return create_baseline(name, **{**config, "fine_height": size[0], "fine_width": size[1]})


def _build_any_size_baseline(name: str, size: Size, config: Mapping[str, Any]) -> nn.Module:
    from baselines import create_baseline

    return create_baseline(name, **config)


def _build_no_flow(size: Size, config: Mapping[str, Any]) -> nn.Module:
    from baselines.no_flow import IdentityFlowTryOn

    return IdentityFlowTryOn(create_model("pf_afn", **config))


LATENCY_MODELS: dict[str, LatencySpec] = {
    "pf_afn": LatencySpec(
        partial(_build_pftryon, "pf_afn"), _pfafn_inputs, ("warp", "gen"), 32,
        "PF-AFN: warp (AFWM) + generator + composition from person, masked garment, garment mask",
    ),
    "pb_afn": LatencySpec(
        partial(_build_pftryon, "pb_afn"), _pbafn_inputs, ("warp", "gen"), 32,
        "PB-AFN tutor: 45-channel person representation instead of the person image",
    ),
    "cp_vton": LatencySpec(
        partial(_build_at_size, "cp_vton"), _cpvton_inputs, ("gmm", "tom"), 64,
        "CP-VTON: GMM (TPS warp) + TOM U-Net + composition, built for the timed size",
    ),
    "cp_vton_plus": LatencySpec(
        partial(_build_at_size, "cp_vton_plus"), _cpvton_inputs, ("gmm", "tom"), 64,
        "CP-VTON+: GMM on the cloth mask, 26-channel TOM, built for the timed size",
    ),
    "tps_only": LatencySpec(
        partial(_build_at_size, "tps_only"), _tps_only_inputs, ("gmm",), 64,
        "TPS-only lower bound: CP-VTON's GMM warp pasted by the warped mask (no TOM), built for the timed size",
    ),
    "no_warp": LatencySpec(
        partial(_build_any_size_baseline, "no_warp"), _pfafn_inputs, (), 1,
        "no-warp lower bound: the garment pasted by its mask (no network)",
    ),
    "fs_vton": LatencySpec(
        partial(_build_baseline, "fs_vton"), _pfafn_inputs, ("warp", "gen"), 32,
        "FS-VTON: style-modulated flow warp + PF-AFN generator + composition, built for the timed size",
    ),
    "dm_vton": LatencySpec(
        partial(_build_any_size_baseline, "dm_vton"), _pfafn_inputs, ("warp", "gen"), 32,
        "DM-VTON: MobileNetV2 pyramids + PF-AFN flow net, MobileNetV2 U-Net generator + composition",
    ),
    "wuton_student": LatencySpec(
        partial(_build_pftryon, "pf_afn"), _pfafn_inputs, ("warp", "gen"), 32,
        "WUTON-style student: PF-AFN's network (trained with tutor-only knowledge)",
    ),
    "pf_afn_no_flow": LatencySpec(
        _build_no_flow, _pfafn_inputs, ("gen",), 32,
        "PF-AFN identity-flow ablation: PF-AFN's generator + composition on the unwarped garment (no warp)",
    ),
}  # fmt: skip


def _spec(name: str) -> LatencySpec:
    """A :data:`LATENCY_MODELS` entry, or a try-on method without one (a registered name or ``module:Class``)."""
    if name in LATENCY_MODELS:
        return LATENCY_MODELS[name]
    from bench.methods import list_methods

    if ":" not in name and name not in list_methods():
        close = difflib.get_close_matches(name, {*LATENCY_MODELS, *list_methods()}, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise InputError(f"Unknown model {name!r}.{hint} Available: {', '.join(sorted(LATENCY_MODELS))}, a method "
                         "of `pftryon methods`, or an adapter class as module:Class")  # fmt: skip
    return _adapter_spec(name)


def _adapter_spec(name: str) -> LatencySpec:
    """Time method ``name`` through its adapter: its model (weight-free, or its ``model_class`` built from the
    configuration with deterministic weights) on :meth:`~bench.methods.TryOnMethod.example_inputs`."""
    from bench.methods import method_class

    adapter = method_class(name)

    def build(size: Size, config: Mapping[str, Any]) -> nn.Module:
        if not adapter.card.official_files:
            return adapter.load(None).model
        if adapter.model_class is None:
            raise InputError(f"{name}: timing builds the model without checkpoints; set model_class on the adapter "
                             "(built from its configuration)")  # fmt: skip
        return adapter(init_deterministic_(adapter.model_class(**config)), {}, config).model

    return LatencySpec(build, adapter.example_inputs, (), 1,
                       f"{adapter.card.title}: its adapter's model on example_inputs")  # fmt: skip


def _check_size(name: str, size: Sequence[int]) -> Size:
    spec = _spec(name)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise InputError(f"size must be (height, width) as two positive integers, got {size!r}")
    height, width = size
    m = spec.multiple
    if height % m or width % m:
        near = "x".join(str(max(m, round(s / m) * m)) for s in (height, width))
        raise InputError(f"{name} needs height and width divisible by {m}, got {height}x{width} (e.g. {near})")
    return height, width


def build_latency_model(name: str, size: Size = (256, 192), config: Mapping[str, Any] | None = None) -> nn.Module:
    """Build a registered model for timing: eval mode, float32, on the CPU, deterministic weights.

    Args:
        name: A key of :data:`LATENCY_MODELS`, or a try-on method without one (a registered name or
            ``module:Class``: its adapter's model, see :mod:`bench.latency`).
        size: ``(height, width)`` the model will be timed at.
        config: Constructor arguments (e.g. a tiny width for tests); the released architecture when ``None``.

    Returns:
        The model, each of its :attr:`LatencySpec.submodules` given :func:`pftryon.models.init_deterministic_`.

    Raises:
        ValueError: If ``name`` is not registered or ``size`` does not suit the model.
    """
    size = _check_size(name, size)
    spec = _spec(name)
    model = spec.build(size, dict(config or {}))
    for submodule in spec.submodules:
        init_deterministic_(model.get_submodule(submodule))
    return model.eval()
