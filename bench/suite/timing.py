"""The suite's latency cells: each method row timed on every device, size, batch and dtype of a sweep, cached."""

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
from bench.suite.cells import CellCache, cell_key
from bench.suite.config import LatencySpec, MethodSpec
from bench.suite.rows import row as _row

__all__ = ["Timed", "device_label", "latency_cells", "not_timed"]

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


def _latency_rows(method: Timed, size: tuple[int, int], batch: int, dtype: str, label: str,
                  timed: dict[str, Any], spec: LatencySpec) -> list[dict[str, Any]]:  # fmt: skip
    common = {"method": method.name, "protocol": "latency", "device": label, "dtype": dtype, "batch": batch,
              "note": f"{size[0]}x{size[1]}; median of {spec.iters} calls after {spec.warmup} warm-up "
              f"(p10 {timed['p10_ms']:.2f} ms, p90 {timed['p90_ms']:.2f} ms per batch)"}  # fmt: skip
    memory = timed["peak_memory_mib"]
    return [
        _row(**common, metric="ms_per_image", value=timed["median_ms"] / batch),
        _row(**common, metric="images_per_s", value=timed["images_per_s"]),
        _row(**common, metric="gflops", value=timed["flops"] / batch / 1e9),
        _row(**common, metric="params_m", value=timed["params"] / 1e6),
        _row(**common, metric="peak_mem_mb", value=np.nan if memory is None else memory),
    ]


def _measure(method: Timed, point: dict[str, Any], device: str, progress: Progress) -> dict[str, Any]:
    from bench.latency import measure_latency

    size, batch, dtype = point["size"], point["batch"], point["dtype"]
    progress(f"latency {method.name} {device} {size[0]}x{size[1]} batch {batch} {dtype}")
    result = measure_latency(point["model"], size=tuple(size), batch=batch, dtype=dtype, device=device,
                             config=method.config, warmup=point["warmup"], iters=point["iters"],
                             compile=point["compile"])  # fmt: skip
    return {k: v for k, v in dataclasses.asdict(result).items() if k != "times_ms"}


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
            point = {"model": method.latency_model, "config": method.config, "size": list(size),
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
