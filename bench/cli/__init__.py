"""The ``pftryon`` command line. Commands parse arguments and call the Python API; no logic lives here.

One module per group of commands: :mod:`~bench.cli.run` (tryon, predict, methods, latency),
:mod:`~bench.cli.data`, :mod:`~bench.cli.evaluate` (eval), :mod:`~bench.cli.train`, :mod:`~bench.cli.suite`
(bench, ablate) and :mod:`~bench.cli.weights`; shared option helpers in :mod:`~bench.cli.options`. Every heavy
import stays inside the command functions, so ``pftryon --help`` and argument errors stay fast.

What every command's failures become (:class:`_Group`): expected errors (bad input, checkpoints, weights) and running
out of memory are one line on stderr with exit code 2; a finished run asked to resume says so and exits 0.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, NoReturn

import click

from bench.cli import data, evaluate, run, suite, train, weights
from bench.errors import EXPECTED_ERRORS, AlreadyFinished, out_of_memory

__all__ = ["main"]

# The options that set how much memory a run takes, by parameter name (``--set`` keys for train and bench).
_MEMORY_OPTIONS = ("batch_size", "batches", "size", "sizes", "resolution")
_MEMORY_SETTINGS = ("batch_size", "size")
_COMMAND = "pftryon.command"  # ctx.meta key: the context of the command being run (meta is shared down the chain)


class _Context(click.Context):
    """Leaves itself in the shared ``meta``, so the group sees the innermost command's parameters after it failed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meta[_COMMAND] = self


def _memory_settings(ctx: click.Context | None) -> list[tuple[str, object]]:
    """``(flag, value)`` of the failed command's size and batch options, as given or defaulted."""
    if ctx is None:
        return []
    found: list[tuple[str, object]] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        flag = max((o for o in param.opts if o.startswith("--")), key=len, default="")
        if param.name in _MEMORY_OPTIONS:
            shown = "x".join(map(str, value)) if isinstance(value, tuple) else value
            found.append((flag, "unset" if shown is None else shown))
        elif param.name == "settings":
            given = dict(item.partition("=")[::2] for item in value or ())
            found += [(f"{flag} {key}", given.get(key, "as configured")) for key in _MEMORY_SETTINGS]
    return found


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


class _Group(click.Group):
    """Turn expected errors, running out of memory and a finished run's no-op into one line (see the module)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AlreadyFinished as done:
            click.echo(str(done))
            return None
        except EXPECTED_ERRORS as err:
            _fail(str(err))
        except Exception as err:
            message = out_of_memory(err, _memory_settings(ctx.meta.get(_COMMAND)))
            bomb = getattr(sys.modules.get("PIL.Image"), "DecompressionBombError", ())
            if message is None and isinstance(err, bomb):
                message = f"an image is too large to decode ({err}); use smaller images"
            if message is None:
                raise
            _fail(message)


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


def _commands(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _commands(sub)


for _command in _commands(main):
    _command.context_class = _Context
