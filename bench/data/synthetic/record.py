"""What the synthetic renderer produces and the layout writers consume: plain arrays, no file formats.

Renderer labels are LIP with one extra class, 20 = neck skin (the ``lip21`` set of
:mod:`bench.data.schema`); :data:`FROM_LIP21` converts them to each dataset's own label set, the way that
dataset's parser would have labelled the same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FROM_LIP21", "SynthGarment", "SynthPerson", "convert_labels"]


@dataclass
class SynthGarment:
    """An in-shop garment photo: ``image`` uint8 [H, W, 3] on white, ``mask`` uint8 [H, W] in {0, 255}."""

    garment_id: str
    image: np.ndarray
    mask: np.ndarray
    category: str = "upper_body"  # Dress Code's categories: upper_body | lower_body | dresses


@dataclass
class SynthPerson:
    """A rendered person wearing garment ``garment_id``, with exact annotations.

    Attributes:
        image: uint8 [H, W, 3].
        parse: uint8 [H, W] clean labels (lip21).
        parse_noisy: uint8 [H, W] the parse as a (simulated) human parser returns it: equal to ``parse``
            at parse noise 0.
        densepose: uint8 [H, W] DensePose-style part index 0..24.
        keypoints: float32 [18, 3] COCO-18 (x, y, confidence) in pixels; missing joints are zeros.
        body_mask: uint8 [H, W] in {0, 255} (CP-VTON+ ``image-mask``).
        flow: float32 [H, W, 2] for each pixel of the worn garment, where it comes from in the in-shop
            image, as normalised (x, y) with ``align_corners=True``; ``garment_region`` marks where it holds.
        garment_region: bool [H, W].
        video_id / frame_index: set for VVT sequences.
    """

    person_id: str
    garment_id: str
    image: np.ndarray
    parse: np.ndarray
    parse_noisy: np.ndarray
    densepose: np.ndarray
    keypoints: np.ndarray
    body_mask: np.ndarray
    flow: np.ndarray
    garment_region: np.ndarray
    video_id: str | None = None
    frame_index: int | None = None


_IDENTITY = tuple(range(20))
FROM_LIP21: dict[str, tuple[int, ...]] = {
    # lip21 label -> target label, indexed by the lip21 label (0..20)
    "lip21": (*_IDENTITY, 20),
    "lip20": (*_IDENTITY, 0),  # LIP parsers leave the neck unlabelled
    "cihp20": (*_IDENTITY[:10], 6, *_IDENTITY[11:], 10),  # CIHP 10 is the neck; jumpsuits become dress
    "acgpn14": (0, 0, 1, 0, 12, 4, 4, 4, 0, 8, 4, 0, 8, 12, 11, 13, 9, 10, 5, 6, 0),
    "atr18": (0, 1, 2, 0, 3, 4, 7, 4, 0, 6, 7, 17, 5, 11, 14, 15, 12, 13, 9, 10, 0),
}


def convert_labels(parse: np.ndarray, label_set: str) -> np.ndarray:
    """Convert a lip21 parse map to ``label_set`` (uint8, same shape)."""
    if label_set not in FROM_LIP21:
        raise ValueError(f"no conversion from lip21 to {label_set!r}; known: {', '.join(FROM_LIP21)}")
    return np.asarray(FROM_LIP21[label_set], dtype=np.uint8)[parse]
