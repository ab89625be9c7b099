"""`pftryon train`: the four stages chained through the command line on a generated dataset, then `pftryon tryon`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bench.cli import main
from bench.data.synthetic import synthesize
from pftryon import PFAFN, load_pretrained

TINY = ["--set", "width=0.125", "--set", "size=[64,64]", "--set", "perceptual=none", "--set", "batch_size=2",
        "--set", "niter=1", "--set", "niter_decay=1", "--set", "max_steps=2", "--set", "log_every=1"]  # fmt: skip


def _train(*args: object) -> Result:
    result = CliRunner().invoke(main, ["train", *map(str, args), *TINY])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.mark.slow
def test_four_stages_chain_and_the_student_runs_tryon(tmp_path: Path) -> None:
    root = tmp_path / "data"
    synthesize("viton-pfafn", root, n=8, size=(64, 64), seed=4, test_fraction=0.25, progress=False)
    runs = tmp_path / "runs"
    common = ["--dataset", "viton-pfafn", "--root", root]
    _train("--stage", "pb-warp", *common, "--out", runs / "pb-warp")
    _train("--stage", "pb-e2e", *common, "--out", runs / "pb-e2e", "--init", runs / "pb-warp/final/model")
    tutor = runs / "pb-e2e/final/model"
    _train("--stage", "pf-warp", *common, "--out", runs / "pf-warp", "--init", tutor, "--tutor", tutor)
    _train("--stage", "pf-e2e", *common, "--out", runs / "pf-e2e", "--init", runs / "pf-warp/final/model",
           "--tutor", tutor)  # fmt: skip
    student = runs / "pf-e2e/final/model"
    assert isinstance(load_pretrained(student), PFAFN)
    for stage in ("pb-warp", "pb-e2e", "pf-warp", "pf-e2e"):
        assert (runs / stage / "log.jsonl").read_text().count("\n") >= 1
    pairs = tmp_path / "pairs.txt"
    people = sorted(p.name for p in (root / "test_img").iterdir())
    clothes = sorted(p.name for p in (root / "test_clothes").iterdir())
    pairs.write_text(f"{people[0]} {clothes[-1]}\n")
    result = CliRunner().invoke(main, ["tryon", "--dataroot", str(root), "--pairs", str(pairs), "--checkpoints",
                                       str(student), "--out", str(tmp_path / "tryon")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "tryon").glob("*.png"))) == 1


def test_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "--stage", "pb-warp", "--dataset", "viton", "--root", str(tmp_path),
                                       "--out", str(tmp_path / "run"), "--set", "knowledge=parser"])  # fmt: skip
    assert result.exit_code == 2 and "--set knowledge=parser: expected one of" in result.output
    result = CliRunner().invoke(main, ["train", "--stage", "pb-warp", "--dataset", "viton", "--root", str(tmp_path),
                                       "--out", str(tmp_path / "run"), "--set", "widht=2"])  # fmt: skip
    assert result.exit_code == 2 and "unknown key(s) ['widht']" in result.output
