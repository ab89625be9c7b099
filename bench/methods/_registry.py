"""The method registry: built-in adapters, installed packages' entry points, this process's registrations, and
adapters named directly as ``module:Class``.

Every entry is a lazy ``"module:Class"`` string with the place it came from (the generic
:class:`bench.registry.Registry`): listing methods reads package metadata and imports no adapter; :func:`method_class`
imports one and checks it is a complete adapter (the checks below). A name means one adapter: registering it again
with the same target does nothing, with another target is refused naming both sources.
"""

from __future__ import annotations

import inspect
from typing import Any

from bench.data.readers import InputError
from bench.data.schema import SAMPLE_KEYS
from bench.methods.base import MethodCard, TryOnMethod
from bench.registry import Registry

__all__ = ["ENTRY_POINT_GROUP", "METHODS", "list_methods", "method_class", "method_origin", "register_method"]

ENTRY_POINT_GROUP = "pftryon.methods"
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
_NAME_RULE = "lower-case letters, digits and '_' only"  # names become output folders and table rows


def _card_problem(card: object) -> str | None:
    if not isinstance(card, MethodCard):
        return "no card: set card = MethodCard(...) on the class"
    checks = [
        (bool(REGISTRY.name_pattern.fullmatch(card.name)), f"card.name {card.name!r}: {_NAME_RULE}"),
        (all((card.title, card.family, card.citation, card.weights_source)),
         "card.title, family, citation and weights_source must not be empty"),
        (bool(card.inputs) and set(card.inputs) <= set(SAMPLE_KEYS),
         f"card.inputs {card.inputs!r}: one or more sample fields ({', '.join(SAMPLE_KEYS)})"),
        (len(card.resolution) == 2 and all(isinstance(s, int) and s > 0 for s in card.resolution),
         f"card.resolution {card.resolution!r}: (height, width)"),
    ]  # fmt: skip
    return next((message for ok, message in checks if not ok), None)


def _check_adapter(obj: Any, where: str) -> None:
    """Raise :class:`InputError` (one line starting with ``where``) unless ``obj`` is a complete adapter class."""
    if not (isinstance(obj, type) and issubclass(obj, TryOnMethod)):
        what = f"class {obj.__qualname__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise InputError(f"{where}: {what} is not a subclass of bench.methods.TryOnMethod")
    if inspect.isabstract(obj):
        raise InputError(f"{where}: abstract: implement {', '.join(sorted(obj.__abstractmethods__))}")
    problem = _card_problem(getattr(obj, "card", None))
    if problem:
        raise InputError(f"{where}: incomplete card: {problem}")


REGISTRY = Registry(
    "method", METHODS, entry_point_group=ENTRY_POINT_GROUP, name_pattern=r"[a-z0-9][a-z0-9_]*", name_rule=_NAME_RULE,
    targets=True, also="; or an adapter class as module:Class", check=_check_adapter,
)  # fmt: skip


def list_methods() -> list[str]:
    """Registered method names, sorted: built-ins, entry points and this process's registrations.

    Raises:
        InputError: two sources register one name with different targets.
    """
    return REGISTRY.names()


def method_origin(name: str) -> str:
    """Where method ``name`` comes from: ``built-in``, ``entry point <distribution>``, ``suite <file>`` (a suite's
    ``class:`` row), or the ``module:Class`` it is (given directly, or registered without a source)."""
    return REGISTRY.origin(name)


def method_class(name: str) -> type[TryOnMethod]:
    """The adapter class of a registered name, or of ``module:Class`` (imported from PYTHONPATH or a package).

    Raises:
        InputError: unknown name (with the closest names), or a target that does not load: module not found,
            attribute missing, not a :class:`TryOnMethod` subclass, abstract, incomplete card (one line naming it).
    """
    return REGISTRY.get(name)


def register_method(name: str, target: str, source: str | None = None) -> None:
    """Register ``name`` -> adapter ``target`` (``module:Class``) for this process; the class is imported and checked
    now. A suite's ``class:`` row registers itself this way.

    Args:
        name: the method's name (lower-case letters, digits, ``_``).
        target: ``"module:Class"`` of a :class:`TryOnMethod` subclass.
        source: where the registration comes from (``suite <file>``), shown by :func:`method_origin`; default the
            target.

    Raises:
        InputError: a bad name, a target that does not load (see :func:`method_class`), or ``name`` already
            registered to another target (both sources named). The same target again is a no-op.
    """
    REGISTRY.register(name, target, source)
