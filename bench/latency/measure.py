"""Timing one configuration: precision and device checks, warm-up, timed calls, percentiles, peak memory, FLOPs,
and the error of a low precision against fp32 (the definitions are in :mod:`bench.latency`)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.data.readers import InputError
from bench.latency.device import _resolve_device, peak_tflops
from bench.latency.memory import _CpuPeakRss
from bench.latency.models import Size, _check_size, build_latency_model, latency_spec
from bench.precision import quantize_int8, tryon_error
from bench.speed import device_name, sync_device
from pftryon.models import optimize_for_inference

__all__ = ["PRECISIONS", "LatencyResult", "measure_latency"]

_logger = logging.getLogger(__name__)

# Precision names and the autocast dtype each runs under (None: no autocast; int8 runs a quantised copy).
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": None,
}  # fmt: skip
_DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}


@dataclass
class LatencyResult:
    """One timed configuration. Times in milliseconds; see :mod:`bench.latency` for every definition."""

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
    """Time the forward pass of one registered model (see :mod:`bench.latency` for the method).

    Args:
        model_name: A try-on method (a registered name or ``module:Class``), timed through its adapter: its
            ``build_for_timing`` model on its ``example_inputs``.
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
    inputs = latency_spec(model_name).make_inputs(batch, size, device=device, seed=seed)
    if channels_last:
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in inputs)

    reference, quantized = None, None
    if precision != "fp32":
        with _precision_mode("fp32", device), FlopCounterMode(display=False) as fp32_counter:
            reference = model(*inputs)["tryon"]
    if precision == "int8":
        calibration = [latency_spec(model_name).make_inputs(batch, size, seed=seed + k) for k in (1, 2, 3)]
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
