"""Paired comparisons of every two rows scored on the same samples, and ``comparisons.csv``.

:func:`compare` takes what a suite (or an ablation) has: per-sample values by row, protocol, metric and sample key,
and, where available, the feature sets of set-level metrics. For every two rows under one protocol it matches the
samples by key (counting those only one row has), and gives per metric the difference ``a - b`` with a CI and a
p-value; the p-values of one call are then Holm-corrected together, so one call is one family: call it once per
results table.

- Per-sample metrics (SSIM, PSNR, LPIPS, ...): the mean of the per-sample differences, its percentile-bootstrap CI
  (:func:`bench.results.bootstrap_ci`) and a two-sided sign-flip permutation p-value
  (:func:`bench.stats.paired.sign_flip_p_value`).
- Set-level metrics (FID, FD-DINOv2, KID): bootstrap over the matched predictions (:mod:`bench.stats.sets`).

Example:
    >>> scores = {("a", "p"): {"ssim": {"x": 0.9, "y": 0.8, "z": 0.7}}, ("b", "p"): {"ssim": {"x": 0.8, "y": 0.7}}}
    >>> table = compare(scores)
    >>> row = table.rows[0]
    >>> (row["method_a"], row["method_b"], round(row["diff"], 3), row["p_value"], row["n"])
    ('a', 'b', 0.1, 0.5, 2)
    >>> table.unmatched
    [{'method_a': 'a', 'method_b': 'b', 'protocol': 'p', 'metric': 'ssim', 'only_a': 1, 'only_b': 0}]
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import bootstrap_ci
from bench.runtime import atomic_write
from bench.stats.paired import PERMUTATIONS, holm, permutation_method, sign_flip_p_value
from bench.stats.sets import SET_METRICS, FeatureSet, SetComparer, set_method

__all__ = [
    "ALPHA", "COMPARISON_COLUMNS", "Comparisons", "Scores", "Sets", "better_method", "compare", "higher_is_better",
    "write_comparisons",
]  # fmt: skip

COMPARISON_COLUMNS = ("method_a", "method_b", "protocol", "metric", "diff", "ci_low", "ci_high", "p_value", "p_holm",
                      "n")  # fmt: skip
"""The columns of ``comparisons.csv``, in order: one row per (pair of rows, protocol, metric); ``diff`` is
``method_a - method_b``, ``n`` the matched samples."""
ALPHA = 0.05
"""The family-wise level at which a difference is marked (on ``p_holm``)."""

Scores = Mapping[tuple[str, str], Mapping[str, Mapping[str, float]]]
"""``{(method, protocol): {metric: {sample_key: value}}}``: the per-sample values of each row under each protocol."""
Sets = Mapping[tuple[str, str], Mapping[str, FeatureSet]]
"""``{(method, protocol): {metric: FeatureSet}}``: the feature sets of each row's set-level metrics."""


