"""Reading and writing state dicts: official ``.pth`` files and our own safetensors checkpoints.

Official checkpoints are plain pickled ``OrderedDict``s of tensors (legacy format from PyTorch 1.1/0.4).
They are read with ``weights_only=True``: a pickle that would import or call anything is refused.
Key remapping for a model family lives beside the family (``checkpoint_filter_fn``), not here.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pftryon.errors import CheckpointError

__all__ = [
    "CheckpointError",
    "atomic_write",
    "clean_state_dict",
    "load_state_dict_checked",
    "read_state_dict",
    "save_safetensors",
]

_WRAPPER_KEYS = ("state_dict", "model", "net")
_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a PyTorch pickle (``weights_only=True``) onto the CPU.

    A ``{"state_dict": {...}}`` wrapper is unwrapped and ``module.`` / ``_orig_mod.`` prefixes are
    stripped. Raises :class:`CheckpointError` naming the file on any problem.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except SafetensorError as err:
            raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(
                f"{path}: refused to load: the pickle needs more than plain tensors (weights_only=True; {reason}). "
                "Official checkpoints are plain state dicts; re-save untrusted files as safetensors"
            ) from None
        except (RuntimeError, EOFError, OSError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason})") from None
    return clean_state_dict(_unwrap(state, path))


def _unwrap(state: Any, path: Path) -> Mapping[str, Any]:
    if isinstance(state, Mapping):
        for key in _WRAPPER_KEYS:
            if key in state and isinstance(state[key], Mapping) and len(state) <= 3:
                state = state[key]
                break
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{path}: expected a state dict (a mapping of names to tensors), got {type(state).__name__}"
        )
    return state


def clean_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the ``module.`` (DataParallel/DDP) and ``_orig_mod.`` (torch.compile) prefixes."""
    cleaned = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value
    return cleaned


def load_state_dict_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    ignore_keys: Iterable[str] = (),
    source: str = "checkpoint",
) -> None:
    """Load ``state`` into ``module`` strictly, raising one line that lists every mismatch.

    Keys in ``ignore_keys`` may be present in ``state`` and are dropped (e.g. the training-time
    ``aflow_net.weight`` of PF-AFN). Any other missing or unexpected key, or a wrong shape, is an error.
    """
    expected = module.state_dict()
    ignore = set(ignore_keys)
    state = {k: v for k, v in state.items() if k not in ignore}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {list(state[k].shape)} (expected {list(expected[k].shape)})"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            shown = ", ".join(keys[:8]) + (f", … ({len(keys)} in all)" if len(keys) > 8 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise CheckpointError(f"{source} does not fit {type(module).__name__}: " + "; ".join(problems))
    module.load_state_dict(state, strict=True)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_safetensors(
    state: Mapping[str, torch.Tensor], path: str | os.PathLike[str], config: Mapping[str, Any]
) -> None:
    """Save tensors as safetensors with ``config`` (JSON) beside them as ``config.json``, both atomically."""
    from safetensors.torch import save

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    atomic_write(path, save(tensors))
    atomic_write(path.with_name("config.json"), json.dumps(dict(config), indent=2, sort_keys=True) + "\n")
