"""pftryon's user-facing errors, in a module that imports nothing heavy (command lines catch them cheaply)."""

from __future__ import annotations

__all__ = ["CheckpointError"]


class CheckpointError(ValueError):
    """A checkpoint file could not be read or does not fit the model; the message is one line."""
