"""The suite's tidy result rows: their columns, once, a row with defaults, and the name of the pair list a row was
scored on."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.data.base import Entry
from bench.results import RESULT_COLUMNS

__all__ = ["RESULT_COLUMNS", "pair_list", "row"]

_SHORT = 8  # hex digits of a pair list's sha256 in the ``pairs`` column


def row(**values: Any) -> dict[str, Any]:
    """A result row: every column present, measured, numbers NaN unless given."""
    out = dict.fromkeys(RESULT_COLUMNS, "")
    out.update(value=np.nan, ci_low=np.nan, ci_high=np.nan, n=np.nan, seeds=np.nan, batch=np.nan, source="measured")
    out.update(values)
    return out


def _rows(text: str) -> list[tuple[str, ...]]:
    return [tuple(line.split()[:2]) for line in text.splitlines() if line.strip()]


def pair_list(root: Path, entries: Sequence[Entry], fallback: str) -> str:
    """The pair list ``entries`` were scored on, for the ``pairs`` column: ``<file>:<sha256, 8 hex>``.

    ``<file>`` is the list under ``root`` (a ``*pair*.txt`` there or one folder down) whose rows are the scored entries
    (person and garment file names, in order), with the sha256 of its bytes as ``sha256sum`` prints it. Entries that
    are the first rows of such a list (``--limit``) give ``<file>[:N]``, entries of no list file (a list the loader
    derives) give ``fallback``; both with the sha256 of the scored rows written as ``person cloth`` lines.
    """
    scored = [(e.files["person"].name, e.files["cloth"].name) for e in entries]
    text = "".join(f"{person} {cloth}\n" for person, cloth in scored)
    for path in sorted([*root.glob("*pair*.txt"), *root.glob("*/*pair*.txt")]):
        data = path.read_bytes()
        listed = _rows(data.decode("utf-8-sig", errors="replace"))
        name = path.relative_to(root).as_posix()
        if listed == scored:
            return f"{name}:{hashlib.sha256(data).hexdigest()[:_SHORT]}"
        if scored and listed[: len(scored)] == scored:
            return f"{name}[:{len(scored)}]:{hashlib.sha256(text.encode()).hexdigest()[:_SHORT]}"
    return f"{fallback}:{hashlib.sha256(text.encode()).hexdigest()[:_SHORT]}"
