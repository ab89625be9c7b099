"""The Markdown file of a latency report (:class:`bench.latency.LatencyReport`): a header stating the device,
versions, settings, date, commit, the weights and the definitions, above one row per timed configuration."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["latency_markdown"]


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


def latency_markdown(table: pd.DataFrame, env: Mapping[str, str], summaries: Mapping[str, str]) -> str:
    """The report's Markdown: ``table`` as :func:`bench.latency.latency_table` gives it, ``env`` the header's
    facts (device, versions, settings, date, commit, weights), ``summaries`` one line on what each model times."""
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
        *(f"- {name}: {summary}" for name, summary in summaries.items()),
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
