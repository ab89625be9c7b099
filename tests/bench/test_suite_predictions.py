"""A suite row of prediction files (``{name, predictions: {paired, unpaired}}``) scores exactly as the method does."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data.readers import InputError
from bench.report.tables import FROM_FILES_NOTE
from bench.suite import Suite, run_suite, write_suite_report
from bench.suite.data import prepare_dataset
from bench.suite.training import recipe_work
from bench.train.recipe import load_recipe

SUITE = {
    "name": "files",
    "description": "a method's own row beside rows scored from its predict outputs",
    "methods": [{"name": "no_warp"}],
    "datasets": [{"name": "viton", "synth": "smoke", "label": "synthetic-viton"}],
    # pfafn: nothing resized; ladi: both sides resized to 512x384; catvton: by the first prediction's height;
    # hrviton: refuses 64x64 (n/a on both rows)
    "protocols": ["pfafn", "ladi", "catvton", "hrviton"],
    "latency": [
        {"devices": ["cpu"], "batches": [1], "warmup": 0, "iters": 1},
        {"devices": ["cpu"], "batches": [2], "warmup": 0, "iters": 1},
    ],
    "qualitative": {"pairs": 2, "seed": 0},
}
NUMBERS = ["value", "ci_low", "ci_high", "n"]


def _suite(methods: list[dict[str, Any]]) -> Suite:
    return Suite.from_dict({**SUITE, "methods": methods})


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The suite's synthetic data in its work folder, and ``pftryon predict --method no_warp``'s outputs of the
    paired and unpaired lists in folders of their own, as a paper would release them."""
    base = tmp_path_factory.mktemp("released")
    recipe = load_recipe("smoke")
    root = recipe_work(recipe, base / "work") / "data"
    prepare_dataset(_suite(SUITE["methods"]).datasets[0], root, recipe, lambda message: None)
    for mode in ("paired", "unpaired"):
        args = ["predict", "--method", "no_warp", "--dataset", "viton", "--root", str(root), "--pairs", mode,
                "--out", str(base / mode), "--device", "cpu"]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    return {"work": base / "work", "paired": base / "paired", "unpaired": base / "unpaired"}


def _quality(result: Any) -> pd.DataFrame:
    table = result.results[(result.results.source == "measured") & (result.results.protocol != "latency")]
    return table.set_index(["method", "protocol", "metric"]).sort_index()


def test_a_folder_of_predictions_scores_as_the_method_does(released, tmp_path):
    paired, unpaired = str(released["paired"]), str(released["unpaired"])
    rows = [
        {"name": "no_warp"},
        {"name": "no_warp_files", "label": "Their method", "predictions": {"paired": paired, "unpaired": unpaired}},
        {"name": "no_warp_unpaired", "predictions": {"unpaired": unpaired}},
        {"name": "no_warp_paired", "predictions": {"paired": paired}},
    ]
    result = run_suite(_suite(rows), work=released["work"])
    quality = _quality(result)
    own, files = quality.loc["no_warp", NUMBERS], quality.loc["no_warp_files", NUMBERS]
    assert set(own.index.get_level_values("protocol")) == {*SUITE["protocols"], "exact-truth"}
    assert own.value.notna().sum() >= 6, own  # SSIM under three protocols, PSNR, the two truth columns
    pd.testing.assert_frame_equal(own, files, check_exact=True)  # every protocol and truth column: value, CI, n

    alone = quality.loc["no_warp_unpaired"]  # FID/KID and the exact truth only
    pd.testing.assert_frame_equal(alone.loc["exact-truth", NUMBERS], own.loc["exact-truth"], check_exact=True)
    sets = alone.index.get_level_values("metric").isin(["fid", "kid"])
    scored = alone.index.get_level_values("protocol") == "exact-truth"
    assert (alone[~sets & ~scored].note == "no paired predictions given").all()
    pd.testing.assert_series_equal(alone[sets].note, quality.loc["no_warp"][sets].note)  # weights absent here
    half = quality.loc["no_warp_paired"]  # the symmetric row
    assert (half[half.index.get_level_values("metric").isin(["fid", "kid", "ssim_truth", "psnr_truth"])].note
            == "no unpaired predictions given").all()  # fmt: skip
    pd.testing.assert_frame_equal(half.loc["pfafn", NUMBERS], own.loc["pfafn"], check_exact=True, check_like=True)
    # The paired comparisons see the same samples: no difference at all between the method and its files.
    same = [r for r in result.comparisons.rows if {r["method_a"], r["method_b"]} == {"no_warp", "no_warp_files"}]
    assert {r["protocol"] for r in same} == {"pfafn", "ladi", "catvton", "exact-truth"}  # hrviton refuses 64x64
    assert all(r["diff"] == 0 and r["p_value"] == 1 and r["n"] == 4 for r in same), same

    latency = result.results[result.results.protocol == "latency"]
    timed = latency[(latency.method == "no_warp") & (latency.metric == "ms_per_image")]
    for name in ("no_warp_files", "no_warp_unpaired", "no_warp_paired"):
        cells = latency[latency.method == name]
        assert len(cells) == 2 and (cells.metric == "ms_per_image").all() and cells.value.isna().all()  # per sweep
        assert (cells.note == "not run here: scored from files").all()
        assert sorted(cells.batch) == [1, 2] and set(cells.device) == set(timed.device)

    entry = result.run["methods"]["no_warp_files"]
    assert entry["title"] == "Their method" and entry["family"] == "predictions scored from files"
    assert {m: {**f, "fingerprint": len(f["fingerprint"])} for m, f in entry["predictions"].items()} == {
        "paired": {"folder": paired, "fingerprint": 64, "files": 4},
        "unpaired": {"folder": unpaired, "fingerprint": 64, "files": 4},
    }
    (pfafn,) = [e for e in result.run["evaluations"] if e["method"] == "no_warp_files" and e["protocol"] == "pfafn"]
    assert pfafn["matching"]["matched"] == pfafn["matching"]["listed"] == 4
    assert pfafn["matching"]["unmatched"]["count"] == 0 and pfafn["matching"]["unpaired"]["matched"] == 4
    grid = [set(row["outputs"]) for row in result.qualitative]
    assert grid == [{"no_warp", "no_warp_files", "no_warp_unpaired"}] * 2, grid

    write_suite_report(result, tmp_path / "report", plots=False)
    table = (tmp_path / "report" / "table.md").read_text()
    assert "| Their method (from files) | " in table and FROM_FILES_NOTE in table
    assert "Their method (from files)</th>" in (tmp_path / "report" / "index.html").read_text()
    assert "## Paired comparisons" in table and (tmp_path / "report" / "comparisons.csv").is_file()
    assert run_suite(_suite(rows), work=released["work"]).run["cells"]["computed"] == 0


