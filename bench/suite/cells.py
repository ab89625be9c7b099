"""A disk cache of benchmark cells: each finished piece of work as a JSON file named by the sha256 of its inputs.

A cell's key spells out everything its numbers depend on (checkpoint sha256s, the data's content fingerprint, the
method and protocol configurations and versions, the code's cell format), so a rerun recomputes nothing, a changed
checkpoint recomputes only its cells, and a cell is written atomically, so a killed run leaves whole cells only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pftryon.models import atomic_write

__all__ = ["CELL_FORMAT", "CellCache", "cell_key"]

CELL_FORMAT = 2  # 2: evaluation cells keep the matching and resize records


def cell_key(kind: str, **inputs: Any) -> str:
    """``<kind>-<sha256 of the JSON of inputs>`` (keys sorted; the cell format version included)."""
    text = json.dumps({"kind": kind, "format": CELL_FORMAT, **inputs}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()}"


class CellCache:
    """Cells under ``root`` (``<key>.json``); :meth:`get_or_compute` is the one way in.

    Attributes:
        hits, misses: counts of this run (the report says how much was reused).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        """The cell ``key``: read back when present, else ``compute()`` (JSON-ready) written atomically first."""
        path = self.root / f"{key}.json"
        if path.is_file():
            self.hits += 1
            return json.loads(path.read_text())["value"]
        value = compute()
        atomic_write(path, json.dumps({"key": key, "value": value}, indent=1, default=str) + "\n")
        self.misses += 1
        return json.loads(json.dumps(value, default=str))
