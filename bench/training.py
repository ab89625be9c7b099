"""Wiring training into the harness: which methods train through which stages, and a dataset of the suite as
training batches (:mod:`pftryon.train` itself knows no file layouts and no baselines)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pftryon.train.config import TrainConfig
    from pftryon.train.data import TrainingPairs

__all__ = ["TRAINABLE", "check_inputs", "check_stage", "register_stages", "train_on_dataset", "training_pairs"]

# The stages of each trainable method, in training order (`pftryon train --method M --stage S`).
TRAINABLE: dict[str, tuple[str, ...]] = {
    "pf_afn": ("pb-warp", "pb-e2e", "pf-warp", "pf-e2e"),
    "cp_vton": ("cp-gmm", "cp-tom"),
    "cp_vton_plus": ("cpplus-gmm", "cpplus-tom"),
    "fs_vton": ("fs-warp", "fs-e2e"),
    "dm_vton": ("dm-warp", "dm-e2e"),
}


def check_stage(method: str, stage: str) -> None:
    """Raise ``ValueError`` (one line, listing the method's stages) unless ``method`` trains through ``stage``."""
    if method not in TRAINABLE:
        raise ValueError(f"method {method!r} is not trainable here; trainable: {', '.join(TRAINABLE)}")
    if stage not in TRAINABLE[method]:
        raise ValueError(f"{method} has no stage {stage!r}; its stages, in order: {', '.join(TRAINABLE[method])}")


def check_inputs(config: TrainConfig) -> None:
    """Check, before any work, what ``config`` reads: the tutor of a tutored stage, the ``init`` and ``tutor``
    folders, and the VGG19 weights of the perceptual loss.

    Raises:
        InputError: one line naming the missing thing, where it goes, and the alternative.
    """
    from bench.data.readers import InputError
    from pftryon.losses import find_vgg19_weights
    from pftryon.train.config import TUTORED_STAGES

    if config.stage in TUTORED_STAGES and config.tutor is None:
        raise InputError(f"{config.stage} learns from a tutor: pass --tutor DIR, the trained PB-AFN's final/model")
    for name, folder in (("init", config.init), ("tutor", config.tutor)):
        if folder is not None and not Path(folder).is_dir():
            raise InputError(f"{folder}: the {name} checkpoint folder was not found")
    if config.perceptual == "vgg19":
        try:
            find_vgg19_weights(config.vgg_weights)
        except FileNotFoundError as err:
            raise InputError(f"{err} (on the command line: --set perceptual=none)") from None


def register_stages() -> None:
    """Register the baselines' training stages with :func:`pftryon.train.stages.build_stage` (idempotent)."""
    import baselines.training  # noqa: F401  (registers on import)


def training_pairs(
    name: str, root: str | os.PathLike[str], *, size: tuple[int, int], seed: int, split: str = "train", **options: Any
) -> TrainingPairs:
    """The ``split`` of dataset ``name`` at ``size`` as training batches: parse mapped to the common label set,
    DensePose from the files when the dataset has them, else derived from the parse
    (:func:`pftryon.train.representation.densepose_from_parse`)."""
    from bench.data import create_dataset
    from bench.data.schema import to_common
    from pftryon.train.data import TrainingPairs
    from pftryon.train.representation import densepose_from_parse

    base = create_dataset(name, root, split=split, pair_mode="paired", size=size, **options)
    return TrainingPairs(base, seed=seed, size=size, parse_to_common=to_common,
                         densepose_from_parse=densepose_from_parse)  # fmt: skip


def train_on_dataset(
    config: TrainConfig, name: str, root: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any
) -> Path:
    """Train ``config.stage`` on the train split of ``name`` into ``out``; returns the ``final/`` folder.

    Raises:
        InputError: see :func:`check_inputs`, or a dataset problem.
    """
    from bench.data.readers import InputError
    from pftryon.train.trainer import train

    check_inputs(config)
    register_stages()
    data = training_pairs(name, root, size=config.size, seed=config.seed)
    if len(data) < config.batch_size:
        raise InputError(f"{root}: {len(data)} training samples, fewer than one batch (batch_size {config.batch_size})")
    return train(config, data, out, **options)
