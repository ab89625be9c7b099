"""``index.html``: one self-contained page (inline CSS, no scripts, images beside it) with everything in the report.

Every string that comes from the results or the run (names, paths, notes, citations) goes through
:func:`html.escape`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from bench.report.plots import Plot
from bench.report.tables import FROM_FILES_NOTE, MISSING, PRECISION_HEADING, Table

__all__ = ["figure_html", "page_html", "render_html", "value_html"]

_CSS = """
:root { --ink: #1d2330; --muted: #5d6675; --line: #d9dee6; --band: #f5f7fa; --pub: #fff6e0; --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 40px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 24px 0 8px; }
p.lead { color: var(--muted); margin: 0 0 8px; max-width: 80ch; }
p.meta, p.legend, .footnotes { color: var(--muted); font-size: 0.9em; }
nav { margin: 16px 0; font-size: 0.92em; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 0.92em; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--band); border-bottom: 2px solid var(--line); white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .ci { display: block; color: var(--muted); font-size: 0.85em; }
tr.published td { background: var(--pub); font-style: italic; }
td.na { color: #a02020; }
td.absent { color: #b0b6c0; }
sup { font-size: 0.75em; }
code, .hash { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.88em; word-break: break-all; }
.footnotes { margin: 4px 0 0; padding-left: 20px; }
.figures { display: flex; flex-wrap: wrap; gap: 18px 24px; align-items: flex-start; }
figure { margin: 12px 0 8px; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9em; }
table.kv th { background: none; font-weight: 600; white-space: nowrap; border-bottom: 1px solid var(--line); }
table.kv table.kv { margin: 0; }
ul.plain { margin: 4px 0; padding-left: 20px; }
"""


def _cell_html(cell: Any) -> str:
    if cell is None:
        return f'<td class="num absent" title="not part of this run">{MISSING}</td>'
    if cell.missing:
        return f'<td class="num na">{escape(cell.text)}<sup>{escape(cell.marker)}</sup></td>'
    ci = f'<span class="ci">{escape(cell.ci)}</span>' if cell.ci else ""
    return f'<td class="num">{escape(cell.text)}{ci}</td>'


def _table_html(table: Table, anchor: str) -> str:
    head = "".join(f'<th class="num">{escape(c.label)}</th>' for c in table.columns)
    body = []
    for row in table.rows:
        source = "measured"
        if row.published:
            source = f'† published <sup><a href="#{anchor}-c{row.reference}">[{row.reference}]</a></sup>'
        body.append(
            f'<tr class="{"published" if row.published else "measured"}"><td>{escape(row.label)}</td>'
            f'<td>{source}</td><td class="num">{escape(row.n)}</td>{"".join(_cell_html(c) for c in row.cells)}</tr>'
        )
    notes = [
        f'<li id="{anchor}-c{i}">[{i}] † published: {escape(citation)}</li>'
        for i, citation in enumerate(table.citations, 1)
    ]
    notes += [f"<li>[{escape(letter)}] n/a: {escape(reason)}</li>" for letter, reason in table.reasons]
    notes += [f"<li>{escape(FROM_FILES_NOTE)}</li>"] if any(row.from_files for row in table.rows) else []
    return (
        f'<h3 id="{anchor}">{escape(table.title)}</h3>'
        '<div class="scroll"><table><thead><tr><th>method</th><th>source</th><th class="num">n</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        + (f'<ul class="footnotes plain">{"".join(notes)}</ul>' if notes else "")
    )


def value_html(value: Any) -> str:
    """Any JSON-like value: mappings as key/value tables, lists as bullet lists, the rest as escaped text."""
    if isinstance(value, Mapping):
        if not value:
            return "<em>none</em>"
        rows = "".join(f"<tr><th>{escape(str(k))}</th><td>{value_html(v)}</td></tr>" for k, v in value.items())
        return f'<table class="kv">{rows}</table>'
    if isinstance(value, list | tuple):
        if not value:
            return "<em>none</em>"
        return '<ul class="plain">' + "".join(f"<li>{value_html(v)}</li>" for v in value) + "</ul>"
    return escape("" if value is None else str(value))


def _text(value: Any) -> str:
    return escape("" if value is None else str(value))


def _hash(value: Any) -> str:
    return f'<span class="hash">{_text(value)}</span>'


def _checkpoints(value: Any) -> str:
    if not isinstance(value, Mapping) or not value:
        return _text(value) or MISSING
    return "<br>".join(f"{_text(file)}: {_hash(digest)}" for file, digest in value.items())


def _inputs(value: Any) -> str:
    return ", ".join(map(_text, value)) if isinstance(value, list | tuple) else _text(value)


# The known keys of run["methods"] and run["datasets"] entries: (heading, how to show the value).
_METHOD_COLUMNS = {"family": ("family", _text), "citation": ("citation", _text), "inputs": ("inputs", _inputs),
                   "checkpoints": ("checkpoints (sha256)", _checkpoints)}  # fmt: skip
_DATASET_COLUMNS = {"root": ("root", lambda v: f"<code>{_text(v)}</code>"), "pairs": ("pairs", _text),
                    "fingerprint": ("fingerprint", _hash)}  # fmt: skip


def _listing(kind: str, entries: Mapping[str, Any], columns: Mapping[str, tuple[str, Any]]) -> str:
    """A table of named entries: the known keys as columns, any other keys in an "other" column (when there are)."""
    infos = {name: info if isinstance(info, Mapping) else {"details": info} for name, info in entries.items()}
    other = any(set(info) - set(columns) for info in infos.values())
    head = "".join(f"<th>{escape(heading)}</th>" for heading, _ in columns.values()) + ("<th>other</th>" * other)
    rows = []
    for name, info in infos.items():
        cells = "".join(f"<td>{show(info.get(key))}</td>" for key, (_, show) in columns.items())
        if other:
            cells += f"<td>{value_html({k: v for k, v in info.items() if k not in columns})}</td>"
        rows.append(f"<tr><td>{escape(str(name))}</td>{cells}</tr>")
    return (
        f'<div class="scroll"><table><thead><tr><th>{escape(kind)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _protocols_html(protocols: Mapping[str, Any]) -> str:
    parts = []
    for name, info in protocols.items():
        info = info if isinstance(info, Mapping) else {"details": info}
        version = f" (version {escape(str(info['version']))})" if "version" in info else ""
        parts.append(f"<h3>{escape(name)}{version}</h3>")
        if info.get("description"):
            parts.append(f'<p class="lead">{escape(str(info["description"]))}</p>')
        if info.get("source"):
            parts.append(f'<p class="meta">Source: {escape(str(info["source"]))}</p>')
        rest = {k: v for k, v in info.items() if k not in ("description", "source", "version")}
        if rest:
            parts.append(value_html(rest))
    return "".join(parts)


def figure_html(src: str, alt: str, caption: str) -> str:
    """An ``<img>`` (``src`` and ``alt`` escaped here) with a caption (already HTML)."""
    return (
        f'<figure><img src="{escape(src)}" alt="{escape(alt)}" loading="eager">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def render_html(
    run: Mapping[str, Any],
    out_dir: Path,
    *,
    quality: Sequence[Table],
    latency: Sequence[Table],
    precision: Sequence[Table] = (),
    plots: Sequence[Plot],
    skipped_plots: Sequence[tuple[str, str]],
    missing_cells: Sequence[str],
    grid: Path | None,
    grid_methods: Sequence[str],
    grid_warnings: Sequence[str],
) -> str:
    """The page: header, tables, plots, qualitative grid, protocols, methods, datasets, skips, provenance.

    Args:
        run: the run metadata (only ``suite.name`` is required).
        out_dir: where the page goes; image paths are written relative to it.
        quality: the quality tables.
        latency: the latency tables.
        precision: the low-precision rows against their fp32 twins.
        plots: the plots written.
        skipped_plots: ``(name, reason)`` per plot not drawn.
        missing_cells: one line per cell that could not be computed.
        grid: the qualitative grid image, if drawn.
        grid_methods: its method columns, in order (the image may shorten long names).
        grid_warnings: problems met while drawing it.

    Returns:
        The HTML text.
    """
    suite = run["suite"]
    meta = run.get("metadata") or {}

    def rel(path: Path) -> str:
        return Path(os.path.relpath(path, out_dir)).as_posix()

    sections: list[tuple[str, str, str]] = []  # (anchor, title, body)
    for anchor, title, tables in (("quality", "Quality", quality), ("precision", PRECISION_HEADING, precision),
                                  ("latency", "Latency", latency)):  # fmt: skip
        if tables:
            sections.append((anchor, title, "".join(_table_html(t, f"{anchor}-{i}") for i, t in enumerate(tables))))
    if plots:
        figures = "".join(
            figure_html(rel(p.png), p.title, f'{escape(p.title)} (<a href="{escape(rel(p.svg))}">SVG</a>)')
            for p in plots
        )
        sections.append(("plots", "Plots", f'<div class="figures">{figures}</div>'))
    if grid is not None:
        caption = "Rows: pairs; columns: person, garment, then the try-ons of " + ", ".join(map(escape, grid_methods))
        sections.append(("qualitative", "Qualitative", figure_html(rel(grid), "qualitative grid", caption)))
    if run.get("protocols"):
        sections.append(("protocols", "Protocols", _protocols_html(run["protocols"])))
    if run.get("methods"):
        sections.append(("methods", "Methods", _listing("method", run["methods"], _METHOD_COLUMNS)))
    if run.get("datasets"):
        sections.append(("datasets", "Datasets", _listing("dataset", run["datasets"], _DATASET_COLUMNS)))
    problems = [
        ("Skipped cells", [str(s) for s in run.get("skipped") or []]),
        ("Cells that could not be computed", list(missing_cells)),
        ("Warnings", [str(w) for w in run.get("warnings") or []] + list(grid_warnings)),
        ("Plots not drawn", [f"{name}: {reason}" for name, reason in skipped_plots]),
    ]
    listed = "".join(f"<h3>{escape(title)}</h3>" + value_html(items) for title, items in problems if items)
    if listed:
        sections.append(("skipped", "Skipped and warnings", listed))
    provenance = dict(meta)
    for key in ("timings", "suite"):
        if run.get(key):
            provenance[key] = run[key]
    known = {"suite", "protocols", "methods", "datasets", "skipped", "warnings", "metadata", "timings"}
    provenance.update({k: v for k, v in run.items() if k not in known})
    sections.append(("provenance", "Run provenance", value_html(provenance)))

    facts = [f"{k}: {escape(str(meta[k]))}" for k in ("date", "git_commit", "device") if meta.get(k)]
    description = f'<p class="lead">{escape(str(suite["description"]).strip())}</p>' if suite.get("description") else ""
    legend = (
        '<p class="legend">Measured cells: value with its 95% CI below it. † published rows (shaded) are copied from '
        f"the cited source, not measured here, and never share a cell with measured values. {MISSING}: not part of "
        "this run; n/a<sup>x</sup>: tried and not computed, reason x under the table.</p>"
    )
    return page_html(f"pftryon bench: {suite['name']}", sections, lead=description, facts=facts, legend=legend)


def page_html(
    title: str, sections: Sequence[tuple[str, str, str]], *, lead: str = "", facts: Sequence[str] = (),
    legend: str = "", extra_css: str = "",
) -> str:  # fmt: skip
    """The page shell shared by the suite and ablation pages: head, inline CSS, title, facts line, nav, sections.

    Args:
        title: the page title (escaped here).
        sections: ``(anchor, title, body HTML)`` per section, in order; anchors and titles are trusted constants.
        lead: HTML under the title (the description).
        facts: escaped ``key: value`` strings for the line under the lead.
        legend: HTML between the nav and the first section.
        extra_css: CSS appended to the shared style sheet.

    Returns:
        The HTML text.
    """
    nav = "".join(f'<a href="#{anchor}">{heading}</a>' for anchor, heading, _ in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}{extra_css}</style></head>\n<body><main>"
        f"<h1>{escape(title)}</h1>{lead}"
        + (f'<p class="meta">{" · ".join(facts)}</p>' if facts else "")
        + f"<nav>{nav}</nav>{legend}"
        + "\n".join(f'<section id="{a}"><h2>{t}</h2>{body}</section>' for a, t, body in sections)
        + "</main></body></html>\n"
    )
