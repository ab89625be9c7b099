"""Image reading and writing with one-line errors that name the file.

Conventions of the official test code: ``ToTensor`` + ``Normalize(0.5, 0.5)`` for RGB inputs (values in
[-1, 1]); masks as ``[0, 1]``; outputs converted with ``(x + 1) / 2 * 255`` and *truncated* to uint8.
"""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pftryon.models import atomic_write

__all__ = ["InputError", "read_mask", "read_rgb", "to_uint8", "write_png"]


class InputError(ValueError):
    """Bad input data; the message is one line naming the file and what was expected."""


def _open(path: Path, mode: str) -> Image.Image:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert(mode)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise InputError(f"{path}: not a readable image ({err})") from None


def read_rgb(path: str | os.PathLike[str]) -> torch.Tensor:
    """An RGB image as a float32 ``[3, H, W]`` tensor in [-1, 1]."""
    array = np.asarray(_open(Path(path), "RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().div(255.0).sub(0.5).div(0.5)


def read_mask(path: str | os.PathLike[str]) -> torch.Tensor:
    """A greyscale mask as a float32 ``[1, H, W]`` tensor in [0, 1] (not binarised)."""
    array = np.asarray(_open(Path(path), "L"), dtype=np.float32)
    return torch.from_numpy(array).unsqueeze(0).div(255.0)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in [-1, 1] to ``[H, W, 3]`` uint8 the official way: ``(x + 1) / 2 * 255``, truncated."""
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255
    return scaled.permute(1, 2, 0).numpy().astype(np.uint8)


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> None:
    """Write a uint8 ``[H, W, 3]`` array as PNG, atomically."""
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())
