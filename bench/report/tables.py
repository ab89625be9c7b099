"""The tidy results table checked, sorted and laid out as the papers do: one row per method, metric columns.

A quality table per dataset and split (columns: metric under protocol), a latency table per device, dtype and
batch size. Measured and published numbers sit in separate rows, published ones cited; a cell that could not be
computed shows a letter that points to its reason below the table.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import ascii_lowercase
from typing import Any

import pandas as pd

from bench.metrics.specs import MetricSpec, list_metrics, metric_spec
from bench.results import RESULT_COLUMNS

__all__ = [
    "COLUMNS",
    "FROM_FILES",
    "FROM_FILES_NOTE",
    "MEASURED",
    "METRICS",
    "MISSING",
    "PUBLISHED",
    "Cell",
    "Column",
    "Row",
    "Table",
    "latency_tables",
    "markdown",
    "method_order",
    "prepare",
    "place",
    "quality_tables",
    "scored_from_files",
    "setting",
]

COLUMNS = RESULT_COLUMNS
"""The columns of the results table, in the order ``results.csv`` has them (:data:`bench.results.RESULT_COLUMNS`)."""

MEASURED, PUBLISHED = "measured", "published"
FROM_FILES = "(from files)"
"""How a table marks a row scored from a folder of predictions made elsewhere (a suite row with ``predictions``)."""
FROM_FILES_NOTE = "(from files): scored from prediction files made elsewhere, not run here (run.json: predictions)"
PRECISION_HEADING = "Low precision against fp32"
MISSING = "–"
"""What an empty cell shows: no row for it in this run (a row with a NaN value shows its reason instead)."""

_TEXT = ("method", "dataset", "split", "protocol", "metric", "source", "device", "dtype", "batch", "note", "citation")
_NUMBERS = ("value", "ci_low", "ci_high", "n")
# One number per key; also the sort order of results.csv.
_KEY = ("dataset", "split", "protocol", "method", "source", "citation", "device", "dtype", "batch", "metric")


METRICS: dict[str, MetricSpec] = {
    name: metric_spec(name) for name in sorted(list_metrics(), key=lambda name: metric_spec(name).column)
}
"""Every metric the report knows, in column order: the specs of :mod:`bench.metrics.specs` (label, direction, digits,
``speed`` for a latency column)."""


@dataclass(frozen=True)
class Column:
    """One metric under one protocol."""

    protocol: str
    metric: str
    label: str


@dataclass(frozen=True)
class Cell:
    """One number as table text: ``text`` the value (or ``n/a``), ``ci`` its interval, ``marker`` a reason's letter."""

    text: str
    ci: str = ""
    marker: str = ""

    @property
    def missing(self) -> bool:
        """True when the row exists but its value could not be computed."""
        return bool(self.marker)


@dataclass(frozen=True)
class Row:
    """One method's numbers from one source; ``reference`` is the citation's footnote number (published rows)."""

    method: str
    source: str
    reference: int | None
    n: str
    cells: tuple[Cell | None, ...]
    from_files: bool = False  # scored from prediction files (run["methods"][method]["predictions"])

    @property
    def published(self) -> bool:
        """True for numbers copied from a paper or README, not measured here."""
        return self.source == PUBLISHED

    @property
    def label(self) -> str:
        """The method as the table shows it, marked :data:`FROM_FILES` when scored from prediction files."""
        return f"{self.method} {FROM_FILES}" if self.from_files else self.method


@dataclass(frozen=True)
class Table:
    """A table ready to render; citations are numbered ([1], [2], ...) and reasons lettered per table.

    ``citations[k - 1]`` is the text of footnote ``[k]``; ``reasons`` holds ``(letter, reason)`` pairs.
    """

    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    citations: tuple[str, ...]
    reasons: tuple[tuple[str, str], ...]

    def source_label(self, row: Row) -> str:
        """``measured`` or ``† published [k]``."""
        return MEASURED if row.reference is None else f"† {PUBLISHED} [{row.reference}]"


