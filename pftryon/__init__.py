"""pftryon: PF-AFN (parser-free appearance flow try-on), its PB-AFN tutor, and the building blocks they share.

The names below are imported on first use (:pep:`562`), so ``import pftryon`` (and :mod:`pftryon.errors`) does not
import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["PBAFN", "PFAFN", "CheckpointError", "create_model", "list_models", "load_pretrained", "save_pretrained"]
__version__ = "0.1.0"


_HOMES = {name: "pftryon.models" for name in __all__} | {"CheckpointError": "pftryon.errors"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pftryon' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
