"""Try-on methods behind one interface (:class:`~bench.methods.base.TryOnMethod`), registered by name.

Adapters are registered lazily as ``"module:Class"`` strings (:class:`bench.registry.Registry`), so listing methods
imports no model code that is not needed. A built-in method is its model in ``pftryon/`` or ``baselines/``, one
adapter class subclassing :class:`TryOnMethod` and one entry in :data:`METHODS`. The adapter is everything the harness
knows of the method: its :class:`MethodCard`, the official test preprocessing (``inputs``), the model it times and
random inputs for it (``build_for_timing``, ``example_inputs``, ``size_multiple``; read by :mod:`bench.latency`) and
its training stages (``stages``; read by :mod:`bench.train.wiring`). A method of your own needs no edit here
(docs/adding-a-method.md): name it as ``module:Class``, register it in a suite's ``class:`` row or
:func:`register_method`, or install a package with a ``pftryon.methods`` entry point.

Example:
    >>> method = create_method("no_warp")
    >>> method.card.parser_free
    True
    >>> method_origin("no_warp")
    'built-in'
"""

from __future__ import annotations

import os

from bench.methods._registry import (
    ENTRY_POINT_GROUP,
    METHODS,
    list_methods,
    method_class,
    method_origin,
    register_method,
)
from bench.methods.base import MethodCard, MissingFieldError, TryOnMethod, file_sha256, random_image, random_mask

__all__ = [
    "ENTRY_POINT_GROUP", "METHODS", "MethodCard", "MissingFieldError", "TryOnMethod", "create_method", "file_sha256",
    "list_methods", "method_class", "method_origin", "random_image", "random_mask", "register_method",
]  # fmt: skip


def create_method(name: str, checkpoints: str | os.PathLike[str] | None = None) -> TryOnMethod:
    """Load method ``name`` (a registered name or ``module:Class``) from a checkpoint folder (official files or a
    pftryon checkpoint); ``None`` for methods without weights. See :meth:`TryOnMethod.load`."""
    return method_class(name).load(checkpoints)
