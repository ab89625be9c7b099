"""Writing try-on outputs the way the official test does: ``(x + 1) / 2 * 255`` truncated to uint8."""

from __future__ import annotations

import os
from io import BytesIO

import numpy as np
import torch
from PIL import Image

from pftryon.models import atomic_write

__all__ = ["to_uint8", "write_png"]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in [-1, 1] to ``[H, W, 3]`` uint8 the official way: ``(x + 1) / 2 * 255``, truncated."""
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255
    return scaled.permute(1, 2, 0).numpy().astype(np.uint8)


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> None:
    """Write a uint8 ``[H, W, 3]`` array as PNG, atomically."""
    buffer = BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    atomic_write(path, buffer.getvalue())
