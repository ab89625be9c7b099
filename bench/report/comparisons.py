"""The paired comparisons (``comparisons.csv``, :func:`bench.stats.compare`) as compact matrices, Markdown or HTML.

One matrix per protocol and metric: rows and columns are the methods, a cell is row minus column (the mean paired
difference; for a set-level metric, the difference of the metric on the matched samples), marked ▲ where the row is
significantly better and ▼ where it is significantly worse after Holm's correction (``p_holm`` < 0.05), better
following the metric's direction (its :class:`~bench.metrics.specs.MetricSpec`). Display titles of methods and
protocols are the caller's; every name is escaped.

Example:
    >>> rows = [{"method_a": "a", "method_b": "b", "protocol": "p", "metric": "ssim", "diff": 0.02, "ci_low": 0.01,
    ...          "ci_high": 0.03, "p_value": 0.001, "p_holm": 0.002, "n": 50}]
    >>> print(comparisons_markdown(rows, method_titles={"a": "Method A"}))  # doctest: +NORMALIZE_WHITESPACE, +ELLIPSIS
    #### SSIM ↑ under p
    <BLANKLINE>
    | row − column | Method A | b |
    |---|---:|---:|
    | Method A | · | +0.0200 ▲ |
    | b | -0.0200 ▼ | · |
    <BLANKLINE>
    n = 50 matched samples.
    <BLANKLINE>
    Cell: row minus column...
    <BLANKLINE>
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from bench.errors import InputError
from bench.metrics.fid_infinity import set_size_warning
from bench.metrics.specs import metric_spec
from bench.stats.comparisons import ALPHA, better_method, higher_is_better

__all__ = ["comparisons_html", "comparisons_markdown"]

BETTER, WORSE, SELF = "▲", "▼", "·"


@dataclass(frozen=True)
class _Cell:
    text: str
    marker: str  # BETTER, WORSE or ""
    detail: str  # CI, p-values and n, for the HTML title


@dataclass(frozen=True)
class _Matrix:
    protocol: str
    metric: str
    heading: str
    methods: tuple[str, ...]
    cells: dict[tuple[str, str], _Cell]
    sizes: tuple[int, ...]


def _heading(metric: str, higher: bool) -> tuple[str, int]:
    """The metric's heading (label and arrow) and digits: its spec's, else its name and 4 digits."""
    try:
        spec = metric_spec(metric)
    except InputError:
        return f"{metric} {'↑' if higher else '↓'}", 4
    return spec.heading, spec.digits


def _matrices(rows: Sequence[Mapping[str, Any]], directions: Mapping[str, bool] | None,
              alpha: float) -> list[_Matrix]:  # fmt: skip
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["protocol"]), str(row["metric"])), []).append(row)
    out = []
    for (protocol, metric), group in groups.items():
        higher = higher_is_better(metric, directions)
        heading, digits = _heading(metric, higher)
        methods = tuple(dict.fromkeys(str(r[side]) for r in group for side in ("method_a", "method_b")))
        cells = {}
        for r in group:
            a, b, diff = str(r["method_a"]), str(r["method_b"]), float(r["diff"])
            best = better_method(r, higher=higher, alpha=alpha)
            tests = f"p = {float(r['p_value']):.3g}, Holm p = {float(r['p_holm']):.3g}, n = {int(r['n'])}"
            for row_method, other, sign in ((a, b, 1), (b, a, -1)):
                marker = "" if best is None else BETTER if best == row_method else WORSE
                value = sign * diff + 0.0  # + 0.0: no -0.0
                low, high = sorted(sign * float(r[k]) + 0.0 for k in ("ci_low", "ci_high"))
                text = f"{value:+.{digits}f}"
                detail = f"{row_method} − {other}: {text}, CI [{low:.{digits}f}, {high:.{digits}f}]; {tests}"
                cells[row_method, other] = _Cell(text, marker, detail)
        sizes = tuple(sorted({int(r["n"]) for r in group}))
        out.append(_Matrix(protocol, metric, heading, methods, cells, sizes))
    return out


def _sizes(matrix: _Matrix) -> str:
    n = matrix.sizes
    return f"n = {n[0]:,}" if len(n) == 1 else f"n = {n[0]:,}-{n[-1]:,}"


def _warning(matrix: _Matrix) -> str | None:
    return set_size_warning(matrix.metric, matrix.sizes[0])


def _legend(alpha: float) -> str:
    return (
        f"Cell: row minus column, the mean paired difference over the samples both rows were scored on (set-level "
        f"metrics: the metric's difference on those samples). {BETTER} the row is significantly better, {WORSE} "
        f"significantly worse (Holm-adjusted p < {alpha:g}, the correction running over every comparison of the "
        f"table, all metrics and pairs; better is higher for ↑ metrics, lower for ↓); unmarked: no significant "
        f"difference."
    )


def _title(name: str, titles: Mapping[str, str] | None) -> str:
    return (titles or {}).get(name, name)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def comparisons_markdown(
    rows: Sequence[Mapping[str, Any]],
    *,
    method_titles: Mapping[str, str] | None = None,
    protocol_titles: Mapping[str, str] | None = None,
    directions: Mapping[str, bool] | None = None,
    notes: Sequence[str] = (),
    level: int = 4,
    alpha: float = ALPHA,
) -> str:
    """The matrices of ``rows`` (``comparisons.csv`` rows) as Markdown, one per protocol and metric, then the legend
    and ``notes``.

    Args:
        rows: comparison rows (:data:`bench.stats.COMPARISON_COLUMNS`).
        method_titles, protocol_titles: display titles by name (default: the name).
        directions: ``{metric: higher_is_better}`` for metrics without a spec (default: the spec's direction).
        notes: lines listed under the legend (e.g. :attr:`bench.stats.Comparisons.notes`).
        level: the heading level of each matrix's title.
        alpha: the level at which a difference is marked.
    """
    parts = []
    for m in _matrices(rows, directions, alpha):
        names = [_md(_title(x, method_titles)) for x in m.methods]
        lines = [f"{'#' * level} {m.heading} under {_md(_title(m.protocol, protocol_titles))}", "",
                 "| row − column | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]  # fmt: skip
        for row_method, name in zip(m.methods, names, strict=True):
            cells = [SELF if row_method == col else _cell_md(m.cells.get((row_method, col))) for col in m.methods]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", f"{_sizes(m)} matched samples." + (f" {_md(w)}." if (w := _warning(m)) else "")]
        parts.append("\n".join(lines))
    if not parts:
        return ""
    parts.append(_legend(alpha))
    if notes:
        parts.append("\n".join(f"- {_md(note)}" for note in notes))
    return "\n\n".join(parts) + "\n"


def _cell_md(cell: _Cell | None) -> str:
    return "" if cell is None else f"{cell.text} {cell.marker}".strip()


def _cell_html(cell: _Cell | None) -> str:
    if cell is None:
        return '<td class="num"></td>'
    text = escape(cell.text) + (f" {cell.marker}" if cell.marker else "")
    return f'<td class="num" title="{escape(cell.detail)}">{f"<strong>{text}</strong>" if cell.marker else text}</td>'


def comparisons_html(
    rows: Sequence[Mapping[str, Any]],
    *,
    method_titles: Mapping[str, str] | None = None,
    protocol_titles: Mapping[str, str] | None = None,
    directions: Mapping[str, bool] | None = None,
    notes: Sequence[str] = (),
    alpha: float = ALPHA,
) -> str:
    """The same matrices as an HTML fragment (a legend, then per matrix an ``<h3>``, a table and its sample count; a
    cell's ``title`` gives its CI, p-values and n), for a page section body. Arguments as
    :func:`comparisons_markdown`; an empty string when there is no row."""
    parts = []
    for m in _matrices(rows, directions, alpha):
        head = "".join(f'<th class="num">{escape(_title(x, method_titles))}</th>' for x in m.methods)
        body = "".join(
            f"<tr><th>{escape(_title(r, method_titles))}</th>"
            + "".join(f'<td class="num">{SELF}</td>' if r == c else _cell_html(m.cells.get((r, c))) for c in m.methods)
            + "</tr>"
            for r in m.methods
        )
        warning = f" {escape(w)}." if (w := _warning(m)) else ""
        parts.append(
            f"<h3>{escape(m.heading)} under {escape(_title(m.protocol, protocol_titles))}</h3>"
            f'<div class="scroll"><table><thead><tr><th>row − column</th>{head}</tr></thead><tbody>{body}</tbody>'
            f'</table></div><p class="meta">{_sizes(m)} matched samples.{warning}</p>'
        )
    if not parts:
        return ""
    listed = '<ul class="plain">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>" if notes else ""
    return f'<p class="legend">{escape(_legend(alpha))}</p>' + "".join(parts) + listed
