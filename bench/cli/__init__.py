"""The ``pftryon`` command line. Commands parse arguments and call the Python API; no logic lives here.

One module per group of commands: :mod:`~bench.cli.run` (tryon, predict, methods, latency),
:mod:`~bench.cli.data`, :mod:`~bench.cli.evaluate` (eval), :mod:`~bench.cli.train`, :mod:`~bench.cli.suite`
(bench, ablate) and :mod:`~bench.cli.weights`; shared option helpers in :mod:`~bench.cli.options`. Every heavy
import stays inside the command functions, so ``pftryon --help`` and argument errors stay fast.
"""

from __future__ import annotations

import sys

import click

from bench.cli import data, evaluate, run, suite, train, weights
from bench.errors import EXPECTED_ERRORS

__all__ = ["main"]


class _Group(click.Group):
    """Turn expected errors (bad input, bad checkpoints) into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="pftryon")
def main() -> None:
    """pftryon: PF-AFN, baselines and a reproducible try-on benchmark."""


main.add_command(run.tryon)
main.add_command(data.data)
main.add_command(evaluate.eval_)
main.add_command(train.train)
main.add_command(suite.ablate)
main.add_command(run.methods)
main.add_command(run.predict)
main.add_command(suite.bench)
main.add_command(run.latency)
main.add_command(weights.weights)
