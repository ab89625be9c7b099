"""Every registered metric's spec is complete and is the one answer every part of the harness reads.

Loops over the registry (bench.metrics.specs), so a new metric is checked without a new test: label and direction,
digits, summary kind, weights files that exist under every shipped protocol, an implementation that imports and
agrees on the direction; and every metric a shipped protocol, eval, a suite or a stored results table names has a spec.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import InputError
from bench.metrics import specs
from bench.metrics.specs import EVAL_INPUTS, FED_BY, SUMMARIES, MetricSpec, list_metrics, metric_spec, register_metric
from bench.metrics.weights import WEIGHTS
from bench.protocols import EXTRA_METRICS, METRIC_NAMES, list_protocols, load_protocol

REPO = Path(__file__).resolve().parents[2]
ALL = list_metrics()
SPECS = [pytest.param(metric_spec(name), id=name) for name in ALL]
PROTOCOLS = [load_protocol(name) for name in list_protocols()]
# One summary entry of each kind, as bench.eval writes it.
ENTRIES = {
    "per_sample": {"mean": 0.5, "ci95": [0.25, 0.75], "std": 0.1, "n": 4},
    "set": {"value": 12.5, "n_real": 8, "n_fake": 6, "bootstrap_std": 0.25, "warning": "singular"},
    "subsets": {"mean": 1.5, "std": 0.125, "subsets": 100, "scale": 1000.0, "n_fake": 6},
    "splits": {"value": 3.25, "std": 0.5, "splits": 1, "n": 6},
    "knn": {"value": 0.75, "k": 3, "n_fake": 6},
    "value": {"value": 2.5},
}


@pytest.mark.parametrize("spec", SPECS)
def test_every_spec_is_complete(spec: MetricSpec) -> None:
    assert isinstance(spec.label, str) and spec.label.strip() == spec.label and spec.label, spec.name
    assert isinstance(spec.higher_is_better, bool), spec.name
    assert spec.heading.endswith("↑" if spec.higher_is_better else "↓")
    assert isinstance(spec.digits, int) and not isinstance(spec.digits, bool) and 0 <= spec.digits <= 6, spec.name
    assert spec.fed_by in FED_BY and spec.summary in SUMMARIES, spec.name
    assert spec.speed == (spec.fed_by == "latency")


@pytest.mark.parametrize("spec", SPECS)
def test_weights_names_exist_under_every_shipped_protocol(spec: MetricSpec) -> None:
    for protocol in PROTOCOLS:
        names = spec.weights_for(protocol)
        assert isinstance(names, tuple), f"{spec.name} under {protocol.name}: {names!r} is not a tuple"
        assert set(names) <= set(WEIGHTS), f"{spec.name} under {protocol.name}: {set(names) - set(WEIGHTS)}"


@pytest.mark.parametrize("spec", SPECS)
def test_implementation_imports_and_agrees_on_the_direction(spec: MetricSpec) -> None:
    assert spec.implementation, f"{spec.name}: name the class or function that computes it"
    target = spec.implementation_object()
    declared = getattr(target, "higher_is_better", None)
    if isinstance(declared, bool):  # a torchmetrics class (per-metric classes such as GarmentRegion say None)
        assert declared == spec.higher_is_better, f"{spec.name}: {spec.implementation} says {declared}"


@pytest.mark.parametrize("spec", SPECS)
def test_summary_entry_reads_into_a_row_and_a_cell(spec: MetricSpec) -> None:
    entry = ENTRIES[spec.summary]
    row = spec.result_row(entry)
    assert set(row) <= {"value", "ci_low", "ci_high", "n", "note"} and math.isfinite(row["value"])
    value, _ = spec.text(entry)
    assert float(value) == pytest.approx(row["value"], abs=1e-3)
    assert spec.result_row({"absent": "weights absent: x"}) == {"note": "weights absent: x"}
    assert spec.text({"absent": "a | b"}) == ("n/a", "a / b")


def test_rows_of_each_summary_kind() -> None:
    """The suite's result rows, as bench.suite.runner wrote them by metric name before the specs."""
    assert metric_spec("ssim").result_row(ENTRIES["per_sample"]) == {"value": 0.5, "ci_low": 0.25, "ci_high": 0.75,
                                                                     "n": 4}  # fmt: skip
    assert metric_spec("fid").result_row(ENTRIES["set"]) == {"value": 12.5, "n": 6,
                                                             "note": "bootstrap std 0.250; singular"}  # fmt: skip
    assert metric_spec("kid").result_row(ENTRIES["subsets"])["note"] == "std 0.125 over 100 subsets (x1000)"
    assert metric_spec("is").result_row(ENTRIES["splits"]) == {"value": 3.25, "n": 6,
                                                               "note": "std 0.5 over 1 split(s)"}  # fmt: skip
    assert metric_spec("recall").result_row(ENTRIES["knn"]) == {"value": 0.75, "n": 6, "note": "k = 3"}
    assert metric_spec("fd_dinov2").text({"value": 1.0}) == ("1.000", "")