@dataclass
class Comparisons:
    """What :func:`compare` found.

    Attributes:
        rows: one dict per comparison with exactly :data:`COMPARISON_COLUMNS`.
        unmatched: per (pair, protocol, metric) with samples only one side has: ``only_a``, ``only_b`` counts.
        notes: how the numbers were computed, and each comparison that could not be made and why.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    """The samples with a finite value (a NaN: no value for that sample, e.g. an empty garment region)."""
    return {str(k): float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def _ordered(keys: Any) -> list[str]:
    return list(dict.fromkeys(keys))


def compare(
    scores: Scores,
    sets: Sets | None = None,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    permutations: int = PERMUTATIONS,
    set_resamples: int = 100,
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> Comparisons:
    """Every two rows of each protocol compared on each metric both have, Holm-corrected over the whole call.

    Rows, protocols and metrics keep the order of their first appearance in ``scores`` (then ``sets``); each pair is
    compared once, ``method_a`` the one that comes first.

    Args:
        scores: per-sample values (:data:`Scores`); non-finite values count as absent.
        sets: set-level feature sets (:data:`Sets`); metrics outside :data:`bench.stats.sets.SET_METRICS` (FID-infinity,
            precision, recall) are named in the notes and not compared.
        confidence: level of every CI.
        resamples: bootstrap resamples of each per-sample CI.
        permutations: random sign flips of each per-sample test above the exact size.
        set_resamples: bootstrap resamples of each set-level comparison (each costs one metric per row).
        seed: seed of every draw.
        progress: called with a line per protocol and set-level metric.

    Returns:
        The rows (p_holm filled), unmatched counts and notes.
    """
    sets = sets or {}
    rows, unmatched, notes = [], [], []
    protocols = _ordered(p for _, p in [*scores, *sets])
    sizes: set[int] = set()
    comparer = SetComparer(set_resamples, seed, confidence)
    for protocol in protocols:
        methods = _ordered(m for m, p in [*scores, *sets] if p == protocol)
        metrics = _ordered(m for (_, p), entry in scores.items() if p == protocol for m in entry)
        progress(f"comparisons under {protocol}: {len(methods)} rows, {len(metrics)} per-sample metric(s)")
        for metric, (a, b) in itertools.product(metrics, itertools.combinations(methods, 2)):
            values_a = _finite(scores.get((a, protocol), {}).get(metric, {}))
            values_b = _finite(scores.get((b, protocol), {}).get(metric, {}))
            if not values_a or not values_b:
                continue  # a metric one row does not have under this protocol
            keys = [k for k in values_a if k in values_b]
            where = {"method_a": a, "method_b": b, "protocol": protocol, "metric": metric}
            if len(keys) < len(values_a) or len(keys) < len(values_b):
                unmatched.append({**where, "only_a": len(values_a) - len(keys), "only_b": len(values_b) - len(keys)})
            if not keys:
                notes.append(f"{a} vs {b} under {protocol}, {metric}: no sample in common")
                continue
            d = np.array([values_a[k] - values_b[k] for k in keys])
            diff, low, high = bootstrap_ci(d, confidence=confidence, resamples=resamples, seed=seed)
            p = sign_flip_p_value(d, permutations=permutations, seed=seed)
            rows.append({**where, "diff": diff, "ci_low": low, "ci_high": high, "p_value": p, "n": len(keys)})
            sizes.add(len(keys))
        set_metrics = _ordered(m for (_, p), entry in sets.items() if p == protocol for m in entry)
        for metric in set_metrics:
            if metric not in SET_METRICS:
                notes.append(f"{metric} under {protocol}: not compared (set-level comparisons cover "
                             f"{', '.join(SET_METRICS)})")  # fmt: skip
                continue
            progress(f"comparisons under {protocol}: {metric}, {set_resamples} bootstrap resamples per row")
            for a, b in itertools.combinations(methods, 2):
                set_a, set_b = sets.get((a, protocol), {}).get(metric), sets.get((b, protocol), {}).get(metric)
                if set_a is None or set_b is None:
                    continue
                where = {"method_a": a, "method_b": b, "protocol": protocol, "metric": metric}
                matched = set(set_a.fake_keys) & set(set_b.fake_keys)
                if len(matched) < max(len(set_a.fake_keys), len(set_b.fake_keys)):
                    unmatched.append({**where, "only_a": len(set_a.fake_keys) - len(matched),
                                      "only_b": len(set_b.fake_keys) - len(matched)})  # fmt: skip
                result = comparer.difference(metric, ((a, protocol), set_a), ((b, protocol), set_b))
                if isinstance(result, str):
                    notes.append(f"{a} vs {b} under {protocol}, {metric}: not compared ({result})")
                    continue
                rows.append({**where, **result})
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = float(adjusted)
    rows = [{column: row[column] for column in COMPARISON_COLUMNS} for row in rows]
    how = [permutation_method(n, permutations, seed) for n in sorted(sizes)]
    if rows:
        notes[:0] = [
            f"per-sample metrics: mean paired difference a - b over the matched samples, {confidence:.0%} "
            f"percentile-bootstrap CI ({resamples:,} resamples, seed {seed}); {'; '.join(dict.fromkeys(how))}",
            *([set_method(set_resamples, seed)] if any(r["metric"] in SET_METRICS for r in rows) else []),
            f"p_holm: Holm's step-down correction over all {len(rows)} comparisons of this table",
        ]
    return Comparisons(rows, unmatched, notes)


def write_comparisons(path: str | os.PathLike[str], rows: list[Mapping[str, Any]]) -> Path:
    """Write ``rows`` as ``comparisons.csv`` at ``path`` (exactly :data:`COMPARISON_COLUMNS`, atomically).

    Raises:
        ValueError: a row without one of the columns.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COMPARISON_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        missing = [c for c in COMPARISON_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"comparison row {dict(row)} lacks {missing}")
        writer.writerow({**row, "n": int(row["n"])})
    atomic_write(path, buffer.getvalue())
    return Path(path)


def higher_is_better(metric: str, directions: Mapping[str, bool] | None = None) -> bool:
    """Which way ``metric`` is better: ``directions[metric]`` when given, else its :class:`MetricSpec`'s.

    Raises:
        InputError: a metric with no spec and no entry in ``directions``.
    """
    if directions and metric in directions:
        return bool(directions[metric])
    from bench.metrics.specs import metric_spec

    return metric_spec(metric).higher_is_better


def better_method(row: Mapping[str, Any], *, higher: bool, alpha: float = ALPHA) -> str | None:
    """The row's method that is significantly better (``p_holm < alpha``), or ``None``."""
    if not float(row["p_holm"]) < alpha or float(row["diff"]) == 0:
        return None
    return row["method_a"] if (float(row["diff"]) > 0) == higher else row["method_b"]
