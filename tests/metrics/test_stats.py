"""Tests of bench.stats: the sign-flip permutation test, Holm's correction, paired comparisons and set-level
bootstrap differences, against hand-worked answers and independent references."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from bench.metrics import functional as MF
from bench.metrics.fid_infinity import ReferenceFID
from bench.stats import COMPARISON_COLUMNS, FeatureSet, SetComparer, compare, holm, sign_flip_p_value
from bench.stats.comparisons import write_comparisons


def _scores(**methods: dict[str, float]) -> dict:
    return {(name, "p"): {"ssim": values} for name, values in methods.items()}


# --- the permutation test -------------------------------------------------------------------------------------------


def test_exact_p_value_matches_a_hand_count() -> None:
    # d = (1, 2, 3): the 8 sign flips give sums 6, 4, 2, 0, 0, -2, -4, -6; as far from 0 as 6: two of them.
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    # d = (1, -1, 2, 0.5): sums of +-1 +-1 +-2 +-0.5 over 16 flips; |sum| >= 2.5 for 4.5, 3.5, 2.5 (twice) and their
    # negatives: 8 of 16 (the observed 2.5 is tied by another flip).
    assert sign_flip_p_value([1.0, -1.0, 2.0, 0.5]) == pytest.approx(8 / 16)
    assert sign_flip_p_value([2.5]) == 1.0  # one sample: its two sign flips tie


def test_random_flips_count_the_observed_one() -> None:
    # 20 equal differences: no random flip but all-plus reaches the observed sum (probability 999 / 2^20 per run), so
    # each one-sided count is 0 + 1 over 999 + 1 flips, and the two-sided p twice that.
    assert sign_flip_p_value(np.ones(20), permutations=999, seed=3) == pytest.approx(2 / 1000)


def test_identical_methods_give_p_one_and_a_zero_difference() -> None:
    values = {f"s{i}": v for i, v in enumerate(np.random.default_rng(0).random(30))}
    table = compare(_scores(a=values, b=dict(values)))
    (row,) = table.rows
    assert row["diff"] == 0 and row["ci_low"] == 0 and row["ci_high"] == 0
    assert row["p_value"] == 1 and row["p_holm"] == 1 and row["n"] == 30


def test_a_clear_shift_on_fifty_samples_is_significant() -> None:
    rng = np.random.default_rng(1)
    base = rng.random(50)
    shifted = base + 0.05 + rng.normal(0, 0.02, 50)
    table = compare(_scores(a=dict(enumerate(shifted)), b=dict(enumerate(base)), c=dict(enumerate(base))))
    by_pair = {(r["method_a"], r["method_b"]): r for r in table.rows}
    assert by_pair["a", "b"]["p_holm"] < 0.001 and by_pair["a", "b"]["ci_low"] > 0.04
    assert by_pair["a", "b"]["diff"] == pytest.approx(np.mean(shifted - base))
    assert by_pair["b", "c"]["p_holm"] == 1
    assert by_pair["a", "c"]["diff"] == pytest.approx(by_pair["a", "b"]["diff"])


def test_bootstrap_ci_of_a_constant_shift_is_that_shift() -> None:
    base = np.random.default_rng(2).random(40)
    (row,) = compare(_scores(a=dict(enumerate(base + 0.25)), b=dict(enumerate(base)))).rows
    assert row["diff"] == pytest.approx(0.25) and row["ci_low"] == pytest.approx(0.25)
    assert row["ci_high"] == pytest.approx(0.25)


# --- Holm -----------------------------------------------------------------------------------------------------------


def test_holm_matches_a_hand_worked_example() -> None:
    # Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to the running max 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Capped at 1; a NaN (no comparison) neither counts nor changes.
    adjusted = holm([0.5, float("nan"), 0.4])
    assert adjusted[[0, 2]] == pytest.approx([0.8, 0.8]) and math.isnan(adjusted[1])


def test_holm_agrees_with_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests  # a dev dependency: the reference implementation

    p = np.random.default_rng(4).random(25) ** 3
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_holm_runs_over_the_whole_table() -> None:
    rng = np.random.default_rng(5)
    scores = {(m, "p"): {"ssim": dict(enumerate(rng.random(12))), "psnr": dict(enumerate(rng.random(12)))}
              for m in "abc"}  # fmt: skip
    rows = compare(scores, permutations=999).rows
    assert len(rows) == 6  # 3 pairs x 2 metrics
    assert [r["p_holm"] for r in rows] == pytest.approx(list(holm([r["p_value"] for r in rows])))


# --- matching and the CSV -------------------------------------------------------------------------------------------


def test_unmatched_samples_are_counted_and_left_out() -> None:
    a = {"x": 1.0, "y": 2.0, "z": 3.0, "w": float("nan")}
    b = {"x": 0.5, "y": 1.0, "v": 9.0}
    table = compare(_scores(a=a, b=b))
    (row,) = table.rows
    assert row["n"] == 2 and row["diff"] == pytest.approx(0.75)
    assert table.unmatched == [{"method_a": "a", "method_b": "b", "protocol": "p", "metric": "ssim", "only_a": 1,
                                "only_b": 1}]  # fmt: skip
    disjoint = compare(_scores(a={"x": 1.0}, b={"y": 1.0}))
    assert not disjoint.rows and "no sample in common" in disjoint.notes[0]


def test_comparisons_csv_has_exactly_its_columns(tmp_path) -> None:
    table = compare(_scores(a={"x": 1.0, "y": 2.0}, b={"x": 0.0, "y": 1.5}, c={"x": 1.0, "y": 2.0}))
    path = write_comparisons(tmp_path / "comparisons.csv", table.rows)
    with path.open() as handle:
        read = list(csv.DictReader(handle))
    assert tuple(read[0]) == COMPARISON_COLUMNS == ("method_a", "method_b", "protocol", "metric", "diff", "ci_low",
                                                    "ci_high", "p_value", "p_holm", "n")  # fmt: skip
    assert [(r["method_a"], r["method_b"], r["n"]) for r in read] == [("a", "b", "2"), ("a", "c", "2"),
                                                                      ("b", "c", "2")]  # fmt: skip
    assert float(read[0]["diff"]) == pytest.approx(0.75)
    assert not list(tmp_path.glob(".*tmp"))  # written through a temporary file and renamed
    with pytest.raises(ValueError, match="lacks"):
        write_comparisons(tmp_path / "bad.csv", [{"method_a": "a"}])


# --- set-level metrics ----------------------------------------------------------------------------------------------


def test_reference_fid_equals_fid_from_features_on_a_resample() -> None:
    rng = np.random.default_rng(6)
    for n_real, n_fake, dim in ((300, 200, 16), (40, 30, 64)):  # more samples than dimensions, and fewer
        real, fake = rng.normal(size=(n_real, dim)), rng.normal(size=(n_fake, dim)) + 0.3
        counts = rng.multinomial(n_fake, np.full(n_fake, 1 / n_fake))
        expected = MF.fid_from_features(torch.from_numpy(real), torch.from_numpy(np.repeat(fake, counts, axis=0)),
                                        method="sqrtm" if n_fake > dim else "spectral")  # fmt: skip
        assert ReferenceFID(real).projected(fake)(counts) == pytest.approx(expected, rel=1e-6)


def _feature_set(real: np.ndarray, fake: np.ndarray, scale: float = 1.0) -> FeatureSet:
    return FeatureSet(real, fake, [f"r{i}" for i in range(len(real))], [f"s{i}" for i in range(len(fake))], scale)


def test_kid_difference_uses_the_full_set_unbiased_mmd() -> None:
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(40, 8)), rng.normal(size=(40, 8)) + 0.5
    # One subset of all 40 rows per set: kid_from_features' estimator is then the full-set unbiased MMD^2.
    kid, _ = MF.kid_from_features(torch.from_numpy(real), torch.from_numpy(fake), subsets=1, subset_size=40)
    result = SetComparer(resamples=20).difference("kid", ("a", _feature_set(real, fake, 1000.0)),
                                                  ("b", _feature_set(real, real, 1000.0)))  # fmt: skip
    own = MF.kid_from_features(torch.from_numpy(real), torch.from_numpy(real), subsets=1, subset_size=40)[0]
    assert result["diff"] == pytest.approx(1000 * (kid - own), rel=1e-9)


def test_set_level_differences() -> None:
    rng = np.random.default_rng(8)
    real = rng.normal(size=(400, 8))
    good, bad = rng.normal(size=(120, 8)), rng.normal(size=(120, 8)) + 0.6
    sets = {("good", "p"): {"fid": _feature_set(real, good), "kid": _feature_set(real, good)},
            ("bad", "p"): {"fid": _feature_set(real, bad), "kid": _feature_set(real, bad)},
            ("same", "p"): {"fid": _feature_set(real, good), "kid": _feature_set(real, good)}}  # fmt: skip
    table = compare({}, sets, set_resamples=40)
    rows = {(r["method_a"], r["method_b"], r["metric"]): r for r in table.rows}
    fid = MF.fid_from_features(torch.from_numpy(real), torch.from_numpy(good), method="sqrtm") - \
        MF.fid_from_features(torch.from_numpy(real), torch.from_numpy(bad), method="sqrtm")  # fmt: skip
    assert rows["good", "bad", "fid"]["diff"] == pytest.approx(fid, rel=1e-6)
    for metric in ("fid", "kid"):
        worse = rows["good", "bad", metric]
        assert worse["diff"] < 0 and worse["ci_high"] < 0 and worse["p_holm"] < 0.05 and worse["n"] == 120
        same = rows["good", "same", metric]
        assert same["diff"] == 0 and same["p_value"] == 1
    assert any("bootstrap resamples" in note for note in table.notes)
    assert all(type(value) in (str, float, int) for row in table.rows for value in row.values())


def test_set_level_comparison_needs_the_same_reference() -> None:
    rng = np.random.default_rng(9)
    real, fake = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    other = FeatureSet(real, fake, [f"q{i}" for i in range(50)], [f"s{i}" for i in range(50)])
    table = compare({}, {("a", "p"): {"fid": _feature_set(real, fake)}, ("b", "p"): {"fid": other},
                         ("c", "p"): {"fid_inf": _feature_set(real, fake)}})  # fmt: skip
    assert not table.rows
    assert any("different reference sets" in n for n in table.notes)
    assert any(n.startswith("fid_inf under p: not compared") for n in table.notes)
