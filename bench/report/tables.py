"""The tidy results table checked, sorted and laid out as the papers do: one row per method, metric columns.

A quality table per dataset and split (columns: metrics grouped by protocol, the suite's lead metrics first), a latency
table per device, dtype and batch size. Rows carry the methods' display titles; measured and published numbers sit in
separate rows, published ones cited. A cell that could not be computed shows a letter that points to its reason below
the table; a column whose every cell could not be computed, for one reason, is not shown: one note names it, the
reason and the fix.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from string import ascii_lowercase
from typing import Any

import pandas as pd

from bench.metrics.specs import MetricSpec, list_metrics, metric_spec
from bench.report.training import training_text
from bench.results import RESULT_COLUMNS, WEIGHTS_ABSENT

__all__ = [
    "COLUMNS",
    "FROM_FILES",
    "FROM_FILES_NOTE",
    "MEASURED",
    "METRICS",
    "MISSING",
    "PUBLISHED",
    "SPREAD",
    "Cell",
    "Column",
    "Dropped",
    "Row",
    "Table",
    "below_lower_bounds",
    "latency_tables",
    "lead_metrics",
    "method_order",
    "method_titles",
    "place",
    "precision_tables",
    "prepare",
    "quality_tables",
    "scored_from_files",
    "setting",
    "spreads",
    "weights_fetch_command",
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
SPREAD = ("ms_p10", "ms_p90")
"""The latency rows that give ``ms_per_image`` (the median) its p10-p90 spread: shown in its cell, not as columns."""

_TEXT = ("method", "dataset", "split", "pairs", "protocol", "metric", "source", "device", "dtype", "batch", "note",
         "citation")  # fmt: skip
_NUMBERS = ("value", "ci_low", "ci_high", "n")
# One number per key; also the sort order of results.csv.
_KEY = ("dataset", "split", "protocol", "method", "source", "citation", "device", "dtype", "batch", "metric")
_WEIGHTS_FILE = re.compile(rf"^{WEIGHTS_ABSENT}: (\S+)")


METRICS: dict[str, MetricSpec] = {
    name: metric_spec(name) for name in sorted(list_metrics(), key=lambda name: metric_spec(name).column)
}
"""Every metric the report knows, in column order: the specs of :mod:`bench.metrics.specs` (label, direction, digits,
``speed`` for a latency column)."""


@dataclass(frozen=True)
class Column:
    """One metric under one protocol: ``label`` names both (Markdown), ``heading`` the metric alone (under its
    protocol's group in HTML); ``lead``: one of the suite's lead metrics (they separate the methods)."""

    protocol: str
    metric: str
    label: str
    heading: str = ""
    lead: bool = False


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
    title: str = ""  # the display title (default: the method's key)
    training: str = ""  # a trained row's steps, seeds and convergence (bench.report.training)

    @property
    def published(self) -> bool:
        """True for numbers copied from a paper or README, not measured here."""
        return self.source == PUBLISHED

    @property
    def label(self) -> str:
        """The method as the table shows it, marked :data:`FROM_FILES` when scored from prediction files."""
        name = self.title or self.method
        return f"{name} {FROM_FILES}" if self.from_files else name


@dataclass(frozen=True)
class Dropped:
    """Columns not shown because every one of their cells could not be computed for one reason (``what``: the
    columns, ``reason``: why, with the fix where there is one)."""

    what: str
    reason: str


@dataclass(frozen=True)
class Table:
    """A table ready to render; citations are numbered ([1], [2], ...) and reasons lettered per table.

    ``citations[k - 1]`` is the text of footnote ``[k]``; ``reasons`` holds ``(letter, reason)`` pairs; ``dropped``
    the columns left out; ``n`` the count of every cell when all rows share it (then no per-row ``n`` column);
    ``pairs`` the pair lists the cells were scored on (``results.csv``'s ``pairs``).
    """

    title: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    citations: tuple[str, ...]
    reasons: tuple[tuple[str, str], ...]
    dropped: tuple[Dropped, ...] = ()
    n: str = ""
    pairs: tuple[str, ...] = ()

    @property
    def trained(self) -> bool:
        """True when a row was trained by the suite: the table needs a ``training`` column."""
        return any(row.training for row in self.rows)

    @property
    def per_row_n(self) -> bool:
        """True when the rows' counts differ: the table needs an ``n`` column."""
        return not self.n and any(row.n for row in self.rows)

    @property
    def groups(self) -> list[tuple[str, int, bool]]:
        """The runs of consecutive columns under one protocol: ``(protocol, columns, any lead column)``."""
        runs: list[tuple[str, int, bool]] = []
        for column in self.columns:
            if runs and runs[-1][0] == column.protocol:
                protocol, count, lead = runs[-1]
                runs[-1] = (protocol, count + 1, lead or column.lead)
            else:
                runs.append((column.protocol, 1, column.lead))
        return runs


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


def _card_title(name: str) -> str:
    """The title on a registered method's card (a published row of a method the suite does not run); else ``name``."""
    from bench.methods import list_methods, method_class

    return method_class(name).card.title if name in list_methods() else name


def method_titles(run: Mapping[str, Any], methods: Iterable[str]) -> dict[str, str]:
    """The display title of each of ``methods``: ``run["methods"][key]["title"]``, else the registered method's
    card title, else the key itself."""
    known = run.get("methods") or {}
    titles = {}
    for name in methods:
        info = known.get(name)
        title = info.get("title") if isinstance(info, Mapping) else None
        titles[name] = str(title) if title else _card_title(name)
    return titles


def lead_metrics(run: Mapping[str, Any]) -> tuple[str, ...]:
    """The suite's lead metrics (``report.lead`` of the suite in ``run``): the columns that separate the methods."""
    report = run["suite"].get("report") or {}
    return tuple(m for m in report.get("lead") or () if m in METRICS)


def weights_fetch_command(run: Mapping[str, Any]) -> str:
    """The command that fetches the suite's metric weights, as the run recorded it (else built from its name)."""
    recorded = (run.get("metadata") or {}).get("weights_fetch")
    return str(recorded) if recorded else f"pftryon weights fetch --suite {run['suite']['name']}"


def _number(metric: str, value: float, *, published: bool) -> str:
    """Measured values at the metric's precision; published ones as printed (no invented digits)."""
    return f"{value:.6g}" if published else f"{value:.{METRICS[metric].digits}f}"


def _letter(i: int) -> str:
    """a, b, ..., z, aa, ab, ...: the marker of the i-th reason."""
    return _letter(i // 26 - 1) + ascii_lowercase[i % 26] if i >= 26 else ascii_lowercase[i]


def _spread_text(metric: str, spread: tuple[float, float]) -> str:
    digits = METRICS[metric].digits
    return f"p10–p90 {spread[0]:.{digits}f}–{spread[1]:.{digits}f}"


def _cell(record: Mapping[str, Any], spread: tuple[float, float] | None = None) -> Cell | str:
    """The cell of one row, or its note when its value could not be computed (lettered once the table is known)."""
    metric, value = record["metric"], record["value"]
    if math.isnan(value):
        return record["note"] or "no reason given"
    published = record["source"] == PUBLISHED
    low, high = record["ci_low"], record["ci_high"]
    parts = []
    if not (published or math.isnan(low) or math.isnan(high)):
        parts.append(f"[{_number(metric, low, published=False)}, {_number(metric, high, published=False)}]")
    if spread is not None:
        parts.append(_spread_text(metric, spread))
    return Cell(_number(metric, value, published=published), "; ".join(parts))


def _counts(values: pd.Series) -> str:
    return " / ".join(str(int(n)) for n in sorted(set(values.dropna())))


def scored_from_files(run: Mapping[str, Any]) -> set[str]:
    """The rows of ``run["methods"]`` scored from prediction files (an entry with ``predictions``)."""
    methods = run.get("methods") or {}
    return {key for key, info in methods.items() if isinstance(info, Mapping) and info.get("predictions")}


def _columns(pairs: Collection[tuple[str, str]], protocols: list[str], lead: Sequence[str],
             show_protocol: bool) -> tuple[Column, ...]:  # fmt: skip
    """The (protocol, metric) columns grouped by protocol: the protocols with a lead metric first (in ``lead``'s
    order), then the others in ``protocols`` order; within a protocol its lead metrics, then the rest by spec."""
    lead_rank = {m: i for i, m in enumerate(lead)}
    metric_rank = {name: i for i, name in enumerate(METRICS)}

    def protocol_rank(protocol: str) -> tuple[int, int, int]:
        ranks = [lead_rank[m] for p, m in pairs if p == protocol and m in lead_rank]
        return (0, min(ranks), protocols.index(protocol)) if ranks else (1, 0, protocols.index(protocol))

    def rank(pm: tuple[str, str]) -> tuple[tuple[int, int, int], int]:
        protocol, metric = pm
        return protocol_rank(protocol), lead_rank.get(metric, len(lead) + metric_rank[metric])

    return tuple(
        Column(
            p,
            m,
            f"{METRICS[m].heading} ({p})" if show_protocol else METRICS[m].heading,
            METRICS[m].heading,
            m in lead_rank,
        )  # fmt: skip
        for p, m in sorted(pairs, key=rank)
    )


def _dropped(columns: Sequence[Column], notes: Sequence[str], run: Mapping[str, Any],
             show_protocol: bool) -> list[Dropped]:  # fmt: skip
    """One note per reason for the columns left out (``notes[i]``: the reason of ``columns[i]``): every missing
    weights file in one note with the command that fetches them."""
    by_reason: dict[str, list[Column]] = {}
    files: list[str] = []
    for column, note in zip(columns, notes, strict=True):
        found = _WEIGHTS_FILE.match(note)
        if found:
            files.append(found.group(1))
            note = WEIGHTS_ABSENT
        by_reason.setdefault(note, []).append(column)
    out = []
    for reason, group in by_reason.items():
        if reason == WEIGHTS_ABSENT:
            named = f" ({', '.join(dict.fromkeys(files))})" if files else ""
            reason = f"weights missing{named} — run `{weights_fetch_command(run)}`"
        out.append(Dropped(_what(group, show_protocol), reason))
    return out


def _what(columns: Sequence[Column], show_protocol: bool) -> str:
    """``LPIPS, FID, KID (pfafn, hrviton); IS (hrviton)``: metrics with the same protocols named together."""
    protocols: dict[str, list[str]] = {}
    for column in columns:
        protocols.setdefault(METRICS[column.metric].label, []).append(column.protocol)
    together: dict[tuple[str, ...], list[str]] = {}
    for label, where in protocols.items():
        together.setdefault(tuple(where), []).append(label)
    parts = [", ".join(labels) + (f" ({', '.join(where)})" if show_protocol else "")
             for where, labels in together.items()]  # fmt: skip
    return "; ".join(parts)


def _table(frame: pd.DataFrame, title: str, methods: list[str], protocols: list[str], run: Mapping[str, Any], *,
           show_protocol: bool, lead: Sequence[str] = (),
           spread: Mapping[tuple[str, str, str], tuple[float, float]] | None = None,
           counts: bool = True, training: bool = False) -> Table:  # fmt: skip
    """One table of ``frame``'s rows: columns (protocol, metric), rows (method, source, citation). ``spread``: the
    p10-p90 of a row's ms/image, by (method, source, citation); ``counts``: give each row's n (the samples of its
    cells); ``training``: give each trained row's training (:func:`training_text`)."""
    columns = _columns(set(zip(frame["protocol"], frame["metric"], strict=True)), protocols, lead, show_protocol)
    index = {(c.protocol, c.metric): i for i, c in enumerate(columns)}
    titles = method_titles(run, methods)
    from_files = scored_from_files(run)
    rank = {name: i for i, name in enumerate(methods)}
    grid: list[tuple[tuple[str, str, str], list[Cell | str | None], str]] = []
    groups = frame.groupby(["method", "source", "citation"], sort=False)
    for key, group in sorted(groups, key=lambda g: (rank[g[0][0]], g[0][1], g[0][2])):
        cells: list[Cell | str | None] = [None] * len(columns)
        for record in group.to_dict("records"):
            mine = (spread or {}).get(key) if record["metric"] == "ms_per_image" else None
            cells[index[record["protocol"], record["metric"]]] = _cell(record, mine)
        grid.append((key, cells, _counts(group["n"]) if counts else ""))

    def notes_of(i: int) -> set[str]:
        return {cells[i] for _, cells, _ in grid if isinstance(cells[i], str)}

    kept = [i for i in range(len(columns)) if
            any(isinstance(cells[i], Cell) for _, cells, _ in grid) or len(notes_of(i)) != 1]  # fmt: skip
    gone = [i for i in range(len(columns)) if i not in kept]
    dropped = _dropped([columns[i] for i in gone], [notes_of(i).pop() for i in gone], run, show_protocol)
    citations: dict[str, int] = {}
    reasons: dict[str, str] = {}
    rows = []
    for (method, source, citation), cells, n in grid:
        shown = tuple(Cell("n/a", marker=reasons.setdefault(c, _letter(len(reasons)))) if isinstance(c, str) else c
                      for c in (cells[i] for i in kept))  # fmt: skip
        reference = citations.setdefault(citation, len(citations) + 1) if source == PUBLISHED else None
        trained = training_text(run, method) if training and source != PUBLISHED else ""
        rows.append(Row(method, source, reference, n, shown, method in from_files, titles[method], trained))
    counts = {row.n for row in rows if row.n}
    lists = tuple(sorted(set(frame["pairs"]) - {""}))
    return Table(title, tuple(columns[i] for i in kept), tuple(rows), tuple(citations),
                 tuple((m, n) for n, m in reasons.items()), tuple(dropped),
                 counts.pop() if len(counts) == 1 else "", lists)  # fmt: skip


def below_lower_bounds(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[str]:
    """Per lead metric (:func:`lead_metrics`) and table: the measured rows that do worse than every lower bound (a
    method of ``run["methods"]`` whose family starts with ``lower bound``), by title."""
    methods = run.get("methods") or {}
    bounds = {key for key, info in methods.items()
              if isinstance(info, Mapping) and str(info.get("family", "")).startswith("lower bound")}  # fmt: skip
    lead = lead_metrics(run) if bounds else ()
    measured = frame[(frame["source"] == MEASURED) & frame["value"].notna() & frame["metric"].isin(lead)]
    order = method_order(frame, run)
    titles = method_titles(run, order)
    several = measured[["dataset", "split"]].drop_duplicates().shape[0] > 1
    lines = []
    for metric in lead:
        spec = METRICS[metric]
        for (dataset, split, protocol), group in measured[measured["metric"] == metric].groupby(
            ["dataset", "split", "protocol"], sort=True
        ):
            values = dict(zip(group["method"], group["value"], strict=True))
            floor = [values[b] for b in bounds if b in values]
            if not floor:
                continue
            weakest = min(floor) if spec.higher_is_better else max(floor)
            worse = [titles[m] for m in order if m in values and m not in bounds
                     and (values[m] < weakest if spec.higher_is_better else values[m] > weakest)]  # fmt: skip
            where = f"{protocol}, {place(dataset, split)}" if several else protocol
            if worse:
                lines.append(f"Worse than every lower bound on {spec.label} ({where}): {', '.join(worse)}.")
    return lines


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
        _table(
            group,
            place(dataset, split),
            methods,
            protocols,
            run,
            show_protocol=True,
            lead=lead_metrics(run),
            training=True,
        )
        for (dataset, split), group in quality.groupby(["dataset", "split"], sort=True)
    ]


def spreads(frame: pd.DataFrame) -> dict[tuple[str, ...], tuple[float, float]]:
    """The p10-p90 of each ms/image (:data:`SPREAD` rows), by (method, source, citation, device, dtype, batch,
    dataset, split)."""
    where = ["method", "source", "citation", "device", "dtype", "batch", "dataset", "split"]
    low, high = (frame[frame["metric"] == m].set_index(where)["value"] for m in SPREAD)
    both = pd.concat([low.rename("low"), high.rename("high")], axis=1).dropna()
    return {key: (row.low, row.high) for key, row in both.iterrows()}


def latency_tables(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[Table]:
    """One table per device, dtype and batch size (and dataset, where given) of the speed rows; the p10-p90 of
    ms/image (:data:`SPREAD`) in its cells; no n (a row's note says how many calls were timed)."""
    speed = frame[_is_speed(frame)]
    spread = spreads(speed)
    speed = speed[~speed["metric"].isin(SPREAD)]
    methods = method_order(frame, run)
    protocols = _ordered(speed["protocol"], run.get("protocols") or {})
    tables = []
    batch_rank = pd.to_numeric(speed["batch"], errors="coerce").fillna(-1)
    for (device, dtype, _, dataset, split), group in speed.assign(_rank=batch_rank).groupby(
        ["device", "dtype", "_rank", "dataset", "split"], sort=True
    ):
        batch = group["batch"].iloc[0]
        title = setting(device, dtype, batch)
        if dataset or split:
            title += f" on {place(dataset, split)}"
        mine = {key[:3]: value for key, value in spread.items() if key[3:] == (device, dtype, batch, dataset, split)}
        tables.append(_table(group, title, methods, protocols, run, show_protocol=len(protocols) > 1,
                             spread=mine, counts=False))  # fmt: skip
    return tables


def precision_tables(frame: pd.DataFrame, run: Mapping[str, Any]) -> list[Table]:
    """Per dataset and split: each low-precision row's change against the same method's fp32 row, per measured
    quality metric (cell: the difference, then ``fp32 -> low``). Rows come from ``run["methods"]`` entries with a
    ``dtype`` below fp32 and the ``method`` they lower; no table without such a row and its fp32 twin."""
    lowered = {key: info["method"] for key, info in (run.get("methods") or {}).items()
               if isinstance(info, Mapping) and info.get("dtype", "fp32") != "fp32" and "method" in info}  # fmt: skip
    quality = frame[~_is_speed(frame) & (frame["source"] == MEASURED) & frame["value"].notna()]
    protocols = _ordered(frame["protocol"], run.get("protocols") or {})
    titles = method_titles(run, lowered)
    tables = []
    for (dataset, split), group in quality.groupby(["dataset", "split"], sort=True):
        values = {(r["method"], r["protocol"], r["metric"]): r["value"] for r in group.to_dict("records")}
        present = set(group["method"])
        pairs = {key: base for key, base in lowered.items() if key in present and base in present}
        columns = tuple(
            Column(c.protocol, c.metric, f"Δ {c.label}", f"Δ {c.heading}", c.lead)
            for c in _columns({(p, m) for (k, p, m) in values if k in pairs}, protocols, lead_metrics(run), True)
        )
        rows = []
        for key, base in pairs.items():
            cells: list[Cell | None] = []
            for column in columns:
                low = values.get((key, column.protocol, column.metric))
                full = values.get((base, column.protocol, column.metric))
                digits = METRICS[column.metric].digits
                cells.append(None if low is None or full is None else
                             Cell(f"{low - full:+.{digits}f}", f"{full:.{digits}f} → {low:.{digits}f}"))  # fmt: skip
            n = _counts(group[group["method"] == key]["n"])
            rows.append(Row(key, MEASURED, None, n, tuple(cells), title=titles[key]))
        if rows:
            tables.append(Table(f"{place(dataset, split)}: against fp32", columns, tuple(rows), (), ()))
    return tables
