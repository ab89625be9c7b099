"""Person-representation maps shared by the parser-based models (CP-VTON, the PB-AFN tutor).

The maps are drawn with PIL exactly as the official data loaders draw them, so they match by construction
(see docs/reference/method.md §4.1 and §6.1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

__all__ = ["image_to_tensor", "pose_maps"]


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """Convert a PIL image to a float32 ``[C, H, W]`` tensor in [-1, 1].

    The same values as torchvision's ``ToTensor()`` followed by ``Normalize(0.5, 0.5)``.
    """
    array = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))
    if array.ndim == 2:
        array = array.unsqueeze(-1)
    return (array.permute(2, 0, 1).float().div(255) - 0.5) / 0.5


def pose_maps(
    keypoints: torch.Tensor | np.ndarray | Sequence[Sequence[float]], height: int, width: int, radius: int = 5
) -> torch.Tensor:
    """Draw one {-1, +1} map per keypoint: a filled white square of half-size ``radius`` on black.

    Each square is PIL's ``ImageDraw.rectangle((x - r, y - r, x + r, y + r))`` on a black ``'L'`` canvas,
    so an integer keypoint gives a ``(2r + 1) x (2r + 1)`` square centred on it (clipped at the border).
    A keypoint with ``x <= 1`` or ``y <= 1`` counts as absent (OpenPose writes missing joints as zeros)
    and gives an all -1 map.

    Args:
        keypoints: ``[K, 2]`` or ``[K, 3]`` rows of ``(x, y[, confidence])`` in pixels; the confidence is
            ignored. CP-VTON and PF-AFN use the 18 OpenPose COCO joints.
        height: Canvas height in pixels.
        width: Canvas width in pixels.
        radius: Half-size of each square (5 in CP-VTON and PF-AFN).

    Returns:
        A float32 tensor ``[K, height, width]`` with -1 background and +1 inside the squares.

    Raises:
        ValueError: If ``keypoints`` is not ``[K, 2]`` or ``[K, 3]``.
    """
    points = torch.as_tensor(keypoints, dtype=torch.float64).cpu()
    if points.ndim != 2 or points.shape[1] not in (2, 3):
        raise ValueError(f"keypoints must have shape [K, 2] or [K, 3] (x, y[, confidence]), got {list(points.shape)}")
    maps = torch.full((points.shape[0], height, width), -1.0)
    canvas = Image.new("L", (width, height))
    draw = ImageDraw.Draw(canvas)
    for index, (x, y) in enumerate(points[:, :2].tolist()):
        if x > 1 and y > 1:
            # PIL decides which pixels the square covers (its rounding of fractional corners); a filled square is
            # the box of its pixels, so copying that box is exact and avoids converting a whole canvas per joint.
            draw.rectangle((x - radius, y - radius, x + radius, y + radius), "white", "white")
            box = canvas.getbbox()
            if box is not None:
                left, top, right, bottom = box
                maps[index, top:bottom, left:right] = 1.0
                draw.rectangle((left, top, right - 1, bottom - 1), "black", "black")
    return maps
