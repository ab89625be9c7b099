"""Every refusal of every command that writes a folder, as a table: one line on stderr starting ``error:``, exit code
2, the folder unchanged, the command's own flag named and no flag the command lacks suggested."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.cli import main
from bench.output_dir import LOCK, RECORD

TINY_TRAIN = ("--set", "width=0.0625", "--set", "size=[64,64]", "--set", "perceptual=none", "--set", "max_steps=1")
# Per command: its arguments into ws/out, and the flags it has.
ARGV: dict[str, Callable[[dict[str, Path]], list[object]]] = {
    "eval": lambda ws: ["eval", "--pred", ws["preds"], "--gt", ws["preds"], "--protocol", "pfafn", "--metrics", "ssim",
                        "--out", ws["out"]],
    "predict": lambda ws: ["predict", "--method", "no_warp", "--dataset", "viton", "--root", ws["viton"], "--out",
                           ws["out"], "--device", "cpu"],
    "latency": lambda ws: ["latency", "--model", "no_warp", "--size", "64x64", "--out", ws["out"]],
    "bench": lambda ws: ["bench", "--suite", "synthetic", "--work", ws["base"] / "work", "--out", ws["out"]],
    "ablate": lambda ws: ["ablate", "--recipe", "smoke", "--work", ws["base"] / "work", "--out", ws["out"]],
    "train": lambda ws: ["train", "--stage", "pb-warp", "--dataset", "viton", "--root", ws["viton"], "--out",
                         ws["out"], *TINY_TRAIN],
    "data synth": lambda ws: ["data", "synth", "--layout", "viton", "--n", 4, "--out", ws["out"]],
    "data overlap": lambda ws: ["data", "overlap", "--dataset", "viton", "--root", ws["viton"], "--out", ws["out"]],
    "tryon": lambda ws: ["tryon", "--dataroot", ws["pf"], "--pairs", ws["pairs"], "--checkpoints", ws["ckpt"], "--out",
                         ws["out"], "--device", "cpu"],
}  # fmt: skip
FLAGS = {
    "eval": ("--overwrite", "--resume"), "predict": ("--overwrite", "--resume"), "latency": ("--overwrite",),
    "bench": ("--overwrite", "--resume", "--checkpoints-for"), "ablate": ("--overwrite",), "train": ("--resume",),
    "data synth": ("--overwrite",), "data overlap": ("--overwrite",), "tryon": ("--overwrite",),
}  # fmt: skip
CLAIMED = [name for name in ARGV if name != "tryon"]  # tryon's folder has no lock and no run record: tryon.json


@dataclass(frozen=True)
class Refusal:
    """A command, a state of its folder (``setup``), extra arguments, and what the one line must name."""

    command: str
    state: str
    setup: Callable[[dict[str, Path]], None] | None
    extra: tuple[str, ...]
    names: tuple[str, ...]


def _file_in_place(ws: dict[str, Path]) -> None:
    ws["out"].write_text("a file")


def _foreign_files(ws: dict[str, Path]) -> None:
    ws["out"].mkdir()
    (ws["out"] / "notes.png").write_text("made by hand")


def _record(command: str, finished: bool) -> Callable[[dict[str, Path]], None]:
    def setup(ws: dict[str, Path]) -> None:
        ws["out"].mkdir()
        (ws["out"] / "report.md").write_text("an earlier report")
        record = {"kind": "run-identity", "schema_version": 1, "command": f"pftryon {command}",
                  "settings": {"--nothing": "else"}, "started": "2026-01-01T00:00:00+00:00",
                  "finished": "2026-01-01T00:01:00+00:00" if finished else None}  # fmt: skip
        (ws["out"] / RECORD).write_text(json.dumps(record))

    return setup


_HELD: list[object] = []


def _locked(ws: dict[str, Path]) -> None:
    ws["out"].mkdir()
    handle = (ws["out"] / LOCK).open("a")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    _HELD.append(handle)


def _refusals() -> list[Refusal]:
    rows = []
    for command in ARGV:
        flags = tuple(f for f in FLAGS[command] if f in ("--overwrite", "--resume"))
        rows.append(Refusal(command, "out-is-a-file", _file_in_place, (), ("--out", "not a folder")))
        rows.append(Refusal(command, "foreign-files", _foreign_files, (), flags[:1] if command != "train" else ()))
        if "--resume" in flags:
            rows.append(Refusal(command, "foreign-files-resume", _foreign_files, ("--resume",), ("cannot tell",)))
        if command in CLAIMED:
            rows.append(Refusal(command, "stopped-run", _record(command, False), (), ("stopped", *flags)))
            rows.append(Refusal(command, "finished-run", _record(command, True), (), ("finished", flags[0])))
            rows.append(Refusal(command, "locked", _locked, (), ("another run", "--out")))
        if "--resume" in flags:
            rows.append(Refusal(command, "other-run-resume", _record(command, True), ("--resume",),
                                ("cannot resume", "other settings")))  # fmt: skip
    rows.append(Refusal("ablate", "work-is-a-file", lambda ws: ws["base"].joinpath("work").write_text("x"), (),
                        ("--work",)))  # fmt: skip
    rows.append(Refusal("predict", "no-checkpoints", None, ("--method", "pf_afn"), ("--checkpoints DIR",)))
    rows.append(Refusal("predict", "unknown-split", None, ("--split", "nosuch"), ("--split nosuch", "train, test")))
    return rows


REFUSALS = _refusals()


@pytest.fixture(scope="module")
def inputs(viton: Path, tiny_pfafn: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("refusals")
    preds = base / "preds"
    shutil.copytree(viton / "test" / "image", preds)
    pf = base / "pf"
    for source, target in (("image", "test_img"), ("cloth", "test_clothes"), ("cloth-mask", "test_edge")):
        shutil.copytree(viton / "test" / source, pf / target)
    pairs = base / "pairs.txt"
    pairs.write_text((viton / "test_pairs.txt").read_text().splitlines()[0] + "\n")
    return {"viton": viton, "preds": preds, "pf": pf, "pairs": pairs, "ckpt": tiny_pfafn}


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.mark.parametrize("row", REFUSALS, ids=[f"{r.command}-{r.state}" for r in REFUSALS])
def test_a_refusal_is_one_line_naming_the_commands_own_flags(row: Refusal, inputs, tmp_path, monkeypatch) -> None:
    import bench.ablate.scoring

    monkeypatch.setattr(bench.ablate.scoring, "prepare_weights", lambda *a, **k: None)  # no weights looked up
    ws = {**inputs, "base": tmp_path, "out": tmp_path / "out"}
    if row.setup is not None:
        row.setup(ws)
    argv = ARGV[row.command](ws)
    if row.command == "predict" and "--method" in row.extra:
        argv[argv.index("no_warp")] = "pf_afn"
        extra = [a for a in row.extra if a not in ("--method", "pf_afn")]
    else:
        extra = list(row.extra)
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(main, [str(a) for a in [*argv, *extra]])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    for name in row.names:
        assert name in lines[0], (name, lines[0])
    for flag in ("--overwrite", "--resume", "--checkpoints-for"):
        assert flag in FLAGS[row.command] or flag not in lines[0], f"{row.command} has no {flag}: {lines[0]}"
    assert _snapshot(tmp_path) == before
