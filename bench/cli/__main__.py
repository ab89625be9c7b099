"""``python -m bench.cli`` and ``torchrun ... -m bench.cli``: the ``pftryon`` command."""

from bench.cli import main

main()
