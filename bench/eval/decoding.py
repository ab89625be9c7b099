"""Decoding: every file read once (its bytes hashed on the way) by :func:`bench.images.read_image`, the reader every
command shares (its notes, from the headers, become the summary's warnings); the views a protocol needs (evaluation
size with the protocol's filter, LPIPS' own resize, the last of several panels) are derived from the one decoded
image."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from bench.data.readers import InputError
from bench.eval.matching import _FIRST
from bench.images import file_bytes, note_lines, probe_image, read_image
from bench.runtime import _shard

__all__: list[str] = []


_PIL_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class _Views:
    """How to turn one side's files (predictions or references) into the tensors the metrics see."""

    size: tuple[int, int] | None  # evaluation size (H, W); None: as stored
    filter: str = "none"  # PIL filter to reach ``size``; "none": an image of another size is refused
    by_height: bool = False  # only the height is fixed; each width becomes int(w * H / h) (CatVTON)
    jpeg_quality: int | None = None  # a resized JPEG file is re-encoded at this quality (CatVTON's GT copy)
    lpips_resize: tuple[int, int] | None = None  # both sides to this size (PIL bilinear) for LPIPS (HR-VITON)
    crop_panel: int = 1  # score the last of this many side-by-side panels
    side: str = "prediction"  # for messages


def _target(size: tuple[int, int], views: _Views) -> tuple[int, int]:
    """The size a ``size`` (H, W) image has after ``views``' resize."""
    if views.size is None:
        return size
    if views.by_height:
        height = views.size[0]
        return height, int(size[1] * height / size[0])
    return views.size


def _crop_last_panel(image: Image.Image, panels: int, path: Path) -> Image.Image:
    if panels == 1:
        return image
    if image.width % panels:
        raise InputError(f"{path}: width {image.width} is not divisible into {panels} panels (--crop-panel)")
    step = image.width // panels
    return image.crop((image.width - step, 0, image.width, image.height))


def _to_float(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)


def _apply(image: Image.Image, views: _Views, path: Path) -> Image.Image:
    """``image`` resized as ``views`` says (PIL, then the optional JPEG re-encoding); refused where it never resizes."""
    height, width = _target((image.height, image.width), views)
    if (image.height, image.width) == (height, width):
        return image
    if views.filter == "none":
        raise InputError(
            f"{path}: {views.side} is {image.height}x{image.width}, the protocol evaluates at {height}x{width} and "
            f"never resizes the {views.side}s"
        )
    resized = image.resize((width, height), _PIL_FILTERS[views.filter])
    if views.jpeg_quality is not None and path.suffix.lower() in (".jpg", ".jpeg"):
        buffer = io.BytesIO()
        resized.save(buffer, format="JPEG", quality=views.jpeg_quality)
        resized = Image.open(buffer).convert("RGB")
    return resized


def _header(path: Path, panels: int) -> tuple[tuple[int, int], tuple[str, ...]]:
    """(H, W) of an image file (of its last panel) and the notes reading it will give, from its header only; a file
    :func:`bench.images.probe_image` refuses is refused here, before any work."""
    header = probe_image(path, alpha="ignore")
    height, width = header.size
    if width % panels:
        raise InputError(f"{path}: width {width} is not divisible into {panels} panels (--crop-panel)")
    return (height, width // panels), header.notes


def _mode_warnings(notes: dict[Path, tuple[str, ...]], side: str) -> list[str]:
    """One warning per note of one side's files (:func:`bench.images.note_lines`): how many files, what reading them
    did, the first few."""
    return note_lines(notes, side, first=_FIRST)


class _Files(Dataset):
    """Decode files into ``(index, sha256, main view, lpips view)`` as ``views`` says."""

    def __init__(self, files: Sequence[Path], indices: Sequence[int], views: _Views) -> None:
        self.files, self.indices, self.views = list(files), list(indices), views

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, str, Tensor, Tensor]:
        path = self.files[i]
        data = file_bytes(path)
        image = read_image(path, data=data, alpha="ignore").image
        image = _apply(_crop_last_panel(image, self.views.crop_panel, path), self.views, path)
        main = lpips_view = _to_float(image)
        if self.views.lpips_resize is not None:  # HR-VITON: torchvision Resize((128, 128)) on PIL images
            height, width = self.views.lpips_resize
            lpips_view = _to_float(image.resize((width, height), Image.Resampling.BILINEAR))
        return self.indices[i], hashlib.sha256(data).hexdigest(), main, lpips_view


def _loader(
    files: Sequence[Path],
    views: _Views,
    batch_size: int,
    workers: int,
    groups: Sequence[str] | None = None,
    indices: Sequence[int] | None = None,
) -> DataLoader:
    """This process's block of ``files`` (global ``indices``, default positions) as decoded batches."""
    block = _shard(len(files), groups)
    indices = list(range(len(files))) if indices is None else list(indices)
    dataset = _Files([files[i] for i in block], [indices[i] for i in block], views)
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
