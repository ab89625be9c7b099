"""Run metadata and bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest

from bench.results import bootstrap_ci, run_metadata


def test_bootstrap_ci_is_deterministic_and_covers_the_mean():
    values = np.random.default_rng(1).normal(0.8, 0.05, size=200)
    mean, low, high = bootstrap_ci(values, seed=3)
    assert (mean, low, high) == bootstrap_ci(values, seed=3)
    assert low < mean < high and mean == pytest.approx(values.mean())
    # the interval is about 2 * 1.96 standard errors wide
    assert high - low == pytest.approx(2 * 1.96 * values.std() / np.sqrt(values.size), rel=0.15)


def test_bootstrap_ci_narrows_with_more_samples_and_handles_one_value():
    rng = np.random.default_rng(2)
    small = bootstrap_ci(rng.normal(size=20))
    large = bootstrap_ci(rng.normal(size=2000))
    assert large[2] - large[1] < (small[2] - small[1]) / 5
    assert bootstrap_ci([0.5]) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(("values", "kwargs"), [([], {}), ([1.0], {"confidence": 1.0})])
def test_bootstrap_ci_rejects_bad_arguments(values, kwargs):
    with pytest.raises(ValueError):
        bootstrap_ci(values, **kwargs)


def test_run_metadata_names_commit_date_and_versions():
    meta = run_metadata()
    assert meta["date"].endswith("+00:00")
    assert meta["git_commit"]
    assert meta["versions"]["torch"] and meta["versions"]["pftryon"] == "0.1.0"
