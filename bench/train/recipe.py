"""A training recipe, read by ``pftryon ablate`` and by the suite's trained methods: a frozen, validated
:class:`Recipe` loaded from YAML (unknown keys are errors)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from bench.config_files import ConfigFolder, require
from bench.data.synthetic.render import BACKGROUNDS, CATEGORIES
from bench.metrics import functional as MF
from bench.train.wiring import trainable
from pftryon.config_mapping import from_mapping
from pftryon.config_types import check_value
from pftryon.train.config import DISTILL, KNOWLEDGE, PERCEPTUAL, STAGES, Distill, Knowledge, Perceptual, TrainConfig

__all__ = ["DataRecipe", "EvalRecipe", "Recipe", "StageRecipe", "Variant", "list_recipes", "load_recipe"]

RECIPE_DIR = Path(__file__).parents[1] / "recipes"
_FILES = ConfigFolder(RECIPE_DIR, "recipe")
_Layout = Literal["viton"]
_LAYOUTS: tuple[str, ...] = typing.get_args(_Layout)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class DataRecipe:
    """The synthetic data (:func:`bench.data.synthetic.synthesize`).

    Attributes:
        layout: on-disk layout; ``viton``, the data set PF-AFN is trained and tested on.
        n: pairs in all (train + test).
        size: ``(H, W)``, multiples of 32: the synthesis, training and evaluation resolution.
        seed: synthesis seed.
        test_fraction: share of the pairs held out (the test split, the only one with ground truth).
        categories: garment categories kept in training and evaluation; PF-AFN is an upper-body method.
        background: behind the person (:data:`~bench.data.synthetic.render.BACKGROUNDS`): ``studio`` is VITON's
            plain backdrop, ``varied`` a per-person gradient that PB-AFN's generator, which never sees the
            background, cannot reproduce in the fake images the teacher+tutor students learn from.
    """

    n: int
    size: tuple[int, int]
    layout: _Layout = "viton"
    seed: int = 0
    test_fraction: float = 0.2
    categories: tuple[str, ...] = ("upper_body",)
    background: str = "varied"

    def __post_init__(self) -> None:
        require(
            [
                (self.layout in _LAYOUTS, f"layout must be one of {_LAYOUTS}, got {self.layout!r}"),
                (self.n >= 4, f"n must be at least 4, got {self.n}"),
                (len(self.size) == 2 and all(s > 0 and s % 32 == 0 for s in self.size), "size: multiples of 32"),
                (0 < self.test_fraction < 1, f"test_fraction must lie in (0, 1), got {self.test_fraction}"),
                (bool(self.categories) and set(self.categories) <= set(CATEGORIES), f"categories: {CATEGORIES}"),
                (self.background in BACKGROUNDS, f"background must be one of {BACKGROUNDS}"),
            ],
            "data",
        )


@dataclass(frozen=True)
class StageRecipe:
    """One stage's schedule: ``niter`` epochs at ``lr``, then ``niter_decay`` epochs of linear decay to 0."""

    niter: int
    niter_decay: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class Variant:
    """A student: ``name`` (lower-case, digits and ``-``; names its run folder), knowledge and distillation."""

    name: str
    knowledge: Knowledge
    distill: Distill

    def __post_init__(self) -> None:
        require(
            [
                (bool(_NAME.fullmatch(self.name)), "name: lower-case letters, digits and '-'"),
                (self.knowledge in KNOWLEDGE, f"knowledge must be one of {KNOWLEDGE}"),
                (self.distill in DISTILL, f"distill must be one of {DISTILL}"),
            ],
            f"variant {self.name!r}",
        )


@dataclass(frozen=True)
class EvalRecipe:
    """How the models are scored.

    Attributes:
        split: the split with ground truth (synthesis writes it for ``test``).
        ssim: SSIM variant of :func:`bench.metrics.functional.ssim` (PF-AFN's protocol: ``pytorch_ssim``).
        lpips_net: LPIPS trunk, scored when its weights are present.
        batch_size: evaluation batch.
        resamples, confidence: the bootstrap of the confidence intervals.
    """

    split: str = "test"
    ssim: str = "pytorch_ssim"
    lpips_net: Literal["alex", "vgg", "squeeze"] = "alex"
    batch_size: int = 16
    resamples: int = 10_000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        require(
            [
                (self.split == "test", "split: only 'test' has ground truth"),
                (self.ssim in MF.SSIM_VARIANTS, f"ssim must be one of {MF.SSIM_VARIANTS}"),
                (self.lpips_net in ("alex", "vgg", "squeeze"), "lpips_net must be alex, vgg or squeeze"),
                (self.batch_size > 0 and self.resamples > 0 and 0 < self.confidence < 1, "bad sizes"),
            ],
            "evaluation",
        )


