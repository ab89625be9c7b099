"""Statistics a reviewer can check: paired comparisons of methods scored on the same samples.

- :mod:`bench.stats.paired`: the sign-flip permutation test of paired differences and Holm's correction;
- :mod:`bench.stats.sets`: bootstrap differences of set-level metrics (FID, FD-DINOv2, KID) from feature sets;
- :mod:`bench.stats.comparisons`: :func:`compare` (every pair of rows, every metric, one Holm family) and
  :func:`write_comparisons` (``comparisons.csv``).

The Markdown and HTML matrices are :mod:`bench.report.comparisons`.
"""

from __future__ import annotations

from bench.stats.comparisons import (
    ALPHA,
    COMPARISON_COLUMNS,
    Comparisons,
    Scores,
    Sets,
    better_method,
    compare,
    higher_is_better,
    write_comparisons,
)
from bench.stats.paired import PERMUTATIONS, holm, is_exact, permutation_method, sign_flip_p_value
from bench.stats.sets import SET_METRICS, FeatureSet, SetComparer

__all__ = [
    "ALPHA", "COMPARISON_COLUMNS", "PERMUTATIONS", "SET_METRICS", "Comparisons", "FeatureSet",
    "Scores", "SetComparer", "Sets", "better_method", "compare", "higher_is_better", "holm", "permutation_method",
    "is_exact", "sign_flip_p_value", "write_comparisons",
]  # fmt: skip
