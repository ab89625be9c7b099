"""Facts about where latency is measured: the device asked for, NVIDIA's datasheet peak rates, the peak rate measured
on the device itself, what NVML reads (driver, clocks, the energy counter), the settings in force for each timed
configuration, and the environment (device, library versions, settings, date, commit) a report states."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from bench.data.readers import InputError
from bench.latency.models import WEIGHTS_NOTE
from bench.results import run_metadata
from pftryon.layers import correlation_kernel

if TYPE_CHECKING:
    from bench.latency.measure import LatencyResult

__all__ = ["PEAK_TFLOPS", "MeasuredPeak", "Nvml", "measured_peak", "nvml_of", "peak_tflops", "settings"]

_logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class MeasuredPeak:
    """The rate a device reached on a dense workload in this process: ``tflops`` and ``how`` it was measured."""

    tflops: float
    how: str


_GPU_PEAK_N = 8192  # a matrix product large enough to fill an H100/H200 (2 * 8192^3 = 1.1 TFLOP)
# The dtype a precision's peak is measured in (tf32: fp32 inputs with TF32 on; int8 has none of its own).
_PEAK_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _cpu_peak(precision: str) -> MeasuredPeak:
    from bench.speed.peak import compare_with_peak

    _, peak = compare_with_peak({}, repeats=3, warmup=1, dtype=_PEAK_DTYPES[precision])
    how = (f"{precision}: best of a 2048^2 matrix product and a 3x3 256-channel convolution in {precision}, "
           f"{torch.get_num_threads()} threads (bench.speed.peak)")  # fmt: skip
    return MeasuredPeak(peak.gflops / 1e3, how)


def _gpu_matmul_peak(device: torch.device, precision: str) -> MeasuredPeak:
    n, dtype = _GPU_PEAK_N, _PEAK_DTYPES[precision]
    generator = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(n, n, device=device, dtype=dtype, generator=generator) for _ in range(2))
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        for _ in range(2):
            a @ b
        times = []
        for _ in range(5):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            a @ b
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    mode = {"fp32": "fp32, TF32 off", "tf32": "fp32 inputs, TF32 on"}.get(precision, precision)
    return MeasuredPeak(2 * n**3 / min(times) / 1e12, f"{mode}: fastest of 5 {n}^3 matrix products (CUDA events)")


@functools.cache
def measured_peak(device: torch.device, precision: str) -> MeasuredPeak | None:
    """The peak rate measured on ``device`` for ``precision`` (once per process and setting).

    CPU: :mod:`bench.speed.peak`'s workloads in the precision's dtype (bf16 and fp16 rates differ from fp32 by up to
    an order of magnitude, by the CPU's matrix units); int8 rows are read against the fp32 peak (the int8 rate is not
    measured). CUDA: the fastest of five 8192^3 matrix products in the precision's dtype (TF32 on only for ``tf32``).
    ``None`` for int8 on a GPU (never timed there).
    """
    if device.type == "cpu" and precision == "int8":
        peak = measured_peak(device, "fp32")
        return MeasuredPeak(peak.tflops, f"{peak.how}; int8 rows too")
    if device.type == "cpu":
        return _cpu_peak(precision)
    if precision not in _PEAK_DTYPES:
        return None
    return _gpu_matmul_peak(device, precision)


class Nvml:
    """What NVML (``pynvml``, the ``nvidia-ml-py`` package) reads of one CUDA device: the driver, the clocks now and
    the board's energy counter. Every read gives ``None`` where NVML is absent or refuses, and :attr:`reason` says
    why."""

    def __init__(self, device: torch.device) -> None:
        self.handle: Any = None
        self.reason = ""
        try:
            import pynvml
        except ImportError:
            self.reason = "pynvml (nvidia-ml-py) is not installed"
            return
        self.nvml = pynvml
        try:
            pynvml.nvmlInit()
            uuid = str(getattr(torch.cuda.get_device_properties(device), "uuid", "") or "")
            if uuid:
                self.handle = pynvml.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else f"GPU-{uuid}")
            else:
                self.handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        except pynvml.NVMLError as err:
            self.reason = f"NVML: {err}"

    def _read(self, what: str, *args: Any) -> Any:
        if self.handle is None:
            return None
        try:
            return getattr(self.nvml, what)(*args)
        except self.nvml.NVMLError as err:
            self.reason = f"NVML {what}: {err}"
            return None

    def driver(self) -> str | None:
        """The driver version, e.g. ``580.159.03``."""
        version = self._read("nvmlSystemGetDriverVersion")
        return version.decode() if isinstance(version, bytes) else version

    def clocks(self) -> str | None:
        """``SM 1980 MHz (max 1980), memory 3201 MHz``: the clocks at the time of the call."""
        nvml = getattr(self, "nvml", None)
        if nvml is None or self.handle is None:
            return None
        sm, memory = (self._read("nvmlDeviceGetClockInfo", self.handle, c) for c in (nvml.NVML_CLOCK_SM,
                                                                                    nvml.NVML_CLOCK_MEM))  # fmt: skip
        top = self._read("nvmlDeviceGetMaxClockInfo", self.handle, nvml.NVML_CLOCK_SM)
        if sm is None:
            return None
        return f"SM {sm} MHz (max {top}), memory {memory} MHz"

    def energy_mj(self) -> int | None:
        """The board's energy counter in millijoules since the driver loaded (Volta and later)."""
        return self._read("nvmlDeviceGetTotalEnergyConsumption", self.handle)


