"""Type checks of plain config data (parsed YAML or JSON, ``--set`` values) against dataclass field annotations.

Config loaders call :func:`check_value` before they build their frozen dataclass, so a value of the wrong type is one
line naming where it came from, the key and the expected type::

    bench/suites/mine.yaml: batch_size: expected an integer, got 'many'

rather than an error from deep inside validation. Annotations understood: ``bool``, ``int``, ``float``, ``str``,
``Any``, ``Literal[...]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``list[X]``, ``dict[str, X]``, unions (``X | None``)
and nested dataclasses, checked key by key (unknown and missing keys are left to the builder, which names them).

Rules: a bool is not an integer; an integer is a number; a number must be finite; a string is never a list. Values are
only checked, never converted. A dataclass whose config form differs from its fields' types (a key that is not a
Python name, a single mapping where a list is expected) says so in a ``config_hints`` class variable,
``{key: annotation}``, which replaces or adds to its fields' annotations.

Only the standard library is imported: the model package and the benchmark both use this module.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, Literal

__all__ = ["ConfigTypeError", "check_setting", "check_value", "describe", "field_hints", "setting_hint"]

_UNIONS = (typing.Union, types.UnionType)
_SCALARS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null"}
_PLURALS = {bool: "true/false values", int: "integers", float: "numbers", str: "strings", type(None): "nulls"}


class ConfigTypeError(ValueError):
    """A config value of the wrong type; one line: ``<where>: <key path>: expected <type>, got <value>``."""


def field_hints(cls: type) -> dict[str, Any]:
    """``{key: annotation}`` of the dataclass ``cls`` in its config form: its fields', updated by ``config_hints``."""
    return dict(_field_hints(cls))


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)} | dict(getattr(cls, "config_hints", {}))


def check_value(value: Any, hint: Any, where: str, path: str = "") -> None:
    """Check that ``value`` is plain data of type ``hint`` (a dataclass: a mapping of its fields, key by key).

    Args:
        value: the data (a parsed YAML document, a mapping's value, a ``--set`` value).
        hint: the annotation (a dataclass for a whole config).
        where: the file (or ``--set key=value``) the data came from; starts the message.
        path: the key path of ``value`` within it (``latency[0].iters``); empty for the whole document.

    Raises:
        ConfigTypeError: the first value of the wrong type, as ``<where>: <key path>: expected <type>, got <value>``.
    """
    mismatch = _mismatch(value, hint, path)
    if mismatch is not None:
        at, expected, got = mismatch
        shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
        raise ConfigTypeError(f"{where}: {at + ': ' if at else ''}expected {describe(expected)}, got {shown}")


def setting_hint(cls: type, dotted: str) -> Any | None:
    """The annotation of the setting ``dotted`` (``latency.iters``) of the dataclass ``cls``; ``None`` if it has none.

    A key under a list of dataclasses is the key of each item (``latency.iters``: every sweep's ``iters``).
    """
    hint: Any = cls
    for part in dotted.split("."):
        owner = _dataclass_in(hint)
        hints = _field_hints(owner) if owner is not None else {}
        if part not in hints:
            return None
        hint = hints[part]
    return hint


def check_setting(cls: type, dotted: str, value: Any, where: str) -> None:
    """Check a command-line setting (``--set latency.iters=5``) of the dataclass ``cls``; an unknown key passes (the
    caller names it).

    Raises:
        ConfigTypeError: ``value`` is not of the setting's type (the message starts with ``where``).
    """
    hint = setting_hint(cls, dotted)
    if hint is not None:
        check_value(value, hint, where)


