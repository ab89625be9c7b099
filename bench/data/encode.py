"""Encoding arrays into the files try-on datasets ship (used by the synthetic layout writers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from io import BytesIO
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["LABEL_PALETTE", "encode_image", "openpose18_json"]


def _label_palette() -> list[int]:
    """256 colours, well separated for small indices (the bits of the index spread over R, G, B)."""
    colours = []
    for index in range(256):
        rgb, value = [0, 0, 0], index
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        colours.extend(rgb)
    return colours


LABEL_PALETTE = _label_palette()


def encode_image(
    image: np.ndarray | Image.Image, fmt: str, *, palette: Sequence[int] | None = None, **options: Any
) -> bytes:
    """Encode a uint8 array (or PIL image) as ``fmt`` bytes; with ``palette``, an index map becomes mode 'P'.

    Palette PNGs keep the values as indices, as the real label maps do (only the colours are cosmetic).
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if palette is not None:
        image.putpalette(list(palette))
    buffer = BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def openpose18_json(keypoints: np.ndarray) -> str:
    """The CP-VTON-style keypoint file (old OpenPose keys): one person, 18 x (x, y, confidence)."""
    flat = [float(v) for v in np.asarray(keypoints, dtype=np.float32).reshape(-1)]
    if len(flat) != 54:
        raise ValueError(f"expected 18x3 keypoints, got {np.asarray(keypoints).shape}")
    person = {"face_keypoints": [], "pose_keypoints": flat, "hand_right_keypoints": [], "hand_left_keypoints": []}
    return json.dumps({"version": 1.0, "people": [person]})
