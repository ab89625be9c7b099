"""``pftryon ablate``: PF-AFN's knowledge and distillation ablation on synthetic data with exact ground truth.

A recipe (``bench/recipes/<name>.yaml``, loaded into a frozen :class:`Recipe`; unknown keys are errors) says
which data to synthesise, how long to train each stage, which student variants to train and at which parse
noise levels. :func:`run_ablation` then

1. synthesises the data into ``<work>/data`` (skipped when it is there with the same settings);
2. trains the PB-AFN tutor once (``pb-warp`` then ``pb-e2e``) on clean parses;
3. trains every student variant at every parse-noise level (``pf-warp`` then ``pf-e2e``), the tutor's parse
   inputs corrupted at that level (:func:`~pftryon.train.representation.corrupt_parse`);
4. evaluates each student (it sees the real test person and another garment: no parse), the tutor as the
   parser-based reference (its parse inputs corrupted at each level) and a no-warp baseline (the in-shop
   garment pasted over the person by its mask) on the held-out unpaired pairs, against the true try-on
   images and the true garment flows;

and :func:`write_report` writes the table with bootstrap confidence intervals, the loss curves and everything
that produced them. Each training run has its own folder under ``<work>/runs``: a finished one (``final/``
exists) is skipped, an interrupted one resumes exactly from its newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor
from torch.utils.data import DataLoader, Subset

from bench.data import create_dataset, to_common
from bench.data.readers import read_rgb
from bench.data.synthetic import synthesize
from bench.data.synthetic.render import CATEGORIES, SyntheticWorld
from bench.metrics import functional as MF
from bench.metrics.weights import WEIGHTS, MissingWeightsError, build_inception, build_lpips
from bench.results import bootstrap_ci, run_metadata
from pftryon.models import PBAFN, PFAFN, atomic_write, load_pretrained, mask_garment
from pftryon.train.config import DISTILL, KNOWLEDGE, PERCEPTUAL, STAGES, TrainConfig
from pftryon.train.data import TrainingPairs
from pftryon.train.representation import corrupt_parse, densepose_from_parse, noise_generator, person_representation

__all__ = [
    "AblationResult", "DataRecipe", "EvalRecipe", "Recipe", "Run", "StageRecipe", "StaleWorkError", "Variant",
    "convergence", "flow_epe", "list_recipes", "load_recipe", "plan_runs", "prepare_data", "run_ablation",
    "write_report",
]  # fmt: skip

RECIPE_DIR = Path(__file__).parent / "recipes"
# CP-VTON+'s parse (lip21): unlike image-parse it keeps the neck label.
_DATASET_OPTIONS = {"parse": "image-parse-new"}
_LAYOUTS = ("viton",)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
# A run counts as converged when its mean loss fell by less than this over the last quarter of its steps.
CONVERGENCE_TOLERANCE = 0.05
MIN_CONVERGENCE_STEPS = 40
TUTOR, NO_WARP = "tutor (PB-AFN)", "no warp"
_CONVERGED = {True: "yes", False: "no", None: "too short to tell"}

Progress = Callable[[str], None]


class StaleWorkError(ValueError):
    """The work folder holds data or finished runs made with other settings than the recipe's."""


# -- the recipe ------------------------------------------------------------------------------------------------


def _build(cls: type, mapping: Any, where: str, **convert: Callable[[Any], Any]) -> Any:
    """``cls(**mapping)``, values of the keys in ``convert`` converted first; unknown and missing keys are
    reported as :class:`ValueError` naming ``where``."""
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {known}")
    values = {key: convert[key](value) if key in convert else value for key, value in mapping.items()}
    try:
        return cls(**values)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None


