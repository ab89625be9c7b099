"""Every command that writes a folder, run again into it (bench.output_dir through the CLI): a finished report
survives a rerun with other settings byte for byte, ``--resume`` of the same finished run does nothing and says so,
``--overwrite`` leaves only the new run's files, and a run that fails leaves the folder as it found it.

``bench`` and ``ablate`` run with their work faked (a suite or an ablation result of a few lines): what is tested is
the folder around it, which the real runs share (tests/corpus runs ``bench`` for real).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result

from bench.cli import main
from bench.errors import InputError

TINY_TRAIN = ("--set", "width=0.0625", "--set", "size=[64,64]", "--set", "perceptual=none", "--set", "max_steps=1",
              "--set", "batch_size=1")  # fmt: skip


@dataclass(frozen=True)
class Command:
    """A command that writes ``out``: its arguments (``other``: with one setting changed, the flag ``changed``), the
    function a failure is injected into (called, then raising), and which of --resume / --overwrite it has."""

    name: str
    argv: Callable[[dict[str, Path], Path, bool], list[object]]
    changed: str
    work: str
    resume: bool = True
    overwrite: bool = True


def _eval(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["eval", "--pred", ws["preds"], "--dataset", "viton", "--root", ws["viton"], "--protocol", "pfafn",
            "--metrics", "ssim" if other else "ssim,psnr", "--out", out]  # fmt: skip


def _predict(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["predict", "--method", "no_warp", "--dataset", "viton", "--root", ws["viton"], "--out", out,
            "--device", "cpu", *(["--limit", "2"] if other else [])]  # fmt: skip


def _latency(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["latency", "--model", "no_warp", "--size", "64x64", "--warmup", "0", "--iters", 2 if other else 1,
            "--out", out]  # fmt: skip


def _bench(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["bench", "--suite", "synthetic", "--work", ws["base"] / "work", "--out", out,
            *(["--limit", "1"] if other else [])]  # fmt: skip


def _ablate(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["ablate", "--recipe", "smoke", "--work", ws["base"] / "work", "--out", out,
            *(["--seed", "3"] if other else [])]  # fmt: skip


def _train(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["train", "--stage", "pb-warp", "--dataset", "viton", "--root", ws["viton"], "--out", out, *TINY_TRAIN,
            *(["--set", "lr=1e-3"] if other else [])]  # fmt: skip


def _synth(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["data", "synth", "--layout", "viton", "--n", 4, "--size", "64x64", "--seed", 1 if other else 0,
            "--out", out]  # fmt: skip


def _overlap(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["data", "overlap", "--dataset", "viton", "--root", ws["viton"], "--threshold", 5 if other else 12,
            "--out", out]  # fmt: skip


def _tryon(ws: dict[str, Path], out: Path, other: bool) -> list[object]:
    return ["tryon", "--dataroot", ws["pf"], "--pairs", ws["pairs"], "--checkpoints", ws["ckpt"], "--out", out,
            "--device", "cpu", *(["--triptych"] if other else [])]  # fmt: skip


COMMANDS = [
    Command("eval", _eval, "--metrics", "bench.eval.run_eval"),
    Command("predict", _predict, "--limit", "bench.predict.predict"),
    Command("latency", _latency, "--iters", "bench.latency.run_latency", resume=False),
    Command("bench", _bench, "--limit", "bench.suite.write_suite_report"),
    Command("ablate", _ablate, "--seed", "bench.report.ablation.write_report", resume=False),
    Command("train", _train, "--set lr", "bench.train.wiring.train_on_dataset", overwrite=False),
    Command("data synth", _synth, "--seed", "bench.data.synthetic.synthesize", resume=False),
    Command("data overlap", _overlap, "--threshold", "bench.data.overlap.write_overlap", resume=False),
    Command("tryon", _tryon, "--triptych", "bench.tryon.run_tryon", resume=False),
]
BY_NAME = {c.name: c for c in COMMANDS}
SLOW = {"tryon"}  # PF-AFN's forward pass takes seconds on a CPU, even tiny


def _params(keep: Callable[[Command], bool] = lambda c: True) -> list:
    return [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.name in SLOW else []) for c in COMMANDS if keep(c)]


@pytest.fixture(scope="module")
def ws(viton: Path, tiny_pfafn: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs: the synthetic VITON tree, its test persons as perfect predictions, its test split in PF-AFN's test
    layout with a one-pair list, and tiny PF-AFN weights."""
    base = tmp_path_factory.mktemp("reruns")
    preds = base / "preds"
    preds.mkdir()
    for image in sorted((viton / "test" / "image").iterdir()):
        shutil.copy2(image, preds / image.name)
    pf = base / "pf"
    for source, target in (("image", "test_img"), ("cloth", "test_clothes"), ("cloth-mask", "test_edge")):
        shutil.copytree(viton / "test" / source, pf / target)
    pairs = base / "pairs.txt"
    pairs.write_text((viton / "test_pairs.txt").read_text().splitlines()[0] + "\n")
    return {"base": base, "viton": viton, "preds": preds, "pf": pf, "pairs": pairs, "ckpt": tiny_pfafn}


def _fake_suite(suite, **_: object) -> SimpleNamespace:
    return SimpleNamespace(suite=suite, run={"timings": {"total_s": 0.0}, "cells": {"computed": 1, "reused": 0}})


