"""Timing one configuration: precision and device checks, the cold call, warm-up, the single-stream queries and
their statistics, the offline throughput and energy, the stage split, peak memory, FLOPs against the datasheet and
the measured peak, the settings in force, and the error against fp32 (the definitions are in :mod:`bench.latency`)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.data.readers import InputError
from bench.latency.device import _resolve_device, measured_peak, nvml_of, peak_tflops, settings
from bench.latency.memory import _CpuPeakRss
from bench.latency.models import Size, _check_size, build_latency_model, latency_spec
from bench.latency.scenarios import (
    Offline,
    StageTimer,
    cold_call,
    offline,
    single_stream,
    stage_modules,
    summarise,
)
from bench.latency.scenarios import cuda_graph as cuda_graph_of
from bench.precision import quantize_int8, tryon_error
from bench.speed import device_name, outside_load, read_cpu_times, sync_device
from pftryon.models import optimize_for_inference

__all__ = ["DEFAULT_SCENARIOS", "PRECISIONS", "LatencyResult", "Scenarios", "measure_built", "measure_latency"]

_logger = logging.getLogger(__name__)

# Precision names and the autocast dtype each runs under (None: no autocast; int8 runs a quantised copy).
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None, "tf32": None, "bf16": torch.bfloat16, "fp16": torch.float16, "int8": None,
}  # fmt: skip
_DTYPE_ALIASES = {"float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16"}


@dataclass
class LatencyResult:
    """One timed configuration. Times in milliseconds per call (a call is one batch); see :mod:`bench.latency` for
    every definition."""

    model: str
    config: str
    device: str
    size: Size
    batch: int
    dtype: str
    compile: bool
    cuda_graph: bool
    channels_last: bool
    optimize: bool
    warmup: int
    iters: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    p99_ms: float
    median_ci_low_ms: float
    median_ci_high_ms: float
    mean_ms: float
    mean_ci_low_ms: float
    mean_ci_high_ms: float
    cold_ms: float
    images_per_s: float
    offline_ms: float
    offline_calls: int
    stage_ms: dict[str, float]
    peak_memory_mib: float | None
    memory_measure: str
    params: int
    flops: int
    achieved_tflops: float
    peak_tflops: float | None
    peak_fraction: float | None
    measured_peak_tflops: float | None
    measured_peak_fraction: float | None
    measured_peak: str
    energy_j_per_image: float | None
    energy_note: str
    compile_s: float | None
    max_abs_diff: float | None
    dssim: float | None
    quantized: str | None
    driver: str | None
    clocks: str | None
    cudnn: str | None
    tf32: str | None
    cudnn_benchmark: bool | None
    correlation: str
    outside_load: float | None
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
def _precision_mode(precision: str, device: torch.device, *, autocast_cache: bool = True) -> Iterator[None]:
    """``inference_mode``, autocast for bf16/fp16, and on CUDA TF32 on only for ``tf32`` (flags restored after).
    ``autocast_cache`` off for a CUDA graph: its replays must not read casts freed when the context ends."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with contextlib.ExitStack() as stack:
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
            stack.callback(_restore_tf32, saved)
            stack.enter_context(torch.cuda.device(device))
        stack.enter_context(torch.inference_mode())
        autocast_dtype = PRECISIONS[precision]
        if autocast_dtype is not None:
            stack.enter_context(torch.autocast(device.type, dtype=autocast_dtype, cache_enabled=autocast_cache))
        yield


def _restore_tf32(saved: tuple[bool, bool]) -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@dataclass(frozen=True)
class Scenarios:
    """What is timed besides the single-stream queries (see :mod:`bench.latency`).

    Attributes:
        offline_s: Seconds, at least, of back-to-back calls for the offline throughput (and the energy).
        stage_iters: Calls with hooks for the stage split (0: no split).
        measure_peak: Measure the device's peak rate (once per process and precision) for ``measured_peak_fraction``.
    """

    offline_s: float = 0.2
    stage_iters: int = 5
    measure_peak: bool = True

    def __post_init__(self) -> None:
        if not (self.offline_s >= 0 and isinstance(self.stage_iters, int) and self.stage_iters >= 0):
            raise InputError(f"offline_s must be >= 0 and stage_iters an integer >= 0, got {self.offline_s!r} and "
                             f"{self.stage_iters!r}")  # fmt: skip


DEFAULT_SCENARIOS = Scenarios()
"""The scenarios :func:`measure_latency` times by default."""


