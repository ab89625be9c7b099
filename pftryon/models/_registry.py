"""Model registry: ``create_model(name, **config)``, plus saving and loading our own checkpoints.

Our checkpoint format is a folder holding ``model.safetensors`` (the model's state dict) and
``config.json`` (``{"architecture": name, "config": {...}, "format": 1}``), so a checkpoint rebuilds its
model without code. Official ``.pth`` files are loaded by each family's ``from_official``.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from pftryon.models._checkpoint import CheckpointError, load_state_dict_checked, read_state_dict, save_safetensors

__all__ = [
    "CHECKPOINT_CONFIG",
    "CHECKPOINT_WEIGHTS",
    "create_model",
    "list_models",
    "load_pretrained",
    "register_model",
    "save_pretrained",
]

CHECKPOINT_WEIGHTS = "model.safetensors"
CHECKPOINT_CONFIG = "config.json"
_FORMAT = 1
_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a model entry point under its function name (lowercase, no spaces or path separators)."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name: str, **config: Any) -> nn.Module:
    """Build a registered model with the given architecture ``config`` (random initialisation)."""
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown model {name!r}.{hint} Available: {', '.join(list_models())}")
    return _MODELS[name](**config)


def save_pretrained(model: nn.Module, directory: str | os.PathLike[str]) -> Path:
    """Write ``model`` as ``directory/model.safetensors`` + ``config.json`` (atomically); returns the folder.

    The model must carry ``architecture`` (its registry name) and ``config`` (its constructor arguments).
    """
    architecture = getattr(model, "architecture", None)
    if architecture not in _MODELS:
        raise ValueError(f"{type(model).__name__} has no registered `architecture`; cannot save it with its config")
    directory = Path(directory)
    config = {"architecture": architecture, "config": dict(getattr(model, "config", {})), "format": _FORMAT}
    save_safetensors(model.state_dict(), directory / CHECKPOINT_WEIGHTS, config)
    return directory


def load_pretrained(directory: str | os.PathLike[str]) -> nn.Module:
    """Rebuild a model saved by :func:`save_pretrained`, in eval mode."""
    directory = Path(directory)
    config_path = directory / CHECKPOINT_CONFIG
    try:
        meta = json.loads(config_path.read_text())
        architecture, config = meta["architecture"], meta["config"]
    except FileNotFoundError:
        raise CheckpointError(f"{config_path}: checkpoint config not found") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{config_path}: expected JSON with 'architecture' and 'config' ({err})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: 'config' must be a mapping, got {type(config).__name__}")
    try:
        model = create_model(architecture, **config)
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{config_path}: cannot build the model ({err})") from None
    weights = directory / CHECKPOINT_WEIGHTS
    load_state_dict_checked(model, read_state_dict(weights), source=str(weights))
    return model.eval()
