"""Writing try-on outputs the way the official test does (``(x + 1) / 2 * 255`` truncated to uint8), and reading
any image mode as 8-bit RGB, saying what the conversion did."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.data.encode import encode_image
from bench.data.readers import InputError
from pftryon.models import atomic_write

__all__ = ["MODE_NOTES", "rgb", "to_uint8", "write_png"]

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# What reading a file of each non-RGB mode as RGB does (said in the eval report's warnings).
MODE_NOTES = {
    "RGBA": "alpha channel dropped (not composited), as PIL's convert('RGB') in the official scripts",
    "RGBa": "alpha channel dropped (not composited)",
    "LA": "greyscale with alpha: alpha dropped, grey replicated to RGB",
    "PA": "palette with alpha: alpha dropped, palette expanded to RGB",
    "P": "palette image expanded to RGB",
    "L": "greyscale replicated to RGB",
    "1": "1-bit image expanded to RGB (0 or 255)",
    "CMYK": "CMYK converted to RGB by PIL",
    "YCbCr": "YCbCr converted to RGB by PIL",
    **{mode: "16-bit greyscale scaled to 8 bits (65535 -> 255) and replicated to RGB" for mode in _SIXTEEN_BIT},
}


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in [-1, 1] to ``[H, W, 3]`` uint8 the official way: ``(x + 1) / 2 * 255``, truncated."""
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255
    return scaled.permute(1, 2, 0).numpy().astype(np.uint8)


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> None:
    """Write a uint8 ``[H, W, 3]`` array as PNG, atomically."""
    atomic_write(path, encode_image(pixels, "PNG"))


def rgb(image: Image.Image, path: str | os.PathLike[str]) -> Image.Image:
    """``image`` as 8-bit RGB: 16-bit greyscale scaled (65535 -> 255, not clipped), other modes as
    :data:`MODE_NOTES` says; float and other modes without a faithful 8-bit reading are refused, naming the file."""
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT:
        values = np.asarray(image, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError(f"{path}: {image.mode} values outside 0..65535; save 8- or 16-bit PNG")
        return Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8), "L").convert("RGB")
    if image.mode not in MODE_NOTES:
        raise InputError(f"{Path(path)}: image mode {image.mode} has no 8-bit RGB reading; save 8- or 16-bit PNG/JPEG")
    return image.convert("RGB")
