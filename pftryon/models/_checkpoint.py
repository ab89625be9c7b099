"""Reading and writing state dicts: official ``.pth`` files and our own safetensors checkpoints.

Official checkpoints are plain pickled ``OrderedDict``s of tensors (legacy format from PyTorch 1.1/0.4).
They are read with ``weights_only=True``: a pickle that would import or call anything is refused.
Key remapping for a model family lives beside the family (``checkpoint_filter_fn``), not here.
"""

from __future__ import annotations

import io
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
_LFS_POINTER = b"version https://git-lfs"
# Lines of torch's loading errors that advise rather than say what is wrong (never shown: weights_only=False).
_TORCH_BOILERPLATE = ("weights_only", "Weights only", "documentation of torch.load", "WeightsUnpickler error:")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a PyTorch pickle (``weights_only=True``) onto the CPU.

    A ``{"state_dict": {...}}`` wrapper is unwrapped and ``module.`` / ``_orig_mod.`` prefixes are
    stripped. Raises :class:`CheckpointError` naming the file on any problem: missing, a git-lfs pointer,
    not a checkpoint, truncated, an unsafe pickle, or a tensor with NaN or infinite values.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    with path.open("rb") as handle:
        head = handle.read(64)
    if head.startswith(_LFS_POINTER):
        raise CheckpointError(f"{path}: a git-lfs pointer, not the weights: run git lfs pull")
    if path.suffix == ".safetensors":
        state = _read_safetensors(path)
    elif head.startswith((b"PK\x03\x04", b"\x80")):
        state = _read_pickle(path)
    else:
        raise CheckpointError(f"{path}: not a torch checkpoint (neither a zip archive nor a pickle)")
    state = clean_state_dict(_unwrap(state, path))
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise CheckpointError(f"{path}: tensor {bad!r} holds NaN or infinite values (a broken or bit-rotted file)")
    return state


def _read_safetensors(path: Path) -> Mapping[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except SafetensorError as err:
        raise CheckpointError(f"{path}: not a readable safetensors file, truncated or corrupt ({err})") from None


def _read_pickle(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _reason(err)
        if "GLOBAL" not in reason and not _is_pickle(path):
            raise CheckpointError(f"{path}: not a torch checkpoint (a corrupt pickle: {reason})") from None
        raise CheckpointError(
            f"{path}: refused to load: the pickle needs more than plain tensors ({reason}). "
            "Official checkpoints are plain state dicts; re-save untrusted files as safetensors"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        reason = _reason(err)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint, truncated or corrupt ({reason})") from None


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` holds a whole pickle stream, bare or as the ``data.pkl`` of torch's zip format (read with
    :mod:`pickletools`, which runs nothing)."""
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                stream = io.BytesIO(archive.read(name))
        else:
            stream = io.BytesIO(path.read_bytes())
        for _ in pickletools.genops(stream):
            pass
    except Exception:  # noqa: BLE001 (any failure of the scan means: not a pickle)
        return False
    return True


def _reason(err: Exception) -> str:
    """The first informative sentence of a torch loading error, without torch's advice on ``weights_only``."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if not any(word in line for word in _TORCH_BOILERPLATE)]
    return useful[0].split(". ")[0].rstrip(".") if useful else type(err).__name__


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
    """Save tensors as safetensors with ``config`` (JSON) beside them as ``config.json``, both atomically.

    A tensor listed under several keys (DM-VTON's shared smoothing conv) is stored once per key, as a copy, as the
    official checkpoints store it.
    """
    from safetensors.torch import save

    path = Path(path)
    tensors, seen = {}, set()
    for key, value in state.items():
        tensor = value.detach().contiguous().cpu()
        tensors[key] = tensor.clone() if tensor.data_ptr() in seen else tensor
        seen.add(tensor.data_ptr())
    atomic_write(path, save(tensors))
    atomic_write(path.with_name("config.json"), json.dumps(dict(config), indent=2, sort_keys=True) + "\n")