def test_the_datasets_own_names_give_the_same_numbers_and_a_changed_file_recomputes(released, tmp_path):
    folders = {}
    for mode in ("paired", "unpaired"):  # HR-VITON-style <person>_<cloth>.png, and a file the list does not name
        folders[mode] = tmp_path / mode
        folders[mode].mkdir()
        for png in released[mode].glob("*.png"):
            shutil.copy(png, folders[mode] / png.name.replace("__", "_"))
    shutil.copy(next(released["paired"].glob("*.png")), folders["paired"] / "999999_999999.png")
    rows = [{"name": "no_warp"}, {"name": "renamed", "predictions": {m: str(f) for m, f in folders.items()}}]
    first = run_suite(_suite(rows), work=released["work"])
    quality = _quality(first)
    pd.testing.assert_frame_equal(quality.loc["no_warp", NUMBERS], quality.loc["renamed", NUMBERS], check_exact=True)
    (pfafn,) = [e for e in first.run["evaluations"] if e["method"] == "renamed" and e["protocol"] == "pfafn"]
    assert pfafn["matching"]["extra_predictions"] == {"count": 1, "first": ["999999_999999.png"]}
    assert any(w.startswith("renamed on synthetic-viton under pfafn: 1 prediction(s) not in viton test paired list")
               for w in first.run["warnings"]), first.run["warnings"]  # fmt: skip

    victim = sorted(folders["unpaired"].glob("*.png"))[0]
    Image.fromarray(255 - np.asarray(Image.open(victim))).save(victim)
    again = run_suite(_suite(rows), work=released["work"])
    assert again.run["cells"]["computed"] > 0, "a changed file recomputes the row's cells"
    truth = _quality(again).loc[("renamed", "exact-truth", "ssim_truth"), "value"]
    assert truth < quality.loc[("renamed", "exact-truth", "ssim_truth"), "value"]
    assert again.run["methods"]["renamed"]["predictions"]["unpaired"]["fingerprint"] != \
        first.run["methods"]["renamed"]["predictions"]["unpaired"]["fingerprint"]  # fmt: skip


def test_a_missing_folder_is_one_line_before_any_work_and_skip_missing_runs_the_rest(released, tmp_path):
    rows = [{"name": "no_warp"}, {"name": "theirs", "predictions": {"paired": str(tmp_path / "absent")}}]
    with pytest.raises(InputError) as caught:
        run_suite(_suite(rows), work=tmp_path / "work")
    message = str(caught.value)
    assert "\n" not in message and "--skip-missing" in message
    assert f"method theirs: paired predictions folder not found ({tmp_path / 'absent'})" in message
    assert not (tmp_path / "work").exists(), "nothing may be written before the inputs are there"
    rest = run_suite(_suite(rows), work=released["work"], skip_missing=True)
    assert "theirs" not in set(rest.results.method) and any(s.startswith("method theirs:") for s in rest.run["skipped"])


def test_a_listed_pair_without_a_file_stops_the_run_naming_it(released, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(released["paired"], partial)
    first = sorted(partial.glob("*.png"))[0]
    first.unlink()
    with pytest.raises(InputError) as caught:
        run_suite(_suite([{"name": "theirs", "predictions": {"paired": str(partial)}}]), work=released["work"])
    person, cloth = first.stem.split("__")
    assert re.search(rf"method theirs on synthetic-viton: .*no prediction for 1 of 4 paired pairs \(first: "
                     rf"{person} / {cloth}\)", str(caught.value)), caught.value  # fmt: skip
    assert "allow_partial" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"checkpoints": "checkpoints/x"}, "give no checkpoints, train or class"),
        ({"train": {"recipe": "smoke", "run": "tutor"}}, "give no checkpoints, train or class"),
        ({"dtype": "int8"}, "no dtype but fp32"),
        ({"predictions": {"pairs": "x"}}, r"give paired: DIR and/or unpaired: DIR \(got pairs\)"),
        ({"name": "their method"}, r"name: letters, digits"),
    ],
)
def test_a_predictions_row_refuses_what_only_a_method_takes_in_one_line(extra, message):
    row = {"name": "not_a_registered_method", "predictions": {"paired": "released/paired"}, **extra}
    with pytest.raises(ValueError, match=message) as caught:
        _suite([row])
    assert "\n" not in str(caught.value)
    spec = _suite([{"name": "not_a_registered_method", "predictions": {"unpaired": "u"}}]).methods[0]
    assert spec.predictions == {"unpaired": "u"}, "a predictions row's name is free"
