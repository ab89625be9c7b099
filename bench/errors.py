"""The errors every ``pftryon`` command turns into one line on stderr, importable without torch.

:class:`InputError` and the :class:`WeightsError` family are also exported where they are raised
(:mod:`bench.data.readers`, :mod:`bench.metrics.weights`); :class:`~pftryon.errors.CheckpointError` comes from the
models.
"""

from __future__ import annotations

from pftryon.errors import CheckpointError

__all__ = [
    "EXPECTED_ERRORS",
    "CheckpointError",
    "FetchError",
    "InputError",
    "MissingWeightsError",
    "UnofficialWeightsError",
    "WeightsError",
]


class InputError(ValueError):
    """Bad input data; the message is one line naming the file and what was expected."""


class WeightsError(ValueError):
    """A metric's weights file cannot be used as it is (one line naming the file)."""


class MissingWeightsError(WeightsError):
    """A weights file is not in any of the folders searched (raised instead of attempting a download)."""


class UnofficialWeightsError(WeightsError):
    """A weights file is not the official one (its sha256 differs) or cannot be read (truncated, corrupt)."""


class FetchError(WeightsError):
    """A weights file could not be downloaded, or what came is not the file (one line saying why)."""


EXPECTED_ERRORS: tuple[type[ValueError], ...] = (InputError, CheckpointError, WeightsError)
