"""Baseline try-on methods, registered lazily as ``"module:Class"`` strings.

A baseline's module is imported only when :func:`create_baseline` builds it or its class is first read as an
attribute (``baselines.FSVTON``), so listing baselines never pulls in their dependencies. To add one: write
``baselines/<name>.py`` with the model class and add an entry to :data:`BASELINES` (and, for a variant, its fixed
keyword arguments to ``_PRESETS``).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from torch import nn

__all__ = [
    "BASELINES", "CPVTON", "DMVTON", "FSVTON", "NoWarp", "TPSOnly", "create_baseline", "list_baselines",
]  # fmt: skip

BASELINES: dict[str, str] = {
    "cp_vton": "baselines.cp_vton:CPVTON",
    "cp_vton_plus": "baselines.cp_vton:CPVTON",
    "dm_vton": "baselines.dm_vton:DMVTON",
    "fs_vton": "baselines.fs_vton:FSVTON",
    "no_warp": "baselines.no_warp:NoWarp",
    "tps_only": "baselines.tps_only:TPSOnly",
}
_PRESETS: dict[str, dict[str, Any]] = {"cp_vton_plus": {"plus": True}}
# The model classes, importable as ``baselines.<Class>`` without importing every baseline up front.
_CLASSES = {target.split(":")[1]: target for target in BASELINES.values()}


def __getattr__(name: str) -> Any:
    if name not in _CLASSES:
        raise AttributeError(f"module 'baselines' has no attribute {name!r}")
    return _import(_CLASSES[name])


def _import(target: str) -> Any:
    module_name, attribute = target.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def list_baselines() -> list[str]:
    """The registered baseline names, sorted."""
    return sorted(BASELINES)


def create_baseline(name: str, **kwargs: Any) -> nn.Module:
    """Import and build the baseline ``name``, passing ``kwargs`` to its constructor.

    Args:
        name: A name from :func:`list_baselines`.
        **kwargs: Constructor arguments; they override the variant's presets.

    Raises:
        ValueError: If ``name`` is not registered (with the closest names).

    Example:
        >>> create_baseline("cp_vton_plus").plus
        True
    """
    if name not in BASELINES:
        close = difflib.get_close_matches(name, BASELINES)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown baseline {name!r}.{hint} Available: {', '.join(list_baselines())}")
    return _import(BASELINES[name])(**{**_PRESETS.get(name, {}), **kwargs})
