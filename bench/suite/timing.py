"""The suite's latency cells: each method row timed on every device, size, batch and dtype of a sweep, cached, as
tidy rows: ``ms_per_image`` (the single-stream p50 per image, with the bootstrap interval of the median), ``ms_p10``,
``ms_p90``, ``ms_p99``, ``ms_cold``, the offline ``images_per_s`` at the sweep's batch, ``gflops``, ``params_m``,
``peak_mem_mb`` and ``ms_stage_<stage>`` per network of the pipeline; each row's note says how it was measured and
under which settings (:mod:`bench.latency`)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.methods import method_class
from bench.report.latency_markdown import mode_label
from bench.suite.cells import CellCache, cell_key
from bench.suite.config import LatencySpec, MethodSpec
from bench.suite.rows import row as _row

__all__ = ["STAGE_METRIC", "Timed", "device_label", "latency_cells", "not_timed"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Timed:
    """What latency needs of a method: its row's key, latency name (:func:`bench.latency.latency_spec`), architecture
    config (timing uses deterministic stand-in weights, so a method is timed even when its checkpoints are absent) and
    the dtypes it is timed at (a low-precision row: its own only; else the sweep's)."""

    name: str
    latency_model: str
    config: dict[str, Any]
    dtypes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, spec: MethodSpec, config: dict[str, Any]) -> Timed:
        """The row ``spec`` timed with architecture ``config``."""
        own = None if spec.dtype == "fp32" else (spec.dtype,)
        return cls(spec.key, method_class(spec.name).card.latency_model, config, own)


def device_label(device: str) -> str:
    """``cpu (<model>, N threads)`` or ``cuda (<GPU name>)``: how latency cells name their device."""
    from bench.speed import device_name

    return f"{device} ({device_name(torch.device(device))})"


_TIMING = 3  # in every cell's key: cells of an earlier way of timing are never reused (3: outside load)
_PER_IMAGE_MS = {"ms_per_image": "median_ms", "ms_p10": "p10_ms", "ms_p90": "p90_ms", "ms_p99": "p99_ms",
                 "ms_cold": "cold_ms"}  # fmt: skip
STAGE_METRIC = "ms_stage_{}"
"""The metric of a stage's time per image (``ms_stage_warp``, ``ms_stage_gen``, ``ms_stage_other``, ...)."""


def _settings(timed: dict[str, Any]) -> str:
    """Where and how a cell ran, for its notes: mode, library versions, driver, clocks, TF32, cudnn.benchmark and the
    load other processes put on the machine meanwhile."""
    mode = mode_label(compile=timed["compile"], cuda_graph=timed["cuda_graph"], channels_last=timed["channels_last"],
                      optimize=timed["optimize"])  # fmt: skip
    parts = [mode, f"torch {timed.get('torch', torch.__version__)}"]
    if timed["cudnn"] is not None:
        parts.append(f"CUDA {torch.version.cuda}, cuDNN {timed['cudnn']}")
    parts += [f"{label} {timed[key]}" for key, label in (("driver", "driver"), ("clocks", "clocks"), ("tf32", "TF32"))
              if timed[key] is not None]  # fmt: skip
    if timed["cudnn_benchmark"] is not None:
        parts.append(f"cudnn.benchmark {'on' if timed['cudnn_benchmark'] else 'off'}")
    if timed["outside_load"] is not None:
        parts.append(f"other processes used {100 * timed['outside_load']:.0f}% of the CPUs while timing")
    return "; ".join(parts)


