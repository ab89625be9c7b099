"""Strict construction of frozen config dataclasses from plain mappings (parsed YAML or JSON).

Shared by the training config, the metric protocols and the ablation recipes: an unknown or missing key is a
:class:`ValueError` that says where it was found, and lists become tuples (frozen dataclasses stay hashable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

__all__ = ["checked_keys", "from_mapping"]

T = TypeVar("T")


def checked_keys(cls: type, mapping: Any, where: str) -> dict[str, Any]:
    """A copy of ``mapping`` once it is known to be a mapping with no key outside ``cls``'s fields.

    Raises:
        ValueError: ``mapping`` is not a dict, or has unknown keys (the message names ``where`` and the known keys).
    """
    if not isinstance(mapping, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(mapping).__name__}")
    known = sorted(f.name for f in fields(cls))
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; known: {known}")
    return dict(mapping)


def from_mapping(cls: type[T], mapping: Any, where: str, **convert: Callable[[Any], Any]) -> T:
    """``cls(**mapping)`` with the values of the keys in ``convert`` converted first and other lists made tuples.

    Raises:
        ValueError: not a mapping, unknown or missing keys, a value a converter cannot take, or a validation error
            of ``cls`` (prefixed ``where``).
    """
    values = checked_keys(cls, mapping, where)
    for key, value in values.items():
        if key in convert:
            try:
                values[key] = convert[key](value)
            except (TypeError, ValueError) as err:  # a converter met a value of the wrong type
                message = str(err)
                raise ValueError(message if message.startswith(where) else f"{where}: {key}: {message}") from None
        elif isinstance(value, list):
            values[key] = tuple(value)
    try:
        return cls(**values)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None
