"""Option helpers shared by the ``pftryon`` commands: HxW sizes, comma lists, ``--set`` and ``NAME=VALUE``."""

from __future__ import annotations

import re

import click

__all__: list[str] = []


# eval, bench and ablate: downloads happen only through this flag or ``pftryon weights fetch``.
_FETCH_WEIGHTS = click.option(
    "--fetch-weights", is_flag=True, help="First download the run's missing metric weights (as pftryon weights fetch)."
)
# eval, bench and ablate: metric weights whose sha256 is not the official one only when asked for.
_ALLOW_UNOFFICIAL_WEIGHTS = click.option(
    "--allow-unofficial-weights", is_flag=True,
    help="Use metric weights whose sha256 is not the official one (warned in the report).",
)  # fmt: skip


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        height, width = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW such as 256x192, got {value!r}") from None
    if height < 32 or width < 32:
        raise click.BadParameter(f"sizes below 32x32 are not supported, got {value!r}")
    return height, width


def _csv(value: str | None) -> tuple[str, ...] | None:
    """``a, b`` as ``("a", "b")``; ``None`` when not given."""
    return None if value is None else tuple(part.strip() for part in value.split(",") if part.strip())


_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _parse_settings(settings: tuple[str, ...], config: type | None = None) -> dict[str, object]:
    """``--set KEY=VALUE`` values read as YAML scalars; each checked against the type of ``config``'s KEY if given."""
    import yaml

    from pftryon.config_types import check_setting

    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--set expects key=value, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise click.UsageError(f"--set {key}: cannot read {value!r} ({err.__class__.__name__})") from None
        if isinstance(parsed, str) and _EXPONENT_NUMBER.fullmatch(parsed.strip()):
            parsed = float(parsed)  # YAML 1.1 reads 1e-4 and 5e-5 (no dot) as strings
        key = key.strip().replace("-", "_")
        if config is not None:
            try:
                check_setting(config, key, parsed, f"--set {item}")
            except ValueError as err:
                raise click.UsageError(str(err)) from None
        values[key] = parsed
    return values


def _assignments(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.UsageError(f"{option} expects NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out
