"""Training runs of a recipe: the plan (tutor, baselines, students, each a chain of stages) and resumable training."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.train.recipe import Recipe, Variant
from bench.train.wiring import TRAINABLE, register_stages
from pftryon.train.config import TUTORED_STAGES, TrainConfig, with_predated_fields
from pftryon.train.data import TrainingPairs

__all__ = ["Progress", "Run", "StaleWorkError", "noise_tag", "plan_runs", "train_run"]

Progress = Callable[[str], None]


class StaleWorkError(ValueError):
    """The work folder holds data or finished runs made with other settings than the recipe's."""


@dataclass(frozen=True)
class Run:
    """One training run: its folder and config; ``variant``/``parse_noise`` are ``None`` for the tutor's."""

    key: str
    folder: Path
    config: TrainConfig
    variant: Variant | None = None
    parse_noise: float | None = None

    @property
    def model(self) -> Path:
        """The trained model's folder (what the next stage's ``init``/``tutor`` points at)."""
        return self.folder / "final" / "model"

    @property
    def record(self) -> Path:
        """The finished run's ``training.json`` (present once the run has finished)."""
        return self.folder / "final" / "training.json"


def noise_tag(noise: float) -> str:
    return f"noise-{noise:g}"


def plan_runs(recipe: Recipe, work: str | os.PathLike[str]) -> list[Run]:
    """Every training run of ``recipe`` in order: the tutor's two stages, each student's two stages, then each
    baseline's stages (run key ``<baseline>/<stage>``; a stage that learns from a tutor gets PF-AFN's)."""
    root = Path(work) / "runs"
    fake_cache = str(Path(work) / "fake_cache") if recipe.fake_cache else None

    def chain(key: str, stages: tuple[str, ...], init: str | None, *identity: Any, **fields_: Any) -> list[Run]:
        runs = []
        for stage in stages:
            config = recipe.train_config(stage, init=init, **fields_)
            runs.append(Run(f"{key}/{stage}", root / key / stage, config, *identity))
            init = str(runs[-1].model)
        return runs

    plan = chain("tutor", ("pb-warp", "pb-e2e"), None)
    tutor = str(plan[-1].model)
    for baseline in recipe.baselines:
        init = None
        for stage in TRAINABLE[baseline]:
            tutored = {"tutor": tutor, "fake_cache": fake_cache} if stage in TUTORED_STAGES else {}
            plan += chain(baseline, (stage,), init, **tutored)
            init = str(plan[-1].model)
    for noise in recipe.parse_noise:
        for variant in recipe.variants:
            plan += chain(
                f"{noise_tag(noise)}/{variant.name}",
                ("pf-warp", "pf-e2e"),
                tutor,
                variant,
                noise,
                knowledge=variant.knowledge,
                distill=variant.distill,
                parse_noise=noise,
                tutor=tutor,
                fake_cache=fake_cache,
            )
    return plan


# May differ when the work folder is reached by another path; the fake cache changes fakes in the last bits only.
_PATH_FIELDS = ("init", "tutor", "fake_cache")


def train_run(run: Run, dataset: TrainingPairs, device: str, progress: Progress) -> dict[str, Any]:
    """Train ``run`` (skipped when finished, resumed when interrupted); returns its ``training.json``."""
    from pftryon.train.trainer import latest_checkpoint, train

    record_file = run.record
    if record_file.is_file():
        record = json.loads(record_file.read_text())
        expected, recorded = run.config.to_dict(), with_predated_fields(record["config"])
        changed = sorted(k for k in expected if k not in _PATH_FIELDS and recorded.get(k) != expected[k])
        if changed:
            raise StaleWorkError(
                f"{run.folder} was trained with other settings ({', '.join(changed)}); remove it or choose "
                "another work folder"
            )
        progress(f"{run.key}: finished before ({record['wall_time_s']:.0f} s), skipped")
        return record
    checkpoint = latest_checkpoint(run.folder)
    progress(f"{run.key}: {'resuming from ' + checkpoint.name if checkpoint else 'training'}")
    register_stages()
    train(run.config, dataset, run.folder, device=device, resume=True)
    return json.loads(record_file.read_text())
