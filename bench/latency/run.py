"""A grid of configurations (models x sizes x batch sizes x dtypes) and its report: a CSV and a Markdown file,
rewritten after every configuration so that a stopped run keeps what it measured."""

from __future__ import annotations

import copy
import dataclasses
import gc
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from bench.data.readers import InputError
from bench.latency.device import _environment, _resolve_device
from bench.latency.measure import (
    _DTYPE_ALIASES,
    DEFAULT_SCENARIOS,
    PRECISIONS,
    LatencyResult,
    Scenarios,
    _check_counts,
    _check_mode,
    _measure,
    _precision,
)
from bench.latency.models import Size, _check_size, build_latency_model, latency_spec
from bench.report.latency_markdown import latency_markdown, mode_label
from bench.speed import BUSY_LOAD
from pftryon.models import atomic_write

__all__ = [
    "LatencyReport",
    "STAGE_COLUMN",
    "latency_table",
    "latency_text",
    "parse_batches",
    "parse_precisions",
    "parse_sizes",
    "run_latency",
    "write_latency_report",
]

_logger = logging.getLogger(__name__)


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
    cuda_graph: bool = False,
    channels_last: bool = False,
    optimize: bool = False,
    warmup: int = 5,
    iters: int = 20,
    config: Mapping[str, Any] | None = None,
    scenarios: Scenarios = DEFAULT_SCENARIOS,
    out_dir: str | os.PathLike[str] | LatencyReport | None = None,
    progress: bool = True,
) -> list[LatencyResult]:
    """Time every (model, size, batch, dtype) of a grid; each model is built once per size.

    The whole grid is validated before anything runs. Used by ``pftryon latency``.

    Args:
        models: Try-on methods (see :func:`measure_latency`).
        sizes: ``(height, width)`` tuples or ``"HxW"`` strings (``"256x192,512x384"`` also works).
        batches: Batch sizes.
        dtypes: Precisions (see :func:`measure_latency`).
        device: ``"cpu"`` or ``"cuda"``.
        compile: See :func:`measure_latency`.
        cuda_graph: See :func:`measure_latency`.
        channels_last: See :func:`measure_latency`.
        optimize: See :func:`measure_latency`.
        warmup: See :func:`measure_latency`.
        iters: See :func:`measure_latency`.
        config: Constructor arguments passed to every model (e.g. a tiny width for a smoke test).
        scenarios: See :func:`measure_latency`.
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
    _check_mode(compile, cuda_graph, target)
    if not (names and size_list and batch_list and precisions):
        raise InputError("run_latency needs at least one model, size, batch size and dtype")

    grid = [(n, s, b, p) for n in names for s in size_list for b in batch_list for p in precisions]
    report = out_dir if isinstance(out_dir, LatencyReport) or out_dir is None else LatencyReport(out_dir)
    results: list[LatencyResult] = []
    built: tuple[str, Size, nn.Module, nn.Module] | None = None  # name, size, the model timed, a pristine copy
    bar = tqdm(grid, desc="latency", unit="config", disable=not progress)
    for name, size, batch, precision in bar:
        bar.set_postfix_str(f"{name} {size[0]}x{size[1]} b{batch} {precision}")
        if built is None or built[:2] != (name, size):
            built = None
            gc.collect()
            pristine = build_latency_model(name, size, config)
            built = (name, size, copy.deepcopy(pristine), pristine)
        results.append(
            _measure(
                name,
                built[2],
                size=size,
                batch=batch,
                precision=precision,
                device=target,
                compile=compile,
                cuda_graph=cuda_graph,
                channels_last=channels_last,
                warmup=warmup,
                iters=iters,
                optimize=optimize,
                config=config,
                seed=0,
                scenarios=scenarios,
                pristine=built[3],
            )  # fmt: skip
        )
        if report is not None:
            report.write(results)
        if target.type == "cuda":
            torch.cuda.empty_cache()
    return results


_TABLE_COLUMNS = [
    "model", "config", "size", "batch", "dtype", "compile", "cuda_graph", "channels_last", "optimize",
    "median_ms", "p10_ms", "p90_ms", "p99_ms", "median_ci_low_ms", "median_ci_high_ms", "mean_ms", "mean_ci_low_ms",
    "mean_ci_high_ms", "cold_ms", "images_per_s", "offline_ms", "offline_calls", "energy_j_per_image", "energy_note",
    "peak_memory_mib", "memory_measure", "params", "flops", "achieved_tflops", "measured_peak_tflops",
    "measured_peak_fraction", "measured_peak", "peak_tflops", "peak_fraction", "max_abs_diff", "dssim", "quantized",
    "compile_s", "device", "driver", "clocks", "cudnn", "tf32", "cudnn_benchmark", "correlation", "outside_load",
    "warmup", "iters",
]  # fmt: skip
STAGE_COLUMN = "stage_{}_ms"
"""The table's column of a stage's median time per call (``stage_warp_ms``, ``stage_other_ms``, ...)."""


def latency_table(results: Iterable[LatencyResult]) -> pd.DataFrame:
    """One row per result (raw units: ms per call, MiB, parameter and FLOP counts); ``size`` as ``"HxW"``; one
    :data:`STAGE_COLUMN` per stage any result has, after ``energy_note`` (empty where a model has no such stage)."""
    rows, stages = [], []
    for result in results:
        row = dataclasses.asdict(result)
        row.pop("times_ms")
        for stage, ms in row.pop("stage_ms").items():
            row[STAGE_COLUMN.format(stage)] = ms
            stages.append(STAGE_COLUMN.format(stage))
        row["size"] = f"{result.size[0]}x{result.size[1]}"
        rows.append(row)
    at = _TABLE_COLUMNS.index("energy_note") + 1
    return pd.DataFrame(rows, columns=[*_TABLE_COLUMNS[:at], *dict.fromkeys(stages), *_TABLE_COLUMNS[at:]])


def latency_text(results: Iterable[LatencyResult]) -> str:
    """A console summary, one block per configuration: single-stream percentiles, offline throughput, cold against
    warm, the stage split, and the cost (what ``pftryon latency`` prints)."""
    blocks = []
    for r in results:
        mode = mode_label(compile=r.compile, cuda_graph=r.cuda_graph, channels_last=r.channels_last,
                          optimize=r.optimize)  # fmt: skip
        head = f"{r.model} {r.size[0]}x{r.size[1]} batch {r.batch} {r.dtype} {mode} on {r.device}"
        lines = [
            head,
            f"  single stream ({r.iters} queries): p50 {r.median_ms:.2f} ms [95% CI {r.median_ci_low_ms:.2f}, "
            f"{r.median_ci_high_ms:.2f}], p90 {r.p90_ms:.2f}, p99 {r.p99_ms:.2f}, mean {r.mean_ms:.2f} "
            f"[{r.mean_ci_low_ms:.2f}, {r.mean_ci_high_ms:.2f}]",
            f"  offline: {r.images_per_s:.1f} images/s ({r.offline_ms:.2f} ms per batch over {r.offline_calls} calls)"
            + ("" if r.energy_j_per_image is None else f", {r.energy_j_per_image:.3g} J/image"),
            f"  cold: {r.cold_ms:.2f} ms (first call) vs warm p50 {r.median_ms:.2f} ms "
            f"({r.cold_ms / r.median_ms:.1f}x)",
        ]
        if r.stage_ms:
            lines.append("  stages (eager, median ms): " + ", ".join(f"{k} {v:.2f}" for k, v in r.stage_ms.items()))
        share = "" if r.measured_peak_fraction is None else f", {100 * r.measured_peak_fraction:.1f}% of measured peak"
        memory = "n/a" if r.peak_memory_mib is None else f"{r.peak_memory_mib:.1f} MiB ({r.memory_measure})"
        lines.append(f"  cost: {r.flops / 1e9:.2f} GFLOP per call, {r.achieved_tflops:.3g} TFLOP/s{share}; "
                     f"{r.params / 1e6:.2f} M params; peak memory {memory}")  # fmt: skip
        if r.max_abs_diff is not None:
            lines.append(f"  against fp32 eager: max_abs_diff {r.max_abs_diff:.3g}, dssim {r.dssim:.3g}")
        if r.outside_load is not None and r.outside_load > BUSY_LOAD:
            lines.append(f"  BUSY: other processes used {100 * r.outside_load:.0f}% of the CPUs while this was timed; "
                         "its times are inflated and its parts may not add up")  # fmt: skip
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


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
        summaries = {name: latency_spec(name).summary for name in dict.fromkeys(table["model"])}
        atomic_write(self.md_path, latency_markdown(table, env, summaries))
        _logger.info("latency report written to %s and %s", self.csv_path, self.md_path)
        return self.csv_path, self.md_path


def write_latency_report(results: Sequence[LatencyResult], out_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``results`` as a new :class:`LatencyReport` in ``out_dir`` (never overwriting); returns the paths."""
    return LatencyReport(out_dir).write(results)