def _require(checks: list[tuple[bool, str]], where: str) -> None:
    for ok, message in checks:
        if not ok:
            raise ValueError(f"{where}: {message}")


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
    """

    n: int
    size: tuple[int, int]
    layout: str = "viton"
    seed: int = 0
    test_fraction: float = 0.2
    categories: tuple[str, ...] = ("upper_body",)

    def __post_init__(self) -> None:
        _require(
            [
                (self.layout in _LAYOUTS, f"layout must be one of {_LAYOUTS}, got {self.layout!r}"),
                (self.n >= 4, f"n must be at least 4, got {self.n}"),
                (len(self.size) == 2 and all(s > 0 and s % 32 == 0 for s in self.size), "size: multiples of 32"),
                (0 < self.test_fraction < 1, f"test_fraction must lie in (0, 1), got {self.test_fraction}"),
                (bool(self.categories) and set(self.categories) <= set(CATEGORIES), f"categories: {CATEGORIES}"),
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
    knowledge: str
    distill: str

    def __post_init__(self) -> None:
        _require(
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
    lpips_net: str = "alex"
    batch_size: int = 16
    resamples: int = 10_000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        _require(
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
        stages: schedule of each of ``pb-warp``, ``pb-e2e``, ``pf-warp``, ``pf-e2e``.
        variants: the students trained at every parse-noise level.
        parse_noise: strengths in [0, 1] of the tutor's parse corruption, one set of students each.
        seed: training seed (weights, data order, unpaired garments, parse noise).
        perceptual: ``none`` (VGG19 terms skipped) or ``vgg19`` (needs ``vgg19-dcbb9e9d.pth``).
        budget_s: the wall-time budget the report checks the run against.
        evaluation: how the models are scored.
    """

    name: str
    description: str
    data: DataRecipe
    width: float
    stages: dict[str, StageRecipe]
    variants: tuple[Variant, ...]
    parse_noise: tuple[float, ...]
    seed: int = 0
    perceptual: str = "none"
    budget_s: float = 1800.0
    evaluation: EvalRecipe = field(default_factory=EvalRecipe)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        _require(
            [
                (bool(_NAME.fullmatch(self.name)), "name: lower-case letters, digits and '-'"),
                (set(self.stages) == set(STAGES), f"stages must give exactly {STAGES}, got {sorted(self.stages)}"),
                (bool(names) and len(set(names)) == len(names), "variants: at least one, names unique"),
                (len(set(self.parse_noise)) == len(self.parse_noise) > 0, "parse_noise: at least one, unique"),
                (all(0 <= p <= 1 for p in self.parse_noise), "parse_noise values must lie in [0, 1]"),
                (self.perceptual in PERCEPTUAL, f"perceptual must be one of {PERCEPTUAL}"),
            ],
            f"recipe {self.name!r}",
        )
        for stage in STAGES:  # TrainConfig validates what is left (width, epochs, batch size)
            try:
                self.train_config(stage)
            except ValueError as err:
                raise ValueError(f"recipe {self.name!r}, stage {stage}: {err}") from None

    @classmethod
    def from_dict(cls, data: Any, where: str = "recipe") -> Recipe:
        """Build from plain data (a parsed YAML mapping); unknown keys anywhere are errors."""

        def stages(value: Any) -> dict[str, StageRecipe]:
            if not isinstance(value, dict):
                raise ValueError(f"{where}: stages must be a mapping of stage to schedule")
            return {s: _build(StageRecipe, v, f"{where}: stages.{s}") for s, v in value.items()}

        def variants(value: Any) -> tuple[Variant, ...]:
            return tuple(_build(Variant, v, f"{where}: variants[{i}]") for i, v in enumerate(value or ()))

        return _build(
            cls,
            data,
            where,
            data=lambda v: _build(DataRecipe, v, f"{where}: data", size=tuple, categories=tuple),
            stages=stages,
            variants=variants,
            parse_noise=lambda v: tuple(float(p) for p in v or ()),
            evaluation=lambda v: _build(EvalRecipe, v, f"{where}: evaluation"),
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
            perceptual=self.perceptual,
            seed=self.seed,
            log_every=1,
            **fields_,
        )


