"""Dataset loaders in the official on-disk layouts, one sample schema, and a synthetic data generator.

Loaders are registered by name in :data:`DATASETS` (``"module:Class"`` strings, imported on use). This module imports
neither torch nor a loader: the command line takes its choices (:data:`DATASETS`, :data:`BACKGROUNDS`) from here, and
the other names are imported on first use (:pep:`562`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bench.errors import InputError
from bench.registry import Registry

if TYPE_CHECKING:
    from bench.data.base import Entry, TryOnDataset
    from bench.data.schema import COMMON, LABEL_SETS, to_common

__all__ = [
    "BACKGROUNDS",
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
# Behind a synthetic person (bench.data.synthetic.render). ``varied``: a per-person two-tone gradient, half of them
# with a floor and a shadow at the feet; ``studio``: the same near-white backdrop behind everyone, as in VITON's photos.
BACKGROUNDS = ("varied", "studio")
_REGISTRY = Registry("dataset", DATASETS, name_pattern=r"[a-z0-9][a-z0-9_-]*",
                     name_rule="lower-case letters, digits, '-' and '_' only")  # fmt: skip

_HOMES = {"Entry": "bench.data.base", "TryOnDataset": "bench.data.base"} | dict.fromkeys(
    ("COMMON", "LABEL_SETS", "to_common"), "bench.data.schema"
)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'bench.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def dataset_class(name: str) -> type[TryOnDataset]:
    """The loader class registered as ``name``.

    Raises:
        InputError: an unknown name (a ``ValueError``; with the closest names).
    """
    return _REGISTRY.get(name)


def create_dataset(name: str, root: Any, **kwargs: Any) -> TryOnDataset:
    """Build the loader ``name`` on ``root`` (see :class:`TryOnDataset` for the keyword arguments)."""
    return dataset_class(name)(root, **kwargs)
