"""Methods the suite trains itself: runs of a training recipe (:mod:`bench.train`), trained once and reused by
fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.train.data import split_pairs
from bench.train.recipe import Recipe, load_recipe
from bench.train.runs import Progress, plan_runs, train_run

__all__ = ["recipe_work", "train_method"]


def recipe_work(recipe: Recipe, work: Path) -> Path:
    """The recipe's folder under ``work``: ``train/<name>-<sha256 of the recipe, 12 hex>`` (data, runs, caches), so a
    changed recipe trains anew and an unchanged one is reused."""
    digest = hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    return work / "train" / f"{recipe.name}-{digest}"


def train_method(recipe_name: str, run: str, work: Path, device: str, progress: Progress) -> Path:
    """Train (or reuse) the runs of ``recipe_name`` that ``run`` needs and return its final model folder.

    ``run`` is ``tutor`` (PB-AFN), ``noise-<p>/<variant>`` (a PF-AFN student, which needs the tutor) or a baseline of
    the recipe (``cp_vton``...; with the tutor when a stage learns from it). The recipe's synthetic data must already
    be in ``<recipe work>/data`` (:func:`bench.suite.data.prepare_dataset`).

    Raises:
        ValueError: ``run`` is not a run of the recipe (the message lists them).
    """
    recipe = load_recipe(recipe_name)
    folder = recipe_work(recipe, work)
    plan = plan_runs(recipe, folder)
    groups = list(dict.fromkeys(r.key.rsplit("/", 1)[0] for r in plan))
    if run not in groups:
        raise ValueError(f"recipe {recipe.name} has no run {run!r}; its runs: {', '.join(groups)}")
    own = [r for r in plan if r.key.startswith(f"{run}/")]
    tutored = any(r.config.tutor is not None for r in own)
    needed = [r for r in plan if r.key.startswith("tutor/") and tutored and run != "tutor"] + own
    train_set, _ = split_pairs(recipe.data, folder / "data", "train", "paired", recipe.seed)
    for number, item in enumerate(needed, 1):
        train_run(item, train_set, device, lambda m, n=number: progress(f"train [{n}/{len(needed)}] {m}"))
    return needed[-1].model