def _text(value: Any) -> str:
    """A text field as a string: NaN and None become empty, integral floats (a batch read from CSV) lose ``.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def prepare(results: pd.DataFrame) -> pd.DataFrame:
    """Check ``results`` against the contract and return a normalised copy, sorted as ``results.csv`` is.

    Text columns become strings (empty for missing), number columns floats. The returned index holds each row's
    position in ``results``, so ``results.iloc[prepared.index]`` is the input in the same order.

    Raises:
        ValueError: on missing or extra columns, an unknown metric or source, a published row without citation, a
            non-numeric value, or two rows for the same cell.
    """
    if sorted(results.columns) != sorted(COLUMNS):
        missing, extra = set(COLUMNS) - set(results.columns), set(results.columns) - set(COLUMNS)
        raise ValueError(f"results must have exactly the columns {list(COLUMNS)}; missing {missing}, extra {extra}")
    frame = results.reset_index(drop=True)[list(COLUMNS)].copy()
    for column in _TEXT:
        frame[column] = frame[column].map(_text)
    for column in _NUMBERS:
        try:
            frame[column] = pd.to_numeric(frame[column]).astype(float)
        except (TypeError, ValueError) as error:
            raise ValueError(f"results column {column!r} must hold numbers (NaN where absent): {error}") from None
    unknown = sorted(set(frame["metric"]) - set(METRICS))
    if unknown:
        raise ValueError(f"Unknown metric(s) {unknown} in results; known: {list(METRICS)}")
    sources = sorted(set(frame["source"]) - {MEASURED, PUBLISHED})
    if sources:
        raise ValueError(f"results column 'source' must be {MEASURED!r} or {PUBLISHED!r}, got {sources}")
    uncited = frame[(frame["source"] == PUBLISHED) & (frame["citation"] == "")]
    if len(uncited):
        raise ValueError(f"published rows need a citation; none on: {uncited[['method', 'metric']].values.tolist()}")
    twins = frame[frame.duplicated(list(_KEY), keep=False)]
    if len(twins):
        raise ValueError(f"two or more rows for the same cell ({', '.join(_KEY)}):\n{twins.to_string()}")

    def key(column: pd.Series) -> pd.Series:
        return pd.to_numeric(column, errors="coerce").fillna(-1) if column.name == "batch" else column

    return frame.sort_values(list(_KEY), key=key, kind="mergesort")


def _ordered(values: Iterable[str], preferred: Iterable[str] = ()) -> list[str]:
    """``values`` without repeats: those in ``preferred`` first in its order, then the rest sorted."""
    present = set(values)
    first = [v for v in dict.fromkeys(preferred) if v in present]
    return first + sorted(present - set(first))


def method_order(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[str]:
    """The methods of ``frame``: those listed in ``run["methods"]`` first, in that order, then the rest sorted."""
    return _ordered(frame["method"], run.get("methods") or {})


def _number(metric: str, value: float, *, published: bool) -> str:
    """Measured values at the metric's precision; published ones as printed (no invented digits)."""
    return f"{value:.6g}" if published else f"{value:.{METRICS[metric].digits}f}"


