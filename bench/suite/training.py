"""Methods the suite trains itself: runs of a training recipe (:mod:`bench.train`), trained once per seed and reused
by fingerprint; seeds can train side by side in worker processes.

A seed other than the recipe's own trains the recipe with that seed (its own work folder, the recipe's hash changing
with the seed) on the recipe's data, which do not depend on the training seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runtime import _world
from bench.train.convergence import CONVERGENCE_TOLERANCE, run_record
from bench.train.data import split_pairs
from bench.train.recipe import Recipe, load_recipe
from bench.train.runs import Progress, Run, plan_runs, train_run

__all__ = ["TrainingJob", "method_training", "recipe_work", "train_jobs", "train_method"]


@dataclass(frozen=True)
class TrainingJob:
    """One trained row at one seed: the ``run`` of recipe ``recipe``; ``seed`` ``None`` is the recipe's own."""

    recipe: str
    run: str
    seed: int | None = None


def recipe_work(recipe: Recipe, work: Path) -> Path:
    """The recipe's folder under ``work``: ``train/<name>-<sha256 of the recipe, 12 hex>`` (data, runs, caches), so a
    changed recipe trains anew and an unchanged one is reused."""
    digest = hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    return work / "train" / f"{recipe.name}-{digest}"


def _seeded(job: TrainingJob) -> tuple[Recipe, Recipe]:
    """The job's recipe as written and with the job's training seed."""
    recipe = load_recipe(job.recipe)
    return recipe, recipe if job.seed is None else dataclasses.replace(recipe, seed=job.seed)


def _runs(job: TrainingJob, work: Path) -> tuple[list[Run], list[Run]]:
    """The runs ``job`` needs (its own stages, after the tutor's when a stage learns from it) and its own runs.

    Raises:
        ValueError: ``job.run`` is not a run of the recipe (the message lists them).
    """
    _, recipe = _seeded(job)
    plan = plan_runs(recipe, recipe_work(recipe, work))
    groups = list(dict.fromkeys(r.key.rsplit("/", 1)[0] for r in plan))
    if job.run not in groups:
        raise ValueError(f"recipe {recipe.name} has no run {job.run!r}; its runs: {', '.join(groups)}")
    own = [r for r in plan if r.key.startswith(f"{job.run}/")]
    tutored = any(r.config.tutor is not None for r in own)
    return [r for r in plan if r.key.startswith("tutor/") and tutored and job.run != "tutor"] + own, own


def train_method(job: TrainingJob, work: Path, device: str, progress: Progress) -> Path:
    """Train (or reuse) the runs of ``job`` and return its final model folder.

    ``job.run`` is ``tutor`` (PB-AFN), ``noise-<p>/<variant>`` (a PF-AFN student, which needs the tutor) or a baseline
    of the recipe (``cp_vton``...; with the tutor when a stage learns from it). The recipe's synthetic data must
    already be in ``<recipe work>/data`` (:func:`bench.suite.data.prepare_dataset`).
    """
    written, recipe = _seeded(job)
    needed, _ = _runs(job, work)
    train_set, _ = split_pairs(recipe.data, recipe_work(written, work) / "data", "train", "paired", recipe.seed)
    for number, item in enumerate(needed, 1):
        train_run(item, train_set, device, lambda m, n=number: progress(f"train [{n}/{len(needed)}] {m}"))
    return needed[-1].model


def _train_group(jobs: Sequence[TrainingJob], work: Path, device: str, threads: int) -> None:
    """A worker process: train ``jobs`` (one seed's) one after another on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    seed = jobs[0].seed

    def progress(message: str) -> None:
        print(f"[seed {seed}] {message}", file=sys.stderr, flush=True)

    for job in jobs:
        train_method(job, work, device, progress)


def _threads(groups: int, workers: int, threads: int) -> list[int]:
    """Threads of each of ``groups`` jobs run ``workers`` at a time: an equal share of ``threads`` within a round;
    a last, incomplete round shares them among fewer. Fixed in advance, so the numbers do not depend on timing."""
    last = groups % workers
    return [max(1, threads // (last if i >= groups - last else workers)) for i in range(groups)]


def train_jobs(jobs: Sequence[TrainingJob], work: Path, device: str, workers: int, progress: Progress) -> None:
    """Train every job: in this process, one after another, with ``workers`` 1, on CUDA or under ``torchrun`` (each
    run then trains with DDP over the processes); else each seed's jobs in a worker process, ``workers`` seeds side
    by side, the machine's threads shared (:func:`_threads`)."""
    import torch

    by_seed: dict[int | None, list[TrainingJob]] = {}
    for job in jobs:
        if not all(run.record.is_file() for run in _runs(job, work)[0]):
            by_seed.setdefault(job.seed, []).append(job)  # finished jobs are reused where the rows are loaded
    if not by_seed:
        return
    if workers == 1 or len(by_seed) == 1 or device != "cpu" or _world()[1] > 1:
        for job in (j for group in by_seed.values() for j in group):
            train_method(job, work, device, progress)
        return
    groups = list(by_seed.values())
    shares = _threads(len(groups), workers, torch.get_num_threads())
    progress(f"training {len(groups)} seeds, {workers} side by side ({', '.join(map(str, shares))} threads)")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(groups)), mp_context=context) as pool:
        futures = [pool.submit(_train_group, g, work, device, n) for g, n in zip(groups, shares, strict=True)]
        for group, future in zip(groups, futures, strict=True):
            future.result()  # a failure in a worker is raised here
            progress(f"seed {group[0].seed}: trained")


def method_training(job: TrainingJob, work: Path) -> dict[str, Any]:
    """What one trained row at one seed cost and whether it converged: its own stages' steps and images seen (the
    tutor a student learns from is trained once and counted in its own row), wall time and each stage's convergence
    (:func:`bench.train.convergence.convergence`; ``None``: too few steps to decide)."""
    _, own = _runs(job, work)
    stages = {}
    for run in own:
        trained = json.loads(run.record.read_text())
        record, _ = run_record(run, trained)
        stages[run.config.stage] = {"steps": trained["steps"], "images": trained["steps"] * trained["global_batch"],
                                    "wall_time_s": trained["wall_time_s"], "processes": trained["world_size"],
                                    "converged": record["converged"],
                                    "last_quarter_fall": record["last_quarter_fall"]}  # fmt: skip
    return {
        "seed": _seeded(job)[1].seed,
        "steps": sum(s["steps"] for s in stages.values()),
        "images": sum(s["images"] for s in stages.values()),
        "wall_time_s": round(sum(s["wall_time_s"] for s in stages.values()), 1),
        "processes": max(s["processes"] for s in stages.values()),
        "converged": _all_converged([s["converged"] for s in stages.values()]),
        "criterion": f"each stage's mean loss fell by less than {CONVERGENCE_TOLERANCE:.0%} over its last quarter",
        "stages": stages,
    }


def _all_converged(flags: list[bool | None]) -> bool | None:
    """False if any stage did not converge, else None if any is undecided, else True."""
    return False if False in flags else None if None in flags else True
