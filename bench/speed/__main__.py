"""``python -m bench.speed``: see :mod:`bench.speed`."""

from bench.speed.cli import main

main()
