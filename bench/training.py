"""Wiring a dataset of the suite into :mod:`pftryon.train` (the trainer itself knows no file layouts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.data import create_dataset
from bench.data.schema import to_common
from pftryon.train.config import TrainConfig
from pftryon.train.data import TrainingPairs
from pftryon.train.representation import densepose_from_parse

__all__ = ["training_pairs", "train_on_dataset"]


def training_pairs(
    name: str, root: str | os.PathLike[str], *, size: tuple[int, int], seed: int, split: str = "train", **options: Any
) -> TrainingPairs:
    """The ``split`` of dataset ``name`` at ``size`` as training batches: parse mapped to the common label set,
    DensePose from the files when the dataset has them, else derived from the parse
    (:func:`pftryon.train.representation.densepose_from_parse`)."""
    base = create_dataset(name, root, split=split, pair_mode="paired", size=size, **options)
    return TrainingPairs(base, seed=seed, size=size, parse_to_common=to_common,
                         densepose_from_parse=densepose_from_parse)  # fmt: skip


def train_on_dataset(
    config: TrainConfig, name: str, root: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any
) -> Path:
    """Train ``config.stage`` on the train split of ``name`` into ``out``; returns the ``final/`` folder."""
    from pftryon.train.trainer import train

    data = training_pairs(name, root, size=config.size, seed=config.seed)
    return train(config, data, out, **options)