def _fake_suite_report(result: SimpleNamespace, out: Path, **_: object) -> list[Path]:
    table = Path(out) / "table.md"
    table.write_text(f"| {result.suite.name} | limit {result.suite.datasets[0].limit} |\n")
    (Path(out) / "results.csv").write_text("method,value\n")
    return [table, Path(out) / "results.csv"]


def _fake_ablation_report(result: SimpleNamespace, out: Path) -> list[Path]:
    path = Path(out) / "ablation.md"
    path.write_text(f"seed {result.seed}\n")
    return [path]


def _fake_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` and ``ablate`` without their work: a result of a few lines, written as one or two small files."""
    import bench.ablate
    import bench.ablate.scoring
    import bench.report.ablation
    import bench.suite

    monkeypatch.setattr(bench.suite, "run_suite", _fake_suite)
    monkeypatch.setattr(bench.suite, "write_suite_report", _fake_suite_report)
    monkeypatch.setattr(bench.ablate.scoring, "prepare_weights", lambda *a, **k: None)
    monkeypatch.setattr(bench.ablate, "run_ablation", lambda recipe, *a, **k: SimpleNamespace(seed=recipe.seed))
    monkeypatch.setattr(bench.report.ablation, "write_report", _fake_ablation_report)


@pytest.fixture(autouse=True)
def _fast_suite_and_ablation(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_work(monkeypatch)


def _run(argv: list[object]) -> Result:
    result = CliRunner().invoke(main, [str(a) for a in argv])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _files(folder: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _refused(result: Result, *named: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    for text in named:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def _failed(result: Result) -> None:
    """Exit code 2 and the injected error as the last line (after whatever progress the run showed)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and lines[-1].startswith("error: injected"), result.output


def _finished(command: Command, ws: dict[str, Path], out: Path) -> dict[str, str]:
    ran = _run(command.argv(ws, out, False))
    assert ran.exit_code == 0, ran.output
    return _files(out)


def _inject_failure(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    """``target`` runs (writing whatever it writes), then fails as a bad input found at the end would."""
    module_name, name = target.rsplit(".", 1)
    module = __import__(module_name, fromlist=[name])
    original = getattr(module, name)

    def fails(*args: object, **kwargs: object) -> object:
        original(*args, **kwargs)
        raise InputError("injected: a bad input found at the end of the run")

    monkeypatch.setattr(module, name, fails)


@pytest.mark.parametrize("command", _params())
def test_a_finished_report_survives_a_rerun_with_other_settings(command: Command, ws, tmp_path) -> None:
    out = tmp_path / "out"
    before = _finished(command, ws, out)
    if command.resume:
        _refused(_run([*command.argv(ws, out, True), "--resume"]), str(out), "cannot resume", command.changed)
        assert _files(out) == before
    message = _refused(_run(command.argv(ws, out, True)), str(out), "--overwrite" if command.overwrite else "--resume")
    for flag, has in (("--resume", command.resume), ("--overwrite", command.overwrite)):
        assert has or flag not in message, message  # only the flags this command has
    assert _files(out) == before


@pytest.mark.parametrize("command", _params(lambda c: c.resume))
def test_resume_of_the_same_finished_run_does_nothing_and_says_so(command: Command, ws, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out"
    before = _finished(command, ws, out)
    _inject_failure(monkeypatch, command.work)  # were the run recomputed, it would fail
    again = _run([*command.argv(ws, out, False), "--resume"])
    assert again.exit_code == 0 and "nothing to do" in again.stdout, again.output
    assert len(again.stdout.strip().splitlines()) == 1 and _files(out) == before


@pytest.mark.slow
def test_tryon_into_its_own_finished_folder_writes_nothing(ws, tmp_path) -> None:
    out = tmp_path / "out"
    before = _finished(BY_NAME["tryon"], ws, out)
    again = _run(_tryon(ws, out, False))
    assert again.exit_code == 0 and "wrote 0 new images" in again.stdout and _files(out) == before


def _shape(names: set[str]) -> set[str]:
    return {re.sub(r"\d", "0", name) for name in names}  # latency_<UTC time>.csv: the time differs


@pytest.mark.parametrize("command", _params(lambda c: c.overwrite))
def test_overwrite_leaves_only_the_new_runs_files(command: Command, ws, tmp_path) -> None:
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    first = _finished(command, ws, out)
    (out / "stale.txt").write_text("from no run")
    ran = _run([*command.argv(ws, out, True), "--overwrite"])
    assert ran.exit_code == 0, ran.output
    assert _run(command.argv(ws, fresh, True)).exit_code == 0
    after = _files(out)
    assert _shape(set(after)) == _shape(set(_files(fresh))), sorted(after)
    assert "stale.txt" not in after and after != first


@pytest.mark.parametrize("command", _params())
def test_a_failed_run_leaves_nothing(command: Command, ws, tmp_path, monkeypatch) -> None:
    out = tmp_path / "new" / "out"
    _inject_failure(monkeypatch, command.work)
    _failed(_run(command.argv(ws, out, False)))
    assert not (tmp_path / "new").exists(), "a failed new run removes what it created"
    if command.overwrite:
        monkeypatch.undo()
        _fake_work(monkeypatch)
        before = _finished(command, ws, out)
        _inject_failure(monkeypatch, command.work)
        _failed(_run([*command.argv(ws, out, True), "--overwrite"]))
        assert _files(out) == before, "a failed overwrite leaves the earlier contents untouched"