def _letter(i: int) -> str:
    """a, b, ..., z, aa, ab, ...: the marker of the i-th reason."""
    return _letter(i // 26 - 1) + ascii_lowercase[i % 26] if i >= 26 else ascii_lowercase[i]


def _cell(record: Mapping[str, Any], reasons: dict[str, str]) -> Cell:
    metric, value = record["metric"], record["value"]
    if math.isnan(value):
        note = record["note"] or "no reason given"
        return Cell("n/a", marker=reasons.setdefault(note, _letter(len(reasons))))
    published = record["source"] == PUBLISHED
    low, high = record["ci_low"], record["ci_high"]
    ci = ""
    if not (published or math.isnan(low) or math.isnan(high)):
        ci = f"[{_number(metric, low, published=False)}, {_number(metric, high, published=False)}]"
    return Cell(_number(metric, value, published=published), ci)


def _counts(values: pd.Series) -> str:
    return " / ".join(str(int(n)) for n in sorted(set(values.dropna())))


def scored_from_files(run: Mapping[str, Any]) -> set[str]:
    """The rows of ``run["methods"]`` scored from prediction files (an entry with ``predictions``)."""
    methods = run.get("methods") or {}
    return {key for key, info in methods.items() if isinstance(info, Mapping) and info.get("predictions")}


def _table(frame: pd.DataFrame, title: str, methods: list[str], protocols: list[str], *, show_protocol: bool,
           from_files: Collection[str] = ()) -> Table:  # fmt: skip
    """One table of ``frame``'s rows: columns (protocol, metric), rows (method, source, citation)."""
    pairs = set(zip(frame["protocol"], frame["metric"], strict=True))
    metric_rank = {name: i for i, name in enumerate(METRICS)}
    columns = tuple(
        Column(p, m, f"{METRICS[m].heading} ({p})" if show_protocol else METRICS[m].heading)
        for p, m in sorted(pairs, key=lambda pm: (protocols.index(pm[0]), metric_rank[pm[1]]))
    )
    index = {(c.protocol, c.metric): i for i, c in enumerate(columns)}
    citations: dict[str, int] = {}
    reasons: dict[str, str] = {}
    rows = []
    rank = {name: i for i, name in enumerate(methods)}
    groups = frame.groupby(["method", "source", "citation"], sort=False)
    for (method, source, citation), group in sorted(groups, key=lambda g: (rank[g[0][0]], g[0][1], g[0][2])):
        cells: list[Cell | None] = [None] * len(columns)
        for record in group.to_dict("records"):
            cells[index[record["protocol"], record["metric"]]] = _cell(record, reasons)
        reference = citations.setdefault(citation, len(citations) + 1) if source == PUBLISHED else None
        rows.append(Row(method, source, reference, _counts(group["n"]), tuple(cells), method in from_files))
    return Table(title, columns, tuple(rows), tuple(citations), tuple((m, n) for n, m in reasons.items()))


def place(dataset: str, split: str) -> str:
    """``dataset / split`` (what is given of them), or ``no dataset``."""
    return " / ".join(part for part in (dataset, split) if part) or "no dataset"


def setting(device: str, dtype: str, batch: str) -> str:
    """Where a speed was measured: ``device, dtype, batch n`` (what is given of them)."""
    return ", ".join(p for p in (device or "unknown device", dtype, batch and f"batch {batch}") if p)


def _is_speed(frame: pd.DataFrame) -> pd.Series:
    """Which rows hold a speed metric (ms/image, GFLOPs, ...)."""
    return frame["metric"].map(lambda m: METRICS[m].speed).astype(bool)


def quality_tables(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[Table]:
    """One table per dataset and split of the quality rows of a :func:`prepare`-d frame."""
    quality = frame[~_is_speed(frame)]
    methods = method_order(frame, run)
    protocols = _ordered(frame["protocol"], run.get("protocols") or {})
    return [
        _table(group, place(dataset, split), methods, protocols, show_protocol=True, from_files=scored_from_files(run))
        for (dataset, split), group in quality.groupby(["dataset", "split"], sort=True)
    ]


def latency_tables(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[Table]:
    """One table per device, dtype and batch size (and dataset, where given) of the speed rows."""
    speed = frame[_is_speed(frame)]
    methods = method_order(frame, run)
    protocols = _ordered(speed["protocol"], run.get("protocols") or {})
    tables = []
    batch_rank = pd.to_numeric(speed["batch"], errors="coerce").fillna(-1)
    for (device, dtype, _, dataset, split), group in speed.assign(_rank=batch_rank).groupby(
        ["device", "dtype", "_rank", "dataset", "split"], sort=True
    ):
        title = setting(device, dtype, group["batch"].iloc[0])
        if dataset or split:
            title += f" on {place(dataset, split)}"
        tables.append(_table(group, title, methods, protocols, show_protocol=len(protocols) > 1,
                             from_files=scored_from_files(run)))  # fmt: skip
    return tables


def precision_tables(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[Table]:
    """Per dataset and split: each low-precision row's change against the same method's fp32 row, per measured
    quality metric (cell: the difference, then ``fp32 -> low``). Rows come from ``run["methods"]`` entries with a
    ``dtype`` below fp32 and the ``method`` they lower; no table without such a row and its fp32 twin."""
    lowered = {key: info["method"] for key, info in (run.get("methods") or {}).items()
               if isinstance(info, Mapping) and info.get("dtype", "fp32") != "fp32" and "method" in info}  # fmt: skip
    quality = frame[~_is_speed(frame) & (frame["source"] == MEASURED) & frame["value"].notna()]
    protocols = _ordered(frame["protocol"], run.get("protocols") or {})
    metric_rank = {name: i for i, name in enumerate(METRICS)}
    tables = []
    for (dataset, split), group in quality.groupby(["dataset", "split"], sort=True):
        values = {(r["method"], r["protocol"], r["metric"]): r["value"] for r in group.to_dict("records")}
        present = set(group["method"])
        pairs = {key: base for key, base in lowered.items() if key in present and base in present}
        columns = tuple(
            Column(p, m, f"Δ {METRICS[m].heading} ({p})")
            for p, m in sorted({(p, m) for (k, p, m) in values if k in pairs},
                               key=lambda pm: (protocols.index(pm[0]), metric_rank[pm[1]]))
        )  # fmt: skip
        rows = []
        for key, base in pairs.items():
            cells: list[Cell | None] = []
            for column in columns:
                low = values.get((key, column.protocol, column.metric))
                full = values.get((base, column.protocol, column.metric))
                digits = METRICS[column.metric].digits
                cells.append(None if low is None or full is None else
                             Cell(f"{low - full:+.{digits}f}", f"{full:.{digits}f} → {low:.{digits}f}"))  # fmt: skip
            rows.append(Row(key, MEASURED, None, _counts(group[group["method"] == key]["n"]), tuple(cells)))
        if rows:
            tables.append(Table(f"{place(dataset, split)}: against fp32", columns, tuple(rows), (), ()))
    return tables


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown_table(table: Table) -> list[str]:
    lines = [
        "| method | source | n | " + " | ".join(_md(c.label) for c in table.columns) + " |",
        "|---|---|---:|" + "---:|" * len(table.columns),
    ]
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if cell is None:
                cells.append(MISSING)
            elif cell.missing:
                cells.append(f"{cell.text} [{cell.marker}]")
            else:
                cells.append(" ".join(part for part in (cell.text, cell.ci) if part))
        lines.append(f"| {_md(row.label)} | {table.source_label(row)} | {row.n} | " + " | ".join(cells) + " |")
    if any(row.from_files for row in table.rows):
        lines += ["", FROM_FILES_NOTE]
    if table.citations:
        lines += ["", "† Published (copied, not measured here):", ""]
        lines += [f"- [{i}] {_md(c)}" for i, c in enumerate(table.citations, 1)]
    if table.reasons:
        lines += ["", "n/a: could not be computed:", ""]
        lines += [f"- [{letter}] {_md(note)}" for letter, note in table.reasons]
    return lines


def markdown(
    run: Mapping[str, Any], quality: Sequence[Table], latency: Sequence[Table], precision: Sequence[Table] = ()
) -> str:
    """``table.md``: the suite's name and description, the quality tables, the low-precision changes, the latency
    tables, skips and warnings."""
    suite = run["suite"]
    lines = [f"# pftryon bench: {_md(suite['name'])}", ""]
    if suite.get("description"):
        lines += [str(suite["description"]).strip(), ""]
    lines += [
        f"Measured cells: value [95% CI] where an interval was computed. {MISSING}: not part of this run. "
        "n/a [x]: the run tried and could not compute it (reason x below the table). "
        "Published rows are never merged with measured ones.",
        "",
    ]
    for heading, tables in (("Quality", quality), (PRECISION_HEADING, precision), ("Latency", latency)):
        if not tables:
            continue
        lines += [f"## {heading}", ""]
        for table in tables:
            lines += [f"### {_md(table.title)}", "", *_markdown_table(table), ""]
    for heading, key in (("Skipped", "skipped"), ("Warnings", "warnings")):
        if run.get(key):
            lines += [f"## {heading}", "", *(f"- {_md(str(item))}" for item in run[key]), ""]
    return "\n".join(lines)
