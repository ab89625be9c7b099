"""Output folders: checked before any work (a folder, writable), and cleared only when the user asks.

The convention of every command that writes a folder: an existing ``--out`` that is a file, lies under a file or
cannot be written is a one-line :class:`~bench.data.readers.InputError` before work starts; a folder holding another
run's outputs is refused unless ``--overwrite``, which clears it first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.data.readers import InputError

__all__ = ["check_out_dir", "clear_dir"]


def check_out_dir(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """``path`` once it is known that it is (or can be made) a writable folder; nothing is created.

    Raises:
        InputError: ``path`` or one of its parents is a file, or the folder (or the nearest existing parent) is
            not writable.
    """
    path = Path(path)
    existing = path
    while not existing.exists():
        if existing.is_symlink() or existing.parent == existing:
            raise InputError(f"{path}: {option} cannot be created ({existing} is a broken link)")
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"lies under the file {existing}"
        raise InputError(f"{path}: {option} {where}; it must be a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{path}: {option} is not writable ({existing} is read-only); choose another folder")
    return path


def clear_dir(path: Path) -> None:
    """Empty the folder ``path`` (``--overwrite``); the folder itself stays."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
