"""Benchmark suites: declarative configs (:mod:`~bench.suite.config`), the runner (:mod:`~bench.suite.runner`),
published rows (:mod:`~bench.suite.literature`) and the report they become (:mod:`bench.report`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.suite.config import Suite, list_suites, load_suite
from bench.suite.runner import RESULT_COLUMNS, SuiteResult, run_suite
from pftryon.models import atomic_write

__all__ = ["RESULT_COLUMNS", "Suite", "SuiteResult", "list_suites", "load_suite", "run_suite", "write_suite_report"]


def write_suite_report(result: SuiteResult, out_dir: str | os.PathLike[str], *, plots: bool = True) -> list[Path]:
    """Write ``comparisons.csv`` (:func:`bench.stats.write_comparisons`), ``seeds.csv`` (a trained row's cells at each
    training seed, when it was trained at several), ``run.json`` and the report (:func:`bench.report.write_report`:
    results.csv, table.md, plots, qualitative.png, index.html, which show the comparisons) into ``out_dir``; returns
    every path written."""
    from bench.report import QualitativeRow, with_integers, write_report

    out = Path(out_dir)
    rows = [
        QualitativeRow(r["pair"], Path(r["person"]), Path(r["garment"]), dict(r["outputs"]),
                       truth=Path(r["truth"]) if r.get("truth") else None, failed=dict(r.get("failed") or {}))
        for r in result.qualitative
    ]  # fmt: skip
    from bench.stats import write_comparisons

    paths = [write_comparisons(out / "comparisons.csv", result.comparisons.rows)]
    if len(result.seeds) and result.seeds["seed"].nunique() > 1:
        paths.append(out / "seeds.csv")
        atomic_write(paths[-1], with_integers(result.seeds).drop(columns="seeds").to_csv(index=False))
    paths += write_report(result.results, result.run, out, qualitative=rows or None, plots=plots)
    atomic_write(out / "run.json", json.dumps(result.run, indent=2, default=str) + "\n")
    return [*paths, out / "run.json"]
