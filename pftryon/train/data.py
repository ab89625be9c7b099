"""Training batches: try-on samples turned into the stage batch, and a deterministic, sharded, resumable order.

Every random choice here is a function of ``(seed, epoch, index)`` alone, never of a generator's history, so a
run resumed mid-epoch, on any number of DataLoader workers, sees exactly the batches of an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from pftryon.representation import pose_maps

__all__ = ["ShardedBatchSampler", "TrainingPairs", "derive_seed"]

# Stream tags: each use of randomness draws from its own stream, so two uses never share values.
ORDER_STREAM, UNPAIRED_STREAM, LOADER_STREAM = 1, 2, 3
_REQUIRED = ("person", "cloth", "cloth_mask", "parse", "keypoints")


def _rng(seed: int, stream: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % 2**64, stream, *keys]))


def derive_seed(seed: int, stream: int, *keys: int) -> int:
    """A 63-bit seed that depends only on ``(seed, stream, *keys)`` (non-negative keys)."""
    return int(_rng(seed, stream, *keys).integers(2**63))


class TrainingPairs(Dataset):
    """A map-style dataset of try-on samples presented as the training batch of :mod:`pftryon.train.stage`.

    Each item adds to the sample's person, garment and mask: another garment of the set (``cloth_un``,
    ``cloth_mask_un``, at an index drawn from ``(seed, epoch, index)``, never the item itself when the set has
    more than one sample), the 18 pose maps, the parse in the common label set and the DensePose map.

    Args:
        base: a dataset of sample dicts (the schema of ``bench.data.schema``).
        seed: seeds the unpaired draws.
        size: the expected ``(H, W)`` of every sample (checked; build ``base`` at that size), or ``None``.
        parse_to_common: ``f(parse, parse_labels) -> int64 [H, W]`` mapping the dataset's labels to the common
            set (e.g. ``bench.data.schema.to_common``); ``None`` when ``base`` already gives common labels.
        densepose_from_parse: ``f(common_parse) -> int64 [H, W]`` for datasets without DensePose maps.
    """

    def __init__(
        self,
        base: Dataset,
        *,
        seed: int,
        size: tuple[int, int] | None = None,
        parse_to_common: Callable[[torch.Tensor, str | None], torch.Tensor] | None = None,
        densepose_from_parse: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(base) == 0:
            raise ValueError("TrainingPairs: the dataset is empty")
        self.base = base
        self.seed = seed
        self.size = tuple(size) if size is not None else None
        self.parse_to_common = parse_to_common
        self.densepose_from_parse = densepose_from_parse
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        """Select the unpaired garments of ``epoch`` (1-based)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.base)

    def unpaired_index(self, index: int) -> int:
        """The index whose garment is ``index``'s unpaired garment in the current epoch."""
        count = len(self.base)
        if count == 1:
            return index
        offset = int(_rng(self.seed, UNPAIRED_STREAM, self.epoch, index).integers(1, count))
        return (index + offset) % count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.base[index]
        other = self.base[self.unpaired_index(index)]
        name = sample.get("dataset") or type(self.base).__name__
        missing = [key for key in _REQUIRED if sample.get(key) is None]
        if missing:
            raise ValueError(
                f"sample {index} of dataset {name!r} has no {', '.join(missing)}; training needs {', '.join(_REQUIRED)}"
            )
        height, width = sample["person"].shape[-2:]
        if self.size is not None and (height, width) != self.size:
            raise ValueError(
                f"sample {index} of dataset {name!r} is {height}x{width}, expected {self.size[0]}x{self.size[1]}; "
                "build the dataset at the training size"
            )
        parse = torch.as_tensor(sample["parse"], dtype=torch.long)
        if self.parse_to_common is not None:
            parse = self.parse_to_common(parse, sample.get("parse_labels")).long()
        densepose = sample.get("densepose")
        if densepose is None:
            if self.densepose_from_parse is None:
                raise ValueError(
                    f"dataset {name!r} has no DensePose maps; pass densepose_from_parse= to TrainingPairs "
                    "to derive them from the parse"
                )
            densepose = self.densepose_from_parse(parse)
        return {
            "person": sample["person"],
            "cloth": sample["cloth"],
            "cloth_mask": sample["cloth_mask"],
            "cloth_un": other["cloth"],
            "cloth_mask_un": other["cloth_mask"],
            "parse": parse,
            "densepose": torch.as_tensor(densepose, dtype=torch.long),
            "pose": pose_maps(sample["keypoints"], height, width),
            "index": torch.tensor(index, dtype=torch.long),
        }


class ShardedBatchSampler(Sampler[list[int]]):
    """Batches of one rank: a seeded permutation per epoch, truncated to full global batches, resumable.

    Epoch ``e`` orders the whole dataset by a permutation drawn from ``(seed, e)`` and keeps the first
    ``steps * batch_size * world_size`` indices (like the official loader, which truncates the dataset to a multiple
    of the global batch, every per-rank batch is full). Global batch ``s`` is the ``s``-th block of
    ``batch_size * world_size`` indices; rank ``r`` takes its ``r``-th slice, so one process with the global batch
    sees, step by step, the union of what the ranks see. No index is padded or repeated within an epoch.

    Args:
        length: the dataset length.
        batch_size: per-rank batch size.
        seed: seeds the order.
        rank, world_size: this process's shard.
    """

    def __init__(self, length: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside a world of {world_size}")
        self.length = length
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.steps = length // (batch_size * world_size)
        if self.steps == 0:
            raise ValueError(
                f"the dataset has {length} samples, fewer than one global batch "
                f"({batch_size} per rank x {world_size} ranks); lower batch_size"
            )
        self.epoch = 1
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Iterate epoch ``epoch`` (1-based) from its batch ``start`` (the batches before it were done)."""
        if not 0 <= start <= self.steps:
            raise ValueError(f"start {start} is outside an epoch of {self.steps} steps")
        self.epoch = epoch
        self.start = start

    def order(self, epoch: int) -> np.ndarray:
        """The global order of ``epoch``: ``steps * batch_size * world_size`` distinct indices."""
        used = self.steps * self.batch_size * self.world_size
        return _rng(self.seed, ORDER_STREAM, epoch).permutation(self.length)[:used]

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order(self.epoch).reshape(self.steps, self.world_size, self.batch_size)
        for step in range(self.start, self.steps):
            yield order[step, self.rank].tolist()

    def __len__(self) -> int:
        return self.steps - self.start
