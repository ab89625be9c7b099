"""Process-level helpers of the harness: the device (``--device cpu|cuda|auto``), the distributed world (rank, size,
contiguous shards, joining the process group) and atomic file writes.

Under ``torchrun`` every process takes a contiguous block of each list (no padding); results gathered in rank order are
therefore in input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.distributed as dist

from bench.errors import InputError
from pftryon.models import atomic_write

__all__ = ["atomic_write", "barrier", "init_distributed", "is_main_process", "main_process_first", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` (error when absent) or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
    return torch.device(name)


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _shard(n: int, groups: Sequence[str] | None = None) -> range:
    """This process's contiguous block of ``n`` items; with ``groups`` (video ids), blocks end at group changes."""
    rank, world = _world()
    bounds = [k * n // world for k in range(world + 1)]
    if groups is not None:
        for k in range(1, world):
            while 0 < bounds[k] < n and groups[bounds[k]] == groups[bounds[k] - 1]:
                bounds[k] += 1
    if any(bounds[k] >= bounds[k + 1] for k in range(world)):
        raise InputError(f"cannot split {n} item(s) ({'videos' if groups else 'images'}) over {world} processes")
    return range(bounds[rank], bounds[rank + 1])


def init_distributed(device: str) -> None:
    """Join the process group when launched by ``torchrun`` (gloo on CPU, nccl on CUDA); no-op otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True outside ``torchrun`` and on its rank 0: the process that times, writes reports and prints tables."""
    return _world()[0] == 0


def barrier() -> None:
    """Wait for every process of the group (no-op outside ``torchrun``)."""
    if _world()[1] > 1:
        dist.barrier()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. writes shared data); the others run it after, finding its work done."""
    if not is_main_process():
        barrier()
    yield
    if is_main_process():
        barrier()
