"""``index.html``: one self-contained page (inline CSS, no scripts, images beside it) with everything in the report.

At the top, the provenance at a glance (commit, command, machine, versions, seeds, recipe, wall time); then how to
read the tables (generated from the suite's ``report`` section, the protocols and the metric specs), the tables, the
plots, the qualitative grid, the methods, the problems met, and the rest of the provenance folded.

Every string that comes from the results or the run (names, paths, notes, citations) goes through
:func:`html.escape`.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from bench.report.plots import Plot
from bench.report.qualitative import Grid
from bench.report.tables import FROM_FILES_NOTE, METRICS, MISSING, PRECISION_HEADING, Table, lead_metrics

__all__ = ["figure_html", "page_html", "render_html", "value_html"]

_CSS = """
:root { --ink: #1d2330; --muted: #5d6675; --line: #d9dee6; --band: #f5f7fa; --pub: #fff6e0; --accent: #2456a6;
        --lead: #eef4ff; --red: #b00020; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.3em; margin: 40px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 24px 0 8px; }
p.lead { color: var(--muted); margin: 0 0 8px; max-width: 80ch; }
p.meta, p.legend, .footnotes, p.caption { color: var(--muted); font-size: 0.9em; }
nav { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 16px 0; font-size: 0.92em; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
.scroll, .tablebox { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 6px 0; font-size: 0.92em; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--band); border-bottom: 2px solid var(--line); white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.training { font-size: 0.85em; color: var(--muted, #555); min-width: 10em; }
td .ci { display: block; color: var(--muted); font-size: 0.85em; }
tr.published td { background: var(--pub); font-style: italic; }
td.na { color: #a02020; }
td.absent { color: #b0b6c0; }
table.results th.method { position: sticky; left: 0; z-index: 1; background: #fff; font-weight: 600; min-width: 9em; }
table.results thead th.method { background: var(--band); }
table.results tbody tr:nth-child(even) th.method { background: #fbfcfd; }
table.results tr.published th.method { background: var(--pub); }
table.results th.group { text-align: center; border-bottom: 1px solid var(--line); }
table.results .lead { background: var(--lead); }
table.results tr.published td.lead { background: #fdf1d6; }
span.pub { display: block; font-weight: 400; font-style: italic; color: #8a5a00; font-size: 0.85em; }
.flag { color: var(--red); font-weight: 600; }
sup { font-size: 0.75em; }
code, .hash { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.88em; overflow-wrap: anywhere; }
.footnotes { margin: 4px 0 0; padding-left: 20px; }
.figures { display: flex; flex-wrap: wrap; gap: 18px 24px; align-items: flex-start; }
figure { margin: 12px 0 8px; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figure.half { flex: 0 1 calc(50% - 12px); }
figure.half img { width: 100%; }
figcaption { color: var(--muted); font-size: 0.9em; }
table.kv th { background: none; font-weight: 600; white-space: nowrap; border-bottom: 1px solid var(--line); }
table.kv table.kv { margin: 0; }
ul.plain { margin: 4px 0; padding-left: 20px; }
.box { border: 1px solid var(--line); background: var(--band); border-radius: 6px; padding: 10px 16px; margin: 14px 0; }
.box dl { display: grid; grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr);
          gap: 3px 16px; margin: 0; font-size: 0.9em; }
.box dt { color: var(--muted); }
.box dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
dl.read dt { font-weight: 600; margin-top: 10px; }
dl.read dd { margin: 2px 0 0 0; max-width: 90ch; }
details { margin: 8px 0; }
details > summary { cursor: pointer; color: var(--accent); }
pre.json { max-height: 28em; overflow: auto; background: var(--band); padding: 8px 10px; font-size: 0.8em;
           border: 1px solid var(--line); }
td.key code { white-space: nowrap; }
@media (max-width: 1000px) {
  .box dl { grid-template-columns: max-content minmax(0, 1fr); }
  figure.half { flex-basis: 100%; }
}
@media (max-width: 640px) {
  main { padding: 16px 14px 48px; }
  .box dl { grid-template-columns: minmax(0, 1fr); }
  .box dd { margin-bottom: 6px; }
}
"""


# ---------------------------------------------------------------------------------------------------------------------
# Shared helpers (the ablation page uses them too).


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


def figure_html(src: str, alt: str, caption: str, *, half: bool = False) -> str:
    """An ``<img>`` (``src`` and ``alt`` escaped here) with a caption (already HTML); ``half``: two a row on a wide
    page."""
    opening = '<figure class="half">' if half else "<figure>"
    return (
        f'{opening}<img src="{escape(src)}" alt="{escape(alt)}" loading="eager">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _text(value: Any) -> str:
    return escape("" if value is None else str(value))


def _folded(summary: str, body: str, *, open_: bool = False) -> str:
    """A ``<details>`` block (``summary`` escaped here, ``body`` HTML)."""
    return f"<details{' open' if open_ else ''}><summary>{escape(summary)}</summary>{body}</details>"


def _json(value: Any) -> str:
    return f'<pre class="json">{escape(json.dumps(value, indent=2, default=str))}</pre>'


# ---------------------------------------------------------------------------------------------------------------------
# Provenance at a glance.


def _commit(meta: Mapping[str, Any]) -> str:
    commit = str(meta.get("git_commit") or "")
    if not commit:
        return "not recorded"
    head = commit.split()[0]
    clean = meta.get("git_clean")
    if clean is None:
        clean = False if "uncommitted" in commit else None
    state = {True: "clean tree", False: '<span class="flag">uncommitted changes</span>', None: "tree state unknown"}
    return f'<code title="{escape(head)}">{escape(head[:12])}</code> · {state[clean]}'


def _command(meta: Mapping[str, Any]) -> str:
    argv = meta.get("command")
    if not argv:
        return "not recorded"
    return f"<code>{escape(shlex.join([Path(argv[0]).name, *map(str, argv[1:])]))}</code>"


def _machine(meta: Mapping[str, Any]) -> str:
    box = meta.get("machine")
    if not isinstance(box, Mapping):
        return _text(meta.get("device")) or "not recorded"
    cpu = ", ".join(str(p) for p in (box.get("cpu"), box.get("isa")) if p)
    if box.get("torch_cpu_capability"):
        cpu += f" (torch dispatch: {box['torch_cpu_capability']})"
    cores = f", {box['cores']} cores" if box.get("cores") else ""
    threads = f", {box['torch_threads']} torch threads" if box.get("torch_threads") else ""
    gpu = f"{box['gpu']}" + (f" ×{box['gpus']}" if (box.get("gpus") or 0) > 1 else "") if box.get("gpu") else "none"
    return f"CPU {escape(cpu + cores + threads)}; GPU {escape(gpu)}"


def _software(meta: Mapping[str, Any]) -> str:
    box = meta.get("machine") if isinstance(meta.get("machine"), Mapping) else {}
    versions = meta.get("versions") or {}
    parts = [f"torch {box.get('torch') or versions.get('torch') or '?'}"]
    if box.get("cuda"):
        parts.append(f"CUDA {box['cuda']}" + ("" if box.get("gpu") else " (the torch build's; no GPU here)"))
    else:
        parts.append("CUDA: none")
    if box.get("cudnn"):
        parts.append(f"cuDNN {box['cudnn']}")
    parts += [f"{name} {versions[name]}" for name in ("torchvision", "numpy") if versions.get(name)]
    return escape(", ".join(parts))


def _seeds(meta: Mapping[str, Any]) -> str:
    seeds = meta.get("seeds")
    if not isinstance(seeds, Mapping) or not seeds:
        return "not recorded"
    return escape(" · ".join(f"{name} {value}" for name, value in seeds.items()))


def _recipes(meta: Mapping[str, Any]) -> str:
    recipes = meta.get("recipes")
    if not isinstance(recipes, Mapping):
        return "not recorded"
    if not recipes:
        return "none (no method trained by the suite)"
    return ", ".join(f'{escape(str(name))} <code title="{escape(str(info.get("sha256")))}">'
                     f'{escape(str(info.get("sha256"))[:12])}</code>' for name, info in recipes.items())  # fmt: skip


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _wall(run: Mapping[str, Any]) -> str:
    timings = run.get("timings") or {}
    if "total_s" not in timings:
        return "not recorded"
    parts = [f"{key.removesuffix('_s')} {_minutes(v)}" for key, v in timings.items() if key != "total_s"]
    peak = (run.get("metadata") or {}).get("cpu_fp32_peak_gflops")
    speed = f"; CPU fp32 peak measured {peak:g} GFLOP/s" if isinstance(peak, int | float) else ""
    return escape(_minutes(timings["total_s"]) + (f" ({', '.join(parts)}{speed})" if parts or speed else ""))


def _fingerprint(meta: Mapping[str, Any]) -> str:
    code = meta.get("code_fingerprint")
    if not isinstance(code, Mapping):
        return "not recorded"
    digest = str(code.get("sha256"))
    return (f'sha256 <code title="{escape(digest)}">{escape(digest[:12])}</code> over {escape(str(code.get("files")))} '
            f"files ({escape(str(code.get('scope')))})")  # fmt: skip


def _bootstrap(meta: Mapping[str, Any]) -> str:
    boot = meta.get("bootstrap")
    if not isinstance(boot, Mapping):
        return "not recorded"
    text = (f"{boot.get('method', 'percentile')}, {boot.get('resamples', 0):,} resamples, "
            f"{100 * boot.get('confidence', 0):g}% confidence, seed {boot.get('seed')}")  # fmt: skip
    if boot.get("fid_resamples") is not None:
        text += f"; FID std over {boot['fid_resamples']} resamples"
    return escape(text)


def _summary_box(run: Mapping[str, Any]) -> str:
    """The provenance at a glance: what a reader checks before trusting a number."""
    meta = run.get("metadata") or {}
    items = [
        ("Commit", _commit(meta)),
        ("Command", _command(meta)),
        ("Date", _text(meta.get("date")) or "not recorded"),
        ("Machine", _machine(meta)),
        ("Software", _software(meta)),
        ("Seeds", _seeds(meta)),
        ("Recipe", _recipes(meta)),
        ("Bootstrap", _bootstrap(meta)),
        ("Wall time", _wall(run)),
        ("Code", _fingerprint(meta)),
    ]
    rows = "".join(f"<dt>{escape(name)}</dt><dd>{value}</dd>" for name, value in items)
    return f'<div class="box" id="at-a-glance"><dl>{rows}</dl></div>'


# ---------------------------------------------------------------------------------------------------------------------
# How to read it.


def _direction(metric: str) -> str:
    spec = METRICS[metric]
    return f"<strong>{escape(spec.heading)}</strong> {'higher' if spec.higher_is_better else 'lower'} is better"


def _legend(run: Mapping[str, Any]) -> str:
    """The line above the results: how a cell reads, in one sentence."""
    lead = [METRICS[m].label for m in lead_metrics(run)]
    shaded = f" Shaded: the columns that separate the methods ({escape(', '.join(lead))})." if lead else ""
    return (
        '<p class="legend">↑ higher is better, ↓ lower is better; under each value its 95% confidence interval.'
        f'{shaded} † published: copied from the cited source. <a href="#read">How to read it</a>: what each '
        "protocol measures, and the caveats.</p>"
    )


def _how_to_read(run: Mapping[str, Any], quality: Sequence[Table], latency: Sequence[Table],
                 generated: Sequence[str]) -> str:  # fmt: skip
    """What each protocol and column measures, which way is better, and what the numbers do not say."""
    suite = run["suite"]
    meta = run.get("metadata") or {}
    boot = meta.get("bootstrap") if isinstance(meta.get("bootstrap"), Mapping) else {}
    how = (f"percentile bootstrap over the pairs, {boot['resamples']:,} resamples, seed {boot['seed']}"
           if boot else "percentile bootstrap over the pairs")  # fmt: skip
    lead = [METRICS[m].label for m in lead_metrics(run)]
    parts = [
        "<p>One row per method (its display title), one column per metric, grouped by protocol. ↑: higher is "
        f"better; ↓: lower is better. Under a measured value: its 95% confidence interval ({escape(how)})."
        + (f" The shaded columns ({escape(', '.join(lead))}) separate the methods: read them first." if lead else "")
        + (
            " A row trained at several seeds shows the mean over them; its interval adds the seeds' spread (where "
            "a rerun with other seeds lands 95% of the time), and its training column gives its steps, seeds and "
            "how many converged."
            if any(t.trained for t in quality)
            else ""
        )
        + f" n/a<sup>x</sup>: tried and not computed (reason x under the table); {MISSING}: not part of this run; "
        "† published: copied from the cited source, never measured here. A column no row could compute is left "
        "out, with a note saying why.</p>"
    ]
    protocols = run.get("protocols") or {}
    shown: dict[str, list[str]] = {}
    for table in quality:
        for column in table.columns:
            shown.setdefault(column.protocol, []).append(column.metric)
    entries = []
    for name, metrics in shown.items():
        info = protocols.get(name) if isinstance(protocols.get(name), Mapping) else {}
        description = _text(info.get("description")) or "No description recorded in run.json."
        columns = "; ".join(_direction(m) for m in dict.fromkeys(metrics))
        entries.append(f'<dt id="read-{escape(name)}">{escape(name)}</dt><dd>{description} '
                       f"<br>Columns: {columns}.</dd>")  # fmt: skip
    if latency:
        speed = sorted({c.metric for t in latency for c in t.columns}, key=list(METRICS).index)
        sweeps = [s for s in suite.get("latency") or [] if isinstance(s, Mapping)]
        how = "; ".join(f"{', '.join(s.get('devices', []))}: median of {s.get('iters')} calls after "
                        f"{s.get('warmup')} warm-up" for s in sweeps)  # fmt: skip
        entries.append(
            '<dt id="read-latency">latency</dt><dd>Each method timed on every device of the suite, per device, dtype '
            f"and batch size{f' ({escape(how)})' if how else ''}; ms/image is the median per image, with its "
            "p10–p90 under it where measured. A device absent from this machine is a note, not a table."
            + (f"<br>Columns: {'; '.join(_direction(m) for m in speed)}." if speed else "")
            + "</dd>"
        )
    if entries:
        parts.append(f'<dl class="read">{"".join(entries)}</dl>')
    caveats = [str(c) for c in (suite.get("report") or {}).get("caveats") or []] + list(generated)
    if caveats:
        parts.append("<h3>Caveats</h3><ul>" + "".join(f"<li>{escape(c)}</li>" for c in caveats) + "</ul>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------------------------------
# Tables.


def _cell_html(cell: Any, lead: bool) -> str:
    classes = "num lead" if lead else "num"
    if cell is None:
        return f'<td class="{classes} absent" title="not part of this run">{MISSING}</td>'
    if cell.missing:
        return f'<td class="{classes} na">{escape(cell.text)}<sup>{escape(cell.marker)}</sup></td>'
    ci = f'<span class="ci">{escape(cell.ci)}</span>' if cell.ci else ""
    return f'<td class="{classes}">{escape(cell.text)}{ci}</td>'


def _table_html(table: Table, anchor: str, flagged: Mapping[str, str] | None = None) -> str:
    """A results table: the method column fixed while the rest scrolls in its box; protocol groups over the metric
    headings when the columns span protocols; notes (citations, reasons, columns left out) under it."""
    notes = [f"<li>Not shown: {escape(d.what)}: {_code_spans(d.reason)}</li>" for d in table.dropped]
    if not table.columns:
        return f'<h3 id="{anchor}">{escape(table.title)}</h3><ul class="footnotes plain">{"".join(notes)}</ul>'
    groups = table.groups
    grouped = len(groups) > 1 or any(c.label != c.heading for c in table.columns)
    n_column = table.per_row_n
    span = ' rowspan="2"' if grouped else ""
    head = f'<tr><th class="method"{span}>method</th>' + (f'<th class="num"{span}>n</th>' if n_column else "")
    head += f'<th class="training"{span}>training</th>' if table.trained else ""
    if grouped:
        head += "".join(
            f'<th class="group{" lead" if lead else ""}" colspan="{count}"><a href="#read-{escape(p)}">{escape(p)}</a>'
            "</th>"
            for p, count, lead in groups
        )
        head += "</tr><tr>"
    head += "".join(f'<th class="num{" lead" if c.lead else ""}">{escape(c.heading or c.label)}</th>'
                    for c in table.columns) + "</tr>"  # fmt: skip
    body = []
    for row in table.rows:
        label = escape(row.label)
        if flagged and row.method in flagged:
            label += f' <span class="flag" title="{escape(flagged[row.method])}">⚠ failed</span>'
        if row.published:
            label += (f'<span class="pub">† published <a href="#{anchor}-c{row.reference}">[{row.reference}]'
                      "</a></span>")  # fmt: skip
        cells = "".join(_cell_html(cell, column.lead) for cell, column in zip(row.cells, table.columns, strict=True))
        n = f'<td class="num">{escape(row.n)}</td>' if n_column else ""
        n += f'<td class="training">{escape(row.training)}</td>' if table.trained else ""
        kind = "published" if row.published else "measured"
        body.append(f'<tr class="{kind}"><th class="method" scope="row">{label}</th>{n}{cells}</tr>')
    facts = [f"n = {escape(table.n)} per cell"] if table.n else []
    if table.pairs:
        facts.append("pair lists: " + ", ".join(f"<code>{escape(p)}</code>" for p in table.pairs))
    citations = [
        f'<li id="{anchor}-c{i}">[{i}] † published: {escape(c)}</li>' for i, c in enumerate(table.citations, 1)
    ]
    reasons = [f"<li>[{escape(letter)}] n/a: {escape(reason)}</li>" for letter, reason in table.reasons]
    files = [f"<li>{escape(FROM_FILES_NOTE)}</li>"] if any(row.from_files for row in table.rows) else []
    listed = citations + reasons + files + notes
    return (
        f'<h3 id="{anchor}">{escape(table.title)}</h3>'
        + (f'<p class="caption">{"; ".join(facts)}.</p>' if facts else "")
        + f'<div class="tablebox"><table class="results"><thead>{head}</thead><tbody>{"".join(body)}</tbody>'
        "</table></div>" + (f'<ul class="footnotes plain">{"".join(listed)}</ul>' if listed else "")
    )


def _code_spans(text: str) -> str:
    """``text`` escaped, its backquoted parts as ``<code>``."""
    parts = escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


# ---------------------------------------------------------------------------------------------------------------------
# Plots, grid, methods, problems, details.


def _plots_html(plots: Sequence[Plot], lead: Sequence[str], rel) -> str:
    """The quality-speed figures and the bars of the lead metrics and of ms/image shown; every other chart folded."""

    def figure(plot: Plot) -> str:
        caption = f'{escape(plot.title)} (<a href="{escape(rel(plot.svg))}">SVG</a>)'
        return figure_html(rel(plot.png), plot.title, caption, half=plot.kind != "quality_speed")

    first = [p for p in plots if p.kind == "quality_speed"]
    first += [p for m in (*lead, "ms_per_image") for p in plots if p.kind == "bars" and p.metric == m]
    rest = [p for p in plots if p not in first]
    html = f'<div class="figures">{"".join(map(figure, first))}</div>'
    if rest:
        html += _folded(f"More charts ({len(rest)})", f'<div class="figures">{"".join(map(figure, rest))}</div>')
    return html


def _grid_html(grid: Grid, rel) -> str:
    if grid.columns:
        truth = (" The true try-on is the generator's render of this person in this garment: what every column "
                 "should look like.") if grid.has_truth else ""  # fmt: skip
        caption = ("Rows: unpaired pairs (person id / garment id). Columns: " + escape(", ".join(grid.columns)) + "."
                   + escape(truth))  # fmt: skip
    else:
        caption = "Rows: unpaired pairs; columns: the inputs, then each method's try-on (as drawn by the run)."
    if grid.flagged:
        caption += " " + "; ".join(f'<span class="flag">⚠ {escape(m)}: {escape(why)}</span>'
                                   for m, why in grid.flagged.items())  # fmt: skip
    return figure_html(rel(grid.path), "qualitative grid", caption)


def _methods_html(run: Mapping[str, Any]) -> str:
    """One compact line per method: title, key, family, where its weights come from, citation."""
    rows = []
    for key, info in (run.get("methods") or {}).items():
        info = info if isinstance(info, Mapping) else {}
        trained = info.get("trained_by_suite")
        if isinstance(trained, Mapping):
            weights = f"trained by the suite ({_text(trained.get('recipe'))}, run {_text(trained.get('run'))})"
        elif info.get("predictions"):
            weights = "scored from files"
        elif info.get("checkpoints"):
            weights = f"{len(info['checkpoints'])} checkpoint file(s)"
        else:
            weights = "none"
        rows.append(f"<tr><th>{_text(info.get('title') or key)}</th><td class=\"key\"><code>{_text(key)}</code></td>"
                    f"<td>{_text(info.get('family'))}</td><td>{weights}</td><td>{_text(info.get('citation'))}</td>"
                    "</tr>")  # fmt: skip
    return (
        '<div class="scroll"><table><thead><tr><th>method</th><th>key</th><th>family</th><th>weights</th>'
        f"<th>citation</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _problems_html(run: Mapping[str, Any], missing_cells: Sequence[str], skipped_plots: Sequence[tuple[str, str]],
                   grid_warnings: Sequence[str]) -> str:  # fmt: skip
    problems = [
        ("Skipped (inputs missing)", [str(s) for s in run.get("skipped") or []], True),
        ("Warnings", [str(w) for w in run.get("warnings") or []] + list(grid_warnings), False),
        ("Cells that could not be computed", list(missing_cells), False),
        ("Plots not drawn", [f"{name}: {reason}" for name, reason in skipped_plots], False),
    ]
    return "".join(_folded(f"{title} ({len(items)})", value_html(items), open_=opened)
                   for title, items, opened in problems if items)  # fmt: skip


def _details_html(run: Mapping[str, Any]) -> str:
    """Everything else ``run.json`` holds, folded, one block per part."""
    meta = run.get("metadata") or {}
    parts = [
        ("Suite (resolved)", run.get("suite")),
        ("Training recipes", meta.get("recipes")),
        ("Protocols", run.get("protocols")),
        ("Methods", run.get("methods")),
        ("Datasets", run.get("datasets")),
        ("Matching and resizing per cell", run.get("evaluations")),
        ("Machine, versions and the rest of the metadata", {k: v for k, v in meta.items() if k != "recipes"}),
        ("Cells and timings", {"cells": run.get("cells"), "timings": run.get("timings")}),
    ]
    known = {"suite", "protocols", "methods", "datasets", "evaluations", "metadata", "cells", "timings", "skipped",
             "warnings"}  # fmt: skip
    parts += [(str(k), v) for k, v in run.items() if k not in known]
    return "".join(_folded(title, _json(value)) for title, value in parts if value)


# ---------------------------------------------------------------------------------------------------------------------
# The page.


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
    grid: Grid | None,
    caveats: Sequence[str] = (),
    comparisons: str = "",
) -> str:
    """The page: title, provenance at a glance, how to read it, tables, plots, grid, methods, problems, details.

    Args:
        run: the run metadata (only ``suite.name`` is required).
        out_dir: where the page goes; image paths are written relative to it.
        quality: the quality tables.
        latency: the latency tables.
        precision: the low-precision rows against their fp32 twins.
        plots: the plots written.
        skipped_plots: ``(name, reason)`` per plot not drawn.
        missing_cells: one line per cell that could not be computed.
        grid: the qualitative grid, if drawn.
        caveats: caveats found in the numbers, after the suite's own.
        comparisons: the paired comparisons' matrices (:func:`bench.report.comparisons.comparisons_html`), if any.

    Returns:
        The HTML text.
    """
    suite = run["suite"]

    def rel(path: Path) -> str:
        return Path(os.path.relpath(path, out_dir)).as_posix()

    flagged = grid.flagged if grid is not None else {}
    sections: list[tuple[str, str, str, str]] = []  # (anchor, nav label, title, body)
    if quality:
        body = _legend(run) + "".join(_table_html(t, f"quality-{i}", flagged) for i, t in enumerate(quality))
        sections.append(("quality", "Results", "Results", body))
    sections.append(("read", "How to read", "How to read it", _how_to_read(run, quality, latency, caveats)))
    for anchor, nav, title, tables in (("precision", "Low precision", PRECISION_HEADING, precision),
                                       ("latency", "Latency", "Latency", latency)):  # fmt: skip
        if tables:
            body = "".join(_table_html(t, f"{anchor}-{i}", flagged) for i, t in enumerate(tables))
            sections.append((anchor, nav, title, body))
    if comparisons:
        sections.append(("comparisons", "Comparisons", "Paired comparisons", comparisons))
    if plots:
        sections.append(("plots", "Plots", "Plots", _plots_html(plots, lead_metrics(run), rel)))
    if grid is not None:
        sections.append(("qualitative", "Qualitative", "Qualitative", _grid_html(grid, rel)))
    if run.get("methods"):
        sections.append(("methods", "Methods", "Methods", _methods_html(run)))
    problems = _problems_html(run, missing_cells, skipped_plots, grid.warnings if grid is not None else ())
    if problems:
        sections.append(("problems", "Problems", "Skipped, warnings and n/a cells", problems))
    details = _details_html(run)
    if details:
        sections.append(("provenance", "Provenance", "Provenance details", details))

    description = f'<p class="lead">{escape(str(suite["description"]).strip())}</p>' if suite.get("description") else ""
    return page_html(f"pftryon bench: {suite['name']}", [(a, t, b) for a, _, t, b in sections], lead=description,
                     legend="", summary=_summary_box(run), nav_labels=[n for _, n, _, _ in sections])  # fmt: skip


def page_html(
    title: str, sections: Sequence[tuple[str, str, str]], *, lead: str = "", facts: Sequence[str] = (),
    legend: str = "", extra_css: str = "", summary: str = "", nav_labels: Sequence[str] = (),
) -> str:  # fmt: skip
    """The page shell shared by the suite and ablation pages: head, inline CSS, title, facts line, nav, sections.

    Args:
        title: the page title (escaped here).
        sections: ``(anchor, title, body HTML)`` per section, in order; anchors and titles are trusted constants.
        lead: HTML under the title (the description).
        facts: escaped ``key: value`` strings for the line under the lead.
        legend: HTML between the nav and the first section.
        extra_css: CSS appended to the shared style sheet.
        summary: HTML between the lead and the nav (the suite page's provenance box).
        nav_labels: the nav's link texts, one per section (default: the section titles).

    Returns:
        The HTML text.
    """
    labels = list(nav_labels) or [heading for _, heading, _ in sections]
    nav = "".join(f'<a href="#{anchor}">{label}</a>' for (anchor, _, _), label in zip(sections, labels, strict=True))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}{extra_css}</style></head>\n<body><main>"
        f"<h1>{escape(title)}</h1>{lead}"
        + (f'<p class="meta">{" · ".join(facts)}</p>' if facts else "")
        + summary
        + f"<nav>{nav}</nav>{legend}"
        + "\n".join(f'<section id="{a}"><h2>{t}</h2>{body}</section>' for a, t, body in sections)
        + "</main></body></html>\n"
    )
