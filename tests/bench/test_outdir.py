"""Output folders are checked before work: a file, a folder under a file, a read-only folder (bench.outdir)."""

from __future__ import annotations

import os

import pytest

from bench.data.readers import InputError
from bench.outdir import check_out_dir, clear_dir


def test_a_new_folder_is_not_created(tmp_path):
    assert check_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()


def test_a_file_or_a_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        check_out_dir(tmp_path / "f")
    with pytest.raises(InputError, match="lies under the file"):
        check_out_dir(tmp_path / "f" / "out", "--work")


def test_a_read_only_parent_is_refused(tmp_path, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if path == tmp_path else real(path, mode))
    with pytest.raises(InputError, match=r"--out is not writable .* read-only"):
        check_out_dir(tmp_path / "out")


def test_clear_dir_empties_the_folder_only(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x").write_text("x")
    (tmp_path / "y").write_text("y")
    clear_dir(tmp_path)
    assert tmp_path.is_dir() and not any(tmp_path.iterdir())
