"""Models kept as two official files: a warp module (``warp``) and a generator (``gen``).

PF-AFN, PB-AFN and their flow successors (FS-VTON, DM-VTON) are released this way; loading the pair is
the same for all of them, only the reader and extra checks on the warp file may differ.
"""

from __future__ import annotations

import os
from typing import Any, Self

import torch
from torch import nn

from pftryon.models._checkpoint import load_state_dict_checked, read_state_dict

__all__ = ["TRAINING_ONLY_WARP_KEYS", "WarpGenFiles"]

# Saved by the official training code (fixed second-difference filters); carries no learned values.
TRAINING_ONLY_WARP_KEYS = ("aflow_net.weight",)


class WarpGenFiles:
    """Mixin for an ``nn.Module`` with a warp module ``warp`` and a generator ``gen`` in two official files.

    Subclasses may override :meth:`read_official` (how one file is read) and :meth:`check_official_warp`
    (extra checks on the warp file's state dict before it is loaded).
    """

    warp: nn.Module
    gen: nn.Module

    @classmethod
    def read_official(cls, path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
        """Read one official file into a state dict (default: :func:`~pftryon.models.read_state_dict`)."""
        return read_state_dict(path)

    @classmethod
    def check_official_warp(cls, state: dict[str, torch.Tensor], source: str) -> None:
        """Check the warp file's state dict before loading; no extra checks by default.

        Raises:
            CheckpointError: If a subclass finds the state dict inconsistent.
        """

    @classmethod
    def from_official(cls, warp_path: str | os.PathLike[str], gen_path: str | os.PathLike[str], **config: Any) -> Self:
        """Build the model from ``config`` and load the official warp and generator files; returns it in eval mode.

        The warp file may carry the training-only ``aflow_net.weight`` (fixed filters), which is accepted.

        Raises:
            CheckpointError: If a file is missing or cannot be read safely, or any other key is missing,
                unexpected or of the wrong shape (all named, on one line), or :meth:`check_official_warp`
                rejects the warp file.
        """
        model = cls(**config)
        warp_state = cls.read_official(warp_path)
        cls.check_official_warp(warp_state, str(warp_path))
        load_state_dict_checked(model.warp, warp_state, ignore_keys=TRAINING_ONLY_WARP_KEYS, source=str(warp_path))
        load_state_dict_checked(model.gen, cls.read_official(gen_path), source=str(gen_path))
        return model.eval()
