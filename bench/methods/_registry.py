"""The method registry: built-in adapters, installed packages' entry points, this process's registrations, and
adapters named directly as ``module:Class``.

Every entry is a lazy ``"module:Class"`` string with the place it came from: listing methods reads package metadata
and imports no adapter; :func:`method_class` imports one and checks it. A name means one adapter: registering it again
with the same target does nothing, with another target is refused naming both sources.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import re
from importlib import metadata

from bench.data.readers import InputError
from bench.data.schema import SAMPLE_KEYS
from bench.methods.base import MethodCard, TryOnMethod

__all__ = ["ENTRY_POINT_GROUP", "METHODS", "list_methods", "method_class", "method_origin", "register_method"]

ENTRY_POINT_GROUP = "pftryon.methods"
_BUILT_IN = "built-in"
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
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")  # names become output folders and table rows
_REGISTERED: dict[str, tuple[str, str]] = {}  # {name: (target, source)} added by register_method in this process

_Table = dict[str, tuple[str, str]]


def _add(table: _Table, name: str, target: str, source: str) -> None:
    """Add ``name`` -> ``target`` to ``table``; the same target again is a no-op.

    Raises:
        InputError: a bad name, or ``name`` already means another target (both sources named).
    """
    if not _NAME.fullmatch(name):
        raise InputError(f"method name {name!r} ({source}): lower-case letters, digits and '_' only")
    if table.get(name, (target,))[0] != target:
        old_target, old_source = table[name]
        raise InputError(f"method {name!r} is registered twice: {old_target} ({old_source}) and {target} ({source}); "
                         "rename one")  # fmt: skip
    table.setdefault(name, (target, source))


def _table() -> _Table:
    """Every registered name: built-ins, then entry points (metadata only, nothing imported), then registrations."""
    table = {name: (target, _BUILT_IN) for name, target in METHODS.items()}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        _add(table, entry.name, entry.value, f"entry point {entry.dist.name if entry.dist else entry.module}")
    return table | _REGISTERED


def _lookup(name: str) -> tuple[str, str]:
    """``(target, source)`` of a registered name, or of a ``module:Class`` target (its own source)."""
    if ":" in name:
        return name, name
    if name in METHODS:  # built-ins without reading package metadata
        return METHODS[name], _BUILT_IN
    table = _table()
    if name not in table:
        close = difflib.get_close_matches(name, table, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise InputError(f"Unknown method {name!r}.{hint} Available: {', '.join(sorted(table))}; or an adapter class "
                         "as module:Class")  # fmt: skip
    return table[name]


def _where(name: str, target: str, source: str) -> str:
    """How errors name a target: ``name = module:Class (source)``, or the target alone when given directly."""
    if name == target:
        return target
    return f"{name} = {target}" if source == target else f"{name} = {target} ({source})"


def _card_problem(card: object) -> str | None:
    if not isinstance(card, MethodCard):
        return "no card: set card = MethodCard(...) on the class"
    checks = [
        (bool(_NAME.fullmatch(card.name)), f"card.name {card.name!r}: lower-case letters, digits and '_' only"),
        (all((card.title, card.family, card.citation, card.weights_source)),
         "card.title, family, citation and weights_source must not be empty"),
        (bool(card.inputs) and set(card.inputs) <= set(SAMPLE_KEYS),
         f"card.inputs {card.inputs!r}: one or more sample fields ({', '.join(SAMPLE_KEYS)})"),
        (len(card.resolution) == 2 and all(isinstance(s, int) and s > 0 for s in card.resolution),
         f"card.resolution {card.resolution!r}: (height, width)"),
    ]  # fmt: skip
    return next((message for ok, message in checks if not ok), None)


def _load(target: str, where: str) -> type[TryOnMethod]:
    """Import ``module:Class`` and check it is a complete adapter; errors are one line starting with ``where``."""
    module_name, _, qualname = target.partition(":")
    if not module_name or not qualname:
        raise InputError(f"{where}: expected module:Class (e.g. mypkg.tryon:MyMethod)")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (module_name + ".").startswith(err.name + "."):
            raise InputError(f"{where}: module {err.name!r} not found (not on PYTHONPATH nor installed)") from None
        raise InputError(f"{where}: importing {module_name} failed: {err}") from None
    try:
        obj = functools.reduce(getattr, qualname.split("."), module)
    except AttributeError:
        raise InputError(f"{where}: module {module_name} has no attribute {qualname!r}") from None
    if not (isinstance(obj, type) and issubclass(obj, TryOnMethod)):
        what = f"class {obj.__qualname__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise InputError(f"{where}: {what} is not a subclass of bench.methods.TryOnMethod")
    if inspect.isabstract(obj):
        raise InputError(f"{where}: abstract: implement {', '.join(sorted(obj.__abstractmethods__))}")
    problem = _card_problem(getattr(obj, "card", None))
    if problem:
        raise InputError(f"{where}: incomplete card: {problem}")
    return obj


def list_methods() -> list[str]:
    """Registered method names, sorted: built-ins, entry points and this process's registrations.

    Raises:
        InputError: two sources register one name with different targets.
    """
    return sorted(_table())


def method_origin(name: str) -> str:
    """Where method ``name`` comes from: ``built-in``, ``entry point <distribution>``, ``suite <file>`` (a suite's
    ``class:`` row), or the ``module:Class`` it is (given directly, or registered without a source)."""
    return _lookup(name)[1]


def method_class(name: str) -> type[TryOnMethod]:
    """The adapter class of a registered name, or of ``module:Class`` (imported from PYTHONPATH or a package).

    Raises:
        InputError: unknown name (with the closest names), or a target that does not load: module not found,
            attribute missing, not a :class:`TryOnMethod` subclass, abstract, incomplete card (one line naming it).
    """
    target, source = _lookup(name)
    return _load(target, _where(name, target, source))


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
    source = source or target
    table = _table()
    known = name in table
    _add(table, name, target, source)
    _load(target, _where(name, target, source))
    if not known:
        _REGISTERED[name] = (target, source)
