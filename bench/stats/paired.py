"""Tests of paired differences: the two-sided sign-flip permutation test and Holm's step-down correction.

Under the null hypothesis that two methods are exchangeable on every sample, each per-sample difference is as likely
to have either sign, so the mean difference is compared with its distribution over sign flips
(:func:`scipy.stats.permutation_test`, ``permutation_type="samples"`` on the differences): every one of the ``2^n``
flips when ``2^n <= permutations``, else ``permutations`` random flips with the observed one counted (the +1
correction, so that no p-value is 0). Two-sided p: twice the smaller one-sided p, at most 1 (scipy's convention; the
sign-flip null is symmetric, so this is the share of flips whose mean is at least as far from 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["PERMUTATIONS", "holm", "is_exact", "permutation_method", "sign_flip_p_value"]

PERMUTATIONS = 10_000
"""Random sign flips of a test with more than ``log2(PERMUTATIONS)`` differences (13 and fewer are enumerated);
the smallest p-value is then 1 / 10,001."""
_BATCH = 1_000  # flips evaluated at once (memory: batch x n floats)


def is_exact(n: int, permutations: int = PERMUTATIONS) -> bool:
    """Whether a test of ``n`` differences enumerates every sign flip."""
    return 2**n <= permutations


def permutation_method(n: int, permutations: int = PERMUTATIONS, seed: int = 0) -> str:
    """How :func:`sign_flip_p_value` tests ``n`` differences, in words (for a report's notes)."""
    if is_exact(n, permutations):
        return "two-sided sign-flip permutation test, exact (all 2^n sign flips) up to n = " \
               f"{int(np.log2(permutations))}"  # fmt: skip
    return (f"two-sided sign-flip permutation test, {permutations:,} random sign flips (seed {seed}), "
            "p = (1 + flips at least as extreme) / (1 + flips)")  # fmt: skip


def _mean(x: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis)


def sign_flip_p_value(differences: Sequence[float] | np.ndarray, *, permutations: int = PERMUTATIONS,
                      seed: int = 0) -> float:  # fmt: skip
    """Two-sided p-value of the mean of paired ``differences`` under sign flips (exact when ``2^n <= permutations``).

    Identical methods (every difference 0) give 1, and so does a single sample (its two flips tie).

    Args:
        differences: per-sample differences ``a - b`` of matched samples (finite).
        permutations: random flips drawn when the exact test would need more.
        seed: seed of the random flips.

    Returns:
        The p-value in (0, 1].
    """
    d = np.asarray(differences, dtype=np.float64).ravel()
    if d.size == 0 or not np.isfinite(d).all():
        raise ValueError(f"sign_flip_p_value needs one or more finite differences, got {d.size} value(s)")
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    if d.size == 1:  # both flips give the same |mean|: no evidence either way
        return 1.0
    rng = np.random.default_rng(seed)
    result = stats.permutation_test((d,), _mean, permutation_type="samples", vectorized=True,
                                    n_resamples=permutations, batch=_BATCH, rng=rng)  # fmt: skip
    return float(result.pvalue)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order.

    With the ``m`` finite p-values sorted ascending, the ``k``-th (from 1) is adjusted to
    ``max_{j <= k} min(1, (m - j + 1) p_(j))``; NaN entries (comparisons not made) stay NaN and do not count in ``m``.
    """
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out
