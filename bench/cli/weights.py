"""``pftryon weights``: list, fetch and verify the metric weights files a run needs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench.cli.options import _csv

if TYPE_CHECKING:
    from bench.metrics.needs import Selection

__all__ = ["weights"]


@click.group()
def weights() -> None:
    """Metric weights files: what a run needs (list), download them (fetch), check them (verify)."""


def _selectors(command: Callable[..., None]) -> Callable[..., None]:
    """The options that say which run's files: --protocol, --metrics, --suite, --names, --weights-dir."""
    options = [
        click.option("--protocol", "protocols", multiple=True, metavar="P",
                     help="A protocol of the run (name or YAML), repeatable."),
        click.option("--metrics", help="Comma-separated metrics of the run (extras allowed); alone: under every "
                     "shipped protocol."),
        click.option("--suite", help="A suite (name or YAML): its protocols and metrics."),
        click.option("--names", help="Comma-separated table names (pftryon weights list: NAME column)."),
        click.option("--weights-dir", type=click.Path(path_type=Path),
                     help="Searched before the torch hub cache; fetch writes here.  [default: the hub cache]"),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _selection(protocols: tuple[str, ...], metrics: str | None, suite: str | None, names: str | None) -> Selection:
    from bench.metrics.needs import Selection

    selection = Selection(protocols, _csv(metrics), suite, _csv(names) or ())
    try:
        selection.needs()
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    return selection


@weights.command("list")
@_selectors
@click.option("--all", "all_methods", is_flag=True,
              help="Also the official try-on checkpoints of every registered method (manual downloads).")  # fmt: skip
def weights_list(protocols: tuple[str, ...], metrics: str | None, suite: str | None, names: str | None,
                 weights_dir: Path | None, all_methods: bool) -> None:  # fmt: skip
    """Table of the files a run needs (every file without selectors): use, bytes, sha256, where found, URL."""
    from bench.metrics.fetch import weights_table

    click.echo(weights_table(_selection(protocols, metrics, suite, names), weights_dir, all_methods=all_methods))


@weights.command("fetch")
@_selectors
@click.option("--offline-ok", is_flag=True,
              help="Without a connection: one line saying what is missing and how to get it, and exit 0.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to connect and per read.")  # fmt: skip
def weights_fetch(protocols: tuple[str, ...], metrics: str | None, suite: str | None, names: str | None,
                  weights_dir: Path | None, offline_ok: bool, timeout: float) -> None:  # fmt: skip
    """Download the missing files of a run (every file without selectors) into --weights-dir or the hub cache.

    Resumes <file>.part; checks size and sha256 where pinned before the file gets its name. One line per file that
    fails, exit code 1. PFTRYON_WEIGHTS_MIRROR=URL fetches <URL>/<file name> instead of each file's own URL.
    """
    from bench.metrics.fetch import fetch

    report = fetch(_selection(protocols, metrics, suite, names), weights_dir, timeout=timeout, offline_ok=offline_ok)
    for line in report.fetched:
        click.echo(f"fetched {line}")
    if report.offline:
        click.echo(report.offline)
    for line in report.failed:
        click.echo(f"error: {line}", err=True)
    if report.failed:
        sys.exit(1)
    if not (report.fetched or report.offline):
        click.echo(f"all {len(report.present)} file(s) present")


@weights.command("verify")
@click.option("--weights-dir", type=click.Path(path_type=Path), help="Searched before the torch hub cache.")
def weights_verify(weights_dir: Path | None) -> None:
    """Check the size and sha256 of every weights file present against the table; exit code 1 on a mismatch."""
    from bench.metrics.fetch import verify

    checked = verify(weights_dir)
    for entry in checked:
        click.echo(str(entry))
    if not checked:
        click.echo("no weights file present")
    if any(entry.problem for entry in checked):
        sys.exit(1)
