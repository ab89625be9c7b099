"""The benchmark report: a tidy results table and the run's metadata as CSV, Markdown, plots and one HTML page.

Example:
    >>> write_report(results, run, Path("reports/my-suite"))  # doctest: +SKIP
    [PosixPath('reports/my-suite/results.csv'), PosixPath('reports/my-suite/table.md'), ...]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.records import read_record
from bench.report.comparisons import comparisons_html, comparisons_markdown
from bench.report.html import render_html
from bench.report.plots import Plot, pareto_front, quality_speed_metrics, write_plots
from bench.report.qualitative import Grid, QualitativeRow, write_grid
from bench.report.table_markdown import markdown
from bench.report.tables import (
    COLUMNS,
    METRICS,
    below_lower_bounds,
    latency_tables,
    method_order,
    method_titles,
    place,
    precision_tables,
    prepare,
    quality_tables,
    setting,
)
from bench.results import INTEGER_COLUMNS
from pftryon.models import atomic_write

__all__ = ["COLUMNS", "METRICS", "Plot", "QualitativeRow", "pareto_front", "rerender", "with_integers", "write_report"]

_logger = logging.getLogger(__name__)


def _missing_cells(frame: pd.DataFrame) -> list[str]:
    """One line per row whose value could not be computed: where it is, then why."""
    lines = []
    for record in frame[frame["value"].isna()].to_dict("records"):
        where = [record["method"]]
        if record["dataset"] or record["split"]:
            where.append(place(record["dataset"], record["split"]))
        where += [record["protocol"], METRICS[record["metric"]].label]
        if record["device"] or record["dtype"] or record["batch"]:
            where.append(setting(record["device"], record["dtype"], record["batch"]))
        lines.append(f"{', '.join(p for p in where if p)}: {record['note'] or 'no reason given'}")
    return lines


def _grid_methods(rows: Sequence[QualitativeRow], order: list[str]) -> list[str]:
    """The methods of the grid (with outputs, or failed): in report order, then any others sorted."""
    named = {m for row in rows for m in (*row.outputs, *row.failed)}
    return [m for m in order if m in named] + sorted(named - set(order))


def with_integers(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its whole-number columns (:data:`bench.results.INTEGER_COLUMNS`) as integers, empty cells kept."""
    out = table.copy()
    for column in INTEGER_COLUMNS:
        values = pd.to_numeric(out[column].replace("", float("nan")))
        if (values.dropna() % 1 == 0).all():
            out[column] = values.astype("Int64")
    return out


def _small_sample_warnings(frame: pd.DataFrame) -> list[str]:
    """One line per set-level metric measured on fewer images than it needs to be unbiased (FID below 10,000)."""
    from bench.metrics.fid_infinity import set_size_warning

    scored = frame[frame["value"].notna() & frame["n"].notna()][["metric", "n"]].drop_duplicates()
    found = (set_size_warning(metric, int(n)) for metric, n in scored.itertuples(index=False))
    return list(dict.fromkeys(w for w in found if w))


def _comparisons(out: Path) -> list[dict[str, Any]]:
    """The rows of ``out/comparisons.csv`` (written by the suite before the report), or none."""
    path = out / "comparisons.csv"
    if not path.is_file():
        return []
    return pd.read_csv(path, keep_default_na=False, na_values=[""]).to_dict("records")


def _render(frame: pd.DataFrame, run: Mapping[str, Any], out: Path, grid: Grid | None, plots: bool) -> list[Path]:
    """``table.md``, the plots and ``index.html`` of a :func:`~bench.report.tables.prepare`-d frame (index reset);
    returns the paths written, the grid's (drawn before) before the page."""
    order = method_order(frame, run)
    titles = method_titles(run, order)
    quality, latency, precision = quality_tables(frame, run), latency_tables(frame, run), precision_tables(frame, run)
    compared = _comparisons(out)
    matrices = comparisons_markdown(compared, method_titles=titles, level=3) if compared else ""
    small = _small_sample_warnings(frame)
    paths = [out / "table.md"]
    tail = "".join(f"\n- {warning}\n" for warning in small)
    tail += f"\n## Paired comparisons (comparisons.csv)\n\n{matrices}" if matrices else ""
    atomic_write(paths[0], markdown(run, quality, latency, precision) + tail)

    report = run["suite"].get("report") or {}
    drawn, skipped_plots = (
        write_plots(frame, order, out / "plots", titles=titles, quality_speed=quality_speed_metrics(report))
        if plots
        else ([], [("all", "plots=False")])
    )
    for name, reason in skipped_plots:
        _logger.info("plot %s skipped: %s", name, reason)
    paths += [path for plot in drawn for path in (plot.png, plot.svg)]
    if grid is not None:
        paths.append(grid.path)
        for warning in grid.warnings:
            _logger.warning(warning)

    page = render_html(
        run, out, quality=quality, latency=latency, precision=precision, plots=drawn, skipped_plots=skipped_plots,
        missing_cells=_missing_cells(frame), grid=grid, caveats=[*below_lower_bounds(frame, run), *small],
        comparisons=comparisons_html(compared, method_titles=titles) if compared else "",
    )  # fmt: skip
    paths.append(out / "index.html")
    atomic_write(paths[-1], page)
    return paths


