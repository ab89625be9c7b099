"""The errors every ``pftryon`` command turns into one line on stderr, importable without torch.

:class:`InputError` and the :class:`WeightsError` family are also exported where they are raised
(:mod:`bench.data.readers`, :mod:`bench.metrics.weights`); :class:`~pftryon.errors.CheckpointError` comes from the
models. :func:`out_of_memory` reads an allocator's failure (torch on CPU or GPU, numpy) as one line saying what was
asked and what to change; :class:`AlreadyFinished` is no error: the run asked for is there already.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pftryon.errors import CheckpointError

__all__ = [
    "EXPECTED_ERRORS",
    "AlreadyFinished",
    "CheckpointError",
    "FetchError",
    "InputError",
    "MissingWeightsError",
    "UnofficialWeightsError",
    "WeightsError",
    "out_of_memory",
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


class AlreadyFinished(Exception):  # noqa: N818 (not an error: the command prints it and exits 0)
    """``--resume`` of a folder whose run finished with the same settings: nothing to do (the message says so)."""


# What an allocator's message says was asked: torch's CUDA/MPS allocators, torch's CPU allocator, numpy.
_ASKED = (
    re.compile(r"tried to allocate (\d+(?:\.\d+)? ?[KMGTP]i?B)", re.IGNORECASE),
    re.compile(r"tried to allocate (\d+) bytes", re.IGNORECASE),
    re.compile(r"unable to allocate (\d+(?:\.\d+)? ?[KMGTP]i?B)", re.IGNORECASE),
)
_SIGNS = ("out of memory", "not enough memory", "can't allocate memory", "unable to allocate")


def out_of_memory(err: BaseException, settings: Sequence[tuple[str, object]] = ()) -> str | None:
    """One line for an allocation failure (``torch.OutOfMemoryError``, a ``RuntimeError`` of torch's CPU allocator,
    numpy's ``MemoryError``): the device, the memory asked, the run's sizes and what to lower; ``None`` for any
    other error.

    Args:
        err: the exception.
        settings: the run's size and batch options as ``(flag, current value)``; the line says to lower them.
    """
    text = str(err)
    if not (type(err).__name__ == "OutOfMemoryError" or isinstance(err, MemoryError)
            or any(sign in text.lower() for sign in _SIGNS)):  # fmt: skip
        return None
    asked = "more memory than was free"
    for pattern in _ASKED:
        if found := pattern.search(text):
            amount = found.group(1)
            asked = f"{int(amount) / 2**30:.2f} GiB" if amount.isdigit() else amount
            break
    device = next((name for key, name in (("cuda", "GPU"), ("gpu", "GPU"), ("mps", "MPS")) if key in text.lower()),
                  "CPU")  # fmt: skip
    with_ = f" (with {', '.join(f'{flag} {value}' for flag, value in settings)})" if settings else ""
    change = " or ".join(flag for flag, _ in settings) or "the inputs' size (or use a machine with more memory)"
    return f"out of memory on the {device}: {asked} asked{with_}; lower {change}"
