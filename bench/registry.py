"""One generic registry: names of one kind (methods, datasets) mapped to lazy ``"module:Object"`` targets.

A :class:`Registry` holds the shipped entries (a plain ``{name: "module:Object"}`` table, kept by reference so that
it stays the module's public constant), an installed packages' entry point group (read from package metadata on
every listing: nothing is imported) and this process's registrations. Every entry knows where it came from
(:meth:`Registry.origin`). A name means one target: registering it again with the same target does nothing, with
another target is refused naming both sources. An unknown name is one line with the closest names. Importing this
module imports neither torch nor any target.

Example:
    >>> colours = Registry("colour", {"red": "colorsys:rgb_to_hsv"})
    >>> colours.get("red").__name__
    'rgb_to_hsv'
    >>> colours.get("rde")
    Traceback (most recent call last):
    ...
    bench.errors.InputError: Unknown colour 'rde'. Did you mean: red? Available: red
"""

from __future__ import annotations

import difflib
import functools
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

from bench.errors import InputError

__all__ = ["BUILT_IN", "Registry", "did_you_mean", "import_target"]

BUILT_IN = "built-in"  # the source of a shipped entry

_Table = dict[str, tuple[str, str]]  # {name: (target, source)}


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """``" Did you mean: a, b?"`` with the (up to three) names closest to ``name``, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(names), n=3)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def import_target(target: str, where: str) -> Any:
    """Import ``"module:Object"`` (``Object`` may be dotted); errors are one line starting with ``where``.

    Raises:
        InputError: not ``module:Object``, the module is not found or fails to import, no such attribute.
    """
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
        return functools.reduce(getattr, qualname.split("."), module)
    except AttributeError:
        raise InputError(f"{where}: module {module_name} has no attribute {qualname!r}") from None


class Registry:
    """Names of one ``kind`` -> lazy ``"module:Object"`` targets, with the place each came from.

    Args:
        kind: what a name names, in messages (``"method"``, ``"dataset"``).
        builtins: the shipped entries, ``{name: "module:Object"}`` (source ``built-in``); read, never copied.
        entry_point_group: the entry point group whose entries join the registry (``None``: none).
        name_pattern: what a registered name must match (names become folders and table rows).
        name_rule: how an error states ``name_pattern``.
        targets: whether a ``"module:Object"`` string is accepted wherever a name is (its own source).
        also: appended to the unknown-name error, after the list of names (e.g. ``"; or an adapter class as
            module:Class"``).
        check: ``check(obj, where)`` raises :class:`InputError` (one line starting with ``where``) when an imported
            target is not what the registry holds (e.g. not a subclass of the kind's base class).
    """

    def __init__(
        self,
        kind: str,
        builtins: Mapping[str, str],
        *,
        entry_point_group: str | None = None,
        name_pattern: str = r"[a-z0-9][a-z0-9_]*",
        name_rule: str = "lower-case letters, digits and '_' only",
        targets: bool = False,
        also: str = "",
        check: Callable[[Any, str], None] | None = None,
    ) -> None:
        self.kind = kind
        self.builtins = builtins
        self.entry_point_group = entry_point_group
        self.name_pattern = re.compile(name_pattern)
        self.name_rule = name_rule
        self.targets = targets
        self.also = also
        self.check = check
        self._registered: _Table = {}  # added by register() in this process

    def _add(self, table: _Table, name: str, target: str, source: str) -> None:
        """Add ``name`` -> ``target`` to ``table``; the same target again is a no-op.

        Raises:
            InputError: a bad name, or ``name`` already means another target (both sources named).
        """
        if not self.name_pattern.fullmatch(name):
            raise InputError(f"{self.kind} name {name!r} ({source}): {self.name_rule}")
        if table.get(name, (target,))[0] != target:
            old_target, old_source = table[name]
            raise InputError(f"{self.kind} {name!r} is registered twice: {old_target} ({old_source}) and {target} "
                             f"({source}); rename one")  # fmt: skip
        table.setdefault(name, (target, source))

    def table(self) -> _Table:
        """Every registered name: shipped, then entry points (metadata only, nothing imported), then registrations.

        Raises:
            InputError: two sources register one name with different targets.
        """
        table = {name: (target, BUILT_IN) for name, target in self.builtins.items()}
        if self.entry_point_group:
            for entry in metadata.entry_points(group=self.entry_point_group):
                source = f"entry point {entry.dist.name if entry.dist else entry.module}"
                self._add(table, entry.name, entry.value, source)
        return table | self._registered

    def names(self) -> list[str]:
        """The registered names, sorted (see :meth:`table`)."""
        return sorted(self.table())

    def resolve(self, name: str) -> tuple[str, str]:
        """``(target, source)`` of a registered name, or of a ``module:Object`` target (its own source).

        Raises:
            InputError: an unknown name, with the closest names and every registered one.
        """
        if self.targets and ":" in name:
            return name, name
        if name in self.builtins:  # shipped entries without reading package metadata
            return self.builtins[name], BUILT_IN
        table = self.table()
        if name not in table:
            raise InputError(f"Unknown {self.kind} {name!r}.{did_you_mean(name, table)} Available: "
                             f"{', '.join(sorted(table))}{self.also}")  # fmt: skip
        return table[name]

    def origin(self, name: str) -> str:
        """Where ``name`` comes from: ``built-in``, ``entry point <distribution>``, the source given to
        :meth:`register`, or the ``module:Object`` it is."""
        return self.resolve(name)[1]

    @staticmethod
    def where(name: str, target: str, source: str) -> str:
        """How errors name an entry: ``name = module:Object (source)``, or the target alone when given directly."""
        if name == target:
            return target
        return f"{name} = {target}" if source == target else f"{name} = {target} ({source})"

    def _import(self, name: str, target: str, source: str) -> Any:
        where = self.where(name, target, source)
        obj = import_target(target, where)
        if self.check is not None:
            self.check(obj, where)
        return obj

    def get(self, name: str) -> Any:
        """The object registered as ``name`` (or the ``module:Object`` itself), imported and checked.

        Raises:
            InputError: unknown name (with the closest names), or a target that does not import or fails the
                check (one line naming it).
        """
        target, source = self.resolve(name)
        return self._import(name, target, source)

    def register(self, name: str, target: str, source: str | None = None) -> None:
        """Register ``name`` -> ``target`` (``module:Object``) for this process; the target is imported and checked
        now.

        Args:
            name: the name (matching ``name_pattern``).
            target: ``"module:Object"``.
            source: where the registration comes from, shown by :meth:`origin`; default the target.

        Raises:
            InputError: a bad name, a target that does not load (see :meth:`get`), or ``name`` already registered
                to another target (both sources named). The same target again is a no-op.
        """
        source = source or target
        table = self.table()
        known = name in table
        self._add(table, name, target, source)
        self._import(name, target, source)
        if not known:
            self._registered[name] = (target, source)

    def _clear(self) -> None:
        """Forget this process's registrations (tests)."""
        self._registered.clear()