def _latency_rows(method: Timed, size: tuple[int, int], batch: int, dtype: str, label: str,
                  timed: dict[str, Any], spec: LatencySpec) -> list[dict[str, Any]]:  # fmt: skip
    """The cell's rows, every time per image; a metric the registry does not know (a stage of another name) stays in
    the notes only."""
    from bench.metrics.specs import list_metrics

    def per_image(key: str) -> float:
        return timed[key] / batch

    where = f"{size[0]}x{size[1]}"
    setting = _settings(timed)
    queries = (f"{spec.iters} single-stream queries of batch {batch} after {spec.warmup} warm-up, each from an idle "
               "device")  # fmt: skip
    stages = ", ".join(f"{name} {ms / batch:.2f}" for name, ms in timed["stage_ms"].items()) or "none"
    common = {"method": method.name, "protocol": "latency", "device": label, "dtype": dtype, "batch": batch}
    rows = [
        _row(**common, metric="ms_per_image", value=per_image("median_ms"), ci_low=per_image("median_ci_low_ms"),
             ci_high=per_image("median_ci_high_ms"), n=spec.iters,
             note=f"{where}; p50 of {queries}, per image, 95% bootstrap CI of the median; p10 {per_image('p10_ms'):.2f}"
             f", p90 {per_image('p90_ms'):.2f}, p99 {per_image('p99_ms'):.2f}, mean {per_image('mean_ms'):.2f} "
             f"[{per_image('mean_ci_low_ms'):.2f}, {per_image('mean_ci_high_ms'):.2f}], cold {per_image('cold_ms'):.2f}"
             f" ms; stages (eager) {stages} ms; {setting}"),
        *(_row(**common, metric=metric, value=per_image(key), n=spec.iters,
               note=f"{where}; {key.removesuffix('_ms')} of the same {queries}, per image; {setting}")
          for metric, key in _PER_IMAGE_MS.items() if metric not in ("ms_per_image", "ms_cold")),
        _row(**common, metric="ms_cold", value=per_image("cold_ms"), n=1,
             note=f"{where}; the first call of a freshly built model at this configuration, lazy set-up included "
             f"(warm p50 {per_image('median_ms'):.2f}), per image; {setting}"),
        _row(**common, metric="images_per_s", value=timed["images_per_s"], n=timed["offline_calls"],
             note=f"{where}; offline: {timed['offline_calls']} calls of batch {batch} back to back, synchronised at "
             f"block ends (torch.utils.benchmark blocked_autorange), batch / median ms per call; energy "
             + ("not measured: " + timed["energy_note"] if timed["energy_j_per_image"] is None else
                f"{timed['energy_j_per_image']:.4g} J per image ({timed['energy_note']})") + f"; {setting}"),
        _row(**common, metric="gflops", value=timed["flops"] / batch / 1e9,
             note=f"{where}; per image, convolutions and matmuls (torch.utils.flop_counter); "
             f"{timed['achieved_tflops']:.3g} TFLOP/s at the p50{_peak_share(timed)}; {setting}"),
        _row(**common, metric="params_m", value=timed["params"] / 1e6, note=f"{where}; parameters as built"),
        _row(**common, metric="peak_mem_mb", value=np.nan if timed["peak_memory_mib"] is None
             else timed["peak_memory_mib"], note=f"{where}; {timed['memory_measure']} during the single-stream "
             f"queries (MiB); {setting}"),
        *(_row(**common, metric=STAGE_METRIC.format(name), value=ms / batch, n=spec.iters,
               note=f"{where}; median of eager calls with hooks around {name} ('other': the rest of the call), per "
               f"image; {setting}") for name, ms in timed["stage_ms"].items()),
    ]  # fmt: skip
    known = set(list_metrics(fed_by="latency"))
    return [r for r in rows if r["metric"] in known]


def _peak_share(timed: dict[str, Any]) -> str:
    shares = []
    if timed["measured_peak_fraction"] is not None:
        shares.append(f"{100 * timed['measured_peak_fraction']:.1f}% of the measured peak ({timed['measured_peak']})")
    if timed["peak_fraction"] is not None:
        shares.append(f"{100 * timed['peak_fraction']:.1f}% of the datasheet peak")
    return "".join(f", {share}" for share in shares)


def _measure(method: Timed, point: dict[str, Any], device: str, progress: Progress) -> dict[str, Any]:
    from bench.latency import measure_latency

    size, batch, dtype = point["size"], point["batch"], point["dtype"]
    progress(f"latency {method.name} {device} {size[0]}x{size[1]} batch {batch} {dtype}")
    result = measure_latency(point["model"], size=tuple(size), batch=batch, dtype=dtype, device=device,
                             config=method.config, warmup=point["warmup"], iters=point["iters"],
                             compile=point["compile"])  # fmt: skip
    return {k: v for k, v in dataclasses.asdict(result).items() if k != "times_ms"} | {"torch": torch.__version__}


def not_timed(name: str, spec: LatencySpec) -> dict[str, Any]:
    """A predictions row's latency cell in a sweep (at its first device, dtype and batch): nothing ran here."""
    device = spec.devices[0]
    label = device_label(device) if device == "cpu" or torch.cuda.is_available() else device
    return _row(method=name, protocol="latency", metric="ms_per_image", device=label, dtype=spec.dtypes[0],
                batch=spec.batches[0], note="not run here: scored from files")  # fmt: skip


def latency_cells(method: Timed, sizes: list[tuple[int, int]], spec: LatencySpec, cells: CellCache,
                   progress: Progress) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for device in spec.devices:
        if device == "cuda" and not torch.cuda.is_available():
            rows.append(_row(method=method.name, protocol="latency", metric="ms_per_image", device="cuda",
                             note="no CUDA device on this machine: GPU latency not measured"))  # fmt: skip
            continue
        label = device_label(device)
        for size, batch, dtype in itertools.product(sizes, spec.batches, method.dtypes or spec.dtypes):
            point = {"model": method.latency_model, "config": method.config, "size": list(size), "timing": _TIMING,
                     "batch": batch, "dtype": dtype, "device": label, "torch": torch.__version__,
                     "warmup": spec.warmup, "iters": spec.iters, "compile": spec.compile}  # fmt: skip
            try:
                timed = cells.get_or_compute(cell_key("latency", **point),
                                             functools.partial(_measure, method, point, device, progress))  # fmt: skip
            except ValueError as err:  # a size or precision this model or device does not take
                note = f"{size[0]}x{size[1]}: not measured: {err}"
                rows.append(_row(method=method.name, protocol="latency", metric="ms_per_image", device=label,
                                 dtype=dtype, batch=batch, note=note))  # fmt: skip
                continue
            rows += _latency_rows(method, size, batch, dtype, label, timed, spec)
    return rows
