"""A trained row over several training seeds: the merged cell, the interval's claim, the worker schedule, and a
tiny suite trained at two seeds side by side."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from test_suite import SUITE  # tests/bench/test_suite.py

from bench.report.training import training_text
from bench.suite import load_suite, run_suite, write_suite_report
from bench.suite.config import TrainingSpec
from bench.suite.seeds import SEED_KEY, mean_per_sample, merge_seed_rows, training_halfwidth
from bench.suite.training import _threads


def _cell(seed: int | None, value: float, low: float, high: float, metric: str = "kid") -> dict:
    row = {"method": "m", "dataset": "d", "protocol": "p", "metric": metric, "value": value, "ci_low": low,
           "ci_high": high, "n": 10, "note": ""}  # fmt: skip
    return row if seed is None else {**row, SEED_KEY: seed}


def test_three_seeds_become_their_mean_with_the_seed_spread_added_in_quadrature():
    rows = [_cell(0, 1.0, 0.9, 1.2), _cell(1, 2.0, 1.9, 2.2), _cell(2, 3.0, 2.9, 3.2), _cell(None, 5.0, 4.0, 6.0)]
    merged, per_seed = merge_seed_rows(rows)
    assert len(merged) == 2 and merged[1] == rows[3]  # an untrained row passes unchanged, in its place
    cell = merged[0]
    t = stats.t.ppf(0.975, 2) * 1.0 * math.sqrt(2 / 3)  # sd of 1, 2, 3 is 1
    assert cell["value"] == pytest.approx(2.0) and cell["seeds"] == 3 and SEED_KEY not in cell
    assert cell["ci_low"] == pytest.approx(2.0 - math.hypot(0.1, t))
    assert cell["ci_high"] == pytest.approx(2.0 + math.hypot(0.2, t))
    assert [r["seed"] for r in per_seed] == [0, 1, 2] and [r["value"] for r in per_seed] == [1.0, 2.0, 3.0]


def test_one_seed_keeps_its_interval_and_a_seed_without_a_value_empties_the_cell():
    (alone,), _ = merge_seed_rows([_cell(4, 1.0, 0.8, 1.1)])
    assert (alone["value"], alone["ci_low"], alone["ci_high"], alone["seeds"]) == (1.0, 0.8, 1.1, 1)
    (broken,), _ = merge_seed_rows([_cell(0, 1.0, 0.8, 1.1), _cell(1, float("nan"), float("nan"), float("nan"))])
    assert math.isnan(broken["value"]) and broken["note"] == "1 of 2 seeds without a value"
    (no_ci,), _ = merge_seed_rows([_cell(0, 1.0, np.nan, np.nan), _cell(1, 3.0, np.nan, np.nan)])
    spread = training_halfwidth([1.0, 3.0])
    assert no_ci["ci_low"] == pytest.approx(2.0 - spread) and no_ci["ci_high"] == pytest.approx(2.0 + spread)


def test_an_interval_over_seeds_is_clipped_to_the_metric_domain():
    # Three seeds' end-point errors 1, 2 and 12 px: the t-interval reaches below 0 px, which no EPE can be.
    (epe,), _ = merge_seed_rows([_cell(s, v, v - 0.1, v + 0.1, "flow_epe") for s, v in enumerate((1.0, 2.0, 12.0))])
    spread = training_halfwidth([1.0, 2.0, 12.0])
    assert epe["ci_low"] == 0.0 and epe["ci_high"] == pytest.approx(5.0 + math.hypot(0.1, spread))
    ssims = (0.5, 0.9, 0.99)
    (ssim,), _ = merge_seed_rows([_cell(s, v, v - 0.01, v + 0.01, "ssim_truth") for s, v in enumerate(ssims)])
    below = float(np.mean(ssims)) - math.hypot(0.01, training_halfwidth(ssims))
    assert ssim["ci_high"] == 1.0 and ssim["ci_low"] == pytest.approx(below)  # inside [-1, 1]: kept


def test_a_rerun_with_other_seeds_lands_inside_the_training_interval_95_percent_of_the_time():
    """The claim behind the interval: the mean of 3 new seeds falls within ``training_halfwidth`` of the mean of 3
    seeds in 95% of draws (simulated with normal seed effects; the fraction's 99.9% band at 20,000 draws is ±0.5%)."""
    rng = np.random.default_rng(0)
    first, rerun = rng.normal(size=(20_000, 3)), rng.normal(size=(20_000, 3))
    half = np.array([training_halfwidth(row) for row in first])
    inside = np.abs(rerun.mean(axis=1) - first.mean(axis=1)) <= half
    assert inside.mean() == pytest.approx(0.95, abs=0.006)


def test_per_sample_scores_are_averaged_over_the_seeds_where_every_seed_has_the_sample():
    seeds = [{"ssim": {"a": 1.0, "b": 2.0}, "psnr": {"a": 1.0}}, {"ssim": {"a": 3.0, "c": 5.0}}]
    assert mean_per_sample(seeds) == {"ssim": {"a": 2.0}}
    assert mean_per_sample(seeds[:1]) == seeds[0]
    # The metrics keep the first seed's order, whatever the string hashes: comparisons.csv rows follow it.
    names = ["ssim_truth", "psnr_truth", "flow_epe", "ssim", "psnr", "lpips", "fid"]
    same = {name: {"a": 1.0} for name in names}
    assert list(mean_per_sample([same, dict(reversed(same.items()))])) == names


def test_worker_threads_are_fixed_by_the_schedule_not_by_timing():
    assert _threads(3, 2, 2) == [1, 1, 2]  # the third seed trains alone, on both threads
    assert _threads(4, 2, 2) == [1, 1, 1, 1]
    assert _threads(3, 3, 2) == [1, 1, 1]
    assert _threads(5, 2, 8) == [4, 4, 4, 4, 8]


def test_training_settings_are_checked():
    with pytest.raises(ValueError, match="seeds: each once"):
        TrainingSpec(seeds=(1, 1))
    with pytest.raises(ValueError, match="workers: at least 1"):
        TrainingSpec(workers=0)


def test_training_text_names_steps_seeds_and_convergence():
    run = {
        "methods": {
            "m": {
                "training": [
                    {"seed": 0, "steps": 140, "converged": True},
                    {"seed": 1, "steps": 140, "converged": False},
                    {"seed": 2, "steps": 140, "converged": None},
                ]
            },  # fmt: skip
            "u": {"title": "untrained"},
        }
    }
    assert training_text(run, "m") == "140 steps × 3 seeds; converged 1/3 (1 undecided)"
    assert training_text(run, "u") == "" and training_text(run, "absent") == ""


@pytest.mark.slow
def test_a_suite_trains_every_seed_side_by_side_and_reports_their_mean(tmp_path: Path):
    path = tmp_path / "seeded.yaml"
    methods = [{"name": "pf_afn", "train": {"recipe": "smoke", "run": "noise-0.5/tt-adjustable"}}, {"name": "no_warp"}]
    path.write_text(yaml.safe_dump({**SUITE, "methods": methods, "protocols": ["pfafn"], "literature": [],
                                    "training": {"seeds": [0, 1], "workers": 2}}))  # fmt: skip
    suite = load_suite(str(path))
    result = run_suite(suite, work=tmp_path / "work")
    table, seeds = result.results, result.seeds
    ssim = table[(table.metric == "ssim") & (table.protocol == "pfafn")].set_index("method")
    assert ssim.loc["pf_afn", "seeds"] == 2 and pd.isna(ssim.loc["no_warp", "seeds"])
    per_seed = seeds[(seeds.metric == "ssim") & (seeds.protocol == "pfafn")].sort_values("seed")
    assert per_seed.seed.tolist() == [0, 1] and per_seed.value.nunique() == 2  # two trainings, two numbers
    assert ssim.loc["pf_afn", "value"] == pytest.approx(per_seed.value.mean())
    below, spread = (per_seed.value - per_seed.ci_low).mean(), training_halfwidth(per_seed.value)
    assert spread > 0 and ssim.loc["pf_afn", "ci_low"] == pytest.approx(
        per_seed.value.mean() - math.hypot(below, spread)
    )
    trained = result.run["methods"]["pf_afn"]["training"]
    assert [r["seed"] for r in trained] == [0, 1] and all(r["steps"] > 0 and "converged" in r for r in trained)
    assert set(result.run["methods"]) == {"pf_afn", "no_warp"}  # one card per row, not per seed
    paths = write_suite_report(result, tmp_path / "report")
    assert tmp_path / "report" / "seeds.csv" in paths
    assert "× 2 seeds" in (tmp_path / "report" / "table.md").read_text()
    again = run_suite(suite, work=tmp_path / "work")
    assert again.run["cells"]["computed"] == 0
    pd.testing.assert_frame_equal(result.results, again.results)
