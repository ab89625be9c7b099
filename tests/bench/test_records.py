"""Typed result records (bench/records.py): every writer's JSON has its kind, schema version and declared keys."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_type_hints

import pytest
from test_ablation_page import make_ablation

from bench.data import create_dataset
from bench.data.readers import InputError
from bench.eval import run_eval
from bench.methods import create_method
from bench.predict import MANIFEST, predict
from bench.protocols import load_protocol
from bench.records import (
    SCHEMA_VERSION,
    AblationRecord,
    EvalSummary,
    PredictIdentity,
    PredictRecord,
    RunRecord,
    read_record,
)
from bench.report.ablation import rerender, write_report
from bench.suite import load_suite
from bench.suite.runner import _run_record


def _keys(record: type) -> set[str]:
    """A TypedDict's keys, checked to be declared both by its annotations and as required or optional."""
    keys = set(get_type_hints(record))
    assert keys == record.__required_keys__ | record.__optional_keys__, record.__name__  # type: ignore[attr-defined]
    return keys


def _predict(viton: Path, out: Path) -> Any:
    loader = create_dataset("viton", viton, split="test", pair_mode="paired", parse="image-parse-new")
    return predict(create_method("no_warp"), loader, out, progress=False)


@pytest.fixture(scope="module")
def predicted(viton: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("predict")
    _predict(viton, out)
    return out


def test_predict_json_is_a_predict_record(predicted: Path) -> None:
    data = json.loads((predicted / MANIFEST).read_text())
    assert (data["kind"], data["schema_version"]) == ("predict", SCHEMA_VERSION)
    assert set(data) == _keys(PredictRecord) and set(data["identity"]) == _keys(PredictIdentity)
    assert list(data)[:2] == ["schema_version", "kind"]
    assert read_record(predicted / MANIFEST, "predict") == data


def test_summary_json_is_an_eval_summary(viton: Path, predicted: Path, tmp_path: Path) -> None:
    run_eval(predicted, tmp_path, "pfafn", dataset="viton", root=viton, metrics=["ssim"],
             progress=False, feature_cache=None)  # fmt: skip
    data = json.loads((tmp_path / "summary.json").read_text())
    assert (data["kind"], data["schema_version"]) == ("eval-summary", SCHEMA_VERSION)
    assert set(data) == _keys(EvalSummary)
    assert read_record(tmp_path / "summary.json", "eval-summary") == data


def test_run_record_has_exactly_the_run_records_keys() -> None:
    ctx = SimpleNamespace(
        notes=["a note"], evaluations=[], cells=SimpleNamespace(hits=2, misses=3), device="cpu", weights=None
    )
    record = _run_record(load_suite("synthetic"), {"pfafn": load_protocol("pfafn")}, [], [], [], ctx, {"total": 1.0})  # type: ignore[arg-type]
    assert (record["kind"], record["schema_version"]) == ("suite-run", SCHEMA_VERSION)
    assert set(record) == _keys(RunRecord) and record["cells"] == {"reused": 2, "computed": 3}
    json.dumps(record, default=str)  # what write_suite_report writes


def test_ablation_json_is_an_ablation_record(tmp_path: Path) -> None:
    write_report(make_ablation(), tmp_path)
    data = json.loads((tmp_path / "ablation.json").read_text())
    assert (data["kind"], data["schema_version"]) == ("ablation", SCHEMA_VERSION)
    assert set(data) == _keys(AblationRecord) and list(data)[:2] == ["schema_version", "kind"]
    assert read_record(tmp_path / "ablation.json", "ablation") == data


def test_an_ablation_record_written_before_schema_versions_still_renders(tmp_path: Path) -> None:
    committed = Path(__file__).resolve().parents[2] / "reports" / "ablation"
    old = json.loads((committed / "ablation.json").read_text())
    assert "schema_version" not in old, "the committed reports predate versions"
    assert read_record(committed / "ablation.json", "ablation") == old  # version 0, kept as written
    (tmp_path / "ablation.json").write_text(json.dumps(old))
    assert '<table id="ablation-table">' in rerender(tmp_path).read_text()


def _one_line_error(path: Path, kind: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        read_record(path, kind)  # type: ignore[arg-type]
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_read_record_refuses_another_kind_and_a_future_version(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"schema_version": 1, "kind": "eval-summary", "metrics": {}}))
    _one_line_error(path, "predict", "'eval-summary' record, not a 'predict' one")
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "kind": "predict"}))
    _one_line_error(path, "predict", f"schema_version {SCHEMA_VERSION + 1}; this pftryon reads versions up to")
    path.write_text(json.dumps({"schema_version": 1}))
    _one_line_error(path, "predict", "None record, not a 'predict' one")
    path.write_text("[]")
    _one_line_error(path, "predict", "not a predict record")


def test_a_predict_folder_whose_manifest_has_a_future_version_is_refused(viton: Path, predicted: Path,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    data = json.loads((predicted / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**data, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(InputError, match="upgrade pftryon") as err:
        _predict(viton, out)
    assert "\n" not in str(err.value)


def test_a_manifest_written_before_schema_versions_still_resumes(viton: Path, predicted: Path, tmp_path: Path) -> None:
    out = tmp_path / "old"
    out.mkdir()
    old = {
        k: v for k, v in json.loads((predicted / MANIFEST).read_text()).items() if k not in ("schema_version", "kind")
    }
    (out / MANIFEST).write_text(json.dumps(old, indent=2) + "\n")
    png = sorted(predicted.glob("*.png"))
    for source in png[:2]:
        (out / source.name).write_bytes(source.read_bytes())
    again = _predict(viton, out)
    assert (again.written, again.done_before) == (len(png) - 2, 2)
    assert read_record(out / MANIFEST, "predict") == old  # version 0, kept as written
    finished = _predict(viton, out)
    assert (finished.written, dict(finished.manifest)) == (0, old)
