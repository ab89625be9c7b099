"""Tests of the comparison matrices (bench.report.comparisons) and of what the suite's cells keep for them
(bench.suite.cells: per-sample values, feature sets and their sample keys)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from bench.report.comparisons import comparisons_html, comparisons_markdown
from bench.stats import compare
from bench.suite.cells import CellCache, cell_feature_sets, feature_arrays, per_sample_values


def _row(a: str, b: str, metric: str, diff: float, p_holm: float, n: int = 40) -> dict:
    return {"method_a": a, "method_b": b, "protocol": "hrviton", "metric": metric, "diff": diff,
            "ci_low": diff - 0.01, "ci_high": diff + 0.01, "p_value": p_holm / 3, "p_holm": p_holm, "n": n}  # fmt: skip


def _markdown_cells(text: str) -> dict[tuple[str, str], str]:
    """``{(row, column): cell}`` of the first Markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = {}
    for line in lines[2:]:
        parts = [c.strip() for c in line.strip("|").split("|")]
        cells |= {(parts[0], column): value for column, value in zip(header[1:], parts[1:], strict=True)}
    return cells


def test_matrix_cells_are_row_minus_column_and_marked_by_direction() -> None:
    rows = [_row("a", "b", "lpips", -0.02, 0.001), _row("a", "c", "lpips", 0.005, 0.3), _row("b", "c", "lpips",
                                                                                             0.025, 0.04)]  # fmt: skip
    text = comparisons_markdown(rows, method_titles={"a": "PF-AFN"})
    assert text.startswith("#### LPIPS ↓ under hrviton")
    cells = _markdown_cells(text)
    # LPIPS: lower is better, so a (0.02 lower than b) is significantly better than b.
    assert cells["PF-AFN", "b"] == "-0.0200 ▲" and cells["b", "PF-AFN"] == "+0.0200 ▼"
    assert cells["PF-AFN", "c"] == "+0.0050" and cells["c", "PF-AFN"] == "-0.0050"  # p_holm 0.3: unmarked
    assert cells["b", "c"] == "+0.0250 ▼" and cells["c", "b"] == "-0.0250 ▲"
    assert cells["PF-AFN", "PF-AFN"] == "·"
    assert "n = 40 matched samples." in text and "Holm-adjusted p < 0.05" in text


def test_a_higher_is_better_metric_flips_the_marker() -> None:
    text = comparisons_markdown([_row("a", "b", "ssim", -0.02, 0.001)])
    assert _markdown_cells(text)["a", "b"] == "-0.0200 ▼"