def write_report(
    results: pd.DataFrame,
    run: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    qualitative: Sequence[QualitativeRow] | None = None,
    plots: bool = True,
) -> list[Path]:
    """Write the report of one benchmark run into ``out_dir``; every file is written atomically.

    Files: ``results.csv`` (``results`` as given, rows sorted), ``table.md``, ``plots/<name>.{png,svg}``,
    ``qualitative.png`` (when ``qualitative`` rows are given) and ``index.html``. ``run.json`` is the runner's.

    Args:
        results: the tidy table, one row per number, with exactly the columns :data:`COLUMNS`.
        run: the run metadata (JSON-like); only ``run["suite"]["name"]`` is required, the rest is shown when present
            (``run["suite"]["report"]``: what the report leads with and explains; ``run["methods"][key]["title"]``:
            display titles).
        out_dir: the report folder (created when absent).
        qualitative: pairs for the qualitative grid, each with the same methods' outputs.
        plots: draw the plots (about a second each); ``False`` lists them all as skipped.

    Returns:
        The paths written, in the order above.

    Raises:
        ValueError: when ``run`` has no suite name or ``results`` breaks the contract (see
            :func:`bench.report.tables.prepare`).
    """
    if not isinstance(run.get("suite"), Mapping) or not run["suite"].get("name"):
        raise ValueError("run['suite']['name'] is required (the resolved suite config)")
    out = Path(out_dir)
    frame = prepare(results)
    table = results.reset_index(drop=True).iloc[frame.index][list(COLUMNS)]
    atomic_write(out / "results.csv", with_integers(table).to_csv(index=False))
    frame = frame.reset_index(drop=True)
    grid = None
    if qualitative:
        order = method_order(frame, run)
        methods = _grid_methods(qualitative, order)
        titles = method_titles(run, methods)
        grid = write_grid(list(qualitative), methods, out / "qualitative.png", titles)
    return [out / "results.csv", *_render(frame, run, out, grid, plots)]


def rerender(folder: str | os.PathLike[str], *, plots: bool = True) -> list[Path]:
    """Redraw ``table.md``, the plots and ``index.html`` of a finished suite report from its ``results.csv`` and
    ``run.json``, running nothing (after a change to the report's code). ``results.csv``, ``run.json`` and
    ``qualitative.png`` stay as they are (the grid's images are not in the folder: the page shows it as drawn);
    plot files the report no longer draws are removed. A column ``results.csv`` was written without reads as empty.

    Args:
        folder: a report folder written by ``pftryon bench``.
        plots: redraw the plots (else the page lists them as not drawn and ``plots/`` is left alone).

    Returns:
        The paths written.

    Raises:
        InputError: ``run.json`` is missing, unreadable or not a suite run's.
        FileNotFoundError: ``results.csv`` is missing.
    """
    out = Path(folder)
    run = read_record(out / "run.json", "suite-run")
    text = ("method", "dataset", "split", "pairs", "protocol", "metric", "source", "device", "dtype", "note",
            "citation")  # fmt: skip
    results = pd.read_csv(out / "results.csv", keep_default_na=False, na_values=[""], dtype=dict.fromkeys(text, str))
    results = results.assign(**{c: "" for c in COLUMNS if c not in results.columns})[list(COLUMNS)]
    drawn = out / "qualitative.png"
    grid = Grid(drawn, (), {}, ()) if drawn.is_file() else None
    paths = _render(prepare(results).reset_index(drop=True), run, out, grid, plots)
    if plots:
        written = {p.name for p in paths}
        for stale in (out / "plots").glob("*"):
            if stale.suffix in (".png", ".svg") and stale.name not in written:
                stale.unlink()
    return [p for p in paths if p != drawn]
