"""Dataset loaders in the official on-disk layouts, one sample schema, and a synthetic data generator.

Loaders are registered by name in :data:`DATASETS` (``"module:Class"`` strings, imported on use).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from bench.data.base import Entry, TryOnDataset
from bench.data.readers import InputError
from bench.data.schema import COMMON, LABEL_SETS, to_common

__all__ = [
    "COMMON",
    "DATASETS",
    "LABEL_SETS",
    "Entry",
    "InputError",
    "TryOnDataset",
    "create_dataset",
    "dataset_class",
    "to_common",
]

DATASETS: dict[str, str] = {
    "viton": "bench.data.viton:VitonDataset",
    "viton-pfafn": "bench.data.viton:VitonPFAFNDataset",
    "viton-hd": "bench.data.vitonhd:VitonHDDataset",
    "dresscode": "bench.data.dresscode:DressCodeDataset",
    "mpv": "bench.data.mpv:MPVDataset",
    "vvt": "bench.data.vvt:VVTDataset",
}


def dataset_class(name: str) -> type[TryOnDataset]:
    """The loader class registered as ``name``."""
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown dataset {name!r}.{hint} Available: {', '.join(sorted(DATASETS))}")
    module, cls = DATASETS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create_dataset(name: str, root: Any, **kwargs: Any) -> TryOnDataset:
    """Build the loader ``name`` on ``root`` (see :class:`TryOnDataset` for the keyword arguments)."""
    return dataset_class(name)(root, **kwargs)
