"""Inference latency of the try-on models: per-iteration timing, percentiles, peak memory, FLOPs and utilisation.

What is timed: one forward call of the model on inputs already on the device, under ``torch.inference_mode()``.
No data loading, no preprocessing (no human parser, DensePose or pose estimator), no host-device copies, no
saving. The weights are deterministic stand-ins (:func:`pftryon.models.init_deterministic_` on each submodule
that the official code ships as one file): latency does not depend on weight values, and nothing measured here is
a quality figure. A try-on method without a :data:`LATENCY_MODELS` entry (a method of your own whose card leaves
``latency_model`` out, by name or ``module:Class``) is timed through its adapter: its weight-free model, or its
``model_class`` built from the configuration with deterministic weights, on ``TryOnMethod.example_inputs``.

How it is timed, and what the columns mean:

* ``warmup`` untimed calls, then ``iters`` timed calls; ``median_ms``, ``p10_ms``, ``p90_ms`` are over the timed
  calls (linear-interpolated percentiles). ``images_per_s`` is ``batch / median`` (seconds).
* CUDA: each timed call is bracketed by a pair of ``torch.cuda.Event(enable_timing=True)``, after a
  ``torch.cuda.synchronize`` so that calls never overlap: the time of one request from an idle GPU, CPU launch
  overhead included. TF32 is off for fp32 (``torch.backends.cuda.matmul.allow_tf32`` and
  ``torch.backends.cudnn.allow_tf32``; the ``tf32`` precision turns both on); the flags are restored afterwards.
  Peak memory is ``torch.cuda.max_memory_allocated`` after ``torch.cuda.reset_peak_memory_stats`` just before
  the timed calls: weights, inputs and activations, as the caching allocator hands them out (``memory_measure``
  ``cuda_max_allocated``).
* CPU: ``time.perf_counter`` around each call. Peak memory is the growth of the resident set (RSS) during the
  timed calls over a baseline taken before the warm-up, with the model and inputs loaded and after one forward
  call (the FLOP count below, which also pays the one-off lazy initialisation: library code paged in, thread
  pools) and after ``torch.compile``'s first call; freed heap is handed back to the OS (glibc ``malloc_trim``)
  before the baseline, so that earlier calls' leftovers do not hide this one's. The peak is Linux's ``VmHWM``
  after resetting it through ``/proc/self/clear_refs`` (``rss_hwm_growth``) or, where that is refused,
  ``/proc/self/statm`` sampled every millisecond by a thread (``rss_sampled_growth``, which can miss
  sub-millisecond peaks); ``None`` without ``/proc``. Activations, workspaces and what the allocator keeps
  count; the weights do not. Never parameter bytes (the DM-VTON "memory" mistake,
  docs/reference/published-results.md §2).
* ``bf16``/``fp16`` run under ``torch.autocast(device_type, dtype)``: convolutions and matmuls in half precision,
  the ops autocast keeps in fp32 (normalisation, ``grid_sample`` and the like) in fp32. ``int8`` (CPU only) times a
  statically quantised copy (:func:`bench.precision.quantize_int8`, calibrated on three other random batches): the
  submodules FX can trace in int8, the rest in fp32, as ``quantized`` says (PF-AFN: the generator; its warp stays
  fp32). Every non-fp32 row states its error against the fp32 model on the same inputs: ``max_abs_diff`` (largest
  absolute difference of the try-on, [-1, 1] units) and ``dssim`` (``1 - SSIM`` between the two try-ons), see
  :func:`bench.precision.tryon_error`. The inputs are random, so these are a model's sensitivity, not a quality
  figure.
* ``channels_last`` converts the model and the 4-D inputs to ``torch.channels_last``; ``optimize`` times
  :func:`pftryon.models.optimize_for_inference` (BatchNorm folded, channels-last weights).
* ``compile`` wraps the model with ``torch.compile`` (default mode). The first call, which compiles, is timed on
  its own and reported as ``compile_s``; it is neither a warm-up nor a timed call.
* ``flops``: one untimed forward of the eager model under ``torch.utils.flop_counter.FlopCounterMode`` (same
  precision and inputs). It counts convolutions and matmuls (2 FLOPs per multiply-add), not element-wise ops or
  ``grid_sample``. ``achieved_tflops = flops / median``; ``peak_fraction`` divides it by the device's dense peak
  for the precision (:data:`PEAK_TFLOPS`; ``None`` on CPUs and unknown GPUs). Under autocast part of the work
  stays in fp32, so the fraction against the half-precision peak understates how busy the fp32 units are.
* ``params``: parameters of the model as built, before BatchNorm folding.

Usage: :func:`measure_latency` for one point, :func:`run_latency` for a grid (the ``pftryon latency`` command),
:func:`latency_table` and :func:`write_latency_report` for the CSV and Markdown files.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import difflib
import gc
import logging
import os
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from bench.data.readers import InputError
from bench.precision import quantize_int8, tryon_error
from bench.results import run_metadata
from bench.speed import device_name, sync_device
from pftryon.models import atomic_write, create_model, init_deterministic_, optimize_for_inference

__all__ = [
    "LATENCY_MODELS",
    "PEAK_TFLOPS",
    "PRECISIONS",
    "LatencyResult",
    "LatencySpec",
    "build_latency_model",
    "latency_table",
    "measure_latency",
    "parse_batches",
    "parse_precisions",
    "parse_sizes",
    "peak_tflops",
    "run_latency",
    "write_latency_report",
    "LatencyReport",
]

_logger = logging.getLogger(__name__)

Size = tuple[int, int]
WEIGHTS_NOTE = (
    "deterministic stand-ins (pftryon.models.init_deterministic_), not trained weights: "
    "latency does not depend on weight values, and no quality figure comes from these runs"
)

# Precision names and the autocast dtype each runs under (None: no autocast; int8 runs a quantised copy).
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": None,
}  # fmt: skip
_DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}


# --------------------------------------------------------------------------------------------------------------
# Timeable models
# --------------------------------------------------------------------------------------------------------------


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
            ``module:Class``: its adapter's model, see the module docstring).
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


# --------------------------------------------------------------------------------------------------------------
# Peak rates
# --------------------------------------------------------------------------------------------------------------

# Dense peak TFLOP/s (no 2:4 structured sparsity: half the starred datasheet figures) at boost clock, from
# NVIDIA's product datasheets (H100, H200, A100, L4, T4, V100) and the Ada architecture whitepaper (RTX 4090, FP32
# accumulate). "fp32" is the non-tensor-core FP32 rate, the ceiling of fp32 with TF32 off; "tf32", "bf16" and
# "fp16" are tensor-core rates. None: the GPU has no such tensor-core mode. Patterns are matched in order
# (case-insensitive) against torch.cuda.get_device_name, so the more specific ones come first.
PEAK_TFLOPS: tuple[tuple[str, str, dict[str, float | None]], ...] = (
    (r"H100.*PCIe", "H100 PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    (r"H100.*NVL", "H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H100", "H100 SXM", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}),
    (r"H200.*NVL", "H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H200", "H200 SXM", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}),
    (r"A100", "A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    (r"\bL4\b", "L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    (r"\bT4\b", "T4", {"fp32": 8.1, "tf32": None, "bf16": None, "fp16": 65.0}),
    (r"RTX 4090", "RTX 4090", {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2}),
    (r"V100S", "V100S PCIe", {"fp32": 16.4, "tf32": None, "bf16": None, "fp16": 130.0}),
    (r"V100.*PCIe", "V100 PCIe", {"fp32": 14.0, "tf32": None, "bf16": None, "fp16": 112.0}),
    (r"V100", "V100 SXM2", {"fp32": 15.7, "tf32": None, "bf16": None, "fp16": 125.0}),
)


def peak_tflops(device_name: str, precision: str) -> float | None:
    """Dense peak TFLOP/s of a GPU (by its ``torch.cuda.get_device_name``) for ``precision``; ``None`` if unknown."""
    for pattern, _, peaks in PEAK_TFLOPS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return peaks.get(precision)
    return None


# --------------------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------------------


@dataclass
class LatencyResult:
    """One timed configuration. Times in milliseconds; see the module docstring for every definition."""

    model: str
    config: str
    device: str
    size: Size
    batch: int
    dtype: str
    compile: bool
    channels_last: bool
    optimize: bool
    warmup: int
    iters: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    images_per_s: float
    peak_memory_mib: float | None
    memory_measure: str
    params: int
    flops: int
    achieved_tflops: float
    peak_tflops: float | None
    peak_fraction: float | None
    compile_s: float | None
    max_abs_diff: float | None
    dssim: float | None
    quantized: str | None
    times_ms: list[float] = dataclasses.field(repr=False)


def _resolve_device(device: torch.device | str) -> torch.device:
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}") from None
    if target.type not in ("cpu", "cuda"):
        raise InputError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}")
    if target.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {str(device)!r}: no CUDA device is available here; use device='cpu'")
        index = torch.cuda.current_device() if target.index is None else target.index
        if index >= torch.cuda.device_count():
            raise InputError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        target = torch.device("cuda", index)
    return target


def _precision(dtype: torch.dtype | str, device: torch.device) -> str:
    if isinstance(dtype, torch.dtype):
        names = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}
        if dtype not in names:
            raise InputError(f"dtype must be torch.float32, torch.bfloat16 or torch.float16, got {dtype}")
        name = names[dtype]
    else:
        name = _DTYPE_ALIASES.get(str(dtype).lower(), str(dtype).lower())
        if name not in PRECISIONS:
            raise InputError(f"Unknown dtype {dtype!r}; expected one of {', '.join(PRECISIONS)}")
    if name == "int8" and device.type != "cpu":
        raise InputError("dtype int8 runs on the CPU only (torch.ao quantised kernels); use device='cpu'")
    if name == "tf32" and device.type != "cuda":
        raise InputError("dtype tf32 needs a CUDA device (TF32 is a tensor-core mode); use fp32 on the CPU")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise InputError(f"dtype bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support; use fp16")
    return name


def _check_counts(batch: int, warmup: int, iters: int) -> None:
    for label, value, least in (("batch", batch, 1), ("warmup", warmup, 0), ("iters", iters, 1)):
        if not isinstance(value, int) or value < least:
            raise InputError(f"{label} must be an integer >= {least}, got {value!r}")


def _config_label(config: Mapping[str, Any] | None) -> str:
    if not config:
        return "default"
    return ", ".join(f"{key}={tuple(v) if isinstance(v, list) else v}" for key, v in config.items())


@contextlib.contextmanager
def _precision_mode(precision: str, device: torch.device) -> Iterator[None]:
    """``inference_mode``, autocast for bf16/fp16, and on CUDA TF32 on only for ``tf32`` (flags restored after)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with contextlib.ExitStack() as stack:
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
            stack.callback(_restore_tf32, saved)
            stack.enter_context(torch.cuda.device(device))
        stack.enter_context(torch.inference_mode())
        autocast_dtype = PRECISIONS[precision]
        if autocast_dtype is not None:
            stack.enter_context(torch.autocast(device.type, dtype=autocast_dtype))
        yield


