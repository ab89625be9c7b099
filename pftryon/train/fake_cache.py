"""A disk cache of the frozen tutor's outputs, so that students sharing a tutor compute each fake image once.

The tutor (a :class:`~pftryon.PBAFN` in eval mode) is a pure function of its weights and its inputs, so an
entry is keyed by the sha256 of both: the weights' digest, then every input tensor of that sample (shape,
dtype and bytes). Nothing else enters the key, so any run that gives the tutor the same inputs hits: the
teacher+tutor and tutor-knowledge students, every distillation variant, the warp and end-to-end stages, a
resumed run, another DDP rank; another seed, dataset or parse noise hits only where the inputs coincide.

One ``safetensors`` file per sample, ``<root>/<key[:2]>/<key>.safetensors``, written atomically, holds
:data:`FIELDS` on the CPU in float32. A batch whose samples all miss gets exactly what the tutor computes on the
fly; an entry computed in another batch may differ from it in the last bits (batched convolutions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save
from torch import nn

from pftryon.models import atomic_write

__all__ = ["FIELDS", "FakeCache", "state_digest"]

FIELDS = ("tryon", "warped_cloth", "warped_edge")
_VERSION = b"pftryon fake cache v1\0"


def state_digest(module: nn.Module) -> bytes:
    """sha256 of ``module``'s state dict: every key, shape, dtype and value, in order."""
    digest = hashlib.sha256()
    for key, value in module.state_dict().items():
        _update(digest, key, value)
    return digest.digest()


def _update(digest: Any, name: str, tensor: torch.Tensor) -> None:
    array = tensor.detach().cpu().contiguous()
    digest.update(f"{name}\0{tuple(array.shape)}\0{array.dtype}\0".encode())
    digest.update(array.reshape(-1).view(torch.uint8).numpy().tobytes())


class FakeCache:
    """The tutor's :data:`FIELDS` per sample, under ``root``, computed by ``tutor(*inputs)`` on a miss.

    Args:
        root: the cache folder (created on first write); may be shared by any number of runs.
        tutor: the frozen tutor; its weights are hashed once here, so it must not change afterwards.

    ``hits`` and ``misses`` count samples since construction.
    """

    def __init__(self, root: str | Path, tutor: nn.Module) -> None:
        self.root = Path(root)
        self.tutor = tutor
        self._weights = state_digest(tutor)
        self.hits = 0
        self.misses = 0

    def key(self, inputs: Sequence[torch.Tensor], sample: int) -> str:
        """The entry name of batch element ``sample`` of ``inputs``."""
        digest = hashlib.sha256(_VERSION + self._weights)
        for position, tensor in enumerate(inputs):
            _update(digest, str(position), tensor[sample])
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    @torch.no_grad()
    def __call__(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{field: [B, ...]}`` for the batch ``inputs`` (the tutor's positional arguments), on their device."""
        batch, device = inputs[0].shape[0], inputs[0].device
        paths = [self._path(self.key(inputs, i)) for i in range(batch)]
        found: dict[int, dict[str, torch.Tensor]] = {i: load_file(p) for i, p in enumerate(paths) if p.is_file()}
        missing = [i for i in range(batch) if i not in found]
        if missing:
            rows = torch.tensor(missing, device=device)
            out = self.tutor(*(x.index_select(0, rows) for x in inputs))
            for row, i in enumerate(missing):
                entry = {name: out[name][row].detach().float().cpu().contiguous() for name in FIELDS}
                atomic_write(paths[i], save(entry))
                found[i] = entry
        self.hits += batch - len(missing)
        self.misses += len(missing)
        return {name: torch.stack([found[i][name] for i in range(batch)]).to(device) for name in FIELDS}
