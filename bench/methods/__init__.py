"""Try-on methods behind one interface (:class:`~bench.methods.base.TryOnMethod`), registered by name.

Adapters are registered lazily as ``"module:Class"`` strings, so listing methods imports no model code that is not
needed. To add a method: write its model in ``pftryon/`` or ``baselines/``, an adapter subclassing
:class:`TryOnMethod` (its :class:`MethodCard` and the official test preprocessing in ``inputs``) and one entry in
:data:`METHODS`.

Example:
    >>> method = create_method("no_warp")
    >>> method.card.parser_free
    True
"""

from __future__ import annotations

import difflib
import importlib
import os

from bench.methods.base import MethodCard, MissingFieldError, TryOnMethod, file_sha256

__all__ = [
    "METHODS", "MethodCard", "MissingFieldError", "TryOnMethod", "create_method", "file_sha256", "list_methods",
    "method_class",
]  # fmt: skip

METHODS: dict[str, str] = {
    "pf_afn": "bench.methods.flow:PFAFNMethod",
    "pb_afn": "bench.methods.flow:PBAFNMethod",
    "fs_vton": "bench.methods.flow:FSVTONMethod",
    "dm_vton": "bench.methods.flow:DMVTONMethod",
    "cp_vton": "bench.methods.cp_vton:CPVTONMethod",
    "cp_vton_plus": "bench.methods.cp_vton:CPVTONPlusMethod",
    "no_warp": "bench.methods.lower_bounds:NoWarpMethod",
    "tps_only": "bench.methods.cp_vton:TPSOnlyMethod",
    "pf_afn_no_flow": "bench.methods.lower_bounds:PFAFNNoFlowMethod",
    "wuton_student": "bench.methods.flow:WUTONStudentMethod",
}


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(METHODS)


def method_class(name: str) -> type[TryOnMethod]:
    """The adapter class registered as ``name``.

    Raises:
        ValueError: unknown name (with the closest names and the list).
    """
    if name not in METHODS:
        close = difflib.get_close_matches(name, METHODS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown method {name!r}.{hint} Available: {', '.join(list_methods())}")
    module, cls = METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def create_method(name: str, checkpoints: str | os.PathLike[str] | None = None) -> TryOnMethod:
    """Load method ``name`` from a checkpoint folder (official files or a pftryon checkpoint); ``None`` for
    methods without weights. See :meth:`TryOnMethod.load`."""
    return method_class(name).load(checkpoints)