@dataclass(frozen=True)
class Recipe:
    """Everything that decides an ablation: data, model width, per-stage schedules, variants, noise levels.

    Attributes:
        name: the recipe's name (its file stem); names the default work folder.
        description: one paragraph for the report.
        data: the synthetic data.
        width: network width multiplier (:func:`pftryon.train.stages.scaled_widths`).
        scale_flow_heads: ``width`` scales the warp's flow heads too (``TrainConfig.scale_flow_heads``).
        stages: schedule of each of ``pb-warp``, ``pb-e2e``, ``pf-warp``, ``pf-e2e``, and of every stage of
            the ``baselines``.
        baselines: trainable baselines (:func:`bench.train.wiring.trainable`) trained beside PF-AFN on the same data,
            each through its stages; a stage that learns from a tutor (``TUTORED_STAGES``) shares PF-AFN's tutor
            and its fake cache.
        variants: the students trained at every parse-noise level.
        parse_noise: strengths in [0, 1] of the tutor's parse corruption, one set of students each.
        seed: training seed (weights, data order, unpaired garments, parse noise).
        perceptual: ``none`` (VGG19 terms skipped) or ``vgg19`` (needs ``vgg19-dcbb9e9d.pth``).
        budget_s: the wall-time budget the report checks the run against.
        fake_cache: the students share one cache of the tutor's outputs (``<work>/fake_cache``,
            :class:`~pftryon.train.fake_cache.FakeCache`): each fake image is computed by the first run that needs
            it; ``False``: every run computes its own on the fly, as the official code does.
        evaluation: how the models are scored.
        bn_recalibration: training batches over which every stage re-estimates its BatchNorm statistics after its
            last step (``TrainConfig.bn_recalibration``; 0: as trained).
    """

    name: str
    description: str
    data: DataRecipe
    width: float
    stages: dict[str, StageRecipe]
    variants: tuple[Variant, ...]
    parse_noise: tuple[float, ...]
    baselines: tuple[str, ...] = ()
    scale_flow_heads: bool = True
    seed: int = 0
    perceptual: Perceptual = "none"
    budget_s: float = 1800.0
    fake_cache: bool = True
    evaluation: EvalRecipe = field(default_factory=EvalRecipe)
    bn_recalibration: int = 0
    config_hints: ClassVar[dict[str, Any]] = {"baselines": tuple[str, ...] | None}  # null: none

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        methods = trainable()
        unknown = [b for b in self.baselines if b == "pf_afn" or b not in methods]
        stages = self.stage_names
        require(
            [
                (bool(_NAME.fullmatch(self.name)), "name: lower-case letters, digits and '-'"),
                (not unknown, f"baselines: {unknown} not trainable; choose from {sorted(set(methods) - {'pf_afn'})}"),
                (len(set(self.baselines)) == len(self.baselines), "baselines: each at most once"),
                (set(self.stages) == set(stages), f"stages must give exactly {stages}, got {sorted(self.stages)}"),
                (bool(names) and len(set(names)) == len(names), "variants: at least one, names unique"),
                (len(set(self.parse_noise)) == len(self.parse_noise) > 0, "parse_noise: at least one, unique"),
                (all(0 <= p <= 1 for p in self.parse_noise), "parse_noise values must lie in [0, 1]"),
                (self.perceptual in PERCEPTUAL, f"perceptual must be one of {PERCEPTUAL}"),
            ],
            f"recipe {self.name!r}",
        )
        for stage in stages:  # TrainConfig validates what is left (width, epochs, batch size)
            try:
                self.train_config(stage)
            except ValueError as err:
                raise ValueError(f"recipe {self.name!r}, stage {stage}: {err}") from None

    @property
    def stage_names(self) -> tuple[str, ...]:
        """PF-AFN's stages, then those of each baseline, in training order (what ``stages`` must schedule)."""
        methods = trainable()
        known = [b for b in self.baselines if b in methods]
        return tuple(dict.fromkeys([*STAGES, *(s for b in known for s in methods[b])]))

    @classmethod
    def from_dict(cls, data: Any, where: str = "recipe") -> Recipe:
        """Build from plain data (a parsed YAML mapping); unknown keys and wrongly typed values anywhere are errors."""
        check_value(data, cls, where)  # stages is a mapping from here on

        def stages(value: dict[str, Any]) -> dict[str, StageRecipe]:
            return {s: from_mapping(StageRecipe, v, f"{where}: stages.{s}") for s, v in value.items()}

        def variants(value: Any) -> tuple[Variant, ...]:
            return tuple(from_mapping(Variant, v, f"{where}: variants[{i}]") for i, v in enumerate(value or ()))

        return from_mapping(
            cls,
            data,
            where,
            data=lambda v: from_mapping(DataRecipe, v, f"{where}: data"),
            stages=stages,
            variants=variants,
            parse_noise=lambda v: tuple(float(p) for p in v or ()),
            baselines=lambda v: tuple(str(b) for b in v or ()),
            evaluation=lambda v: from_mapping(EvalRecipe, v, f"{where}: evaluation"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) for the report."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def train_config(self, stage: str, **fields_: Any) -> TrainConfig:
        """The :class:`TrainConfig` of ``stage`` under this recipe, with run-specific ``fields_``."""
        schedule = self.stages[stage]
        return TrainConfig.for_stage(
            stage,
            lr=schedule.lr,
            niter=schedule.niter,
            niter_decay=schedule.niter_decay,
            batch_size=schedule.batch_size,
            size=self.data.size,
            width=self.width,
            scale_flow_heads=self.scale_flow_heads,
            perceptual=self.perceptual,
            seed=self.seed,
            log_every=1,
            bn_recalibration=self.bn_recalibration,
            **fields_,
        )


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``bench/recipes``."""
    return _FILES.names()


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """A shipped recipe by name (``synthetic-small``) or any recipe YAML by path, with its ``include`` chain."""
    name = str(name_or_path)
    return Recipe.from_dict(_FILES.load(name, schema=Recipe), where=str(_FILES.path(name)))