def test_matrices_per_protocol_and_metric_with_titles_notes_and_warnings() -> None:
    rows = [_row("a", "b", "ssim", 0.01, 0.5), {**_row("a", "b", "fid", -1.5, 0.01, n=2032), "protocol": "ladi"}]
    text = comparisons_markdown(rows, protocol_titles={"ladi": "LaDI-VTON"}, notes=["how | it was done"], level=3)
    assert "### SSIM ↑ under hrviton" in text and "### FID ↓ under LaDI-VTON" in text
    assert "2,032 images, below the 10,000" in text  # FID at a small n carries the warning
    assert text.count("below the 10,000") == 1 and "- how \\| it was done" in text
    assert comparisons_markdown([]) == "" and comparisons_html([]) == ""


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.titles: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.titles += [v for k, v in attrs if k == "title"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_fragment_escapes_names_and_gives_each_cell_its_tests() -> None:
    rows = [_row("<a>", "b&c", "lpips", -0.02, 0.001)]
    html = comparisons_html(rows, method_titles={"b&c": "B & <C>"}, notes=["<note>"])
    assert "<a>" not in html
    assert "&lt;a&gt;" in html and "B &amp; &lt;C&gt;" in html and "&lt;note&gt;" in html
    parser = _Collect()
    parser.feed(html)
    assert parser.tags.count("table") == 1 and parser.tags.count("h3") == 1 and "strong" in parser.tags
    assert parser.titles == [
        "<a> − b&c: -0.0200, CI [-0.0300, -0.0100]; p = 0.000333, Holm p = 0.001, n = 40",
        "b&c − <a>: +0.0200, CI [0.0100, 0.0300]; p = 0.000333, Holm p = 0.001, n = 40",
    ]


def test_unknown_metric_needs_its_direction() -> None:
    rows = [_row("student", "tutor", "epe", -0.3, 0.01)]
    assert _markdown_cells(comparisons_markdown(rows, directions={"epe": False}))["student", "tutor"] == "-0.3000 ▲"
    with pytest.raises(ValueError, match="Unknown metric 'epe'"):
        comparisons_markdown(rows)


# --- what the cells keep --------------------------------------------------------------------------------------------


def test_per_sample_values_keep_finite_values_by_key() -> None:
    rows = [{"key": "p1__c1", "pred": "x", "gt": "y", "ssim": 0.5, "ssim_garment": float("nan")},
            {"key": "p2__c2", "pred": "x", "gt": "y", "ssim": 0.75, "ssim_garment": 0.25}]  # fmt: skip
    values = per_sample_values(rows, ("ssim", "ssim_garment", "lpips"))
    assert values == {"ssim": {"p1__c1": 0.5, "p2__c2": 0.75}, "ssim_garment": {"p2__c2": 0.25}}
    assert json.loads(json.dumps(values)) == values  # a cell is JSON


def test_a_cached_cell_without_a_required_field_is_recomputed(tmp_path) -> None:
    cells = CellCache(tmp_path)
    assert cells.get_or_compute("eval-x", lambda: {"metrics": {}}) == {"metrics": {}}
    assert cells.get_or_compute("eval-x", lambda: pytest.fail("recomputed")) == {"metrics": {}}
    fresh = cells.get_or_compute("eval-x", lambda: {"metrics": {}, "per_sample": {}}, require=("per_sample",))
    assert fresh == {"metrics": {}, "per_sample": {}} and (cells.hits, cells.misses) == (1, 2)
    assert cells.get_or_compute("eval-x", lambda: pytest.fail("recomputed"), require=("per_sample",)) == fresh


def test_feature_sets_round_trip_through_a_cell_into_compare(tmp_path) -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 6)).astype(np.float32)
    fakes = {"a": rng.normal(size=(30, 6)).astype(np.float32),
             "b": (rng.normal(size=(30, 6)) + 1).astype(np.float32)}  # fmt: skip
    cells = CellCache(tmp_path)
    real_keys = [f"person{i}.jpg" for i in range(60)]
    sets = {}
    for method, fake in fakes.items():
        keys = [f"p{i}__c{i}" for i in range(30)]
        if method == "b":  # b was scored on one sample fewer, in another order
            fake, keys = fake[1:][::-1], keys[1:][::-1]
        arrays = feature_arrays({"inception": {"real": real.astype(np.float64), "fake": fake}}, real_keys=real_keys,
                                fake_keys=keys)  # fmt: skip
        assert arrays["inception.fake"].dtype == np.float32  # float32 network outputs are kept in float32
        cells.save_arrays(f"eval-{method}", arrays)
        loaded = cells.load_arrays(f"eval-{method}")
        sets[method, "hrviton"] = cell_feature_sets(loaded, ("fid", "kid", "ssim"), kid_scale=1000.0)
    assert set(sets["a", "hrviton"]) == {"fid", "kid"} and sets["a", "hrviton"]["kid"].scale == 1000.0
    assert cells.load_arrays("eval-none") is None and cell_feature_sets(None, ("fid",)) == {}
    table = compare({}, sets, set_resamples=20)
    fid = next(r for r in table.rows if r["metric"] == "fid")
    assert fid["n"] == 29 and fid["diff"] < 0 and fid["p_holm"] < 0.05
    assert {"method_a": "a", "method_b": "b", "protocol": "hrviton", "metric": "fid", "only_a": 1,
            "only_b": 0} in table.unmatched  # fmt: skip
    with pytest.raises(ValueError, match="30 rows for 29 keys"):
        feature_arrays(
            {"inception": {"real": real, "fake": fakes["a"]}},
            real_keys=real_keys,
            fake_keys=[f"p{i}__c{i}" for i in range(29)],
        )
