"""Start-up of the ``pftryon`` command: ``--help`` and an argument error, each in a fresh process (goal < 0.5 s)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click

from bench.speed.timing import DEFAULT_POLICY, Comparison, Policy, compare

__all__ = ["STARTUP_GOAL_S", "bench_startup", "pftryon_command"]

STARTUP_GOAL_S = 0.5
_CASES = {"pftryon --help": ["--help"], "pftryon eval --pred x (usage error)": ["eval", "--pred", "x"]}


def pftryon_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m bench.cli``."""
    script = Path(sys.executable).with_name("pftryon")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bench.cli"]


def _runner(args: list[str]) -> Callable[[], None]:
    return lambda: subprocess.run([*pftryon_command(), *args], capture_output=True, check=False)


def bench_startup(repeats: int = 10, policy: Policy = DEFAULT_POLICY) -> Comparison:
    """Wall time of each case over ``repeats`` interleaved runs; prints min / median against the goal."""
    result = compare({label: _runner(args) for label, args in _CASES.items()}, repeats=repeats, warmup=1, policy=policy)
    click.echo(f"\nStart-up, one process per run ({' '.join(pftryon_command())}), interleaved, {repeats} quiet "
               "rounds wanted; s min / median")  # fmt: skip
    for label in _CASES:
        best, median = result.min(label) / 1e3, result.median(label) / 1e3
        verdict = "meets" if median < STARTUP_GOAL_S else "misses"
        click.echo(f"  {label:40s} {best:5.2f} / {median:5.2f} s ({verdict} the goal < {STARTUP_GOAL_S} s)")
    click.echo(f"  {result.describe_load()}")
    return result
