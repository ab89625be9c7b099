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


def write_suite_report(result: SuiteResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``run.json`` and the report (results.csv, table.md, plots, index.html) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "run.json", json.dumps(result.run, indent=2, default=str) + "\n")
    atomic_write(out / "results.csv", result.results.to_csv(index=False))
    table = result.results.pivot_table(index="method", columns=["protocol", "metric"], values="value")
    atomic_write(out / "table.md", table.to_string())
    return [out / "run.json", out / "results.csv", out / "table.md"]
