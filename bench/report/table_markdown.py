"""``table.md``: the quality, low-precision and latency tables of :mod:`bench.report.tables` as Markdown, with the
suite's description, skips and warnings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.report.tables import FROM_FILES_NOTE, MISSING, PRECISION_HEADING, Table

__all__ = ["markdown"]


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown_table(table: Table) -> list[str]:
    per_row_n, trained = table.per_row_n, table.trained
    lines = [
        "| method | " + ("n | " if per_row_n else "") + ("training | " if trained else "")
        + " | ".join(_md(c.label) for c in table.columns) + " |",
        "|---|" + ("---:|" if per_row_n else "") + ("---|" if trained else "") + "---:|" * len(table.columns),
    ]  # fmt: skip
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if cell is None:
                cells.append(MISSING)
            elif cell.missing:
                cells.append(f"{cell.text} [{cell.marker}]")
            else:
                cells.append(" ".join(part for part in (cell.text, cell.ci) if part))
        method = _md(row.label) + (f" † [{row.reference}]" if row.published else "")
        lines.append(f"| {method} | " + (f"{row.n} | " if per_row_n else "") + (f"{_md(row.training)} | " if trained
                     else "") + " | ".join(cells) + " |")  # fmt: skip
    facts = ([f"n = {table.n} per cell."] if table.n else []) + (
        [f"Pair lists: {', '.join(table.pairs)}."] if table.pairs else [])  # fmt: skip
    if facts:
        lines += ["", " ".join(facts)]
    if any(row.from_files for row in table.rows):
        lines += ["", FROM_FILES_NOTE]
    if table.citations:
        lines += ["", "† Published (copied, not measured here):", ""]
        lines += [f"- [{i}] {_md(c)}" for i, c in enumerate(table.citations, 1)]
    if table.reasons:
        lines += ["", "n/a: could not be computed:", ""]
        lines += [f"- [{letter}] {_md(note)}" for letter, note in table.reasons]
    if table.dropped:
        lines += ["", "Not shown (not computed for any row):", ""]
        lines += [f"- {_md(d.what)}: {_md(d.reason)}" for d in table.dropped]
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
        "† [k]: published, copied from source k, never merged with measured numbers.",
        "",
    ]
    for heading, tables in (("Quality", quality), (PRECISION_HEADING, precision), ("Latency", latency)):
        if not tables:
            continue
        lines += [f"## {heading}", ""]
        for table in tables:
            lines += [f"### {_md(table.title)}", "", *(_markdown_table(table) if table.columns else
                      [f"Not shown: {_md(d.what)}: {_md(d.reason)}" for d in table.dropped]), ""]  # fmt: skip
    for heading, key in (("Skipped", "skipped"), ("Warnings", "warnings")):
        if run.get(key):
            lines += [f"## {heading}", "", *(f"- {_md(str(item))}" for item in run[key]), ""]
    return "\n".join(lines)
