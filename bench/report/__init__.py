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

from bench.report.html import render_html
from bench.report.plots import Plot, pareto_front, write_plots
from bench.report.qualitative import QualitativeRow, write_grid
from bench.report.tables import (
    COLUMNS,
    METRICS,
    latency_tables,
    markdown,
    method_order,
    place,
    precision_tables,
    prepare,
    quality_tables,
    setting,
)
from bench.results import INTEGER_COLUMNS
from pftryon.models import atomic_write

__all__ = ["COLUMNS", "METRICS", "Plot", "QualitativeRow", "pareto_front", "write_report"]

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
    """The methods with outputs in the grid: in report order, then any others sorted."""
    named = {m for row in rows for m in row.outputs}
    return [m for m in order if m in named] + sorted(named - set(order))


def _with_integers(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its whole-number columns (:data:`bench.results.INTEGER_COLUMNS`) as integers, empty cells kept."""
    out = table.copy()
    for column in INTEGER_COLUMNS:
        values = pd.to_numeric(out[column].replace("", float("nan")))
        if (values.dropna() % 1 == 0).all():
            out[column] = values.astype("Int64")
    return out


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
        run: the run metadata (JSON-like); only ``run["suite"]["name"]`` is required, the rest is shown when present.
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
    paths = [out / "results.csv", out / "table.md"]
    table = results.reset_index(drop=True).iloc[frame.index][list(COLUMNS)]
    atomic_write(paths[0], _with_integers(table).to_csv(index=False))
    frame = frame.reset_index(drop=True)
    order = method_order(frame, run)
    quality, latency, precision = quality_tables(frame, run), latency_tables(frame, run), precision_tables(frame, run)
    atomic_write(paths[1], markdown(run, quality, latency, precision))

    drawn, skipped_plots = write_plots(frame, order, out / "plots") if plots else ([], [("all", "plots=False")])
    for name, reason in skipped_plots:
        _logger.info("plot %s skipped: %s", name, reason)
    paths += [path for plot in drawn for path in (plot.png, plot.svg)]

    grid, grid_methods, grid_warnings = None, [], []
    if qualitative:
        grid, grid_methods = out / "qualitative.png", _grid_methods(qualitative, order)
        grid_warnings = write_grid(list(qualitative), grid_methods, grid)
        paths.append(grid)
    for warning in grid_warnings:
        _logger.warning(warning)

    page = render_html(
        run, out, quality=quality, latency=latency, precision=precision, plots=drawn, skipped_plots=skipped_plots,
        missing_cells=_missing_cells(frame), grid=grid, grid_methods=grid_methods, grid_warnings=grid_warnings,
    )  # fmt: skip
    paths.append(out / "index.html")
    atomic_write(paths[-1], page)
    return paths