def test_every_metric_a_protocol_allows_has_a_spec() -> None:
    for protocol in PROTOCOLS:
        assert set(protocol.metrics) <= set(ALL), protocol.name
        assert all(metric_spec(m).fed_by in EVAL_INPUTS for m in protocol.metrics), protocol.name
    assert set(EXTRA_METRICS) <= set(METRIC_NAMES) <= set(ALL)
    assert list(METRIC_NAMES) == list_metrics(fed_by=EVAL_INPUTS)
    assert list(EXTRA_METRICS) == list_metrics(fed_by=EVAL_INPUTS, addition=True)


def test_the_harness_reads_the_registry() -> None:
    """No second table: the report, eval's groups and the suite's metric list are views of the specs."""
    from bench.eval.metric_groups import _DINO_SET, _INCEPTION_SET, _PAIRED, _TEMPORAL, _VIDEO_SETS
    from bench.report.tables import METRICS
    from bench.suite.config import Suite

    assert set(METRICS) == set(ALL) and all(METRICS[name] is metric_spec(name) for name in ALL)
    assert [METRICS[m].column for m in METRICS] == sorted(metric_spec(m).column for m in ALL)
    assert len({metric_spec(m).column for m in ALL}) == len(ALL), "two metrics share a report column"
    assert {*_PAIRED, *_TEMPORAL, *_INCEPTION_SET, *_DINO_SET, *_VIDEO_SETS} == set(METRIC_NAMES)
    suite_metrics = Suite.__dataclass_fields__["metrics"].default
    assert suite_metrics == tuple(m for m in METRIC_NAMES if not metric_spec(m).addition)


@pytest.mark.parametrize("results", sorted(REPO.glob("reports/**/results.csv")), ids=lambda p: p.parent.name)
def test_every_metric_of_a_stored_results_table_has_a_spec(results: Path) -> None:
    unknown = sorted(set(pd.read_csv(results)["metric"]) - set(ALL))
    assert not unknown, f"{results.relative_to(REPO)}: no spec for {unknown}"


def test_unknown_and_duplicate_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match=r"^Unknown metric 'ssmi'\. Did you mean: ssim\b.*Available: ssim, psnr"):
        metric_spec("ssmi")
    with pytest.raises(InputError, match="metric 'ssim' is registered twice"):
        register_metric(MetricSpec("ssim", "SSIM", True, 4, "pairs", "per_sample", 10))
    monkeypatch.setattr(specs, "_SPECS", dict(specs._SPECS))  # a registration that leaves the registry as it was
    added = register_metric(MetricSpec("ssim_face", "SSIM (face)", True, 4, "pairs", "per_sample", 185, addition=True))
    assert metric_spec("ssim_face") is added and list_metrics()[-1] == "ssim_face"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "SSIM"}, "name: lower-case"),
        ({"label": ""}, "label"),
        ({"digits": 2.0}, "digits must be an integer"),
        ({"fed_by": "frames"}, "fed_by must be one of"),
        ({"summary": "mean"}, "summary must be one of"),
        ({"weights": ("alex",), "embedder": "clip"}, "weights or embedder, not both"),
        ({"implementation": "bench.metrics.image.SSIM"}, "module:Name"),
    ],
)  # fmt: skip
def test_a_malformed_spec_is_refused(fields: dict, message: str) -> None:
    base = {"name": "x_metric", "label": "X", "higher_is_better": True, "digits": 4, "fed_by": "pairs",
            "summary": "per_sample", "column": 1}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        MetricSpec(**(base | fields))


def test_reading_the_specs_imports_no_heavy_library() -> None:
    probe = ("import sys, bench.protocols, bench.metrics, bench.metrics.specs; "
             "print([m for m in ('torch', 'torchvision', 'torchmetrics') if m in sys.modules])")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "[]", done.stdout
