"""Wiring training into the harness: which methods train through which stages (each adapter's
:attr:`~bench.methods.TryOnMethod.stages`), and a dataset of the suite as training batches (:mod:`pftryon.train`
itself knows no file layouts and no baselines)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pftryon.train.config import TrainConfig
    from pftryon.train.data import TrainingPairs

__all__ = [
    "TRAINABLE", "check_inputs", "check_stage", "register_stages", "train_on_dataset", "trainable", "training_pairs",
]  # fmt: skip


def trainable() -> dict[str, tuple[str, ...]]:
    """``{method: its stages in training order}`` of every registered method that ``pftryon train --method M --stage
    S`` trains (an adapter with :attr:`~bench.methods.TryOnMethod.stages`), in name order.

    Raises:
        InputError: a registered adapter does not load (one line naming it).
    """
    from bench.methods import list_methods, method_class

    return {name: stages for name in list_methods() if (stages := method_class(name).stages)}


TRAINABLE: dict[str, tuple[str, ...]]  # :func:`trainable`, computed on each read (module ``__getattr__``)


def __getattr__(name: str) -> Any:
    if name == "TRAINABLE":  # derived from the adapters; kept for its readers (bench.train.runs)
        return trainable()
    raise AttributeError(f"module 'bench.train.wiring' has no attribute {name!r}")


def _stages(method: str) -> tuple[str, ...]:
    """The stages of registered method ``method``; empty when it is not registered or not trainable."""
    from bench.methods import METHODS, list_methods, method_class

    return method_class(method).stages if method in METHODS or method in list_methods() else ()


def check_stage(method: str, stage: str) -> None:
    """Raise ``ValueError`` (one line, listing the method's stages) unless ``method`` trains through ``stage``."""
    stages = _stages(method)
    if not stages:
        raise ValueError(f"method {method!r} is not trainable here; trainable: {', '.join(trainable())}")
    if stage not in stages:
        raise ValueError(f"{method} has no stage {stage!r}; its stages, in order: {', '.join(stages)}")


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
