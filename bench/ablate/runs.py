"""The ablation's runs: the plan, the synthetic data, resumable training and each run's convergence."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Subset

from bench.ablate.recipe import DataRecipe, Recipe, Variant
from bench.data import create_dataset, to_common
from bench.data.synthetic import synthesize
from bench.data.synthetic.render import SyntheticWorld
from bench.training import TRAINABLE, register_stages
from pftryon.models import atomic_write
from pftryon.train.config import TUTORED_STAGES, TrainConfig, with_predated_fields
from pftryon.train.data import TrainingPairs
from pftryon.train.representation import densepose_from_parse

__all__ = [
    "CONVERGENCE_TOLERANCE", "MIN_CONVERGENCE_STEPS", "Progress", "Run", "StaleWorkError", "convergence", "noise_tag",
    "plan_runs", "prepare_data", "run_record", "split_pairs", "train_run",
]  # fmt: skip

# CP-VTON+'s parse (lip21): unlike image-parse it keeps the neck label.
_DATASET_OPTIONS = {"parse": "image-parse-new"}
# A run counts as converged when its mean loss fell by less than this over the last quarter of its steps.
CONVERGENCE_TOLERANCE = 0.05
MIN_CONVERGENCE_STEPS = 40

# Log fields that are not loss terms.
_NOT_TERMS = ("step", "epoch", "lr", "loss", "distill_weight", "images_per_s")

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


def _fingerprint(root: Path, skip: Path) -> str:
    """sha256 over every file's relative path and content (``skip`` left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p != skip):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def prepare_data(spec: DataRecipe, root: Path, progress: Progress) -> dict[str, Any]:
    """Synthesise ``spec`` into ``root`` unless it is there already; returns the manifest and fingerprint.

    Raises:
        StaleWorkError: ``root`` holds data made with other settings.
    """
    stamp = root / "ablation_data.json"
    wanted = json.loads(json.dumps(dataclasses.asdict(spec)))
    if stamp.is_file():
        record = json.loads(stamp.read_text())
        if record["spec"] != wanted:
            raise StaleWorkError(
                f"{root} holds data made with {record['spec']}, the recipe asks for {wanted}; "
                "remove the work folder or choose another with --work"
            )
        progress(f"data: {root} already synthesised, skipped")
        return record
    start = time.perf_counter()
    manifest = synthesize(
        spec.layout, root, n=spec.n, size=spec.size, seed=spec.seed, test_fraction=spec.test_fraction,
        background=spec.background, overwrite=True, progress=False,
    )  # fmt: skip
    record = {
        "spec": wanted,
        "manifest": manifest,
        "fingerprint_sha256": _fingerprint(root, stamp),
        "synthesis_s": round(time.perf_counter() - start, 1),
    }
    atomic_write(stamp, json.dumps(record, indent=2) + "\n")
    progress(f"data: synthesised {spec.n} pairs at {spec.size[0]}x{spec.size[1]} in {record['synthesis_s']:.0f} s")
    return record


def split_pairs(spec: DataRecipe, root: Path, split: str, pair_mode: str, seed: int) -> tuple[TrainingPairs, list[str]]:
    """The split's samples of the kept categories as stage batches, and their ``<person>__<garment>`` names."""
    base = create_dataset(spec.layout, root, split=split, pair_mode=pair_mode, size=spec.size, **_DATASET_OPTIONS)
    world = SyntheticWorld(spec.seed, spec.size, spec.background)  # synthetic ids are the world's indices
    keep = [
        i
        for i, e in enumerate(base.entries)
        if {world.category(int(e.person_id)), world.category(int(e.cloth_id))} <= set(spec.categories)
    ]
    if not keep:
        raise ValueError(f"{root}: no {split} pair of the categories {spec.categories}; raise data.n")
    pairs = TrainingPairs(
        Subset(base, keep),
        seed=seed,
        size=spec.size,
        parse_to_common=to_common,
        densepose_from_parse=densepose_from_parse,
    )
    return pairs, [f"{base.entries[i].person_id}__{base.entries[i].cloth_id}" for i in keep]


# May differ when the work folder is reached by another path; the fake cache changes fakes in the last bits only.
_PATH_FIELDS = ("init", "tutor", "fake_cache")


def train_run(run: Run, dataset: TrainingPairs, device: str, progress: Progress) -> dict[str, Any]:
    """Train ``run`` (skipped when finished, resumed when interrupted); returns its ``training.json``."""
    from pftryon.train.trainer import latest_checkpoint, train

    record_file = run.folder / "final" / "training.json"
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


def run_record(run: Run, trained: dict[str, Any]) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """A run's summary (config, steps, time, convergence, mean distillation weight) and its loss curve."""
    log = [json.loads(line) for line in (run.folder / "log.jsonl").read_text().splitlines() if line.strip()]
    steps, losses = (np.array([r[key] for r in log]) for key in ("step", "loss"))
    weights = [r["distill_weight"] for r in log if "distill_weight" in r]
    terms = [k for k, v in log[0].items() if k not in _NOT_TERMS and isinstance(v, float) and all(k in r for r in log)]
    record = {
        "key": run.key,
        "folder": str(run.folder),
        "stage": run.config.stage,
        "config": trained["config"],
        "steps": trained["steps"],
        "wall_time_s": trained["wall_time_s"],
        "final_losses": trained["final_losses"],
        "distill_weight_mean": float(np.mean(weights)) if weights else None,
        **convergence(losses),
        "term_falls": {k: f for k in terms if np.isfinite(f := _last_quarter_fall(np.array([r[k] for r in log])))},
    }
    return record, (steps, losses)


def _last_quarter_fall(values: np.ndarray) -> float:
    """Relative fall of the mean from the third to the last quarter (NaN with fewer than 2 values or a zero mean)."""
    quarter = max(1, len(values) // 4)
    third, last = values[-2 * quarter : -quarter], values[-quarter:]
    if not len(third) or third.mean() == 0:
        return float("nan")
    return float((third.mean() - last.mean()) / abs(third.mean()))


def convergence(losses: np.ndarray) -> dict[str, float | bool | None]:
    """Early and final loss (means of the first and last tenth of the logged steps) and the relative fall of
    the mean loss from the third to the last quarter. Converged: that fall is below
    :data:`CONVERGENCE_TOLERANCE`; ``None`` (undecided) with fewer than :data:`MIN_CONVERGENCE_STEPS` steps."""
    tenth, fall = max(1, len(losses) // 10), _last_quarter_fall(losses)
    return {
        "early_loss": float(losses[:tenth].mean()),
        "final_loss": float(losses[-tenth:].mean()),
        "last_quarter_fall": fall,
        "converged": bool(fall < CONVERGENCE_TOLERANCE) if len(losses) >= MIN_CONVERGENCE_STEPS else None,
    }