def list_recipes() -> list[str]:
    """Names of the recipes shipped in ``bench/recipes``."""
    return sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """A shipped recipe by name (``synthetic-small``) or any recipe YAML by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = RECIPE_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ValueError(f"Unknown recipe {str(name_or_path)!r}; shipped: {', '.join(list_recipes())}, or a path")
    if not path.is_file():
        raise ValueError(f"{path}: recipe file not found")
    return Recipe.from_dict(yaml.safe_load(path.read_text()), where=str(path))


# -- the plan --------------------------------------------------------------------------------------------------


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


def _noise_tag(noise: float) -> str:
    return f"noise-{noise:g}"


def plan_runs(recipe: Recipe, work: str | os.PathLike[str]) -> list[Run]:
    """Every training run of ``recipe`` in order: the tutor's two stages, then each student's two stages."""
    root = Path(work) / "runs"

    def chain(key: str, stages: tuple[str, str], init: str | None, *identity: Any, **fields_: Any) -> list[Run]:
        runs = []
        for stage in stages:
            config = recipe.train_config(stage, init=init, **fields_)
            runs.append(Run(f"{key}/{stage}", root / key / stage, config, *identity))
            init = str(runs[-1].model)
        return runs

    plan = chain("tutor", ("pb-warp", "pb-e2e"), None)
    tutor = str(plan[-1].model)
    for noise in recipe.parse_noise:
        for variant in recipe.variants:
            plan += chain(
                f"{_noise_tag(noise)}/{variant.name}",
                ("pf-warp", "pf-e2e"),
                tutor,
                variant,
                noise,
                knowledge=variant.knowledge,
                distill=variant.distill,
                parse_noise=noise,
                tutor=tutor,
            )
    return plan


# -- data ------------------------------------------------------------------------------------------------------


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
        spec.layout, root, n=spec.n, size=spec.size, seed=spec.seed, test_fraction=spec.test_fraction, progress=False
    )
    record = {
        "spec": wanted,
        "manifest": manifest,
        "fingerprint_sha256": _fingerprint(root, stamp),
        "synthesis_s": round(time.perf_counter() - start, 1),
    }
    atomic_write(stamp, json.dumps(record, indent=2) + "\n")
    progress(f"data: synthesised {spec.n} pairs at {spec.size[0]}x{spec.size[1]} in {record['synthesis_s']:.0f} s")
    return record


def _pairs(spec: DataRecipe, root: Path, split: str, pair_mode: str, seed: int) -> tuple[TrainingPairs, list[str]]:
    """The split's samples of the kept categories as stage batches, and their ``<person>__<garment>`` names."""
    base = create_dataset(spec.layout, root, split=split, pair_mode=pair_mode, size=spec.size, **_DATASET_OPTIONS)
    world = SyntheticWorld(spec.seed, spec.size)  # synthetic ids are the world's indices
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


# -- training --------------------------------------------------------------------------------------------------

_PATH_FIELDS = ("init", "tutor")  # may differ when the work folder is reached by another path


def _train_run(run: Run, dataset: TrainingPairs, device: str, progress: Progress) -> dict[str, Any]:
    """Train ``run`` (skipped when finished, resumed when interrupted); returns its ``training.json``."""
    from pftryon.train.trainer import latest_checkpoint, train

    record_file = run.folder / "final" / "training.json"
    if record_file.is_file():
        record = json.loads(record_file.read_text())
        expected = run.config.to_dict()
        changed = sorted(k for k in expected if k not in _PATH_FIELDS and record["config"].get(k) != expected[k])
        if changed:
            raise StaleWorkError(
                f"{run.folder} was trained with other settings ({', '.join(changed)}); remove it or choose "
                "another work folder"
            )
        progress(f"{run.key}: finished before ({record['wall_time_s']:.0f} s), skipped")
        return record
    checkpoint = latest_checkpoint(run.folder)
    progress(f"{run.key}: {'resuming from ' + checkpoint.name if checkpoint else 'training'}")
    train(run.config, dataset, run.folder, device=device, resume=True)
    return json.loads(record_file.read_text())


# -- evaluation ------------------------------------------------------------------------------------------------


def flow_epe(flow: Tensor, truth: Tensor) -> Tensor:
    """Mean end-point error in pixels, per sample, where ``truth`` is defined.

    Both are normalised sampling grids ``[B, 2, H, W]`` (channels x, y; ``align_corners=True``, so a unit is
    ``(W - 1) / 2`` pixels in x and ``(H - 1) / 2`` in y); ``truth`` is NaN outside the true garment region.
    A sample without a defined pixel gives NaN.
    """
    height, width = truth.shape[-2:]
    scale = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=torch.float64).view(1, 2, 1, 1)
    error = ((flow.double() - truth.double()) * scale).norm(dim=1)
    valid = ~error.isnan()
    return torch.where(valid, error, 0.0).sum(dim=(1, 2)) / valid.sum(dim=(1, 2))


def _identity_grid(batch: int, height: int, width: int) -> Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    return torch.stack([xs, ys]).expand(batch, 2, height, width)


@dataclass
class _TestSet:
    batches: list[dict[str, Tensor]]
    names: list[str]
    images: Tensor  # true try-on images [N, 3, H, W] in [0, 1]
    flows: Tensor  # true flows [N, 2, H, W], NaN outside the garment


