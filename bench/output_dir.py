"""The one output-folder convention of every command that writes one (eval, latency, bench, ablate, predict, tryon,
data synth).

- The folder must be absent or empty; a folder holding files is refused unless ``overwrite`` (files of the same names
  are replaced, others stay) or ``resume`` (the command continues its own earlier run there).
- It is checked before any work: a file in its place, a parent that is a file, or a folder that cannot be written
  is a one-line :class:`InputError`.
- A lock (``fcntl.flock`` on ``<out>/.lock``) is held for the whole run, so a second run into the same folder stops
  with a one-line error instead of both writing. The lock file stays (the lock dies with its process).
- A run that fails leaves nothing behind where it found nothing: the folders it created are removed again.
- Commands that rewrite a whole folder (``tryon``, ``data synth``) empty it with :func:`clear_dir` only on
  ``--overwrite``.

Under ``torchrun`` only rank 0 claims the folder (the other ranks write nothing or only their own files).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.errors import InputError

__all__ = ["LOCK", "check_writable", "claim_output", "clear_dir"]

LOCK = ".lock"


def _existing_ancestor(path: Path, what: str) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            return candidate
        if candidate.is_symlink():
            raise InputError(f"{path}: {what} cannot be created ({candidate} is a broken link)")
    return Path(".")


def check_writable(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """``path`` once it is known that it is, or can be made, a writable folder; nothing is created.

    Raises:
        InputError: a file sits in its place (or a parent's), a parent is a broken link, or it cannot be written.
            The check writes and removes one probe file in the nearest existing folder (so it holds for root and
            for read-only mounts alike).
    """
    path = Path(path)
    base = _existing_ancestor(path, what)
    if not base.is_dir():
        where = "is" if base == path else f"lies under {base}, which is"
        raise InputError(f"{path}: {what} {where} an existing file, not a folder; choose a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=base, prefix=".write-probe-"):
            pass
    except OSError as err:
        reason = err.strerror or err
        raise InputError(f"{path}: {what} cannot be written ({reason}); choose a writable folder") from None
    return path


def clear_dir(path: Path) -> None:
    """Empty the folder ``path`` (``--overwrite``); the folder itself stays."""
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


@contextlib.contextmanager
def claim_output(out: str | os.PathLike[str], *, overwrite: bool = False, resume: bool | None = None,
                 option: str = "--out") -> Iterator[Path]:  # fmt: skip
    """Check, create and lock ``out`` for one run (see the module docstring); yields the folder.

    ``resume``: ``None`` where the command cannot resume, else whether this run continues the folder's run."""
    out = Path(out)
    if _rank() != 0:
        yield out
        return
    check_writable(out, option)
    if out.is_dir() and not (overwrite or resume) and any(p.name != LOCK for p in out.iterdir()):
        hint = "--overwrite to replace its report" + ("" if resume is None else " or --resume to continue its run")
        raise InputError(f"{out}: {option} is not empty; pass {hint}, or choose another folder")
    created = [p for p in [out, *out.parents] if not p.exists()]
    lock = out / LOCK
    made_lock = not lock.exists()
    out.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                made_lock = False
                raise InputError(f"{out}: another run is writing into this {option} folder (locked); wait for it "
                                 "or choose another folder") from None  # fmt: skip
            yield out
        except BaseException:
            if made_lock:
                lock.unlink(missing_ok=True)
            for folder in created:  # deepest first; only what this run made and left empty
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()
            raise