@functools.cache
def nvml_of(device: torch.device) -> Nvml:
    """The :class:`Nvml` of a CUDA device (one per process)."""
    return Nvml(device)


def _cpu_clock() -> str | None:
    try:
        with open("/proc/cpuinfo") as info:
            speeds = [float(line.split(":", 1)[1]) for line in info if line.startswith("cpu MHz")]
    except (OSError, ValueError):
        return None
    return f"{sum(speeds) / len(speeds):.0f} MHz (mean of {len(speeds)} cores, /proc/cpuinfo)" if speeds else None


def settings(device: torch.device) -> dict[str, Any]:
    """What is in force now on ``device`` for a timed configuration: driver and clocks (NVML; the CPU's clock from
    ``/proc/cpuinfo``), cuDNN version, TF32 flags, ``cudnn.benchmark``, and the kernel of PF-AFN's local correlation
    (:func:`pftryon.layers.correlation_kernel`; used by the models that have one: PF-AFN, PB-AFN, DM-VTON)."""
    cudnn = torch.backends.cudnn
    facts: dict[str, Any] = {
        "driver": None,
        "clocks": _cpu_clock() if device.type == "cpu" else None,
        "cudnn": str(cudnn.version()) if device.type == "cuda" and cudnn.is_available() else None,
        "tf32": None,
        "cudnn_benchmark": cudnn.benchmark if device.type == "cuda" else None,
        "correlation": correlation_kernel(torch.empty(0, device=device)),
    }
    if device.type == "cuda":
        reads = nvml_of(device)
        facts["driver"], facts["clocks"] = reads.driver(), reads.clocks()
        matmul, conv = torch.backends.cuda.matmul.allow_tf32, cudnn.allow_tf32
        facts["tf32"] = f"matmul {'on' if matmul else 'off'}, cuDNN {'on' if conv else 'off'}"
    return facts


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
        "driver": values("driver"),
        "dtype": values("dtype"),
        "compile": values("compile"),
        "cuda_graph": values("cuda_graph"),
        "channels_last": values("channels_last"),
        "optimize": values("optimize"),
        "warmup": values("warmup"),
        "iters": values("iters"),
        "date": meta["date"],
        "git_commit": meta["git_commit"],
        "weights": WEIGHTS_NOTE,
    }