def _test_set(recipe: Recipe, root: Path) -> _TestSet:
    split = recipe.evaluation.split
    pairs, names = _pairs(recipe.data, root, split, "unpaired", recipe.seed)
    truth = root / "_truth" / split
    missing = [n for n in names if not (truth / "tryon" / f"{n}.png").is_file()]
    if missing:
        raise ValueError(f"{truth}: no ground truth for {len(missing)} unpaired pairs (first: {missing[0]})")
    images = torch.stack([(read_rgb(truth / "tryon" / f"{n}.png") + 1) / 2 for n in names])
    flows = torch.stack([torch.from_numpy(np.load(truth / "flow" / f"{n}.npy").astype(np.float32)) for n in names])
    loader = DataLoader(pairs, batch_size=recipe.evaluation.batch_size)
    return _TestSet(list(loader), names, images.clamp(0, 1), flows.permute(0, 3, 1, 2))


Predictor = Callable[[dict[str, Tensor]], tuple[Tensor, Tensor | None]]


def _student(model: PFAFN) -> Predictor:
    def predict(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        out = model(batch["person"], *mask_garment(batch["cloth"], batch["cloth_mask"]))
        return out["tryon"], out["flow"]

    return predict


def _tutor(model: PBAFN, noise: float, seed: int) -> Predictor:
    """The tutor on the test person's parse (corrupted per sample from ``(seed, index)`` when ``noise > 0``)."""

    def predict(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        parse = batch["parse"]
        if noise > 0:  # corrupt_parse draws from a CPU generator
            noisy = [
                corrupt_parse(p.cpu(), noise, noise_generator(seed, int(i)))
                for p, i in zip(parse, batch["index"], strict=True)
            ]
            parse = torch.stack(noisy).to(parse.device)
        rep = person_representation(parse, batch["densepose"], batch["person"], batch["pose"])
        clothes, edge = mask_garment(batch["cloth"], batch["cloth_mask"])
        out = model(rep.condition, clothes, edge, rep.preserve_region, rep.dense_arms)
        return out["tryon"], out["flow"]

    return predict


def _no_warp(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None]:
    clothes, edge = mask_garment(batch["cloth"], batch["cloth_mask"])
    return batch["person"] * (1 - edge) + clothes * edge, None


@dataclass
class _OptionalMetrics:
    """LPIPS and FID models when their weights are present, else why not (``weights absent: <file>``)."""

    lpips: torch.nn.Module | None
    inception: torch.nn.Module | None
    notes: dict[str, str]

    @classmethod
    def build(cls, net: str, weights_dir: str | os.PathLike[str] | None) -> _OptionalMetrics:
        models, notes = {}, {}
        for metric, name, builder in (
            ("lpips", net, lambda: build_lpips(net, "lpips", weights_dir)),
            ("fid", "inception", lambda: build_inception(weights_dir)),
        ):
            try:
                models[metric] = builder()
            except MissingWeightsError:
                models[metric] = None
                notes[metric] = f"weights absent: {WEIGHTS[name].filename}"
        return cls(models["lpips"], models["fid"], notes)


@torch.no_grad()
def _score(
    predict: Predictor, test: _TestSet, optional: _OptionalMetrics, ssim_variant: str, device: str
) -> dict[str, Any]:
    """Per-sample SSIM, PSNR, EPE (and LPIPS) of one model, and its FID over the set when computable."""
    images, flows = [], []
    for batch in test.batches:
        tryon, flow = predict({key: value.to(device) for key, value in batch.items()})
        images.append(((tryon.cpu() + 1) / 2).clamp(0, 1))
        flows.append(_identity_grid(tryon.shape[0], *tryon.shape[-2:]) if flow is None else flow.cpu())
    preds = torch.cat(images)
    values = {
        "ssim": MF.ssim(preds, test.images, variant=ssim_variant).numpy(),
        "psnr": MF.psnr(preds, test.images).numpy(),
        "epe": flow_epe(torch.cat(flows), test.flows).numpy(),
    }
    if optional.lpips is not None:
        values["lpips"] = MF.lpips(preds, test.images, net=optional.lpips.pnet_type, model=optional.lpips).numpy()
    fid = None
    if optional.inception is not None and len(preds) > 1:
        real, fake = (optional.inception(MF.to_uint8(x)) for x in (test.images, preds))
        fid = MF.fid_from_features(real, fake)
    return {"per_sample": values, "fid": fid}


def _fields(
    variant: str, knowledge: str | None, distill: str | None, noise: float | None, runs: list[Run]
) -> dict[str, Any]:
    return {"variant": variant, "knowledge": knowledge, "distill": distill, "parse_noise": noise,
            "runs": [run.key for run in runs]}  # fmt: skip


def _models(recipe: Recipe, plan: list[Run], device: str) -> list[tuple[dict[str, Any], Predictor]]:
    """Every scored model with its table fields (and the runs that trained it): the students, the tutor at
    each noise level, no warp."""
    tutor_runs = [run for run in plan if run.variant is None]
    tutor = load_pretrained(tutor_runs[-1].model).to(device).eval()
    entries: list[tuple[dict[str, Any], Predictor]] = []
    for noise in recipe.parse_noise:
        for v in recipe.variants:
            runs = [run for run in plan if run.variant == v and run.parse_noise == noise]
            student = load_pretrained(runs[-1].model).to(device).eval()
            entries.append((_fields(v.name, v.knowledge, v.distill, noise, runs), _student(student)))
        entries.append((_fields(TUTOR, "parse-based", None, noise, tutor_runs), _tutor(tutor, noise, recipe.seed)))
    entries.append((_fields(NO_WARP, None, None, None, []), _no_warp))
    return entries


def _ci(values: np.ndarray, evaluation: EvalRecipe) -> dict[str, float]:
    mean, low, high = bootstrap_ci(values, confidence=evaluation.confidence, resamples=evaluation.resamples)
    return {"mean": mean, "low": low, "high": high}


def _evaluate(
    recipe: Recipe,
    plan: list[Run],
    trained: dict[str, dict[str, Any]],
    root: Path,
    device: str,
    weights_dir: str | os.PathLike[str] | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score every model: the summary's ``table``, ``orderings``, ``metric_notes`` (what was left out and why)
    and ``test_pairs``; and the per-sample rows."""
    evaluation = recipe.evaluation
    test = _test_set(recipe, root)
    optional = _OptionalMetrics.build(evaluation.lpips_net, weights_dir)
    scored = [(fields_, _score(predict, test, optional, evaluation.ssim, device))
              for fields_, predict in _models(recipe, plan, device)]  # fmt: skip
    baseline = scored[-1][1]["per_sample"]["ssim"]
    table, rows, ssims = [], [], []
    for fields_, score in scored:
        values = score["per_sample"]
        entry = {k: v for k, v in fields_.items() if k != "runs"}
        rows += [{**entry, "pair": name, **{m: float(v[i]) for m, v in values.items()}}
                 for i, name in enumerate(test.names)]  # fmt: skip
        entry |= {metric: _ci(v, evaluation) for metric, v in values.items()}
        if fields_["variant"] != NO_WARP:
            entry["ssim_minus_no_warp"] = _ci(values["ssim"] - baseline, evaluation)
        entry |= {"fid": score["fid"], "runs": fields_["runs"],
                  "train_time_s": sum(trained[key]["wall_time_s"] for key in fields_["runs"])}  # fmt: skip
        table.append(entry)
        ssims.append((entry["variant"], entry["parse_noise"], values["ssim"]))
    orderings = []
    for noise in recipe.parse_noise:
        ranked = sorted((item for item in ssims if item[1] == noise), key=lambda item: -item[2].mean())
        gaps = [{"higher": a, "lower": b, "difference": _ci(high - low, evaluation)}
                for (a, _, high), (b, _, low) in itertools.pairwise(ranked)]  # fmt: skip
        orderings.append({"parse_noise": noise, "order": [item[0] for item in ranked], "gaps": gaps})
    evaluated = {"test_pairs": len(test.names), "table": table, "orderings": orderings,
                 "metric_notes": optional.notes}  # fmt: skip
    return evaluated, rows


# -- convergence -----------------------------------------------------------------------------------------------


def _run_record(run: Run, trained: dict[str, Any]) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """A run's summary (config, steps, time, convergence, mean distillation weight) and its loss curve."""
    log = [json.loads(line) for line in (run.folder / "log.jsonl").read_text().splitlines() if line.strip()]
    steps, losses = (np.array([r[key] for r in log]) for key in ("step", "loss"))
    weights = [r["distill_weight"] for r in log if "distill_weight" in r]
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
    }
    return record, (steps, losses)


def convergence(losses: np.ndarray) -> dict[str, float | bool | None]:
    """Early and final loss (means of the first and last tenth of the logged steps) and the relative fall of
    the mean loss from the third to the last quarter. Converged: that fall is below
    :data:`CONVERGENCE_TOLERANCE`; ``None`` (undecided) with fewer than :data:`MIN_CONVERGENCE_STEPS` steps."""
    tenth, quarter = max(1, len(losses) // 10), max(1, len(losses) // 4)
    third, last = losses[-2 * quarter : -quarter], losses[-quarter:]
    fall = float((third.mean() - last.mean()) / abs(third.mean())) if len(third) else float("nan")
    return {
        "early_loss": float(losses[:tenth].mean()),
        "final_loss": float(losses[-tenth:].mean()),
        "last_quarter_fall": fall,
        "converged": bool(fall < CONVERGENCE_TOLERANCE) if len(losses) >= MIN_CONVERGENCE_STEPS else None,
    }


# -- the runner ------------------------------------------------------------------------------------------------


@dataclass
class AblationResult:
    """What :func:`write_report` needs: the summary (JSON-ready), per-sample rows and the loss curves."""

    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    curves: dict[str, tuple[np.ndarray, np.ndarray]]


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if line.startswith("model name")
            ),
            cpu,
        )
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run_ablation(
    recipe: Recipe,
    work: str | os.PathLike[str],
    *,
    device: str = "cpu",
    weights_dir: str | os.PathLike[str] | None = None,
    progress: Progress = lambda message: None,
) -> AblationResult:
    """Synthesise, train (resumably) and evaluate ``recipe`` under ``work``; see the module docstring.

    Args:
        recipe: the ablation.
        work: folder of the data and the training runs (reused: finished runs are skipped).
        device: training and evaluation device.
        weights_dir: searched before the torch hub cache for the LPIPS and Inception weights.
        progress: called with one line per step (data, each run, evaluation), each with the elapsed time.
    """
    start = time.perf_counter()
    load_start = _load_average()
    work = Path(work)

    def report(message: str) -> None:
        progress(f"[{time.perf_counter() - start:7.1f} s] {message}")

    data = prepare_data(recipe.data, work / "data", report)
    train_set, _ = _pairs(recipe.data, work / "data", "train", "paired", recipe.seed)
    report(f"training on {len(train_set)} pairs of {', '.join(recipe.data.categories)}")
    plan = plan_runs(recipe, work)
    trained = {}
    for number, run in enumerate(plan, 1):
        trained[run.key] = _train_run(run, train_set, device, lambda m, n=number: report(f"[{n}/{len(plan)}] {m}"))
    training_end = time.perf_counter()

    report("evaluating")
    evaluated, rows = _evaluate(recipe, plan, trained, work / "data", device, weights_dir)
    runs, curves = [], {}
    for run in plan:
        record, curves[run.key] = _run_record(run, trained[run.key])
        runs.append(record)
    end = time.perf_counter()
    summary = {
        "recipe": recipe.to_dict(),
        "data": data,
        "train_pairs": len(train_set),
        **evaluated,
        "runs": runs,
        "timing": {
            "total_s": round(end - start, 1),
            "training_s": round(training_end - start, 1),
            "evaluation_s": round(end - training_end, 1),
            "training_wall_s_all_runs": round(sum(r["wall_time_s"] for r in runs), 1),
            "budget_s": recipe.budget_s,
        },
        "machine": _machine() | {"load_average_start": load_start, "load_average_end": _load_average()},
        "device": device,
        "metadata": run_metadata(),
    }
    report(f"evaluated {len(evaluated['table'])} models on {evaluated['test_pairs']} unpaired test pairs")
    return AblationResult(summary, rows, curves)


# -- the report ------------------------------------------------------------------------------------------------


def _fmt(entry: dict[str, float] | None, digits: int) -> str:
    if entry is None:
        return "n/a"
    return f"{entry['mean']:.{digits}f} [{entry['low']:.{digits}f}, {entry['high']:.{digits}f}]"


def _summary_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per model (the CSV and the Markdown table)."""
    notes = summary["metric_notes"]
    rows = []
    for entry in summary["table"]:
        row = {k: entry[k] for k in ("variant", "knowledge", "distill", "parse_noise")}
        for metric in ("ssim", "ssim_minus_no_warp", "psnr", "epe", "lpips"):
            for part in ("mean", "low", "high"):
                row[f"{metric}_{part}"] = entry[metric][part] if metric in entry else None
        row["fid"] = entry["fid"] if entry["fid"] is not None else notes.get("fid", "n/a")
        if "lpips" not in entry:
            row["lpips_mean"] = notes.get("lpips", "n/a")
        row["train_time_s"] = entry["train_time_s"]
        rows.append(row)
    return rows


def _ordering(ordering: dict[str, Any]) -> str:
    """``a > b (by d [CI]) ~ c ...``: ``>`` where the paired CI of the SSIM difference excludes 0."""
    text = ordering["order"][0]
    for gap in ordering["gaps"]:
        difference = gap["difference"]
        text += f" {'>' if difference['low'] > 0 else '~'} {gap['lower']} (by {_fmt(difference, 4)})"
    return text


def _discussion(summary: dict[str, Any]) -> str:
    table, runs = summary["table"], summary["runs"]
    lines = [
        f"Ordering by unpaired SSIM at parse noise {o['parse_noise']:g}: {_ordering(o)}; 'by': the paired SSIM "
        "difference from the model before it, '>' where its CI excludes 0, '~' where it does not."
        for o in summary["orderings"]
    ]
    students = [e for e in table if e["variant"] not in (TUTOR, NO_WARP)]
    beat = [e for e in students if e["ssim_minus_no_warp"]["low"] > 0]
    lines.append(
        f"{len(beat)} of {len(students)} students beat the no-warp baseline ({table[-1]['ssim']['mean']:.4f}) on "
        "unpaired SSIM with the CI of the paired difference above 0"
        + ("." if len(beat) == len(students) else f"; not: {', '.join(_label(e) for e in students if e not in beat)}.")
    )
    failed, short = ([r["key"] for r in runs if r["converged"] is verdict] for verdict in (False, None))
    parts = [f"not met by {', '.join(failed)}"] if failed else []
    if short:
        parts.append(f"too short to tell (fewer than {MIN_CONVERGENCE_STEPS} steps) for {', '.join(short)}")
    rule = (
        f"Convergence (the mean loss fell by less than {CONVERGENCE_TOLERANCE:.0%} over the last quarter of the steps)"
    )
    lines.append(f"{rule}: {'; '.join(parts) if parts else 'met by every run'}.")
    return " ".join(lines)


def _label(entry: dict[str, Any]) -> str:
    return entry["variant"] if entry["parse_noise"] is None else f"{entry['variant']} @ {entry['parse_noise']:g}"


def _markdown(summary: dict[str, Any]) -> str:
    recipe, timing, notes = summary["recipe"], summary["timing"], summary["metric_notes"]
    lines = [
        f"# Ablation `{recipe['name']}`",
        "",
        recipe["description"].strip(),
        "",
        f"{summary['test_pairs']} held-out unpaired pairs (garment categories "
        f"{', '.join(recipe['data']['categories'])}),"
        f" {summary['train_pairs']} training pairs, {recipe['data']['size'][0]}x{recipe['data']['size'][1]}, width "
        f"{recipe['width']}, perceptual loss: {recipe['perceptual']}"
        + (" (the VGG19 terms of every loss are skipped: no VGG weights)" if recipe["perceptual"] == "none" else "")
        + ".",
        "",
        f"| variant | knowledge | distill | parse noise | SSIM ({recipe['evaluation']['ssim']}) | SSIM - no warp | "
        "PSNR (dB) | flow EPE (px) | LPIPS | FID | train time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in summary["table"]:
        noise = "-" if entry["parse_noise"] is None else f"{entry['parse_noise']:g}"
        lpips = _fmt(entry["lpips"], 4) if "lpips" in entry else notes.get("lpips", "n/a")
        fid = f"{entry['fid']:.2f}" if entry["fid"] is not None else notes.get("fid", "n/a")
        lines.append(
            f"| {entry['variant']} | {entry['knowledge'] or '-'} | {entry['distill'] or '-'} | {noise} | "
            f"{_fmt(entry['ssim'], 4)} | {_fmt(entry.get('ssim_minus_no_warp'), 4)} | {_fmt(entry['psnr'], 2)} | "
            f"{_fmt(entry['epe'], 2)} | {lpips} | {fid} | {entry['train_time_s']:.0f} |"
        )
    lines += [
        "",
        f"Means with {recipe['evaluation']['confidence']:.0%} percentile-bootstrap CIs "
        f"({recipe['evaluation']['resamples']} resamples) over the test pairs. The students see the real test person "
        "and the other garment (no parse). The tutor sees the test person's parse, DensePose (derived from the parse) "
        "and pose, its parse corrupted at the row's noise level. No warp: the in-shop garment pasted over the person "
        "where its mask is; its EPE is that of the identity flow. EPE: mean end-point error in pixels inside the true "
        "garment region, against the true flow. SSIM - no warp: the paired per-pair difference. Train time: the row's "
        "own runs (a student's pf-warp and pf-e2e; the tutor's pb-warp and pb-e2e, shared by every student).",
        "",
        "## Discussion",
        "",
        _discussion(summary),
        "",
        "What is comparable with the paper: the relative order of variants trained and scored identically here, where "
        "the CIs separate. What is not: the numbers themselves (synthetic data, "
        f"{recipe['data']['size'][0]}x{recipe['data']['size'][1]}, networks at width {recipe['width']}, "
        f"perceptual loss {recipe['perceptual']}, schedules of a few hundred steps instead of 100-200 epochs of "
        "VITON at batch 32); the paper scores FID on VITON, with no ground truth for unpaired try-on.",
        "",
        "Properties of this setup that shape the numbers, whatever the outcome: (1) the tutor's generator sees no "
        "background (the official PB-AFN inputs keep only face, hair, lower body and hands), and synthetic backgrounds "
        "vary per person where VITON's are near-uniform, so the tutor paints a mean background and the students, "
        "trained on its fake images (teacher+tutor) or outputs (tutor), learn to do the same; a colour offset on a "
        "smooth background costs PSNR far more than SSIM. (2) DensePose is derived from the clean parse (the layout "
        "has none) and is not corrupted: parse noise reaches the tutor only through its preserve masks, preserve "
        "region and arm masks. (3) With tutor knowledge "
        "the warp target is the tutor's own warp, so adjustable distillation keeps nearly every sample (mean weight "
        "in the convergence table); at a mean weight of 1 it is fixed distillation.",
        "",
        "## Convergence",
        "",
        "| run | steps | early loss | final loss | fall over last quarter | converged | distill weight | time (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in summary["runs"]:
        lines.append(
            f"| {run['key']} | {run['steps']} | {run['early_loss']:.4f} | {run['final_loss']:.4f} | "
            f"{run['last_quarter_fall']:+.1%} | {_CONVERGED[run['converged']]} | "
            f"{'-' if run['distill_weight_mean'] is None else format(run['distill_weight_mean'], '.3f')} | "
            f"{run['wall_time_s']:.0f} |"
        )
    machine = summary["machine"]
    lines += [
        "",
        "Loss curves: `loss_curves.png` (one panel per stage, one line per run, moving average).",
        "",
        "## Run",
        "",
        f"- total wall time: {timing['total_s']:.0f} s (training {timing['training_s']:.0f} s, evaluation "
        f"{timing['evaluation_s']:.0f} s; budget {timing['budget_s']:.0f} s); summed training time of all runs "
        f"(including earlier sessions): {timing['training_wall_s_all_runs']:.0f} s",
        f"- machine: {machine['cpu']}, {machine['cpu_count']} CPUs, {machine['torch_threads']} torch threads, device "
        f"{summary['device']}; load average (1, 5, 15 min) at start {machine['load_average_start']}, at end "
        f"{machine['load_average_end']}",
        f"- data: {json.dumps(summary['data']['manifest'])}; sha256 {summary['data']['fingerprint_sha256']}",
        f"- metadata: {json.dumps(summary['metadata'])}",
        "",
        "## Recipe",
        "",
        "```yaml",
        yaml.safe_dump(recipe, sort_keys=False, default_flow_style=None, width=120).strip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STAGES), figsize=(5 * len(STAGES), 4))
    for ax, stage in zip(axes, STAGES, strict=True):
        for key, (steps, losses) in curves.items():
            if key.endswith(f"/{stage}"):
                window = max(1, len(losses) // 20)
                smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
                ax.plot(steps[window - 1 :], smooth, label=key.removesuffix(f"/{stage}"), linewidth=1)
        ax.set(title=stage, xlabel="step", ylabel="loss (moving average)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    atomic_write(path, buffer.getvalue())


def write_report(result: AblationResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``ablation.{md,csv,json}``, ``per_sample.csv`` and ``loss_curves.png`` into ``out_dir``."""
    import pandas as pd

    out = Path(out_dir)
    paths = [
        out / name for name in ("ablation.md", "ablation.csv", "per_sample.csv", "ablation.json", "loss_curves.png")
    ]
    atomic_write(paths[0], _markdown(result.summary))
    atomic_write(paths[1], pd.DataFrame(_summary_rows(result.summary)).to_csv(index=False))
    atomic_write(paths[2], pd.DataFrame(result.rows).to_csv(index=False))
    atomic_write(paths[3], json.dumps(result.summary, indent=2) + "\n")
    _plot(result.curves, paths[4])
    return paths
