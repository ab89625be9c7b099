"""``pftryon ablate``: PF-AFN's knowledge and distillation ablation on synthetic data with exact ground truth.

A recipe (``bench/recipes/<name>.yaml``, loaded into a frozen :class:`~bench.train.recipe.Recipe`; unknown keys
are errors) says which data to synthesise, how long to train each stage, which student variants to train and at which
parse noise levels. :func:`run_ablation` then

1. synthesises the data into ``<work>/data`` (skipped when it is there with the same settings);
2. trains the PB-AFN tutor once (``pb-warp`` then ``pb-e2e``) on clean parses;
3. trains every student variant at every parse-noise level (``pf-warp`` then ``pf-e2e``), the tutor's parse
   inputs corrupted at that level (:func:`~pftryon.train.representation.corrupt_parse`);
4. evaluates each student (it sees the real test person and another garment: no parse), the tutor as the
   parser-based reference (its parse inputs corrupted at each level) and a no-warp baseline (the in-shop
   garment pasted over the person by its mask) on the held-out unpaired pairs, against the true try-on
   images and the true garment flows;

and :func:`bench.report.ablation.write_report` writes the table with bootstrap confidence intervals, the loss
curves and everything that produced them. Each training run has its own folder under ``<work>/runs``: a finished one
(``final/`` exists) is skipped, an interrupted one resumes exactly from its newest checkpoint. The students share a
cache of the tutor's outputs under ``<work>/fake_cache`` (recipe ``fake_cache``).

The recipe, the data and the training runs are :mod:`bench.train`'s (:mod:`~bench.train.recipe`,
:mod:`~bench.train.data`, :mod:`~bench.train.runs`), shared with the suite's trained methods. Here:
:mod:`~bench.ablate.convergence` (each run's convergence) and :mod:`~bench.ablate.scoring` (models against the ground
truth, through ``pftryon eval``'s metric pass); the record is :class:`bench.records.AblationRecord`, the report
:mod:`bench.report.ablation`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.ablate.scoring import evaluate_models
from bench.records import SCHEMA_VERSION, AblationRecord
from bench.results import run_metadata
from bench.speed import cpu_model
from bench.train.convergence import run_record
from bench.train.data import prepare_data, split_pairs
from bench.train.recipe import Recipe
from bench.train.runs import Progress, plan_runs, train_run

__all__ = ["AblationResult", "run_ablation"]


@dataclass
class AblationResult:
    """What :func:`run_ablation` gives :func:`bench.report.ablation.write_report`: the record (``ablation.json``),
    the per-sample rows and each run's loss curve (steps, losses)."""

    summary: AblationRecord
    rows: list[dict[str, Any]]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


def _machine() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run_ablation(
    recipe: Recipe,
    work: str | os.PathLike[str],
    *,
    device: str = "cpu",
    weights_dir: str | os.PathLike[str] | None = None,
    allow_unofficial_weights: bool = False,
    progress: Progress = lambda message: None,
) -> AblationResult:
    """Synthesise, train (resumably) and evaluate ``recipe`` under ``work``; see the module docstring.

    Args:
        recipe: the ablation.
        work: folder of the data and the training runs (reused: finished runs are skipped).
        device: training and evaluation device.
        weights_dir: searched before the torch hub cache for the LPIPS and Inception weights.
        allow_unofficial_weights: score with LPIPS / Inception weights files that are not the official ones (a
            warning in the record's ``scoring``) instead of refusing them.
        progress: called with one line per step (data, each run, evaluation), each with the elapsed time.
    """
    start = time.perf_counter()
    load_start = _load_average()
    work = Path(work)

    def report(message: str) -> None:
        progress(f"[{time.perf_counter() - start:7.1f} s] {message}")

    data = prepare_data(recipe.data, work / "data", report)
    train_set, _ = split_pairs(recipe.data, work / "data", "train", "paired", recipe.seed)
    report(f"training on {len(train_set)} pairs of {', '.join(recipe.data.categories)}")
    plan = plan_runs(recipe, work)
    trained = {}
    for number, run in enumerate(plan, 1):
        trained[run.key] = train_run(run, train_set, device, lambda m, n=number: report(f"[{n}/{len(plan)}] {m}"))
    training_end = time.perf_counter()

    report("evaluating")
    evaluated = evaluate_models(recipe, plan, trained, work / "data", device, weights_dir,
                                allow_unofficial_weights=allow_unofficial_weights, progress=report)  # fmt: skip
    runs, curves = [], {}
    for run in plan:
        record, curves[run.key] = run_record(run, trained[run.key])
        runs.append(record)
    end = time.perf_counter()
    summary = AblationRecord(
        schema_version=SCHEMA_VERSION,
        kind="ablation",
        recipe=recipe.to_dict(),
        data=data,
        train_pairs=len(train_set),
        test_pairs=evaluated.test_pairs,
        table=evaluated.table,
        orderings=evaluated.orderings,
        metric_notes=evaluated.metric_notes,
        scoring=evaluated.scoring,
        runs=runs,
        timing={
            "total_s": round(end - start, 1),
            "training_s": round(training_end - start, 1),
            "evaluation_s": round(end - training_end, 1),
            "training_wall_s_all_runs": round(sum(r["wall_time_s"] for r in runs), 1),
            "budget_s": recipe.budget_s,
        },
        machine=_machine() | {"load_average_start": load_start, "load_average_end": _load_average()},
        device=device,
        metadata=run_metadata(),
    )
    report(f"evaluated {len(evaluated.table)} models on {evaluated.test_pairs} unpaired test pairs")
    return AblationResult(summary, evaluated.rows, curves)