def _restore_tf32(saved: tuple[bool, bool]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class _CpuPeakRss:
    """Peak RSS growth over a baseline (Linux /proc); see the module docstring."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.baseline: int | None = None
        self.measure = "unavailable"
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * self.page
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _hwm() -> int | None:
        try:
            with open("/proc/self/status") as status:
                line = next(line for line in status if line.startswith("VmHWM:"))
            return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            return None

    def set_baseline(self) -> None:
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc: give freed heap back, so it counts again when reused
        self.baseline = self._rss()

    def start(self) -> None:
        if self.baseline is None:
            return
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
            self.measure = "rss_hwm_growth"
            return
        except OSError:
            pass
        self.measure = "rss_sampled_growth"
        self._peak = self.baseline

        def sample() -> None:
            while not self._stop.wait(0.001):
                self._peak = max(self._peak, self._rss() or 0)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """Peak bytes above the baseline during the timed section, or None where RSS cannot be read."""
        if self.baseline is None:
            return None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._rss() or 0)
        else:
            peak = self._hwm()
            if peak is None:
                return None
        return max(0, peak - self.baseline)


def measure_latency(
    model_name: str,
    *,
    size: Size = (256, 192),
    batch: int = 1,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    compile: bool = False,
    channels_last: bool = False,
    warmup: int = 5,
    iters: int = 20,
    optimize: bool = False,
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> LatencyResult:
    """Time the forward pass of one registered model (see the module docstring for the method).

    Args:
        model_name: A key of :data:`LATENCY_MODELS`, or a try-on method without one (a registered name or
            ``module:Class``), timed through its adapter: its model on its ``example_inputs``.
        size: ``(height, width)`` of the inputs.
        batch: Batch size.
        dtype: ``torch.float32``/``"fp32"``, ``torch.bfloat16``/``"bf16"`` or ``torch.float16``/``"fp16"``
            (autocast), ``"tf32"`` (CUDA only: fp32 with TF32 tensor cores) or ``"int8"`` (CPU only: a statically
            quantised copy). Non-fp32 results carry their error against fp32 (``max_abs_diff``, ``dssim``).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:N"``).
        compile: Wrap the model with ``torch.compile``; compile time is reported apart (``compile_s``).
        channels_last: Convert the model and the inputs to channels-last.
        warmup: Untimed calls before timing.
        iters: Timed calls.
        optimize: Time :func:`pftryon.models.optimize_for_inference` of the model (BatchNorm folded).
        config: Model constructor arguments; the released architecture when ``None``.
        seed: Seed of the random inputs.

    Returns:
        A :class:`LatencyResult`.

    Raises:
        ValueError: For an unknown model, a size the model cannot take, an unavailable device, an unknown
            dtype or a non-positive count (all one-line messages).

    Example:
        >>> tiny = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}
        >>> measure_latency("pf_afn", size=(64, 64), config=tiny, warmup=1, iters=2).batch
        1
    """
    size = _check_size(model_name, size)
    target = _resolve_device(device)
    precision = _precision(dtype, target)
    _check_counts(batch, warmup, iters)
    model = build_latency_model(model_name, size, config)
    return _measure(
        model_name, model, size=size, batch=batch, precision=precision, device=target, compile=compile,
        channels_last=channels_last, warmup=warmup, iters=iters, optimize=optimize, config=config, seed=seed,
    )  # fmt: skip


def _measure(
    model_name: str,
    model: nn.Module,
    *,
    size: Size,
    batch: int,
    precision: str,
    device: torch.device,
    compile: bool,
    channels_last: bool,
    warmup: int,
    iters: int,
    optimize: bool,
    config: Mapping[str, Any] | None,
    seed: int,
) -> LatencyResult:
    """Time a built model (arguments already validated).

    ``model`` is moved to ``device`` (and to channels-last) in place, so a grid reuses it for settings that share
    the device and layout; ``optimize`` works on a copy.
    """
    params = sum(p.numel() for p in model.parameters())
    if optimize:
        model = optimize_for_inference(model)
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    inputs = _spec(model_name).make_inputs(batch, size, device=device, seed=seed)
    if channels_last:
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in inputs)

    reference, quantized = None, None
    if precision != "fp32":
        with _precision_mode("fp32", device), FlopCounterMode(display=False) as fp32_counter:
            reference = model(*inputs)["tryon"]
    if precision == "int8":
        calibration = [_spec(model_name).make_inputs(batch, size, seed=seed + k) for k in (1, 2, 3)]
        int8 = quantize_int8(model, calibration)
        model, quantized = int8.model, ", ".join(f"{name} {kind}" for name, kind in int8.modules.items())

    cpu_memory = _CpuPeakRss() if device.type == "cpu" else None
    compile_s = None
    with _precision_mode(precision, device):
        with FlopCounterMode(display=False) as counter:
            output = model(*inputs)
        flops = (fp32_counter if precision == "int8" else counter).get_total_flops()  # quantised ops are not counted
        error = None if reference is None else tryon_error(output["tryon"], reference)

        runner = torch.compile(model) if compile else model
        if compile:
            sync_device(device)
            start = time.perf_counter()
            runner(*inputs)
            sync_device(device)
            compile_s = time.perf_counter() - start
        if cpu_memory is not None:
            cpu_memory.set_baseline()
        for _ in range(warmup):
            runner(*inputs)
        sync_device(device)

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            events = [
                (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)
            ]
            for start_event, end_event in events:
                torch.cuda.synchronize(device)
                start_event.record()
                runner(*inputs)
                end_event.record()
            torch.cuda.synchronize(device)
            times = [start_event.elapsed_time(end_event) for start_event, end_event in events]
            peak_bytes: int | None = torch.cuda.max_memory_allocated(device)
            measure = "cuda_max_allocated"
        else:
            assert cpu_memory is not None
            cpu_memory.start()
            times = []
            for _ in range(iters):
                start = time.perf_counter()
                runner(*inputs)
                times.append((time.perf_counter() - start) * 1e3)
            peak_bytes = cpu_memory.stop()
            measure = cpu_memory.measure

    median = statistics.median(times)
    p10, p90 = (float(v) for v in np.percentile(times, [10, 90]))
    name = device_name(device)
    achieved = flops / (median / 1e3) / 1e12
    peak = peak_tflops(name, precision) if device.type == "cuda" else None
    result = LatencyResult(
        model=model_name, config=_config_label(config), device=name, size=size, batch=batch, dtype=precision,
        compile=compile, channels_last=channels_last, optimize=optimize, warmup=warmup, iters=iters,
        median_ms=median, p10_ms=p10, p90_ms=p90, images_per_s=batch / (median / 1e3),
        peak_memory_mib=None if peak_bytes is None else peak_bytes / 2**20, memory_measure=measure,
        params=params, flops=flops, achieved_tflops=achieved, peak_tflops=peak,
        peak_fraction=None if peak is None else achieved / peak, compile_s=compile_s,
        max_abs_diff=None if error is None else error["max_abs_diff"], dssim=None if error is None else error["dssim"],
        quantized=quantized, times_ms=times,
    )  # fmt: skip
    _logger.info(
        "%s %dx%d batch %d %s: median %.2f ms (p10 %.2f, p90 %.2f), %.1f images/s",
        model_name, *size, batch, precision, median, p10, p90, result.images_per_s,
    )  # fmt: skip
    return result


# --------------------------------------------------------------------------------------------------------------
# Grids and reports
# --------------------------------------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    return [item.strip() for item in str(text).split(",") if item.strip()]


def parse_sizes(text: str) -> list[Size]:
    """``"256x192,512x384"`` -> ``[(256, 192), (512, 384)]`` (height x width)."""
    sizes = []
    for item in _split(text):
        match = re.fullmatch(r"(\d+)\s*[xX]\s*(\d+)", item)
        if not match or 0 in (int(match[1]), int(match[2])):
            raise InputError(f"size must be HEIGHTxWIDTH with positive integers (e.g. 256x192), got {item!r}")
        sizes.append((int(match[1]), int(match[2])))
    if not sizes:
        raise InputError(f"expected one or more sizes HEIGHTxWIDTH (e.g. 256x192), got {text!r}")
    return sizes


def parse_batches(text: str) -> list[int]:
    """``"1,8,32"`` -> ``[1, 8, 32]``."""
    items = _split(text)
    if not items or not all(item.isdigit() and int(item) > 0 for item in items):
        raise InputError(f"batch sizes must be positive integers separated by commas (e.g. 1,8,32), got {text!r}")
    return [int(item) for item in items]


def parse_precisions(text: str) -> list[str]:
    """``"fp32,bf16"`` -> ``["fp32", "bf16"]`` (checked against :data:`PRECISIONS`)."""
    names = [_DTYPE_ALIASES.get(item.lower(), item.lower()) for item in _split(text)]
    unknown = [name for name in names if name not in PRECISIONS]
    if unknown or not names:
        raise InputError(f"Unknown dtype in {text!r}; expected a comma-separated list of {', '.join(PRECISIONS)}")
    return names


def _as_list(value: Any) -> list[Any]:
    """One value, an iterable, or a comma-separated string (items stripped) as a list."""
    if isinstance(value, str):
        return _split(value)
    if isinstance(value, torch.dtype | int):
        return [value]
    return list(value)


def run_latency(
    models: str | Iterable[str],
    sizes: Size | str | Iterable[Size | str],
    batches: int | Iterable[int],
    dtypes: torch.dtype | str | Iterable[torch.dtype | str],
    device: torch.device | str = "cpu",
    *,
    compile: bool = False,
    channels_last: bool = False,
    optimize: bool = False,
    warmup: int = 5,
    iters: int = 20,
    config: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] | LatencyReport | None = None,
    progress: bool = True,
) -> list[LatencyResult]:
    """Time every (model, size, batch, dtype) of a grid; each model is built once per size.

    The whole grid is validated before anything runs. Used by ``pftryon latency``.

    Args:
        models: Names from :data:`LATENCY_MODELS`, or try-on methods (see :func:`measure_latency`).
        sizes: ``(height, width)`` tuples or ``"HxW"`` strings (``"256x192,512x384"`` also works).
        batches: Batch sizes.
        dtypes: Precisions (see :func:`measure_latency`).
        device: ``"cpu"`` or ``"cuda"``.
        compile: See :func:`measure_latency`.
        channels_last: See :func:`measure_latency`.
        optimize: See :func:`measure_latency`.
        warmup: See :func:`measure_latency`.
        iters: See :func:`measure_latency`.
        config: Constructor arguments passed to every model (e.g. a tiny width for a smoke test).
        out_dir: When given, a :class:`LatencyReport` there (or this one) is rewritten after every result, so a
            stopped run keeps the finished configurations.
        progress: Show a tqdm progress bar.

    Returns:
        The results, in grid order (model, size, batch, dtype).

    Raises:
        ValueError: If any point of the grid is invalid (nothing is timed then).
    """
    names = _as_list(models)
    size_list: list[Size] = []
    single = isinstance(sizes, tuple) and all(isinstance(s, int) for s in sizes)
    for item in [sizes] if single else _as_list(sizes):
        size_list.extend(parse_sizes(item) if isinstance(item, str) else [tuple(item)])
    batch_list = parse_batches(batches) if isinstance(batches, str) else _as_list(batches)
    target = _resolve_device(device)
    precisions = [_precision(d, target) for d in _as_list(dtypes)]
    for name in names:
        for size in size_list:
            _check_size(name, size)
    for batch in batch_list:
        _check_counts(batch, warmup, iters)
    if not (names and size_list and batch_list and precisions):
        raise InputError("run_latency needs at least one model, size, batch size and dtype")

    grid = [(n, s, b, p) for n in names for s in size_list for b in batch_list for p in precisions]
    report = out_dir if isinstance(out_dir, LatencyReport) or out_dir is None else LatencyReport(out_dir)
    results: list[LatencyResult] = []
    built: tuple[str, Size, nn.Module] | None = None
    bar = tqdm(grid, desc="latency", unit="config", disable=not progress)
    for name, size, batch, precision in bar:
        bar.set_postfix_str(f"{name} {size[0]}x{size[1]} b{batch} {precision}")
        if built is None or built[:2] != (name, size):
            built = None
            gc.collect()
            built = (name, size, build_latency_model(name, size, config))
        results.append(
            _measure(
                name,
                built[2],
                size=size,
                batch=batch,
                precision=precision,
                device=target,
                compile=compile,
                channels_last=channels_last,
                warmup=warmup,
                iters=iters,
                optimize=optimize,
                config=config,
                seed=0,
            )  # fmt: skip
        )
        if report is not None:
            report.write(results)
        if target.type == "cuda":
            torch.cuda.empty_cache()
    return results


_TABLE_COLUMNS = [
    "model", "config", "size", "batch", "dtype", "compile", "channels_last", "optimize", "median_ms", "p10_ms",
    "p90_ms", "images_per_s", "peak_memory_mib", "memory_measure", "params", "flops", "achieved_tflops",
    "peak_tflops", "peak_fraction", "max_abs_diff", "dssim", "quantized", "compile_s", "device", "warmup", "iters",
]  # fmt: skip


def latency_table(results: Iterable[LatencyResult]) -> pd.DataFrame:
    """One row per result (raw units: ms, MiB, parameter and FLOP counts); ``size`` as ``"HxW"``."""
    rows = []
    for result in results:
        row = dataclasses.asdict(result)
        row.pop("times_ms")
        row["size"] = f"{result.size[0]}x{result.size[1]}"
        rows.append(row)
    return pd.DataFrame(rows, columns=_TABLE_COLUMNS)


def _environment(results: Sequence[LatencyResult]) -> dict[str, str]:
    def values(field: str) -> str:
        labels = (
            ("on" if v else "off") if isinstance(v, bool) else str(v) for v in (getattr(r, field) for r in results)
        )
        seen = list(dict.fromkeys(labels))
        return ", ".join(seen)

    meta = run_metadata()
    cuda = torch.version.cuda or "none"
    if all(r.memory_measure != "cuda_max_allocated" for r in results):
        cuda += " (torch build; not used by these CPU runs)"
    elif torch.backends.cudnn.is_available():
        cuda += f", cuDNN {torch.backends.cudnn.version()}"
    return {
        "device": values("device"),
        "torch": torch.__version__,
        "cuda": cuda,
        "dtype": values("dtype"),
        "compile": values("compile"),
        "channels_last": values("channels_last"),
        "optimize": values("optimize"),
        "warmup": values("warmup"),
        "iters": values("iters"),
        "date": meta["date"],
        "git_commit": meta["git_commit"],
        "weights": WEIGHTS_NOTE,
    }


def _cell(value: Any, column: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if column == "params":
        return f"{value / 1e6:.2f} M"
    if column == "flops":
        return f"{value / 1e9:.2f} G"
    if column == "peak_fraction":
        return f"{100 * value:.1f} %"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def _markdown(table: pd.DataFrame, env: Mapping[str, str]) -> str:
    columns = [c for c in table.columns if c not in ("device", "warmup", "iters")]
    lines = [
        "# Inference latency",
        "",
        f"- Device: {env['device']}",
        f"- torch {env['torch']}, CUDA {env['cuda']}",
        f"- Settings: dtype {env['dtype']}; compile {env['compile']}; channels_last {env['channels_last']}; "
        f"optimize {env['optimize']}; warm-up {env['warmup']}; timed iterations {env['iters']}",
        f"- Date: {env['date']}; git commit {env['git_commit']}",
        f"- Weights: {env['weights']}.",
        *(f"- {name}: {_spec(name).summary}" for name in dict.fromkeys(table["model"])),
        "",
        "One forward call on inputs already on the device (no data loading or preprocessing). Times in ms; "
        "images/s = batch / median. Peak memory in MiB: `cuda_max_allocated` is torch's allocator peak (weights, "
        "inputs, activations); `rss_*_growth` is the CPU resident-set peak over the model-loaded baseline "
        "(activations and workspaces, not weights). FLOPs per forward from torch.utils.flop_counter "
        "(convolutions and matmuls); the peak fraction is against NVIDIA's dense datasheet peak for the dtype "
        "(TF32 off for fp32). bf16/fp16 run under autocast, int8 a statically quantised copy (`quantized`: which "
        "submodules run in int8); max_abs_diff (try-on, [-1, 1] units) and dssim (1 - SSIM) are their error against "
        "the fp32 model on the same random inputs. "
        "compile_s (torch.compile's first call) is not part of the timings.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(row[c], c) for c in columns) + " |")
    return "\n".join(lines) + "\n"


class LatencyReport:
    """``latency_<UTC time>.csv`` and ``.md`` in a folder, named once (never an existing report's name) and rewritten
    atomically with every finished result, so a stopped run keeps what it measured.

    The CSV holds one row per result plus the environment columns (``torch``, ``cuda``, ``date``, ``git_commit``,
    ``weights``); the Markdown file a header (device, versions, settings, date, commit, the weights note, the
    definitions) above the table.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        out = Path(out_dir)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        stem, suffix = f"latency_{stamp}", 0
        while (out / f"{stem}.csv").exists() or (out / f"{stem}.md").exists():
            suffix += 1
            stem = f"latency_{stamp}-{suffix}"
        self.csv_path, self.md_path = out / f"{stem}.csv", out / f"{stem}.md"

    def write(self, results: Sequence[LatencyResult]) -> tuple[Path, Path]:
        """Write both files from ``results``; returns their paths.

        Raises:
            InputError: If ``results`` is empty.
        """
        results = list(results)
        if not results:
            raise InputError("no latency results to write")
        env = _environment(results)
        table = latency_table(results)
        csv_table = table.assign(**{key: env[key] for key in ("torch", "cuda", "date", "git_commit", "weights")})
        atomic_write(self.csv_path, csv_table.to_csv(index=False))
        atomic_write(self.md_path, _markdown(table, env))
        _logger.info("latency report written to %s and %s", self.csv_path, self.md_path)
        return self.csv_path, self.md_path


def write_latency_report(results: Sequence[LatencyResult], out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``results`` as a new :class:`LatencyReport` in ``out_dir`` (never overwriting); returns the paths."""
    return LatencyReport(out_dir).write(results)
