"""What every results file carries beside its numbers: where and how they were made, and their uncertainty."""

from __future__ import annotations

import datetime
import subprocess
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["INTEGER_COLUMNS", "RESULT_COLUMNS", "bootstrap_ci", "git_commit", "run_metadata"]

RESULT_COLUMNS = (
    "method", "dataset", "split", "protocol", "metric", "value", "ci_low", "ci_high", "n",
    "source", "device", "dtype", "batch", "note", "citation",
)  # fmt: skip
"""The columns of a suite's tidy results table (``results.csv``), in order: one row per number."""
INTEGER_COLUMNS = ("n", "batch")
"""Columns that hold whole numbers (or nothing): written as integers."""

_PACKAGES = ("pftryon", "torch", "torchvision", "torchmetrics", "torch-fidelity", "lpips", "numpy", "pillow")


def git_commit() -> str | None:
    """HEAD of the checkout this code runs from, marked when tracked files have uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        run = partial(subprocess.run, cwd=root, capture_output=True, text=True, check=True, timeout=10)
        head = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head} (with uncommitted changes)" if dirty else head


def run_metadata() -> dict[str, Any]:
    """Date (UTC), commit and library versions, for the header of any results file."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit() or "unknown (not a git checkout)",
        "versions": versions,
    }


def bootstrap_ci(
    values: np.ndarray | list[float], *, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of per-sample ``values`` and its percentile-bootstrap confidence interval ``(mean, low, high)``.

    Deterministic for a given ``seed``; one value gives a zero-width interval.
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(data.mean()), float(low), float(high)
