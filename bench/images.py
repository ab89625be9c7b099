"""Writing try-on outputs the way the official test does: ``(x + 1) / 2 * 255`` truncated to uint8."""

from __future__ import annotations

import os

import numpy as np
import torch

from bench.data.encode import encode_image
from pftryon.models import atomic_write

__all__ = ["to_uint8", "write_png"]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in [-1, 1] to ``[H, W, 3]`` uint8 the official way: ``(x + 1) / 2 * 255``, truncated."""
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255
    return scaled.permute(1, 2, 0).numpy().astype(np.uint8)


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> None:
    """Write a uint8 ``[H, W, 3]`` array as PNG, atomically."""
    atomic_write(path, encode_image(pixels, "PNG"))
