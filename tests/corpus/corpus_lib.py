"""The bad-input corpus: every case is a command, a corruption and the outcome class it must get.

A case module is a file ``tests/corpus/cases_<area>.py`` with a list ``CASES`` of :class:`Case`; ``test_corpus.py``
runs every case of every module, and ``python tests/corpus/summary.py`` (``make corpus``) runs them and prints the cases
per command and outcome class with the failures by kind. Outcome classes:

* ``accepted``: exit 0, no warning required (the input was fine or was corrected as the user meant);
* ``error``: exit 2, the last line of stderr starts with ``error:`` (or click's ``Error:``) and names the offending
  file or value (``Case.names``), and no file of the workspace changed, appeared or vanished (a run that fails midway
  included: it leaves nothing);
* ``warning``: exit 0 and ``Case.expect`` found in stdout/stderr and, when ``Case.report`` is set, in that file;
* ``noop``: exit 0, ``Case.expect`` found in stdout, and no file of the workspace changed, appeared or vanished (a
  finished run asked to resume);
* ``replaced``: exit 0 and none of ``Case.gone`` is left (an ``--overwrite`` keeps nothing of the earlier run).

For every class: no Python traceback in the output, and no file that existed before the run changed unless it lies
under one of the case's ``writes`` (the folders the command was asked to write). A failing case raises a
:class:`CaseFailure` whose ``kind`` says what went wrong: ``traceback``, ``silently wrong`` (exit 0 where an error, a
warning or a word was due, or an earlier run's file left after ``--overwrite``), ``data lost`` (a file that existed
before changed or vanished) or ``other`` (a wrong refusal, a message naming the wrong thing, files left by an error).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner, Result

OUTCOMES = ("accepted", "error", "warning", "noop", "replaced")
COMMANDS = ("tryon", "data", "eval", "train", "latency", "ablate", "predict", "bench", "methods")


class Workspace:
    """A case's folder. ``ws.asset(name)`` copies a session-built template (a dataset, predictions, a checkpoint)
    into the workspace on first use and returns its path; ``ws.path(rel)`` is any path inside it."""

    def __init__(self, root: Path, templates: dict[str, Callable[[], Path]]) -> None:
        self.root = root
        self._templates = templates

    def path(self, relative: str) -> Path:
        return self.root / relative

    def asset(self, name: str) -> Path:
        target = self.root / name
        if not target.exists():
            source = self._templates[name]()
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copy2(source, target)
        return target


@dataclass(frozen=True)
class Case:
    """One bad (or tricky) input.

    Attributes:
        id: unique, kebab-case (the pytest id).
        command: the ``pftryon`` command it exercises (:data:`COMMANDS`).
        corruption: what is wrong with the input, in words.
        outcome: ``accepted`` | ``error`` | ``warning``.
        argv: the arguments after ``pftryon``, built from the workspace.
        setup: prepares (corrupts) files before the run; its writes are part of "before".
        expect: regex searched in the output (error: the last stderr line; warning: stdout+stderr and ``report``).
        names: for errors, the workspace-relative path (or literal value) the message must name.
        report: for warnings, a workspace-relative file that must contain ``expect``.
        writes: workspace-relative folders the command may write or change (accepted/warning/replaced cases).
        gone: for ``replaced``, workspace-relative files that must not exist after the run.
    """

    id: str
    command: str
    corruption: str
    outcome: str
    argv: Callable[[Workspace], list[str]]
    setup: Callable[[Workspace], None] | None = None
    expect: str = ""
    names: str | None = None
    report: str | None = None
    writes: tuple[str, ...] = field(default_factory=tuple)
    gone: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        assert self.outcome in OUTCOMES, self.outcome
        assert self.command in COMMANDS, self.command
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.id), self.id
        assert self.outcome != "error" or self.names or self.expect, f"{self.id}: an error case must name something"
        needs_expect = self.outcome in ("warning", "noop")
        assert not needs_expect or self.expect, f"{self.id}: a {self.outcome} case needs `expect`"
        assert self.outcome != "replaced" or self.gone, f"{self.id}: a replaced case needs `gone`"


class CaseFailure(AssertionError):
    """A case did not get its outcome; ``kind`` says how (see the module docstring)."""

    kind = "other"


class TracebackShown(CaseFailure):
    kind = "traceback"


class SilentlyWrong(CaseFailure):
    kind = "silently wrong"


class DataLost(CaseFailure):
    kind = "data lost"


def _check(condition: object, failure: type[CaseFailure], message: str) -> None:
    if not condition:
        raise failure(message)


def snapshot(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _under(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def run_case(case: Case, ws: Workspace) -> Result:
    """Run ``case`` in ``ws`` through click's runner and check its outcome class (raises :class:`CaseFailure`)."""
    from bench.cli import main

    if case.setup is not None:
        case.setup(ws)
    argv = [str(a) for a in case.argv(ws)]
    before = snapshot(ws.root)
    result = CliRunner().invoke(main, argv, catch_exceptions=True)
    output = result.stdout + result.stderr
    where = f"{case.id}: pftryon {' '.join(argv)}\n--- output ---\n{output}"
    raised = result.exception is not None and not isinstance(result.exception, SystemExit)
    _check(not raised, TracebackShown, f"{where}\nraised {type(result.exception).__name__}: {result.exception}")
    _check("Traceback" not in output, TracebackShown, where)
    after = snapshot(ws.root)
    kept = () if case.outcome in ("error", "noop") else case.writes
    changed = sorted(p for p in before if after.get(p) != before[p] and not _under(p, kept))
    _check(not changed, DataLost, f"{where}\nchanged or removed: {changed}")
    if case.outcome == "error":
        _check(result.exit_code != 0, SilentlyWrong, f"{where}\nexit 0, expected 2")
        _check(result.exit_code == 2, CaseFailure, f"{where}\nexit {result.exit_code}, expected 2")
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        _check(lines, CaseFailure, f"{where}\nno message on stderr")
        last = lines[-1]
        _check(re.match(r"(error|Error):", last), CaseFailure, f"{where}\nlast stderr line is not an error: {last!r}")
        if case.names:
            named = case.names in last or str(ws.path(case.names)) in last
            _check(named, CaseFailure, f"{where}\nthe message does not name {case.names!r}")
        if case.expect:
            _check(re.search(case.expect, last), CaseFailure, f"{where}\nno {case.expect!r} in {last!r}")
        new = sorted(set(after) - set(before))
        _check(not new, CaseFailure, f"{where}\nan error wrote files: {new}")
        return result
    _check(result.exit_code == 0, CaseFailure, f"{where}\nexit {result.exit_code}, expected 0")
    if case.outcome == "warning":
        _check(re.search(case.expect, output), SilentlyWrong, f"{where}\nno warning matching {case.expect!r}")
        if case.report:
            text = ws.path(case.report).read_text()
            _check(re.search(case.expect, text), SilentlyWrong, f"{where}\n{case.report} lacks {case.expect!r}")
    elif case.outcome == "noop":
        _check(re.search(case.expect, result.stdout), SilentlyWrong, f"{where}\ndoes not say {case.expect!r}")
        _check(after == before, SilentlyWrong, f"{where}\nwrote {sorted(set(after) - set(before))}")
    elif case.outcome == "replaced":
        left = [name for name in case.gone if ws.path(name).exists()]
        _check(not left, SilentlyWrong, f"{where}\nthe earlier run's files are still there: {left}")
    return result


def all_cases() -> list[Case]:
    """Every case of every ``cases_*.py`` module beside this file, ids checked unique."""
    import importlib

    here = Path(__file__).parent
    cases: list[Case] = []
    for module in sorted(here.glob("cases_*.py")):
        cases.extend(importlib.import_module(module.stem).CASES)
    ids = [c.id for c in cases]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate case ids: {duplicates}"
    return cases
