"""Published numbers as data (``bench/literature/<name>.yaml``), each row citing its table.

A file names the ``dataset`` and ``protocol`` its numbers were computed on and lists rows of ``method``, ``metric``,
``value`` and ``source`` (plus ``device``, ``dtype``, ``batch`` for runtimes and ``resolution`` where a table has
several). Published and measured numbers are never mixed in one cell: the report marks every published row and
prints its source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pftryon.config_mapping import checked_keys, from_mapping

__all__ = ["LITERATURE_DIR", "PublishedRow", "list_literature", "load_literature"]

LITERATURE_DIR = Path(__file__).parents[1] / "literature"


@dataclass(frozen=True)
class PublishedRow:
    """One published number and where it was printed."""

    method: str
    metric: str
    value: float
    source: str
    dataset: str = ""
    protocol: str = ""
    device: str = ""
    dtype: str = ""
    batch: int | None = None
    resolution: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.value, int | float) or not self.source:
            raise ValueError(f"published row {self.method}/{self.metric}: needs a numeric value and a source")


@dataclass(frozen=True)
class _File:
    name: str
    dataset: str
    protocol: str
    rows: tuple[dict[str, Any], ...]


def list_literature() -> list[str]:
    """Names of the shipped published-results files."""
    return sorted(p.stem for p in LITERATURE_DIR.glob("*.yaml"))


def load_literature(name: str) -> list[PublishedRow]:
    """The rows of ``bench/literature/<name>.yaml``, each carrying the file's dataset and protocol.

    Raises:
        ValueError: unknown name, or a malformed file (unknown keys are errors).
    """
    path = LITERATURE_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"Unknown published-results file {name!r}. Available: {', '.join(list_literature())}")
    data = from_mapping(_File, yaml.safe_load(path.read_text()), str(path))
    rows = []
    for i, row in enumerate(data.rows):
        values = checked_keys(PublishedRow, row, f"{path}: rows[{i}]")
        rows.append(PublishedRow(**{"dataset": data.dataset, "protocol": data.protocol, **values}))
    return rows