def describe(hint: Any) -> str:
    """The annotation in words, as error messages say it (``a list of 2 integers or null``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in _SCALARS:
        return _SCALARS[hint]
    if hint is Any:
        return "any value"
    if origin in _UNIONS:
        words = [describe(a) for a in args if a is not type(None)] + ["null"] * (type(None) in args)
        return ", ".join(words[:-1]) + f" or {words[-1]}"
    if origin is Literal:
        return f"{args[0]!r}" if len(args) == 1 else f"one of {', '.join(map(repr, args))}"
    if origin in (tuple, list):
        if origin is list or (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {_plural(args[0])}"
        if len(set(args)) == 1:
            return f"a list of {len(args)} {_plural(args[0])}"
        return f"a list [{', '.join(describe(a) for a in args)}]"
    if origin is dict and args and args[1] is not Any:
        return f"a mapping of names to {_plural(args[1])}"
    if origin is dict or hint is dict or dataclasses.is_dataclass(hint):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _plural(hint: Any) -> str:
    if hint in _PLURALS:
        return _PLURALS[hint]
    if typing.get_origin(hint) is Literal:
        return f"values among {', '.join(map(repr, typing.get_args(hint)))}"
    if typing.get_origin(hint) in _UNIONS:
        words = [_plural(a) for a in typing.get_args(hint)]
        return ", ".join(words[:-1]) + f" or {words[-1]}"
    words = describe(hint)
    for one, many in (("a list", "lists"), ("a mapping", "mappings")):
        if words.startswith(one):
            return many + words[len(one) :]
    return words


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _matches_scalar(value: Any, hint: Any) -> bool:
    if hint is bool or hint is str:
        return isinstance(value, hint)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    return value is None


def _container(hint: Any) -> str | None:
    """``mapping`` or ``list`` for annotations of those shapes, else ``None``."""
    origin = typing.get_origin(hint)
    if origin is dict or hint is dict or dataclasses.is_dataclass(hint):
        return "mapping"
    return "list" if origin in (tuple, list) else None


def _shape(value: Any) -> str | None:
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list | tuple) else None


def _mismatch(value: Any, hint: Any, path: str) -> tuple[str, Any, Any] | None:
    """``(key path, expected annotation, value)`` of the first value of the wrong type in ``value``, or ``None``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return None
    if hint in _SCALARS:
        return None if _matches_scalar(value, hint) else (path, hint, value)
    if origin is Literal:
        return None if any(type(value) is type(a) and value == a for a in args) else (path, hint, value)
    if origin in _UNIONS:
        # A container goes into the one member of its shape, so the message points inside it (``qualitative.pairs``).
        same_shape = [a for a in args if _shape(value) is not None and _container(a) == _shape(value)]
        if len(same_shape) == 1:
            return _mismatch(value, same_shape[0], path)
        return None if any(_mismatch(value, a, path) is None for a in args) else (path, hint, value)
    if _container(hint) != _shape(value):
        return None if dataclasses.is_dataclass(hint) and isinstance(value, hint) else (path, hint, value)
    if origin in (tuple, list):
        fixed = origin is tuple and not (len(args) == 2 and args[1] is Ellipsis)
        if fixed and len(value) != len(args):
            return path, hint, value
        items = args if fixed else (args[0] if args else Any,) * len(value)
        return _first(_mismatch(v, h, f"{path}[{i}]") for i, (v, h) in enumerate(zip(value, items, strict=True)))
    if dataclasses.is_dataclass(hint):
        hints = _field_hints(hint)
        return _first(_mismatch(v, hints[k], _key(path, k)) for k, v in value.items() if k in hints)
    key_hint, value_hint = args or (Any, Any)
    if not all(_mismatch(k, key_hint, path) is None for k in value):
        return path, hint, value
    return _first(_mismatch(v, value_hint, _key(path, k)) for k, v in value.items())


def _key(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _first(mismatches: typing.Iterable[tuple[str, Any, Any] | None]) -> tuple[str, Any, Any] | None:
    return next((m for m in mismatches if m is not None), None)


def _dataclass_in(hint: Any) -> type | None:
    """The dataclass a setting path goes into: ``hint`` itself, a union's member, or a list's item type."""
    if dataclasses.is_dataclass(hint):
        return hint  # type: ignore[return-value]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in _UNIONS or origin in (tuple, list):
        return next((c for a in args if a is not Ellipsis and (c := _dataclass_in(a)) is not None), None)
    return None
