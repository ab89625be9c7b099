"""The Markdown file of a latency report (:class:`bench.latency.LatencyReport`): a header stating the device,
versions, settings, date, commit, the weights and how each figure is measured, then one table per scenario (single
stream, offline, stage split), the cost, the error of the low precisions against fp32, and the settings of each
timed configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["latency_markdown", "mode_label"]

_KEY = ("model", "size", "batch", "dtype", "mode")
_STAGE_PREFIX, _STAGE_SUFFIX = "stage_", "_ms"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _number(value: Any) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def _ci(row: Mapping[str, Any], value: str, low: str, high: str) -> str:
    return f"{_number(row[value])} [{_number(row[low])}, {_number(row[high])}]"


def _percent(value: Any) -> str:
    return "–" if _missing(value) else f"{100 * value:.1f} %"


def mode_label(*, compile: bool, cuda_graph: bool, channels_last: bool, optimize: bool) -> str:
    """How a configuration ran: ``eager``, ``compile`` or ``CUDA graph``, with ``channels-last`` and ``optimized``."""
    mode = "compile" if compile else "CUDA graph" if cuda_graph else "eager"
    extras = [label for on, label in ((channels_last, "channels-last"), (optimize, "optimized")) if on]
    return " + ".join([mode, *extras])


def _mode(row: Mapping[str, Any]) -> str:
    return mode_label(**{key: bool(row[key]) for key in ("compile", "cuda_graph", "channels_last", "optimize")})


Cell = Callable[[Mapping[str, Any]], str]


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, Cell]]) -> list[str]:
    headings = [*_KEY, *(heading for heading, _ in columns)]
    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join("---" for _ in headings) + "|"]
    for row in rows:
        cells = [str(row[key]) for key in _KEY[:-1]] + [_mode(row)] + [cell(row) for _, cell in columns]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return lines


def _column(name: str) -> Cell:
    return lambda row: _number(row[name])


def latency_markdown(table: pd.DataFrame, env: Mapping[str, str], summaries: Mapping[str, str]) -> str:
    """The report's Markdown: ``table`` as :func:`bench.latency.latency_table` gives it, ``env`` the header's
    facts (device, versions, driver, settings, date, commit, weights), ``summaries`` one line on what each model
    times."""
    rows = table.to_dict("records")
    stages = [c for c in table.columns if c.startswith(_STAGE_PREFIX) and c.endswith(_STAGE_SUFFIX)]
    single = [
        ("p50 ms [95% CI]", lambda r: _ci(r, "median_ms", "median_ci_low_ms", "median_ci_high_ms")),
        ("p10 ms", _column("p10_ms")),
        ("p90 ms", _column("p90_ms")),
        ("p99 ms", _column("p99_ms")),
        ("mean ms [95% CI]", lambda r: _ci(r, "mean_ms", "mean_ci_low_ms", "mean_ci_high_ms")),
        ("cold ms", _column("cold_ms")),
        ("cold / p50", lambda r: f"{r['cold_ms'] / r['median_ms']:.1f}x"),
    ]
    offline = [
        ("images/s", _column("images_per_s")),
        ("ms per batch", _column("offline_ms")),
        ("calls", _column("offline_calls")),
        ("J per image", _column("energy_j_per_image")),
        ("energy", lambda r: str(r["energy_note"])),
    ]
    cost = [
        ("params", lambda r: f"{r['params'] / 1e6:.2f} M"),
        ("GFLOP per batch", lambda r: f"{r['flops'] / 1e9:.2f}"),
        ("TFLOP/s (at p50)", _column("achieved_tflops")),
        ("of measured peak", lambda r: _percent(r["measured_peak_fraction"])),
        ("of datasheet peak", lambda r: _percent(r["peak_fraction"])),
        ("peak memory MiB", _column("peak_memory_mib")),
        ("memory measure", lambda r: str(r["memory_measure"])),
    ]
    facts = [
        ("clocks", _column("clocks")),
        ("driver", _column("driver")),
        ("cuDNN", _column("cudnn")),
        ("TF32", _column("tf32")),
        ("cudnn.benchmark", _column("cudnn_benchmark")),
        ("correlation kernel", _column("correlation")),
        ("outside load", lambda r: _percent(r["outside_load"])),
        ("compile / capture s", _column("compile_s")),
    ]
    peaks = list(dict.fromkeys(str(p) for p in table["measured_peak"] if p != "not measured"))
    driver = "" if env["driver"] == "None" else f", driver {env['driver']}"  # none read on the CPU
    lines = [
        "# Inference latency",
        "",
        f"- Device: {env['device']}",
        f"- torch {env['torch']}, CUDA {env['cuda']}{driver}",
        f"- Settings: dtype {env['dtype']}; compile {env['compile']}; CUDA graph {env['cuda_graph']}; channels_last "
        f"{env['channels_last']}; optimize {env['optimize']}; warm-up {env['warmup']}; timed iterations "
        f"{env['iters']}",
        f"- Date: {env['date']}; git commit {env['git_commit']}",
        f"- Weights: {env['weights']}.",
        *(f"- {name}: {summary}" for name, summary in summaries.items()),
        *(f"- Measured peak: {peak}." for peak in peaks),
        "",
        "One forward call on inputs already on the device (no data loading or preprocessing). A call is one batch; "
        "times in ms per call. **Single stream**: each query starts from an idle device (synchronised; CUDA events on "
        "a GPU), after the warm-up; percentiles with linear interpolation, 95% percentile-bootstrap intervals of the "
        "median and the mean. **Cold**: the first call of a freshly built model, before anything else ran at "
        "this configuration (lazy set-up, allocator growth, library handles and kernel choices for new shapes; the "
        "first configuration of a run also pays the process's start-up). **Offline**: calls back to back, "
        "synchronised only at block ends (torch.utils.benchmark blocked_autorange); images/s = batch / median ms per "
        "call; energy from NVML's board energy counter over the measured blocks after the first. **Stage split**: "
        "eager calls with hooks around each network of the pipeline, median ms per call; `other` is the rest "
        "(composition, resizing, glue). FLOPs per call from torch.utils.flop_counter (convolutions and matmuls); "
        "achieved TFLOP/s at the p50, against the peak measured on this device and NVIDIA's dense datasheet peak "
        "for the dtype (TF32 off for fp32). Peak memory in MiB: `cuda_max_allocated` is torch's allocator peak "
        "(weights, inputs, activations); `rss_*_growth` is the CPU resident-set peak over the model-loaded baseline "
        "(activations and workspaces, not weights). bf16/fp16 run under autocast, int8 a statically quantised copy; "
        "max_abs_diff (try-on, [-1, 1] units) and dssim (1 - SSIM) compare what was timed (compiled, graphed or at "
        "low precision) with the fp32 eager model on the same random inputs.",
        "",
        "## Single stream",
        "",
        *_table(rows, single),
        "",
        "## Offline",
        "",
        *_table(rows, offline),
        "",
    ]
    if stages:
        split = [(c[len(_STAGE_PREFIX) : -len(_STAGE_SUFFIX)], _column(c)) for c in stages]
        lines += ["## Stage split (eager, median ms per call)", "", *_table(rows, split), ""]
    lines += ["## Cost", "", *_table(rows, cost), ""]
    compared = [r for r in rows if not _missing(r["max_abs_diff"])]
    if compared:
        error = [("max_abs_diff", _column("max_abs_diff")), ("dssim", _column("dssim")),
                 ("quantized", _column("quantized"))]  # fmt: skip
        lines += ["## Against fp32 eager", "", *_table(compared, error), ""]
    lines += ["## Settings of each configuration", "", *_table(rows, facts)]
    return "\n".join(lines) + "\n"
