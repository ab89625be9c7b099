"""The errors every ``pftryon`` command turns into one line on stderr, importable without torch.

:class:`InputError` and :class:`MissingWeightsError` are also exported where they are raised
(:mod:`bench.data.readers`, :mod:`bench.metrics.weights`); :class:`~pftryon.errors.CheckpointError` comes from the
models.
"""

from __future__ import annotations

from pftryon.errors import CheckpointError

__all__ = ["EXPECTED_ERRORS", "CheckpointError", "InputError", "MissingWeightsError"]


class InputError(ValueError):
    """Bad input data; the message is one line naming the file and what was expected."""


class MissingWeightsError(ValueError):
    """A weights file is not in any of the folders searched (raised instead of attempting a download)."""


EXPECTED_ERRORS: tuple[type[ValueError], ...] = (InputError, CheckpointError, MissingWeightsError)
