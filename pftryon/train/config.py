"""Training configuration: one frozen dataclass, the official hyper-parameters as per-stage defaults.

``TrainConfig.for_stage("pf-warp")`` gives the settings of the official script for that stage
(docs/reference/method.md §4); any field can be overridden (``for_stage(..., lr=1e-4)``) or read
from YAML (:func:`load_config`). Every field is written into every checkpoint and report.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from pftryon.config_mapping import checked_keys
from pftryon.config_types import check_value, field_hints

__all__ = [
    "ALL_STAGES", "DISTILL", "KNOWLEDGE", "PERCEPTUAL", "STAGES", "TUTORED_STAGES", "Distill", "Knowledge",
    "Perceptual", "TrainConfig", "load_config", "with_predated_fields",
]  # fmt: skip

# PF-AFN's four stages (the ablation's); the baselines' stages follow in _OFFICIAL and ALL_STAGES.
STAGES = ("pb-warp", "pb-e2e", "pf-warp", "pf-e2e")
Knowledge = Literal["teacher+tutor", "tutor"]
Distill = Literal["adjustable", "fixed", "none"]
Perceptual = Literal["vgg19", "none"]
KNOWLEDGE: tuple[str, ...] = typing.get_args(Knowledge)
DISTILL: tuple[str, ...] = typing.get_args(Distill)
PERCEPTUAL: tuple[str, ...] = typing.get_args(Perceptual)

# Official schedules (epochs at the initial rate, epochs of linear decay to 0) and base learning rates.
_OFFICIAL: dict[str, dict[str, Any]] = {
    "pb-warp": {"lr": 5e-5, "niter": 50, "niter_decay": 50},
    "pb-e2e": {"lr": 5e-5, "niter": 50, "niter_decay": 50},
    "pf-warp": {"lr": 3e-5, "niter": 100, "niter_decay": 100},
    "pf-e2e": {"lr": 5e-5, "niter": 50, "niter_decay": 50},
    # CP-VTON / CP-VTON+ (sergeywong/cp-vton, minar09/cp-vton-plus train.py): Adam 1e-4 (0.5, 0.999), batch 4,
    # keep_step 100k + decay_step 100k = 200k steps; their LambdaLR is never stepped, so the rate stays 1e-4 for all
    # 200k (docs/reference/method.md §6.4): 200k x 4 = 800k samples = 56 epochs of VITON's 14,221 train pairs (56.25),
    # no decay.
    "cp-gmm": {"lr": 1e-4, "niter": 56, "niter_decay": 0},
    "cp-tom": {"lr": 1e-4, "niter": 56, "niter_decay": 0},
    "cpplus-gmm": {"lr": 1e-4, "niter": 56, "niter_decay": 0},
    "cpplus-tom": {"lr": 1e-4, "niter": 56, "niter_decay": 0},
    # FS-VTON (SenHe/Flow-Style-VTON train/scripts/train_PFAFN_{stage1,e2e}_fs.sh: PF-AFN's, on 1 GPU, batch 4).
    "fs-warp": {"lr": 3e-5, "niter": 100, "niter_decay": 100},
    "fs-e2e": {"lr": 5e-5, "niter": 50, "niter_decay": 50},
    # DM-VTON (KiseKloset/DM-VTON scripts/train_pf_{warp,e2e}.sh: 1 GPU, batch 8 and 6).
    "dm-warp": {"lr": 5e-5, "niter": 50, "niter_decay": 50, "batch_size": 8},
    "dm-e2e": {"lr": 5e-5, "niter": 50, "niter_decay": 50, "batch_size": 6},
}
ALL_STAGES = tuple(_OFFICIAL)
# Stages that learn from a frozen parser-based tutor (``config.tutor``).
TUTORED_STAGES = ("pf-warp", "pf-e2e", "fs-warp", "fs-e2e", "dm-warp", "dm-e2e")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run.

    Attributes:
        stage: ``pb-warp`` | ``pb-e2e`` | ``pf-warp`` | ``pf-e2e``.
        lr: base learning rate; each :class:`~pftryon.train.stage.ParamGroup` scales it (warp 0.2x in e2e stages).
        niter: epochs at ``lr``; then ``niter_decay`` epochs of linear decay: epoch ``e`` (1-based) runs at
            ``lr * (1 - max(0, e - niter - 1) / niter_decay)``, as the official per-epoch update.
        beta1, beta2: Adam betas (official 0.5, 0.999).
        batch_size: per process (official 4 per GPU, 32 in total).
        size: training resolution ``(H, W)``, divisible by 32 (official 256x192).
        width: multiplier on every network width (1.0 = the official model; 0.125 trains on a CPU), the warp's flow
            heads included unless ``scale_flow_heads`` is false (:func:`pftryon.train.stages.scaled_widths`).
        scale_flow_heads: ``width`` also scales the hidden widths of the warp's netMain / netRefine heads (official
            128/64/32); false keeps them official at every width, as every run did before this field existed
            (most of the warp's work at small widths). No effect at width 1.
        knowledge: ``teacher+tutor`` (PF-AFN: the student sees the tutor's fake try-on, the real image supervises)
            or ``tutor`` (WUTON-style: the student mimics the tutor's output).
        distill: ``adjustable`` (only where the tutor warps better), ``fixed`` (always) or ``none``.
        parse_noise: strength in [0, 1] of the corruption applied to the tutor's parse inputs.
        perceptual: ``vgg19`` (the official VGG19 loss; needs ``vgg19-dcbb9e9d.pth``) or ``none`` (reported).
        vgg_weights: path to ``vgg19-dcbb9e9d.pth``; default: the torch hub cache.
        init: checkpoint folder of the previous stage (pb-e2e: pb-warp's; pf-warp: pb-e2e's; pf-e2e: pf-warp's).
        tutor: checkpoint folder of the trained PB-AFN (pb-e2e output), for the pf-* stages.
        fake_cache: folder of a :class:`~pftryon.train.fake_cache.FakeCache` (pf-* stages): the tutor's outputs
            are computed once per (tutor weights, tutor inputs) and read back afterwards; ``None``: on the fly.
        seed: seeds weights, data order, unpaired garments and noise.
        save_every: steps between checkpoints (and at the end of every epoch).
        log_every: steps between JSONL log lines.
        num_workers: DataLoader workers.
        amp: bf16 autocast on CUDA (ignored on CPU).
        max_steps: stop after this many steps in total (tests, smoke runs); ``None`` = the full schedule.
        bn_recalibration: after the last step, re-estimate the BatchNorm running statistics of the trained networks
            over this many training batches (precise BatchNorm: an equal-weight average under the final weights,
            forward only); 0 keeps the running averages training left, as the official code does. Short runs need
            it: their running averages trail weights that moved fast, and evaluation reads them.
    """

    stage: str
    lr: float
    niter: int
    niter_decay: int
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 4
    size: tuple[int, int] = (256, 192)
    width: float = 1.0
    scale_flow_heads: bool = True
    knowledge: Knowledge = "teacher+tutor"
    distill: Distill = "adjustable"
    parse_noise: float = 0.0
    perceptual: Perceptual = "vgg19"
    vgg_weights: str | None = None
    init: str | None = None
    tutor: str | None = None
    fake_cache: str | None = None
    seed: int = 0
    save_every: int = 500
    log_every: int = 10
    num_workers: int = 0
    amp: bool = False
    max_steps: int | None = None
    bn_recalibration: int = 0

    def __post_init__(self) -> None:
        values = _numbers({item.name: getattr(self, item.name) for item in dataclasses.fields(self)})
        check_value(values, TrainConfig, "TrainConfig")
        for name, value in values.items():
            object.__setattr__(self, name, tuple(value) if isinstance(value, list) else value)
        checks = [
            (self.stage in _OFFICIAL, f"stage must be one of {ALL_STAGES}"),
            (0.0 <= self.parse_noise <= 1.0, "parse_noise must be in [0, 1]"),
            (self.width > 0, "width must be positive"),
            (all(s > 0 and s % 32 == 0 for s in self.size), f"size {self.size} must be positive multiples of 32"),
            (self.niter >= 0 and self.niter_decay >= 0 and self.niter + self.niter_decay > 0, "need epochs"),
            (self.batch_size > 0 and self.save_every > 0 and self.log_every > 0, "sizes must be positive"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be >= 1 or null, got {self.max_steps}"),
            (self.bn_recalibration >= 0, f"bn_recalibration must be >= 0, got {self.bn_recalibration}"),
            (self.fake_cache is None or self.stage in TUTORED_STAGES, f"fake_cache: only {TUTORED_STAGES} use one"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"TrainConfig: {message}")

    @property
    def epochs(self) -> int:
        """Total epochs of the schedule."""
        return self.niter + self.niter_decay

    def lr_factor(self, epoch: int) -> float:
        """The official linear decay: 1 for ``epoch <= niter + 1``, then down by ``1 / niter_decay`` per epoch."""
        if self.niter_decay == 0:
            return 1.0
        return max(0.0, 1.0 - max(0, epoch - self.niter - 1) / self.niter_decay)

    @classmethod
    def for_stage(cls, stage: str, **overrides: Any) -> TrainConfig:
        """The official settings of ``stage``, with ``overrides`` applied."""
        if not isinstance(stage, str) or stage not in _OFFICIAL:
            raise ValueError(f"Unknown stage {stage!r}; expected one of {ALL_STAGES}")
        return cls(stage=stage, **{**_OFFICIAL[stage], **overrides})

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for checkpoints, logs and reports."""
        data = dataclasses.asdict(self)
        data["size"] = list(self.size)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "TrainConfig") -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys and values of the wrong type are errors (naming ``where``);
        missing schedule keys take the stage defaults."""
        values = _numbers(checked_keys(cls, data, where))
        check_value(values, cls, where)
        stage = values.pop("stage", None)
        if stage is None:
            raise ValueError(f"{where}: 'stage' is required")
        return cls.for_stage(stage, **values)


def _numbers(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with a float where a float field holds a number as text (YAML 1.1 reads ``1e-4`` as text) or as an
    int; anything else as it is, for :func:`check_value` to judge."""
    hints = field_hints(TrainConfig)
    floats = {name for name, hint in hints.items() if float in (hint, *typing.get_args(hint))}
    converted = {}
    for name, value in values.items():
        if name in floats and isinstance(value, str | int) and not isinstance(value, bool):
            try:
                number = float(value)
            except (ValueError, OverflowError):
                number = math.nan
            value = number if math.isfinite(number) else value
        converted[name] = value
    return converted


# Fields added after runs were first recorded, with the value those earlier runs had.
_PREDATED: dict[str, Any] = {"scale_flow_heads": False, "bn_recalibration": 0}


def with_predated_fields(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded config (:meth:`TrainConfig.to_dict`) completed with the fields added since, as its run had them.

    Checkpoints and run records compare this, not the raw record, with the current config.
    """
    return {**_PREDATED, **recorded}


def load_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Read a YAML mapping of :class:`TrainConfig` fields, then apply ``overrides``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{path}: not a readable YAML file ({reason})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of TrainConfig fields")
    try:
        return TrainConfig.from_dict({**data, **overrides}, where=str(path))
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith(f"{path}: ") else f"{path}: {message}") from None