def measure_latency(
    model_name: str,
    *,
    size: Size = (256, 192),
    batch: int = 1,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    compile: bool = False,
    cuda_graph: bool = False,
    channels_last: bool = False,
    warmup: int = 5,
    iters: int = 20,
    optimize: bool = False,
    config: Mapping[str, Any] | None = None,
    seed: int = 0,
    scenarios: Scenarios = DEFAULT_SCENARIOS,
) -> LatencyResult:
    """Time the forward pass of one registered model (see :mod:`bench.latency` for the method).

    Args:
        model_name: A try-on method (a registered name or ``module:Class``), timed through its adapter: its
            ``build_for_timing`` model on its ``example_inputs``.
        size: ``(height, width)`` of the inputs.
        batch: Batch size (of every query, and of the offline calls).
        dtype: ``torch.float32``/``"fp32"``, ``torch.bfloat16``/``"bf16"`` or ``torch.float16``/``"fp16"``
            (autocast), ``"tf32"`` (CUDA only: fp32 with TF32 tensor cores) or ``"int8"`` (CPU only: a statically
            quantised copy). Non-fp32 results carry their error against fp32 (``max_abs_diff``, ``dssim``).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:N"``).
        compile: Wrap the model with ``torch.compile``; compile time is reported apart (``compile_s``).
        cuda_graph: Time replays of the model captured as a CUDA graph (CUDA only; not with ``compile``); the
            capture is reported as ``compile_s``.
        channels_last: Convert the model and the inputs to channels-last.
        warmup: Untimed calls before timing.
        iters: Timed single-stream queries.
        optimize: Time :func:`pftryon.models.optimize_for_inference` of the model (BatchNorm folded).
        config: Model constructor arguments; the released architecture when ``None``.
        seed: Seed of the random inputs.
        scenarios: Offline duration, stage-split calls, peak measurement (:class:`Scenarios`).

    Returns:
        A :class:`LatencyResult`.

    Raises:
        ValueError: For an unknown model, a size the model cannot take, an unavailable device, an unknown
            dtype, a non-positive count, or a CUDA graph off CUDA or with ``compile`` (all one-line messages).

    Example:
        >>> tiny = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}
        >>> quick = Scenarios(offline_s=0, stage_iters=1, measure_peak=False)
        >>> measure_latency("pf_afn", size=(64, 64), config=tiny, warmup=1, iters=2, scenarios=quick).batch
        1
    """
    size = _check_size(model_name, size)
    target = _resolve_device(device)
    precision = _precision(dtype, target)
    _check_counts(batch, warmup, iters)
    _check_mode(compile, cuda_graph, target)
    model = build_latency_model(model_name, size, config)
    return _measure(
        model_name, model, size=size, batch=batch, precision=precision, device=target, compile=compile,
        cuda_graph=cuda_graph, channels_last=channels_last, warmup=warmup, iters=iters, optimize=optimize,
        config=config, seed=seed, scenarios=scenarios,
    )  # fmt: skip


def measure_built(
    model_name: str,
    model: nn.Module,
    *,
    size: Size,
    batch: int = 1,
    dtype: torch.dtype | str = torch.float32,
    device: torch.device | str = "cpu",
    compile: bool = False,
    cuda_graph: bool = False,
    channels_last: bool = False,
    optimize: bool = False,
    warmup: int = 5,
    iters: int = 20,
    config: Mapping[str, Any] | None = None,
    scenarios: Scenarios = DEFAULT_SCENARIOS,
    pristine: nn.Module | None = None,
) -> LatencyResult:
    """:func:`measure_latency` of a model already built by :func:`~bench.latency.build_latency_model` for
    ``model_name``, ``size`` and ``config`` (moved to ``device`` in place), so that a grid builds each model once;
    ``pristine`` is a copy of it as built, never called, for the cold call (``None``: ``model`` has never been
    called). Checks its arguments as :func:`measure_latency` does."""
    size = _check_size(model_name, size)
    target = _resolve_device(device)
    precision = _precision(dtype, target)
    _check_counts(batch, warmup, iters)
    _check_mode(compile, cuda_graph, target)
    return _measure(
        model_name, model, size=size, batch=batch, precision=precision, device=target, compile=compile,
        cuda_graph=cuda_graph, channels_last=channels_last, warmup=warmup, iters=iters, optimize=optimize,
        config=config, seed=0, scenarios=scenarios, pristine=pristine,
    )  # fmt: skip


