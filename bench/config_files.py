"""Folders of declarative YAML configs (protocols, suites, recipes): lookup by name or path, ``include:`` chains.

A config is a shipped file (``<folder>/<name>.yaml``, found by name) or any YAML path. ``include: <name or path>``
merges the included config under the including one's keys: mappings are merged key by key, anything else (lists,
scalars) is replaced. Cycles are errors. Given the config's dataclass, every file of the chain is type-checked on its
own (:func:`pftryon.config_types.check_value`), so an error names the file that holds the value. A number with an
exponent and no dot (``1e-4``) is read as a number, as YAML 1.2 and ``--set`` read it (PyYAML's YAML 1.1 reads it as
text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pftryon.config_types import check_value

__all__ = ["ConfigFolder", "merge_mappings", "require"]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with ``1e-4`` a float."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"), list("-+0123456789.")
)


def require(checks: list[tuple[bool, str]], where: str) -> None:
    """Raise ``ValueError("<where>: <message>")`` for the first check that does not hold."""
    for ok, message in checks:
        if not ok:
            raise ValueError(f"{where}: {message}")


def merge_mappings(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``, nested mappings merged recursively."""
    merged = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = merge_mappings(base[key], value) if nested else value
    return merged


@dataclass(frozen=True)
class ConfigFolder:
    """The shipped configs of one ``kind`` (``protocol``, ``suite``, ``recipe``) in ``folder``."""

    folder: Path
    kind: str

    def names(self) -> list[str]:
        """Names of the shipped configs."""
        return sorted(p.stem for p in self.folder.glob("*.yaml"))

    def path(self, name: str) -> Path:
        """A shipped config's file, or ``name`` itself when it names a YAML file.

        Raises:
            ValueError: no such file (an unknown name lists the shipped ones).
        """
        if name.endswith((".yaml", ".yml")):
            if not Path(name).is_file():
                raise ValueError(f"{name}: {self.kind} file not found")
            return Path(name)
        path = self.folder / f"{name}.yaml"
        if not path.is_file():
            raise ValueError(f"Unknown {self.kind} {name!r}. Available: {', '.join(self.names())} (or a .yaml file)")
        return path

    def load(self, name: str, seen: tuple[str, ...] = (), *, schema: type | None = None) -> dict[str, Any]:
        """The plain data of config ``name`` with its ``include`` chain merged in.

        Args:
            name: a shipped config's name or a YAML path.
            seen: the names including this one (cycle detection).
            schema: the config's dataclass: each file's values are checked against its field types.

        Raises:
            ValueError: unknown name, not a mapping, an include cycle, or (with ``schema``) a value of the wrong type
                (:class:`~pftryon.config_types.ConfigTypeError`, naming the file and the key).
        """
        path = self.path(name)
        if name in seen:
            raise ValueError(f"{path}: include cycle {' -> '.join((*seen, name))}")
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        except (UnicodeDecodeError, yaml.YAMLError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ValueError(f"{path}: not a readable YAML file ({reason})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping")
        parent = data.pop("include", None)
        check_value(parent, str | None, str(path), "include")
        if schema is not None:
            check_value(data, schema, str(path))
        return merge_mappings(self.load(parent, (*seen, name), schema=schema), data) if parent else data
