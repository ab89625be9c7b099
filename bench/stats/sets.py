"""Paired differences of set-level metrics (FID, FD-DINOv2, KID) between methods scored on the same samples.

A set-level metric has no per-sample values, so its difference is bootstrapped: each resample draws the matched
prediction samples with replacement, the same draw for both methods (and for every method sharing those samples), and
recomputes both metrics on it; the reference set stays whole and fixed (the uncertainty is that of the predictions
given this reference set, as for the FID bootstrap std of the summaries). The CI and the p-value come from the
bootstrap standard error of the difference (normal approximation: ``diff +- z se``, ``p = 2 (1 - Phi(|diff| / se))``),
centred on the difference of the full matched sets, because resampling with replacement repeats images and so moves
every resampled FID upward. KID is the unbiased MMD^2 over the whole sets (the U-statistic its random-subset average
estimates), so its difference can differ slightly from the difference of the reported KIDs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from bench.metrics.fid_infinity import ReferenceFID

__all__ = ["SET_METRICS", "FeatureSet", "SetComparer", "set_method"]


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """The two feature sets one set-level metric of one row was computed from.

    Attributes:
        real: reference features ``[N, D]`` (numpy or torch).
        fake: prediction features ``[M, D]``.
        real_keys: one key per reference row (two rows compare only against the same reference keys).
        fake_keys: one sample key per prediction row (the samples matched between rows).
        scale: the factor of the reported value (KID x1000 under some protocols).
    """

    real: Any
    fake: Any
    real_keys: Sequence[str]
    fake_keys: Sequence[str]
    scale: float = 1.0

    def __post_init__(self) -> None:
        if len(self.real) != len(self.real_keys) or len(self.fake) != len(self.fake_keys):
            raise ValueError(f"FeatureSet: {len(self.real)} real rows with {len(self.real_keys)} keys, "
                             f"{len(self.fake)} fake rows with {len(self.fake_keys)} keys")  # fmt: skip
        if len(set(self.fake_keys)) != len(self.fake_keys):
            raise ValueError("FeatureSet: fake_keys repeat a key; give one row per sample")


def _array(features: Any) -> np.ndarray:
    if hasattr(features, "detach"):
        features = features.detach().cpu().numpy()
    return np.asarray(features, dtype=np.float64)


def _fid_values(real: np.ndarray, fake: np.ndarray, counts: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
    key = ("fid", hashlib.sha256(real.tobytes()).hexdigest())
    if key not in cache:
        cache[key] = ReferenceFID(real)
    projected = cache[key].projected(fake)
    return np.array([projected(c) for c in counts])


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's polynomial kernel ``(a . b / D + 1)^3`` (torch-fidelity's)."""
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _kid_values(real: np.ndarray, fake: np.ndarray, counts: np.ndarray, cache: dict[str, Any]) -> np.ndarray:
    key = ("kid", hashlib.sha256(real.tobytes()).hexdigest())
    if key not in cache:
        k_rr = _kernel(real, real)
        m = len(real)
        cache[key] = (k_rr.sum() - np.trace(k_rr)) / (m * (m - 1))
    k_ff, cross = _kernel(fake, fake), _kernel(fake, real).mean(axis=1)
    n = counts.sum(axis=1)
    within = (((counts @ k_ff) * counts).sum(axis=1) - counts @ np.diag(k_ff)) / (n * (n - 1))
    return within + cache[key] - 2 * (counts @ cross) / n


SET_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]], np.ndarray]] = {
    "fid": _fid_values,
    "fd_dinov2": _fid_values,
    "kid": _kid_values,
}
"""The set-level metrics compared by bootstrap: a function of (real, fake, counts [B, M], cache) giving the metric of
each row of counts (a multiset of the prediction rows) against the whole reference set."""


def set_method(resamples: int, seed: int) -> str:
    """How set-level differences are computed, in words (for a report's notes)."""
    return (f"set-level metrics: {resamples} bootstrap resamples (seed {seed}) of the matched predictions, the same "
            "draw for both methods, reference set fixed; CI diff +- z se and p = 2(1 - Phi(|diff| / se)) from the "
            "bootstrap standard error se; KID as the unbiased MMD^2 over the whole sets")  # fmt: skip


@dataclass
class SetComparer:
    """Bootstrap differences of one set-level metric; values are computed once per (row, matched samples).

    Attributes:
        resamples: bootstrap resamples (>= 2).
        seed: seed of the draws (the draw depends only on the seed and the number of matched samples).
        confidence: the CI's level.
    """

    resamples: int = 100
    seed: int = 0
    confidence: float = 0.95
    _values: dict[tuple[Any, ...], np.ndarray] = field(default_factory=dict, repr=False)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def _counts(self, n: int) -> np.ndarray:
        """Row 0: every sample once (the point value); then ``resamples`` multinomial draws of ``n`` samples."""
        rng = np.random.default_rng(self.seed)
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=self.resamples).astype(np.float64)
        return np.vstack([np.ones((1, n)), draws])

    def _metric_values(self, metric: str, row: Any, features: FeatureSet, keys: tuple[str, ...]) -> np.ndarray:
        cached = (metric, row, keys)
        if cached not in self._values:
            position = {k: i for i, k in enumerate(features.fake_keys)}
            fake = _array(features.fake)[[position[k] for k in keys]]
            values = SET_METRICS[metric](_array(features.real), fake, self._counts(len(keys)), self._cache)
            self._values[cached] = values * features.scale
        return self._values[cached]

    def difference(self, metric: str, a: tuple[Any, FeatureSet], b: tuple[Any, FeatureSet]) -> dict[str, float] | str:
        """``{diff, ci_low, ci_high, p_value, n}`` of ``metric(a) - metric(b)`` on their matched samples, or why it
        cannot be computed. ``a`` and ``b`` are ``(row id, features)``; the row id keys the cache."""
        if self.resamples < 2:
            raise ValueError(f"set-level comparisons need at least 2 bootstrap resamples, got {self.resamples}")
        (row_a, set_a), (row_b, set_b) = a, b
        if list(set_a.real_keys) != list(set_b.real_keys):
            return "different reference sets"
        shared = set(set_b.fake_keys)
        keys = tuple(k for k in set_a.fake_keys if k in shared)
        if len(keys) < 2:
            return f"{len(keys)} matched prediction(s); a set-level metric needs 2"
        values = self._metric_values(metric, row_a, set_a, keys) - self._metric_values(metric, row_b, set_b, keys)
        diff, se = float(values[0]), float(np.std(values[1:], ddof=1))
        z = float(stats.norm.ppf(0.5 + self.confidence / 2))
        p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)  # se 0: p 1 when diff is 0
        return {"diff": diff, "ci_low": diff - z * se, "ci_high": diff + z * se, "p_value": p, "n": len(keys)}