def _check_mode(compile: bool, cuda_graph: bool, device: torch.device) -> None:
    if cuda_graph and device.type != "cuda":
        raise InputError("cuda_graph needs a CUDA device; use device='cuda'")
    if cuda_graph and compile:
        raise InputError("choose compile or cuda_graph, not both (torch.compile(mode='reduce-overhead') graphs itself)")


def _energy_note(offline: Offline, batch: int, device: torch.device) -> tuple[float | None, str]:
    if device.type != "cuda":
        return None, "not measured on the CPU (no energy counter is read)"
    if offline.energy_j is None:
        return None, f"no energy counter: {nvml_of(device).reason or 'one measured block only'}"
    if offline.energy_s < _MIN_ENERGY_S or offline.energy_j <= 0:
        return None, (f"offline blocks too short for NVML's energy counter ({offline.energy_s:.2f} s < "
                      f"{_MIN_ENERGY_S} s, or no change)")  # fmt: skip
    images = offline.energy_calls * batch
    return offline.energy_j / images, (f"NVML total-energy counter over {offline.energy_calls} offline calls "
                                       f"({offline.energy_s:.2f} s): whole board, idle power included")  # fmt: skip


_MIN_ENERGY_S = 0.2  # NVML's energy counter advances in steps of tens of milliseconds


def _runner(model: nn.Module, inputs: tuple[torch.Tensor, ...], device: torch.device, compile: bool,
            cuda_graph: bool) -> tuple[Callable[..., Any], float | None]:  # fmt: skip
    """The callable timed, and the seconds its set-up took (torch.compile's first call, or the graph capture)."""
    if not (compile or cuda_graph):
        return model, None
    sync_device(device)
    start = time.perf_counter()
    if compile:
        torch._dynamo.reset()  # every compiled configuration compiles from scratch (and no cache limit is reached)
        runner = torch.compile(model)
        runner(*inputs)
    else:
        runner = cuda_graph_of(model, inputs, device)
    sync_device(device)
    return runner, time.perf_counter() - start


