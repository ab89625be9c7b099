"""Output folders are checked before work: a file, a folder under a file, a read-only folder (bench.output_dir)."""

from __future__ import annotations

import tempfile

import pytest

from bench.errors import InputError
from bench.output_dir import check_writable, clear_dir


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
