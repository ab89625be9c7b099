"""Opt-in low precision for inference, never the default, with its cost measured against fp32 on the same inputs.

* ``bf16``: ``torch.autocast(device, torch.bfloat16)``: convolutions and matmuls in bfloat16, what autocast keeps
  in fp32 (normalisation, ``grid_sample``) in fp32.
* ``int8``: post-training static quantisation through ``torch.ao.quantization`` FX (``prepare_fx`` / ``convert_fx``,
  the ``x86`` backend's default mapping: per-channel int8 weights, uint8 activations observed on calibration
  batches), CPU only. Each direct submodule of the model (PF-AFN: ``warp``, ``gen``) is quantised on its own when FX
  can trace it; the others stay fp32 and are named with the reason. The appearance-flow warps cannot be traced (their
  pyramid branches on tensor values, and ``grid_sample`` has no quantised kernel), so for PF-AFN and its relatives
  only the generator runs in int8.
* The error against fp32 (:func:`tryon_error`): ``max_abs_diff``, the largest absolute difference between the two
  try-ons (in the models' [-1, 1] units), and ``dssim``, ``1 - SSIM`` between them (RGB on [0, 1], skimage's Gaussian
  form), so 0 means identical.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.errors import InputError

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

__all__ = ["INFERENCE_DTYPES", "Quantized", "at_precision", "quantize_int8", "tryon_error"]

INFERENCE_DTYPES = ("fp32", "bf16", "int8")  # this module imports torch only when called: the CLI offers these


@dataclass(frozen=True)
class Quantized:
    """A quantised copy of a model and, per direct submodule, ``"int8"`` or ``"fp32: <why>"``."""

    model: nn.Module
    modules: dict[str, str]


def _submodule_inputs(model: nn.Module, calibration: Sequence[tuple[Tensor, ...]]) -> dict[str, list[tuple]]:
    """The positional inputs each direct submodule receives while ``model`` runs on the calibration batches."""
    import torch

    seen: dict[str, list[tuple]] = {name: [] for name, _ in model.named_children()}
    handles = [
        child.register_forward_pre_hook(
            lambda _module, args, kwargs, name=name: seen[name].append(args if not kwargs else ()), with_kwargs=True
        )
        for name, child in model.named_children()
    ]
    try:
        with torch.inference_mode():
            for inputs in calibration:
                model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _quantize_child(child: nn.Module, calls: list[tuple], mapping: Any) -> nn.Module | str:
    """``child`` prepared, calibrated on ``calls`` and converted, or why it stays fp32."""
    import torch
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if not all(calls):
        return "fp32: called with keyword arguments"
    try:
        prepared = prepare_fx(copy.deepcopy(child), mapping, example_inputs=calls[0])
        with torch.no_grad():
            for args in calls:
                prepared(*args)
        converted = convert_fx(prepared)
        with torch.no_grad():
            converted(*calls[0])
    except (torch.fx.proxy.TraceError, TypeError, RuntimeError, NotImplementedError, AssertionError) as err:
        reason = str(err).strip().split(". ")[0].splitlines()[0] if str(err).strip() else ""
        return f"fp32: {type(err).__name__} ({reason[:100]})"
    return converted


def quantize_int8(model: nn.Module, calibration: Sequence[tuple[Tensor, ...]]) -> Quantized:
    """Static int8 quantisation of each traceable direct submodule of ``model`` (a copy; ``model`` is untouched).

    torch 2.13 marks ``torch.ao.quantization`` deprecated in favour of torchao (not a dependency here); its
    deprecation warnings are silenced inside this call.

    Args:
        model: An fp32 model in eval mode on the CPU.
        calibration: Forward inputs of a few batches; the activation ranges are observed on them.
    """
    from torch.ao.quantization import get_default_qconfig_mapping

    quantized, modules = copy.deepcopy(model).eval(), {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*deprecated")
        mapping = get_default_qconfig_mapping("x86")
        for name, calls in _submodule_inputs(model, calibration).items():
            child = model.get_submodule(name)
            if not calls or next(child.parameters(), None) is None:
                continue
            result = _quantize_child(child, calls, mapping)
            if isinstance(result, str):
                modules[name] = result
            else:
                setattr(quantized, name, result)
                modules[name] = "int8"
    return Quantized(quantized, modules)


def at_precision(
    model: nn.Module, dtype: str, device: torch.device, calibration: Sequence[tuple[Tensor, ...]]
) -> tuple[Callable[..., Any], dict[str, str]]:
    """``model``'s forward at ``dtype`` (under ``inference_mode``) and what runs in which precision.

    Raises:
        InputError: an unknown dtype, or int8 off the CPU.
    """
    import torch

    if dtype not in INFERENCE_DTYPES:
        raise InputError(f"Unknown dtype {dtype!r}; expected one of {', '.join(INFERENCE_DTYPES)}")
    if dtype == "int8":
        if device.type != "cpu":
            raise InputError(f"dtype int8 runs on the CPU only (quantised kernels), got device {device}")
        quantized = quantize_int8(model, calibration)
        target, modules = quantized.model, quantized.modules
    else:
        target, modules = model, {"all": "bf16 autocast" if dtype == "bf16" else "fp32"}

    def forward(*inputs: Tensor) -> Any:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if dtype == "bf16":
                stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
            return target(*inputs)

    return forward, modules


def tryon_error(low: Tensor, reference: Tensor) -> dict[str, float]:
    """``max_abs_diff`` and ``dssim`` (``1 - SSIM``) of a low-precision try-on against the fp32 one (``[N, 3, H, W]``
    in [-1, 1])."""
    from bench.metrics.functional import ssim_skimage_gaussian

    low, reference = low.detach().float().cpu(), reference.detach().float().cpu()
    ssim = ssim_skimage_gaussian(*(((x + 1) / 2).clamp(0, 1) for x in (low, reference)), grayscale=False)
    return {"max_abs_diff": (low - reference).abs().max().item(), "dssim": 1.0 - ssim.mean().item()}