def _measure(
    model_name: str,
    model: nn.Module,
    *,
    size: Size,
    batch: int,
    precision: str,
    device: torch.device,
    compile: bool,
    cuda_graph: bool,
    channels_last: bool,
    warmup: int,
    iters: int,
    optimize: bool,
    config: Mapping[str, Any] | None,
    seed: int,
    scenarios: Scenarios,
    pristine: nn.Module | None = None,
) -> LatencyResult:
    """Time a built model (arguments already validated).

    ``model`` is moved to ``device`` (and to channels-last) in place, so a grid reuses it for settings that share
    the device and layout; ``optimize`` works on a copy. The cold call is that of a copy of ``pristine``, the model
    as built and never called (``None``: ``model`` has never been called).
    """
    params = sum(p.numel() for p in model.parameters())

    def prepare(module: nn.Module) -> nn.Module:
        module = optimize_for_inference(module) if optimize else module
        module = module.to(device)
        return module.to(memory_format=torch.channels_last) if channels_last else module

    # The cold call's model: a copy of the model as built, never called (made before ``model`` is moved or run).
    cold_source = copy.deepcopy(pristine if pristine is not None else model) if precision != "int8" else None
    # With ``optimize`` the model as built stays beside its inference copy: the reference the copy's error is taken on.
    as_built = model.to(device) if optimize else None
    model = prepare(model)
    spec = latency_spec(model_name)
    inputs = spec.make_inputs(batch, size, device=device, seed=seed)
    if channels_last:
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x for x in inputs)

    cold_ms = None
    if cold_source is not None:
        fresh = prepare(cold_source)
        with _precision_mode(precision, device):
            cold_ms = cold_call(fresh, inputs, device)
        del fresh, cold_source
    reference, quantized = None, None
    if precision != "fp32" or compile or cuda_graph or optimize:
        with _precision_mode("fp32", device), FlopCounterMode(display=False) as fp32_counter:
            reference = (model if as_built is None else as_built)(*inputs)["tryon"].clone()
    if precision == "int8":
        calibration = [spec.make_inputs(batch, size, seed=seed + k) for k in (1, 2, 3)]
        int8 = quantize_int8(model, calibration)
        model, quantized = int8.model, ", ".join(f"{name} {kind}" for name, kind in int8.modules.items())
        with _precision_mode(precision, device):
            cold_ms = cold_call(model, inputs, device)  # the quantised copy is fresh

    cpu_memory = _CpuPeakRss() if device.type == "cpu" else None
    with _precision_mode(precision, device, autocast_cache=not cuda_graph):
        facts = settings(device)
        with FlopCounterMode(display=False) as counter:
            output = model(*inputs)
        flops = (fp32_counter if precision == "int8" else counter).get_total_flops()  # quantised ops are not counted
        runner, compile_s = _runner(model, inputs, device, compile, cuda_graph)
        timed_output = output if runner is model else runner(*inputs)
        error = None if reference is None else tryon_error(timed_output["tryon"], reference)
        if cpu_memory is not None:
            cpu_memory.set_baseline()
        for _ in range(warmup):
            runner(*inputs)
        sync_device(device)

        before = read_cpu_times()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            times = single_stream(runner, inputs, iters, device)
            peak_bytes: int | None = torch.cuda.max_memory_allocated(device)
            measure = "cuda_max_allocated"
        else:
            assert cpu_memory is not None
            cpu_memory.start()
            times = single_stream(runner, inputs, iters, device)
            peak_bytes = cpu_memory.stop()
            measure = cpu_memory.measure
        energy = nvml_of(device).energy_mj if device.type == "cuda" else None
        throughput = offline(runner, inputs, scenarios.offline_s, energy)
        stage_ms = _stage_split(model, spec.stages, inputs, device, scenarios.stage_iters)
        load = outside_load(before, read_cpu_times())

    stats = summarise(times)
    name = device_name(device)
    achieved = flops / (stats.p50 / 1e3) / 1e12
    peak = peak_tflops(name, precision) if device.type == "cuda" else None
    measured = measured_peak(device, precision) if scenarios.measure_peak else None
    energy_j, energy_note = _energy_note(throughput, batch, device)
    result = LatencyResult(
        model=model_name, config=_config_label(config), device=name, size=size, batch=batch, dtype=precision,
        compile=compile, cuda_graph=cuda_graph, channels_last=channels_last, optimize=optimize, warmup=warmup,
        iters=iters, median_ms=stats.p50, p10_ms=stats.p10, p90_ms=stats.p90, p99_ms=stats.p99,
        median_ci_low_ms=stats.median_ci[0], median_ci_high_ms=stats.median_ci[1], mean_ms=stats.mean,
        mean_ci_low_ms=stats.mean_ci[0], mean_ci_high_ms=stats.mean_ci[1], cold_ms=cold_ms,
        images_per_s=batch / (throughput.ms_per_call / 1e3), offline_ms=throughput.ms_per_call,
        offline_calls=throughput.calls, stage_ms=stage_ms,
        peak_memory_mib=None if peak_bytes is None else peak_bytes / 2**20, memory_measure=measure,
        params=params, flops=flops, achieved_tflops=achieved, peak_tflops=peak,
        peak_fraction=None if peak is None else achieved / peak,
        measured_peak_tflops=None if measured is None else measured.tflops,
        measured_peak_fraction=None if measured is None else achieved / measured.tflops,
        measured_peak="not measured" if measured is None else measured.how, energy_j_per_image=energy_j,
        energy_note=energy_note, compile_s=compile_s, max_abs_diff=None if error is None else error["max_abs_diff"],
        dssim=None if error is None else error["dssim"], quantized=quantized, **facts, outside_load=load,
        times_ms=times,
    )  # fmt: skip
    _logger.info(
        "%s %dx%d batch %d %s: p50 %.2f ms (p90 %.2f, p99 %.2f), cold %.2f ms, offline %.1f images/s",
        model_name, *size, batch, precision, stats.p50, stats.p90, stats.p99, cold_ms, result.images_per_s,
    )  # fmt: skip
    return result


def _stage_split(model: nn.Module, names: tuple[str, ...], inputs: tuple[torch.Tensor, ...], device: torch.device,
                 calls: int) -> dict[str, float]:  # fmt: skip
    """Median milliseconds per call of each stage (and :data:`OTHER_STAGE`) over ``calls`` eager calls with hooks;
    empty without stages or calls."""
    stages = stage_modules(model, names)
    if not (stages and calls):
        return {}
    with StageTimer(stages, device) as timer:
        splits = [timer.call(lambda: model(*inputs)) for _ in range(calls)]
    return {name: statistics.median(split[name] for split in splits) for name in splits[0]}
