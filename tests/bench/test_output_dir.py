"""Output folders (bench.output_dir): checked before work (a file, a folder under a file, a read-only folder), the run
record kept after the run, resume of the same run only, overwrite as one unit, nothing left by a failed run."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bench.errors import AlreadyFinished, InputError
from bench.output_dir import (
    LOCK,
    RECORD,
    SET_ASIDE,
    check_writable,
    claim_output,
    clear_dir,
    fingerprint,
    replace_output,
)


def test_a_new_folder_is_not_created(tmp_path):
    assert check_writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()


def test_a_file_a_folder_under_a_file_or_a_broken_link_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="--out is an existing file"):
        check_writable(tmp_path / "f")
    with pytest.raises(InputError, match=r"--work lies under .*/f, which is an existing file"):
        check_writable(tmp_path / "f" / "out", "--work")
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    with pytest.raises(InputError, match="broken link"):
        check_writable(tmp_path / "link" / "out")


def test_a_folder_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(InputError, match=r"--out cannot be written \(Permission denied\)"):
        check_writable(tmp_path / "out")


def test_clear_dir_empties_the_folder_only(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x").write_text("x")
    (tmp_path / "y").write_text("y")
    clear_dir(tmp_path)
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())


# --- claim_output: the run record, resume, overwrite and failures ---------------------------------------------


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (the lock and the record included)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(out: Path, files: dict[str, str], **claim) -> None:
    """A run writing ``files`` into the folder it claims."""
    with claim_output(out, **claim) as folder:
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)


class Boom(RuntimeError):
    pass


def _failing_run(out: Path, **claim) -> None:
    with pytest.raises(Boom), claim_output(out, **claim) as folder:
        (folder / "half.png").write_text("half")
        (folder / "sub").mkdir()
        (folder / "sub" / "x").write_text("x")
        raise Boom


def test_a_finished_run_is_recorded_with_its_settings(tmp_path):
    _run(tmp_path / "out", {"a.txt": "a"}, identity={"--metrics": "ssim"})
    record = json.loads((tmp_path / "out" / RECORD).read_text())
    assert record["kind"] == "run-identity" and record["settings"] == {"--metrics": "ssim"}
    assert record["finished"] and record["started"] <= record["finished"]


def test_a_failed_new_run_leaves_nothing(tmp_path):
    _failing_run(tmp_path / "a" / "b" / "out")
    assert not (tmp_path / "a").exists(), "the folders the run created are gone"
    (tmp_path / "empty").mkdir()
    _failing_run(tmp_path / "empty")
    assert (tmp_path / "empty").is_dir() and not any((tmp_path / "empty").iterdir())


def test_an_interrupted_new_run_keeps_what_it_finished_and_resumes(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), claim_output(out, resume=False, identity={"--n": 1}) as folder:
        (folder / "done.png").write_text("done")
        raise KeyboardInterrupt
    assert (out / "done.png").read_text() == "done"
    assert json.loads((out / RECORD).read_text())["finished"] is None
    with pytest.raises(InputError, match=r"holds a stopped run.*pass --resume to continue it or --overwrite"):
        _run(out, {}, resume=False, identity={"--n": 1})
    with pytest.raises(InputError, match=r"cannot resume: the stopped run .* had other settings: --n \(1 -> 2\)"):
        _run(out, {}, resume=True, identity={"--n": 2})
    _run(out, {"more.png": "more"}, resume=True, identity={"--n": 1})
    assert {"done.png", "more.png"} <= set(_files(out)) and json.loads((out / RECORD).read_text())["finished"]


def test_resume_of_a_finished_run_is_a_no_op_or_refused_and_changes_no_byte(tmp_path):
    out = tmp_path / "out"
    _run(out, {"report.md": "first"}, resume=False, identity={"--metrics": "ssim", "--pred": "folder sha256 1"})
    before = _files(out)
    with pytest.raises(AlreadyFinished, match=r"already holds this finished run .*nothing to do"):
        _run(out, {"report.md": "second"}, resume=True, identity={"--metrics": "ssim", "--pred": "folder sha256 1"})
    with pytest.raises(InputError, match=r"--metrics \(ssim -> lpips\), --pred \(other contents\)"):
        _run(out, {"report.md": "second"}, resume=True, identity={"--metrics": "lpips", "--pred": "folder sha256 2"})
    with pytest.raises(InputError, match=r"holds a finished run.*pass --overwrite to replace it"):
        _run(out, {"report.md": "second"}, resume=False, identity={"--metrics": "ssim"})
    assert _files(out) == before


def test_resumable_settings_may_change(tmp_path):
    out = tmp_path / "out"
    _run(out, {"a": "a"}, resume=False, identity={"--set max_steps": "2", "--set lr": "1"})
    _run(
        out, {"b": "b"}, resume=True, identity={"--set max_steps": "4", "--set lr": "1"}, resumable=["--set max_steps"]
    )
    assert json.loads((out / RECORD).read_text())["settings"]["--set max_steps"] == "4"
    with pytest.raises(InputError, match=r"--set lr \(1 -> 2\)"):
        _run(out, {}, resume=True, identity={"--set max_steps": "4", "--set lr": "2"}, resumable=["--set max_steps"])


def test_files_without_a_record_are_never_resumed(tmp_path):
    (tmp_path / "summary.md").write_text("made by hand")
    with pytest.raises(InputError, match=r"--resume cannot tell what made them .*pass --overwrite"):
        _run(tmp_path, {"summary.md": "new"}, resume=True)
    with pytest.raises(InputError, match=r"--out is not empty .*pass --overwrite"):
        _run(tmp_path, {"summary.md": "new"}, resume=False)
    assert _files(tmp_path) == {"summary.md": b"made by hand"}


def test_overwrite_replaces_the_contents_as_one_unit(tmp_path):
    out = tmp_path / "out"
    _run(out, {"pfafn/summary.md": "old", "protocols.md": "old"}, identity={"--protocol": "all"})
    _run(out, {"summary.md": "new"}, overwrite=True, identity={"--protocol": "pfafn"})
    assert set(_files(out)) == {LOCK, RECORD, "summary.md"}
    assert json.loads((out / RECORD).read_text())["settings"] == {"--protocol": "pfafn"}


def test_a_failed_overwrite_leaves_the_earlier_contents_untouched(tmp_path):
    out = tmp_path / "out"
    _run(out, {"report.md": "old", "sub/x": "old"}, identity={"--protocol": "all"})
    before = _files(out)
    _failing_run(out, overwrite=True, identity={"--protocol": "pfafn"})
    assert _files(out) == before and not (out / SET_ASIDE).exists()
    with pytest.raises(KeyboardInterrupt), claim_output(out, overwrite=True) as folder:
        (folder / "partial.png").write_text("partial")
        raise KeyboardInterrupt
    assert _files(out) == before


def test_a_killed_overwrite_is_undone_when_the_folder_is_next_claimed(tmp_path):
    out = tmp_path / "out"
    _run(out, {"report.md": "old"}, identity={"--protocol": "all"})
    before = _files(out)
    aside = out / SET_ASIDE  # what a SIGKILL in the middle of an --overwrite leaves
    aside.mkdir()
    for name in ("report.md", RECORD):
        (out / name).rename(aside / name)
    (out / "partial.png").write_text("partial")
    with pytest.raises(AlreadyFinished):
        _run(out, {}, resume=True, identity={"--protocol": "all"})
    assert _files(out) == before


def test_the_lock_is_checked_before_the_record(tmp_path):
    out = tmp_path / "out"
    _run(out, {"a": "a"})
    with claim_output(out, overwrite=True), pytest.raises(InputError, match="another run is writing"):
        _run(out, {}, resume=False)


def test_an_unreadable_record_is_one_line(tmp_path):
    (tmp_path / RECORD).write_text("{not json")
    with pytest.raises(InputError, match=r"\.identity\.json: unreadable run record"):
        _run(tmp_path, {}, resume=True)


# --- the identity of a click command ------------------------------------------------------------------------------


def test_fingerprints_follow_contents_not_times_for_small_folders(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.png").write_bytes(b"a")
    first = fingerprint(tmp_path / "d")
    os.utime(tmp_path / "d" / "a.png", ns=(1, 1))
    (tmp_path / "d" / LOCK).write_text("")  # a claimed folder's own files do not count
    assert fingerprint(tmp_path / "d") == first
    (tmp_path / "d" / "a.png").write_bytes(b"b")
    assert fingerprint(tmp_path / "d") != first
    (tmp_path / "f").write_bytes(b"12345")
    assert (
        fingerprint(tmp_path / "f").startswith("file of 5 bytes, sha256 ") and fingerprint(tmp_path / "x") == "missing"
    )


@click.command()
@click.option("--pred", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path))
@click.option("--set", "settings", multiple=True)
@click.option("--work", type=click.Path(path_type=Path))
@click.option("--batch-size", type=int, default=1)
@click.option("--resume", is_flag=True)
def _command(pred: Path, out: Path, settings: tuple[str, ...], work: Path, batch_size: int, resume: bool) -> None:
    with claim_output(out, resume=resume):
        (out / "report.md").write_text("report")


def test_a_commands_identity_comes_from_its_parameters(tmp_path):
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "a.png").write_bytes(b"a")
    args = ["--pred", tmp_path / "pred", "--out", tmp_path / "out", "--set", "lr=1", "--work", tmp_path / "w"]
    assert CliRunner().invoke(_command, [str(a) for a in args]).exit_code == 0
    record = json.loads((tmp_path / "out" / RECORD).read_text())
    assert record["command"] == "pftryon"  # the root command: no group above it
    settings = record["settings"]
    assert set(settings) == {"--pred", "--set lr", "--work"}, "out, --batch-size and --resume are no settings"
    assert settings["--pred"] == fingerprint(tmp_path / "pred") and settings["--work"] == str(
        (tmp_path / "w").resolve()
    )
    again = CliRunner().invoke(_command, [*map(str, args), "--batch-size", "8", "--resume"])
    assert isinstance(again.exception, AlreadyFinished), again.output
    (tmp_path / "pred" / "a.png").write_bytes(b"changed")
    changed = CliRunner().invoke(_command, [*map(str, args), "--resume"])
    assert isinstance(changed.exception, InputError) and "--pred (other contents)" in str(changed.exception)


# --- replace_output (tryon) -------------------------------------------------------------------------------------


def test_replace_output_keeps_no_lock_or_record_and_undoes_failures(tmp_path):
    out = tmp_path / "out"
    with replace_output(out) as folder:
        (folder / "a.png").write_text("a")
    assert _files(out) == {"a.png": b"a"}
    with pytest.raises(Boom), replace_output(out) as folder:  # continuing its own run: progress is kept
        (folder / "b.png").write_text("b")
        raise Boom
    assert set(_files(out)) == {"a.png", "b.png"}
    before = _files(out)
    with pytest.raises(Boom), replace_output(out, overwrite=True) as folder:
        (folder / "c.png").write_text("c")
        raise Boom
    assert _files(out) == before
    with replace_output(out, overwrite=True) as folder:
        (folder / "c.png").write_text("c")
    assert _files(out) == {"c.png": b"c"}
    with pytest.raises(Boom), replace_output(tmp_path / "new") as folder:
        (folder / "d.png").write_text("d")
        raise Boom
    assert not (tmp_path / "new").exists()


def test_an_output_inside_an_input_is_not_part_of_its_fingerprint(tmp_path):
    (tmp_path / "root" / "test").mkdir(parents=True)
    (tmp_path / "root" / "test" / "a.jpg").write_bytes(b"a")
    before = fingerprint(tmp_path / "root", skip=tmp_path / "root" / "preds")
    (tmp_path / "root" / "preds").mkdir()
    (tmp_path / "root" / "preds" / "a__a.png").write_bytes(b"written by the run")
    assert fingerprint(tmp_path / "root", skip=tmp_path / "root" / "preds") == before
    assert fingerprint(tmp_path / "root") != before
