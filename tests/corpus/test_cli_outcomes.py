"""What the accepted and warned cases of ``cases_cli.py`` must leave behind, beyond their outcome class: the files
written, counted and removed."""

from __future__ import annotations

import json

from cases_cli import _break_sample, _check, _manifest, _pair_lines, _synth, _train, _tryon, _write_pairs
from click.testing import CliRunner
from corpus_lib import Workspace

from bench.cli import main


def _run(argv: list[object]) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in argv])
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout + result.stderr


def test_a_repeated_pair_is_written_once_and_counted(workspace: Workspace) -> None:
    _write_pairs(workspace, _pair_lines(workspace)[:1] * 3)
    code, output = _run(_tryon(workspace))
    assert code == 0 and "wrote 1 new images" in output and "2 repeated pair(s)" in output
    assert len(list(workspace.path("out").glob("*.png"))) == 1


def test_overwrite_replaces_another_checkpoints_tryons(workspace: Workspace) -> None:
    argv = _tryon(workspace, "--overwrite")
    _manifest(workspace, sha="0" * 64)
    code, _ = _run(argv)
    out = workspace.path("out")
    assert code == 0 and not (out / "old__other.png").exists()
    assert len(list(out.glob("*.png"))) == 2
    assert "0" * 64 not in (out / "tryon.json").read_text()
    code, output = _run(_tryon(workspace))  # the same checkpoint again: nothing to redo
    assert code == 0 and "wrote 0 new images" in output


def test_synth_overwrite_leaves_no_stale_file(workspace: Workspace) -> None:
    stale = workspace.path("synth/old_0.jpg")
    stale.parent.mkdir()
    stale.write_text("stale")
    code, _ = _run(_synth(workspace, "--overwrite"))
    assert code == 0 and not stale.exists() and (workspace.path("synth") / "synth.json").is_file()


def test_check_reports_every_problem_of_a_sample(workspace: Workspace) -> None:
    argv = _check(workspace, "--split", "test")
    _break_sample(workspace)
    code, output = _run(argv)
    problems = [line for line in output.splitlines() if line.startswith("problem: [test/paired]")]
    assert code == 2
    assert any("000006_1.jpg: file not found" in line for line in problems), output
    assert any("000006_0.jpg: not a readable image" in line for line in problems), output


def test_a_short_run_logs_its_last_step(workspace: Workspace) -> None:
    code, output = _run(_train(workspace, "--set", "max_steps=2", "--set", "log_every=10"))
    assert code == 0, output
    records = [json.loads(line) for line in workspace.path("run/log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2]
    assert json.loads(workspace.path("run/final/training.json").read_text())["steps"] == 2
