"""A Hugging Face ``datasets`` Arrow cache of any loader, keyed by a fingerprint of its files' contents.

The fingerprint covers the loader (class, version, split, pair mode, output size, label set), its pair list and the
sha256 of every file it reads (path relative to the root), so a second run reuses the cache and a changed file
invalidates it, also when the change keeps name, size and modification time (``cp -a``, ``touch -r``). Decoded
samples are stored as raw uint8 / float32 buffers, which read back exactly (images come from 8-bit files) and much
faster than decoding JPEG/PNG/JSON again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from bench.data.base import TryOnDataset
from bench.data.readers import file_sha256

__all__ = ["CACHE_VERSION", "CachedDataset", "cache_dataset", "content_fingerprint", "default_cache_dir", "fingerprint"]

CACHE_VERSION = 2
_IMAGES = ("person", "cloth")
_MAPS = ("cloth_mask", "parse", "densepose")


def default_cache_dir() -> Path:
    """``$TRYON_CACHE`` or ``~/.cache/pftryon``."""
    return Path(os.environ.get("TRYON_CACHE", Path.home() / ".cache" / "pftryon"))


def fingerprint(dataset: TryOnDataset) -> str:
    """SHA-256 of the loader's class and version and of its :func:`content_fingerprint` (every file's bytes)."""
    config = (type(dataset).__name__, getattr(dataset, "version", 1), CACHE_VERSION)
    return hashlib.sha256(f"{config!r}{content_fingerprint(dataset)}".encode()).hexdigest()


def content_fingerprint(dataset: TryOnDataset, hashed: dict[Path, str] | None = None) -> str:
    """SHA-256 of the loader's configuration, its pair list and the *bytes* of every file it reads (each file hashed
    once however many samples share it): what a benchmark cell is keyed by, immune to copies that keep mtimes.

    ``hashed`` (path -> sha256) is read and filled, so loaders of one tree (paired and unpaired lists) hash each file
    once between them."""
    digest = hashlib.sha256()
    config = (dataset.name, dataset.split, dataset.pair_mode, dataset.size, getattr(dataset, "label_set", None))
    digest.update(repr(config).encode())
    hashed = {} if hashed is None else hashed
    for entry in dataset.entries:
        digest.update(f"{entry.person_id}|{entry.cloth_id}|{sorted(entry.extra.items())}".encode())
        for role, path in sorted(entry.files.items()):
            if path not in hashed:
                hashed[path] = file_sha256(path)
            digest.update(f"{role}:{os.path.relpath(path, dataset.root)}:{hashed[path]};".encode())
    return digest.hexdigest()


def _to_row(sample: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in sample.items():
        if key in _IMAGES:
            pixels = ((value * 0.5 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)
            row[key] = pixels.numpy().tobytes()
            row[f"{key}_shape"] = list(pixels.shape)
        elif key in _MAPS:
            row[key] = value.to(torch.uint8).numpy().tobytes()
            row[f"{key}_shape"] = list(value.shape)
        elif key == "keypoints":
            row[key] = value.numpy().astype(np.float32).tobytes()
        else:
            row[key] = value
    return row


def _from_row(row: dict[str, Any]) -> dict[str, Any]:
    sample: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_shape") or value is None:
            continue
        if key in _IMAGES:
            pixels = torch.frombuffer(bytearray(value), dtype=torch.uint8).view(*row[f"{key}_shape"])
            sample[key] = pixels.float().div(255.0).sub(0.5).div(0.5)
        elif key in _MAPS:
            array = torch.frombuffer(bytearray(value), dtype=torch.uint8).view(*row[f"{key}_shape"])
            sample[key] = array.float() if key == "cloth_mask" else array.long()
        elif key == "keypoints":
            sample[key] = torch.frombuffer(bytearray(value), dtype=torch.float32).view(18, 3)
        else:
            sample[key] = value
    return sample


def _rows(dataset: TryOnDataset, key: str):
    # `key` is unused here but part of the generator's arguments, which Hugging Face hashes for its own cache.
    for index in range(len(dataset)):
        yield _to_row(dataset[index])


class CachedDataset(Dataset):
    """A torch ``Dataset`` over an Arrow cache; samples equal the loader's (images exactly, from uint8)."""

    def __init__(self, path: Path, key: str) -> None:
        import datasets

        self.path, self.fingerprint = path, key
        self.table = datasets.load_from_disk(str(path))

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _from_row(self.table[int(index)])


def cache_dataset(dataset: TryOnDataset, cache_dir: str | os.PathLike[str] | None = None) -> CachedDataset:
    """Return the Arrow cache of ``dataset``, building it first when no cache has its fingerprint."""
    import datasets

    key = fingerprint(dataset)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = root / f"{dataset.name}-{dataset.split}-{dataset.pair_mode}-{key[:16]}"
    if not (path / "dataset_info.json").is_file():
        staging, scratch = path.with_name(path.name + ".partial"), path.with_name(path.name + ".build")
        for folder in (staging, scratch):
            shutil.rmtree(folder, ignore_errors=True)
        try:
            table = datasets.Dataset.from_generator(_rows, gen_kwargs={"dataset": dataset, "key": key},
                                                    cache_dir=str(scratch))  # fmt: skip
            table.save_to_disk(str(staging))
            del table
            shutil.rmtree(path, ignore_errors=True)
            os.replace(staging, path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return CachedDataset(path, key)
