"""The one output-folder convention of every command that writes one.

``eval``, ``predict``, ``latency``, ``bench``, ``ablate``, ``train``, ``data synth`` and ``data overlap`` claim their
folder with :func:`claim_output`; ``tryon``, whose ``tryon.json`` already records what made its folder, uses
:func:`replace_output` (the same replacement and clean-up, without lock or record).

- Checked before any work: a file in its place, a parent that is a file, or a folder that cannot be written is a
  one-line :class:`InputError`.
- Locked for the whole run (``fcntl.flock`` on ``<out>/.lock``): a second run into the folder stops with one line.
  The lock file stays (the lock dies with its process).
- Recorded: ``<out>/.identity.json`` names the command, its settings and its inputs' fingerprints (a file by size
  and sha256, a folder by a digest of its files' contents when small, else of their names, sizes and mtimes), written
  when the folder is claimed and marked finished when the run succeeds. Caches a run fills itself (``--work``,
  ``--weights-dir``) count by location; how a run is executed (``--batch-size``, ``--workers``) does not count.
- A folder holding files is refused unless ``overwrite`` or ``resume``:

  - ``resume`` continues only the recorded run. A stopped run is continued; a finished one with the same settings is
    a no-op (:class:`~bench.errors.AlreadyFinished`: the CLI prints it and exits 0); any other setting is refused
    naming it, the folder unchanged. An absent or empty folder starts a new run, with a note.
  - ``overwrite`` replaces the contents as one unit: they are set aside in ``<out>/.replaced`` while the run writes,
    removed when it succeeds and put back when it fails (or, after a kill, when the folder is next claimed).

- A run that fails (an exception) leaves the folder as it found it: a new run's files are removed with the folders it
  created, an overwrite's earlier contents come back, a resumed run keeps its progress. A run stopped by
  ``KeyboardInterrupt`` keeps what it finished, for ``resume``.

Under ``torchrun`` only rank 0 checks, locks and writes the folder; every rank recognises a finished identical run
(so all stop together), and where a process group is up, the ranks wait for rank 0's claim before the run and for
each other before it is marked finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bench.errors import AlreadyFinished, InputError

__all__ = [
    "LOCK", "RECORD", "SET_ASIDE", "check_writable", "claim_output", "clear_dir", "fingerprint", "replace_output",
]  # fmt: skip

LOCK = ".lock"
RECORD = ".identity.json"
SET_ASIDE = ".replaced"
_OWN = frozenset({LOCK, RECORD, SET_ASIDE})
_KIND, _VERSION = "run-identity", 1

# Parameters that do not change what a run writes, and folders a run fills itself (compared by location).
_NOT_IDENTITY = frozenset(
    {"overwrite", "resume", "progress", "workers", "batch_size", "fetch_weights", "feature_cache", "no_feature_cache"}
)
_BY_LOCATION = frozenset({"work", "weights_dir"})
_PATH_SUFFIXES = (".yaml", ".yml", ".json", ".txt")
_SMALL_FOLDER = (4096, 64 << 20)  # files, bytes: up to this, a folder's fingerprint hashes the contents


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
    """Empty the folder ``path``; the folder itself stays."""
    _empty(path, keep=())


# --- fingerprints and the run's identity ------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _files(folder: Path, skip: Path | None) -> list[tuple[str, Path]]:
    """Every file under ``folder`` (links followed, each real folder once), by sorted relative path; the claim's own
    files and the folder ``skip`` (a run's output inside its input) are left out."""
    found, seen = [], set()
    if skip is not None and skip.is_dir():  # as if walked already
        seen.add((skip.stat().st_dev, skip.stat().st_ino))
    for top, dirs, names in os.walk(folder, followlinks=True):
        stat = os.stat(top)
        if (stat.st_dev, stat.st_ino) in seen:
            dirs.clear()
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs[:] = sorted(d for d in dirs if d not in _OWN)
        files = [Path(top, n) for n in names if n not in _OWN]
        found += [(os.path.relpath(f, folder), f) for f in files if f.exists()]  # broken links left out
    return sorted(found)


def fingerprint(path: str | os.PathLike[str], *, skip: str | os.PathLike[str] | None = None) -> str:
    """What ``path`` holds, as one string: a file's size and sha256; a folder's file count and a sha256 over its
    files' relative paths and sizes plus their contents (up to 4,096 files and 64 MiB) or else their mtimes, without
    the folder ``skip``; ``missing``."""
    path = Path(path)
    if path.is_file():
        return f"file of {path.stat().st_size} bytes, sha256 {_sha256(path)}"
    if not path.is_dir():
        return "missing"
    files = [(rel, file, file.stat()) for rel, file in _files(path, None if skip is None else Path(skip))]
    small = len(files) <= _SMALL_FOLDER[0] and sum(s.st_size for *_, s in files) <= _SMALL_FOLDER[1]
    digest = hashlib.sha256()
    for rel, file, stat in files:
        digest.update(f"{rel}\0{stat.st_size}\0{_sha256(file) if small else stat.st_mtime_ns}\n".encode())
    return f"folder of {len(files)} files, {'contents' if small else 'listing'} sha256 {digest.hexdigest()}"


def _looks_like_a_path(value: str) -> bool:
    return (os.sep in value or value.endswith(_PATH_SUFFIXES)) and os.path.exists(value)


def _setting(value: Any, out: Path, *, path: bool, by_location: bool) -> Any:
    """A parameter's value as recorded: paths (``path``: the parameter is one) by fingerprint (without ``out``) or
    location, tuples as lists."""
    if isinstance(value, (tuple, list)):
        return [_setting(item, out, path=path, by_location=by_location) for item in value]
    is_path = isinstance(value, os.PathLike) or (isinstance(value, str) and (path or _looks_like_a_path(value)))
    if is_path:
        return str(Path(value).resolve()) if by_location else fingerprint(value, skip=out)
    return value


def _flag(param: click.Parameter) -> str:
    return max((o for o in param.opts if o.startswith("--")), key=len, default=param.name or "?")


def _is_out(value: Any, out: Path) -> bool:
    return isinstance(value, (str, os.PathLike)) and str(value) != "" and Path(value).resolve() == out.resolve()


def _command_path(ctx: click.Context) -> str:
    """``pftryon data synth``: the names of the running command and its groups."""
    names, node = [], ctx
    while node.parent is not None:
        names.append(node.command.name)
        node = node.parent
    return " ".join(["pftryon", *reversed(names)])


def _context_settings(ctx: click.Context, out: Path) -> dict[str, Any]:
    """The running command's settings, by flag: every parameter but the output folder and those of
    :data:`_NOT_IDENTITY`; ``NAME=VALUE`` lists (``--set``, ``--root-for``) one entry per name."""
    settings: dict[str, Any] = {}
    for param in ctx.command.params:
        if param.name not in ctx.params or param.name in _NOT_IDENTITY or param.name == "out":
            continue
        value = ctx.params[param.name]
        if _is_out(value, out):
            continue
        flag, by_location = _flag(param), param.name in _BY_LOCATION
        if param.multiple and value and all(isinstance(v, str) and "=" in v for v in value):
            for item in value:
                key, _, item_value = item.partition("=")
                settings[f"{flag} {key.strip()}"] = _setting(
                    item_value.strip(), out, path=False, by_location=by_location
                )
        else:
            settings[flag] = _setting(value, out, path=isinstance(param.type, click.Path), by_location=by_location)
    return settings


def _available_flags(resume: bool | None) -> tuple[bool, bool]:
    """Whether the running command has ``--overwrite`` and ``--resume`` (outside click: as the call says)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True, resume is not None
    names = {p.name for p in ctx.command.params}
    return "overwrite" in names, "resume" in names


# --- the record -------------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _read_record(out: Path, option: str, resume: bool | None) -> dict[str, Any] | None:
    path = out / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        if record.get("kind") != _KIND or not isinstance(record.get("settings"), dict):
            raise ValueError("not a run record")
        if record.get("schema_version", 0) > _VERSION:
            raise ValueError(f"schema_version {record['schema_version']}, newer than this pftryon reads")
    except (OSError, ValueError, AttributeError) as err:
        replace = "pass --overwrite to replace the folder, or " if _available_flags(resume)[0] else ""
        raise InputError(f"{path}: unreadable run record ({err}); {replace}choose another {option}") from None
    return record


def _write_record(out: Path, record: Mapping[str, Any]) -> None:
    from bench.runtime import atomic_write

    atomic_write(out / RECORD, json.dumps(record, indent=2) + "\n")


_UNSET = object()


def _show(value: Any) -> str:
    if value is _UNSET or value is None:
        return "unset"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 48 else text[:45] + "..."


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], ignore: Collection[str]) -> list[str]:
    keys = [*new, *(k for k in old if k not in new)]
    changed = []
    for key in keys:
        before, after = old.get(key, _UNSET), new.get(key, _UNSET)
        if key in ignore or before == after:
            continue
        contents = isinstance(before, str) and isinstance(after, str) and " sha256 " in before + after
        changed.append(f"{key} (other contents)" if contents else f"{key} ({_show(before)} -> {_show(after)})")
    return changed


def _described(changes: list[str]) -> str:
    shown = changes[:3] + ([f"{len(changes) - 3} more"] if len(changes) > 3 else [])
    return ", ".join(shown)


# --- the folder's contents: set aside, restored, removed --------------------------------------------------------


def _empty(folder: Path, keep: Collection[str]) -> None:
    for child in folder.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _holds_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.name != LOCK for p in folder.iterdir())


def _set_aside(out: Path) -> None:
    aside = out / SET_ASIDE
    aside.mkdir()
    for child in list(out.iterdir()):
        if child.name not in (LOCK, SET_ASIDE):
            child.rename(aside / child.name)


def _put_back(out: Path) -> None:
    """Replace whatever ``out`` holds by what an overwrite set aside."""
    aside = out / SET_ASIDE
    _empty(out, keep=(LOCK, SET_ASIDE))
    for child in list(aside.iterdir()):
        child.rename(out / child.name)
    aside.rmdir()


def _recover(out: Path) -> None:
    """Finish an overwrite that was killed: its set-aside contents come back, unless the new run had finished."""
    if not (out / SET_ASIDE).is_dir():
        return
    record = out / RECORD
    with contextlib.suppress(OSError, ValueError):
        if json.loads(record.read_text()).get("finished"):
            shutil.rmtree(out / SET_ASIDE)
            return
    _put_back(out)
    click.echo(f"note: {out}: an interrupted --overwrite left the earlier contents aside; they are back", err=True)


def _release(out: Path, created: list[Path], lock_made: bool) -> None:
    """Remove the lock file if this run made it, and the folders it created if they are empty (deepest first)."""
    if lock_made:
        (out / LOCK).unlink(missing_ok=True)
    for folder in created:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _undo(out: Path, created: list[Path], mode: str, lock_made: bool) -> None:
    """A failed run's clean-up (see the module docstring)."""
    if mode == "resume":
        return
    if mode == "overwrite":
        _put_back(out)
        return
    _empty(out, keep=(LOCK,))
    _release(out, created, lock_made)


@contextlib.contextmanager
def _transaction(out: Path, created: list[Path], mode: str, *, lock_made: bool = False) -> Iterator[None]:
    """Run the body as ``mode`` (``fresh``, ``resume`` or ``overwrite``): set aside first, undo on failure."""
    if mode == "overwrite":
        _set_aside(out)
    try:
        yield
    except BaseException as err:
        if not (isinstance(err, KeyboardInterrupt) and mode == "fresh"):
            _undo(out, created, mode, lock_made)
        raise
    if mode == "overwrite":
        shutil.rmtree(out / SET_ASIDE)


def _rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _barrier() -> None:
    """Wait for every rank, where a process group is up (torch is not imported for this)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()


def _new_folder(out: Path) -> list[Path]:
    created = [p for p in [out, *out.parents] if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    return created


# --- the two entry points ---------------------------------------------------------------------------------------


def _finished_identical(out: Path, record: Mapping[str, Any], has_overwrite: bool) -> AlreadyFinished:
    again = " (--overwrite recomputes it)" if has_overwrite else ""
    return AlreadyFinished(f"{out}: already holds this finished run of {record.get('command')} (same settings, "
                           f"finished {record['finished']}); nothing to do{again}")  # fmt: skip


def _decide(out: Path, option: str, record: dict[str, Any] | None, command: str | None, settings: dict[str, Any],
            overwrite: bool, resume: bool | None, resumable: Collection[str]) -> str:  # fmt: skip
    """``fresh``, ``resume`` or ``overwrite``; raises the refusals and :class:`AlreadyFinished`."""
    if not _holds_files(out):
        if resume:
            click.echo(f"note: {out}: nothing to resume in {option}; starting a new run", err=True)
        return "fresh"
    if overwrite:
        return "overwrite"
    has_overwrite, has_resume = _available_flags(resume)
    replace = "pass --overwrite to replace it, or " if has_overwrite else ""
    if record is None:
        why = "--resume cannot tell what made them" if resume else f"{option} is not empty"
        replace = "pass --overwrite to replace them, or " if has_overwrite else ""
        raise InputError(f"{out}: {why} (files but no run record {RECORD}); {replace}choose another folder")
    made_by = record.get("command") or "another program"
    state = "finished" if record.get("finished") else "stopped"
    if not resume:
        hints = [*(["--resume to continue it"] if has_resume and (state == "stopped" or not has_overwrite) else []),
                 *(["--overwrite to replace it"] if has_overwrite else [])]  # fmt: skip
        advice = f"pass {' or '.join(hints)}, or " if hints else ""
        raise InputError(f"{out}: {option} holds a {state} run of {made_by}; {advice}choose another folder")
    changes = [] if record.get("command") == command else [f"command ({made_by} -> {command})"]
    changes += _differences(record["settings"], settings, resumable)
    if changes:
        raise InputError(f"{out}: cannot resume: the {state} run of {made_by} in {option} had other settings: "
                         f"{_described(changes)}; {replace}choose another folder")  # fmt: skip
    if state == "finished" and not _differences(record["settings"], settings, ()):
        raise _finished_identical(out, record, has_overwrite)
    return "resume"


@contextlib.contextmanager
def claim_output(
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    resume: bool | None = None,
    option: str = "--out",
    identity: Mapping[str, Any] | None = None,
    resumable: Collection[str] = (),
) -> Iterator[Path]:
    """Check, lock and record ``out`` for one run (see the module docstring); yields the folder.

    Args:
        out: the folder.
        overwrite: replace what it holds.
        resume: continue the run it holds; ``None`` where the command cannot resume.
        option: the flag naming the folder, for messages.
        identity: the run's settings by name (JSON values); default: the running click command's parameters.
        resumable: settings a resumed run may change (train's ``--set max_steps``): such a run continues.

    Raises:
        InputError: see the module docstring (one line, the folder unchanged).
        AlreadyFinished: ``resume`` of a finished run with the same settings (nothing to do).
    """
    out = Path(out)
    ctx = click.get_current_context(silent=True)
    command = None if ctx is None else _command_path(ctx)
    if identity is None:
        identity = {} if ctx is None else _context_settings(ctx, out)
    settings = json.loads(json.dumps(dict(identity), default=str))
    if _rank() != 0:
        record = _read_record(out, option, resume) if resume else None
        same = record is not None and record.get("command") == command
        if same and record.get("finished") and not _differences(record["settings"], settings, ()):
            raise _finished_identical(out, record, _available_flags(resume)[0])
        _barrier()
        yield out
        _barrier()
        return
    check_writable(out, option)
    created = _new_folder(out)
    lock_made = not (out / LOCK).exists()
    with (out / LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{out}: another run is writing into this {option} folder (locked); wait for it or "
                             "choose another folder") from None  # fmt: skip
        try:
            _recover(out)
            record = None if overwrite else _read_record(out, option, resume)
            mode = _decide(out, option, record, command, settings, overwrite, resume, resumable)
        except BaseException:
            _release(out, created, lock_made)
            raise
        with _transaction(out, created, mode, lock_made=lock_made):
            started = record["started"] if mode == "resume" and record else _now()
            entry = {"kind": _KIND, "schema_version": _VERSION, "command": command, "settings": settings,
                     "started": started, "finished": None}  # fmt: skip
            _write_record(out, entry)
            _barrier()
            yield out
            _barrier()
            _write_record(out, {**entry, "finished": _now()})


@contextlib.contextmanager
def replace_output(out: str | os.PathLike[str], *, overwrite: bool = False, option: str = "--out") -> Iterator[Path]:
    """For a command whose own manifest says what made its folder (``tryon``): checked as :func:`claim_output`
    checks, ``overwrite`` replacing the contents as one unit, a failed new run removing its files; no lock and no
    record: a folder holding files is left to the command to continue (its own run) or refuse."""
    out = check_writable(out, option)
    if _rank() != 0:
        yield out
        return
    created = _new_folder(out)
    _recover(out)
    mode = "fresh" if not _holds_files(out) else "overwrite" if overwrite else "resume"
    with _transaction(out, created, mode):
        yield out
