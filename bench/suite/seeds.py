"""A trained row over several training seeds: one number per cell, its interval widened by the seeds' spread.

Each seed's cell has a value ``v_s`` and a test-pair bootstrap interval ``[l_s, h_s]`` (the same pairs for every
seed). The row reports the mean over the ``S`` seeds, ``m``, with the interval

    ``m - sqrt(L^2 + T^2)  ..  m + sqrt(H^2 + T^2)``

where ``L`` and ``H`` are the mean distances of the seeds' bootstrap bounds from their values (the uncertainty from
the choice of test pairs, as for one seed) and ``T = t(0.975, S - 1) * sd(v_s) * sqrt(2 / S)``: 95% of reruns with
``S`` other seeds (or after a change that only moves float rounding, which sends training elsewhere as a new seed
does) give a mean within ``T`` of ``m``, by the difference of two means of ``S`` draws with Student's t for the
estimated spread. With one seed nothing is added; a cell without a bootstrap interval gets ``T`` alone. The interval
is clipped to the metric's domain (:attr:`bench.metrics.specs.MetricSpec.domain`: an end-point error never below 0,
SSIM never above 1), which a t-interval over few seeds can overrun.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from scipy import stats

from bench.metrics.specs import metric_spec

__all__ = ["SEED_KEY", "merge_seed_rows", "mean_per_sample", "training_halfwidth"]

SEED_KEY = "_seed"
"""The key marking a result row computed for one training seed (left out of ``results.csv``)."""

_CONFIDENCE = 0.95


def training_halfwidth(values: Iterable[float]) -> float:
    """``t(0.975, S - 1) * sd * sqrt(2 / S)`` over the seeds' ``values`` (0 with fewer than 2)."""
    v = np.asarray([x for x in values if math.isfinite(x)], dtype=np.float64)
    if len(v) < 2:
        return 0.0
    t = stats.t.ppf(0.5 + _CONFIDENCE / 2, len(v) - 1)
    return float(t * v.std(ddof=1) * math.sqrt(2 / len(v)))


def _merged(group: list[dict[str, Any]]) -> dict[str, Any]:
    values = [float(r["value"]) for r in group]
    finite = [v for v in values if math.isfinite(v)]
    out = {k: v for k, v in group[0].items() if k != SEED_KEY}
    out["seeds"] = len(group)
    if len(finite) < len(values):  # a seed without a number: the row has none either, and says why
        why = out["note"] or f"{len(values) - len(finite)} of {len(values)} seeds without a value"
        out.update(value=np.nan, ci_low=np.nan, ci_high=np.nan, note=why)
        return out
    mean, spread = float(np.mean(values)), training_halfwidth(values)
    low = [v - float(r["ci_low"]) for r, v in zip(group, values, strict=True)]
    high = [float(r["ci_high"]) - v for r, v in zip(group, values, strict=True)]
    below = float(np.mean(low)) if all(map(math.isfinite, low)) else 0.0
    above = float(np.mean(high)) if all(map(math.isfinite, high)) else 0.0
    low_end, high_end = metric_spec(out["metric"]).domain
    out.update(value=mean, ci_low=max(low_end, mean - math.hypot(below, spread)),
               ci_high=min(high_end, mean + math.hypot(above, spread)))  # fmt: skip
    return out


def merge_seed_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(rows, per_seed)``: every group of rows marked with :data:`SEED_KEY` that differ only in the seed (and
    their numbers) becomes one row (:func:`_merged`), in the place of the group's first; ``per_seed`` keeps each
    seed's row with its seed, for ``seeds.csv``. Other rows pass unchanged."""
    numbers = ("value", "ci_low", "ci_high", SEED_KEY)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    order: list[Any] = []
    for row in rows:
        if SEED_KEY not in row:
            order.append(row)
            continue
        key = tuple(sorted((k, str(v)) for k, v in row.items() if k not in numbers))
        if key not in groups:
            order.append(key)
        groups.setdefault(key, []).append(row)
    merged = [_merged(groups[item]) if isinstance(item, tuple) else item for item in order]
    per_seed = [{**{k: v for k, v in r.items() if k != SEED_KEY}, "seed": r[SEED_KEY]}
                for item in order if isinstance(item, tuple) for r in groups[item]]  # fmt: skip
    return merged, per_seed


def mean_per_sample(seeds: list[Mapping[str, Mapping[str, float]]]) -> dict[str, dict[str, float]]:
    """``{metric: {sample: value}}`` averaged over the seeds' per-sample values; a sample enters a metric only where
    every seed has it (the paired comparisons then compare seed-averaged scores pair by pair)."""
    if len(seeds) == 1:
        return {m: dict(v) for m, v in seeds[0].items()}
    out = {}
    for metric in (m for m in seeds[0] if all(m in s for s in seeds)):  # the first seed's order, not a set's
        keys = set.intersection(*(set(s[metric]) for s in seeds))
        out[metric] = {k: float(np.mean([s[metric][k] for s in seeds])) for k in sorted(keys)}
    return out
