"""One sample schema for every try-on dataset, and the label sets their parse maps use.

A *sample* is a plain ``dict`` with these keys (absent fields are absent, never zero-filled, so a
model that needs DensePose fails loudly on a dataset without it):

=================  =====================================================================
key                value
=================  =====================================================================
``person``         float32 ``[3, H, W]`` in [-1, 1]
``cloth``          float32 ``[3, H, W]`` in [-1, 1]: the in-shop garment of the pair
``cloth_mask``     float32 ``[1, H, W]`` in {0, 1}
``parse``          int64 ``[H, W]``: labels of the dataset's own set, named by ``parse_labels``
``parse_labels``   str: a key of :data:`LABEL_SETS`; :func:`to_common` maps to :data:`COMMON`
``keypoints``      float32 ``[18, 3]``: COCO-18 (x, y, confidence) in this image's pixel frame; zeros = missing
``densepose``      int64 ``[H, W]``: DensePose part index I in 0..24 (0 = background)
``person_id``      str, ``cloth_id``: str, ``pair_mode``: ``"paired"`` | ``"unpaired"``
``dataset``        str: the loader's registry name; ``category`` (Dress Code) str
``video_id``       str, ``frame_index``: int (VVT)
=================  =====================================================================

Images are resized like the reference loaders: bilinear for images, nearest for masks and labels,
keypoints scaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["COMMON", "LABEL_SETS", "LabelSet", "PAIR_MODES", "SAMPLE_KEYS", "Size", "to_common"]

Size = tuple[int, int]  # (height, width)

PAIR_MODES = ("paired", "unpaired")
SAMPLE_KEYS = (
    "person", "cloth", "cloth_mask", "parse", "parse_labels", "keypoints", "densepose",
    "person_id", "cloth_id", "pair_mode", "dataset", "category", "video_id", "frame_index",
)  # fmt: skip

COMMON = (
    "background", "hair", "face", "upper", "bottom", "dress", "left_arm", "right_arm",
    "left_leg", "right_leg", "left_shoe", "right_shoe", "neck", "accessory",
)  # fmt: skip


@dataclass(frozen=True)
class LabelSet:
    """A parse-map label set: its class names and, per label, the :data:`COMMON` class it maps to."""

    name: str
    names: tuple[str, ...]
    common: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        assert len(self.names) == len(self.common), self.name
        assert set(self.common) <= set(COMMON), self.name

    @property
    def lookup(self) -> torch.Tensor:
        """``lookup[label]`` is the common index of ``label``."""
        return torch.tensor([COMMON.index(c) for c in self.common], dtype=torch.long)


_LIP = (
    "background", "hat", "hair", "glove", "sunglasses", "upper_clothes", "dress", "coat", "socks", "pants",
    "jumpsuits", "scarf", "skirt", "face", "left_arm", "right_arm", "left_leg", "right_leg", "left_shoe",
    "right_shoe",
)  # fmt: skip
_LIP_COMMON = (
    "background", "accessory", "hair", "accessory", "face", "upper", "dress", "upper", "accessory", "bottom",
    "dress", "accessory", "bottom", "face", "left_arm", "right_arm", "left_leg", "right_leg", "left_shoe",
    "right_shoe",
)  # fmt: skip

LABEL_SETS: dict[str, LabelSet] = {
    s.name: s
    for s in (
        LabelSet("lip20", _LIP, _LIP_COMMON, "LIP (CP-VTON image-parse, MPV, VVT); datasets.md §1b"),
        LabelSet(
            "lip21",
            (*_LIP, "skin_neck"),
            (*_LIP_COMMON, "neck"),
            "CP-VTON+ image-parse-new: LIP plus 20 = skin/neck/chest; datasets.md §1b",
        ),  # fmt: skip
        LabelSet(
            "cihp20",
            (*_LIP[:10], "neck", *_LIP[11:]),
            (*_LIP_COMMON[:10], "neck", *_LIP_COMMON[11:]),
            "CIHP as used by VITON-HD image-parse-v3: LIP with 10 = neck; datasets.md §2",
        ),
        LabelSet(
            "acgpn14",
            (
                "background",
                "hair",
                "unused_2",
                "unused_3",
                "upper_clothes",
                "left_shoe",
                "right_shoe",
                "noise",
                "pants",
                "left_leg",
                "right_leg",
                "left_arm",
                "face",
                "right_arm",
            ),
            (
                "background",
                "hair",
                "background",
                "background",
                "upper",
                "left_shoe",
                "right_shoe",
                "upper",
                "bottom",
                "left_leg",
                "right_leg",
                "left_arm",
                "face",
                "right_arm",
            ),
            "ACGPN / PF-AFN train_label (7 'noise' merged into upper clothes, as PF-AFN does); datasets.md §1c",
        ),  # fmt: skip
        LabelSet(
            "atr18",
            (
                "background",
                "hat",
                "hair",
                "sunglasses",
                "upper_clothes",
                "skirt",
                "pants",
                "dress",
                "belt",
                "left_shoe",
                "right_shoe",
                "head",
                "left_leg",
                "right_leg",
                "left_arm",
                "right_arm",
                "bag",
                "scarf",
            ),
            (
                "background",
                "accessory",
                "hair",
                "face",
                "upper",
                "bottom",
                "bottom",
                "dress",
                "accessory",
                "left_shoe",
                "right_shoe",
                "face",
                "left_leg",
                "right_leg",
                "left_arm",
                "right_arm",
                "accessory",
                "accessory",
            ),
            "ATR (Dress Code label_maps); datasets.md §3",
        ),  # fmt: skip
    )
}


def to_common(parse: torch.Tensor | np.ndarray, label_set: str) -> torch.Tensor:
    """Map a parse map of ``label_set`` to :data:`COMMON` indices (int64, same shape)."""
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label set {label_set!r}; known: {', '.join(LABEL_SETS)}")
    return LABEL_SETS[label_set].lookup[torch.as_tensor(parse, dtype=torch.long)]
