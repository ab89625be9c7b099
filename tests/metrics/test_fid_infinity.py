"""Tests of bench.metrics.fid_infinity: FID-infinity removes FID's 1/N bias, its fit recovers a planted line, the
small-sample warning, and how the set-level summaries (FID-infinity, KID) read into result rows."""

from __future__ import annotations

import numpy as np
import pytest

from bench.metrics import fid_infinity as fi
from bench.metrics.fid_infinity import FID_MIN_IMAGES, fid_infinity, fit_fid_infinity, set_size_warning
from bench.metrics.specs import metric_spec


def _gaussian_sets(seed: int, n_real: int, n_fake: int, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Two samples of one correlated Gaussian: their true FID is 0."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim)) / 4
    root = np.linalg.cholesky(a @ a.T + 0.1 * np.eye(dim))
    return rng.normal(size=(n_real, dim)) @ root.T, rng.normal(size=(n_fake, dim)) @ root.T


def test_fid_infinity_is_closer_to_zero_than_fid_for_one_distribution() -> None:
    plain, extrapolated = [], []
    for seed in range(4):
        entry = fid_infinity(*_gaussian_sets(seed, 2000, 200), seed=seed)
        assert abs(entry["value"]) < entry["fid"], entry
        plain.append(entry["fid"])
        extrapolated.append(abs(entry["value"]))
    assert np.mean(extrapolated) < 0.5 * np.mean(plain)


def test_the_fit_recovers_a_planted_line() -> None:
    sizes = np.repeat([100, 325, 550, 775, 1000], 3)
    fit = fit_fid_infinity(sizes, 3.0 + 500.0 / sizes)
    assert (fit.intercept, fit.slope, fit.intercept_se) == pytest.approx((3.0, 500.0, 0.0), abs=1e-9)
    noisy = 3.0 + 500.0 / sizes + np.random.default_rng(0).normal(0, 0.05, len(sizes))
    fit = fit_fid_infinity(sizes, noisy)
    assert abs(fit.intercept - 3.0) < 3 * fit.intercept_se < 0.3
    with pytest.raises(ValueError, match="two or more distinct"):
        fit_fid_infinity([100, 100], [1.0, 2.0])


def test_fid_infinity_fits_the_sizes_it_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """With FID replaced by a planted 7 + 300 / N, the whole procedure (sizes, draws, fit) returns 7."""

    class Planted:
        def __init__(self, real: np.ndarray) -> None:
            self.n, self.dim = real.shape

        def projected(self, fake: np.ndarray):  # noqa: ANN202
            class Fid:
                def __len__(self) -> int:
                    return len(fake)

                def __call__(self, counts: np.ndarray) -> float:
                    assert set(np.unique(counts)) <= {0.0, 1.0}, "subsets are drawn without replacement"
                    return 7.0 + 300.0 / counts.sum()

            return Fid()

    monkeypatch.setattr(fi, "ReferenceFID", Planted)
    entry = fid_infinity(np.zeros((50, 4)), np.zeros((500, 4)), points=5, draws=3, min_fraction=0.2)
    assert entry["value"] == pytest.approx(7.0) and entry["slope"] == pytest.approx(300.0)
    assert entry["sizes"] == [100, 200, 300, 400, 500] and entry["fid"] == pytest.approx(7.6)
    assert (entry["n_real"], entry["n_fake"], entry["draws"]) == (50, 500, 3) and "warning" not in entry


def test_subsets_below_the_feature_dimension_are_warned_about() -> None:
    entry = fid_infinity(*_gaussian_sets(0, 300, 60), seed=0)
    assert entry["sizes"][0] == 12 and "fewer than the 16 feature dimensions" in entry["warning"]


def test_small_set_warning_threshold() -> None:
    assert FID_MIN_IMAGES == 10_000
    text = set_size_warning("fid", 2032)
    assert text is not None and "2,032 images" in text and "10,000" in text and "KID" in text
    assert set_size_warning("fid", 10_000) is None
    assert set_size_warning("fd_dinov2", 500) is not None
    assert set_size_warning("kid", 50) is None and set_size_warning("fid_inf", 50) is None
    assert set_size_warning("fid", None) is None


def test_set_level_entries_read_into_rows() -> None:
    entry = fid_infinity(*_gaussian_sets(1, 400, 100), seed=1)
    spec = metric_spec("fid_inf")
    assert spec.addition and not spec.higher_is_better and spec.fed_by == "fid_features"
    row = spec.result_row(entry)
    assert row["value"] == entry["value"] and row["n"] == 100
    assert row["note"].startswith(f"fit std error {entry['intercept_se']:.3f} (plain FID {entry['fid']:.3f})")
    kid = {"mean": 1.5, "std": 0.125, "subsets": 100, "subset_size": 1000, "scale": 1000.0, "n_fake": 2032}
    assert metric_spec("kid").result_row(kid) == {"value": 1.5, "n": 2032,
                                                  "note": "std 0.125 over 100 subsets of 1000 (x1000)"}  # fmt: skip
    assert metric_spec("kid").text(kid) == ("1.5000", "std 0.1250 over 100 subsets of 1000 (x1000)")
