"""Dress Code (aimagelab, 1024x768, three categories): the loader and a writer of the same layout (datasets.md §3).

Layout::

    root/
      train_pairs.txt  test_pairs_paired.txt  test_pairs_unpaired.txt      all categories merged
      upper_body/  lower_body/  dresses/
        train_pairs.txt  test_pairs_paired.txt  test_pairs_unpaired.txt  "013563_0.jpg 013563_1.jpg"
        images/      X_0.jpg person, X_1.jpg in-shop garment
        keypoints/   X_2.json  {"keypoints": [[x, y, score, id] x 18]} in a 384x512 (WxH) frame
        label_maps/  X_4.png   ATR 18-label map ('L')
        dense/       X_5.png   DensePose part indices ('L');  X_5_uv.npz (not read)
        skeletons/   X_5.jpg   rendered skeleton (not exposed)
        masks/       X_1.png   garment mask: a LaDI-VTON add-on, read as ``cloth_mask`` when present
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.data.base import Entry, TryOnDataset, read_pair_list
from bench.data.encode import encode_image
from bench.data.readers import InputError
from bench.data.synthetic.record import SynthGarment, SynthPerson, convert_labels
from pftryon.models import atomic_write

__all__ = ["CATEGORIES", "KEYPOINT_FRAME", "DressCodeDataset", "write_dresscode"]

Size = tuple[int, int]  # (H, W)
CATEGORIES = ("upper_body", "lower_body", "dresses")
KEYPOINT_FRAME: Size = (512, 384)  # (H, W) of the frame Dress Code's keypoints are written in
_FOLDERS = ("images", "keypoints", "label_maps", "dense")


def _strip_suffix(stem: str, suffix: str) -> str:
    return stem[: -len(suffix)] if stem.endswith(suffix) else stem


class DressCodeDataset(TryOnDataset):
    """Dress Code, one category or all three.

    Pair lists are the official ones: ``{category}/test_pairs_{paired|unpaired}.txt`` for testing and
    ``{category}/train_pairs.txt`` for training in either pair mode. Dress Code ships no unpaired training
    list, so an ``"unpaired"`` training set holds the release's own pairs (each person with their own
    garment), as VITON-HD's does with its ``train_pairs.txt``. ``category="all"`` concatenates the three
    categories' lists (a category whose list is empty is skipped) rather than reading the merged root lists,
    which do not say which folder a file lives in. Every sample carries its ``category``.

    Ids drop the file-role suffix: person ``013563_0.jpg`` and garment ``013563_1.jpg`` are both ``"013563"``,
    so a paired sample has ``person_id == cloth_id``. Keypoints are stored in a 384x512 frame whatever the
    image size and come back in the person image's pixel frame. Label maps (``atr18``) and DensePose maps
    may have their own native size; they are resized (nearest) to the output size.

    Args:
        root: the Dress Code folder, or one category folder (e.g. ``DressCode/upper_body``; a trailing slash
            is fine), in which case that folder's name is the category.
        category: ``"upper_body"``, ``"lower_body"``, ``"dresses"`` or ``"all"``.
        **kwargs: see :class:`~bench.data.base.TryOnDataset`.

    Raises:
        ValueError: an unknown category, or a category that contradicts a category-folder root.
        InputError: a category folder, pair list or file is missing or unreadable.

    Example:
        >>> data = DressCodeDataset("DressCode", category="dresses", pair_mode="unpaired", size=(512, 384))
    """

    name = "dresscode"
    label_set = "atr18"
    keypoint_format = "dresscode"
    keypoint_frame = KEYPOINT_FRAME
    free_size_roles = ("parse", "densepose")

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        category: str = "all",
        **kwargs: Any,
    ) -> None:
        if category not in (*CATEGORIES, "all"):
            raise ValueError(f"{self.name}: category must be one of {(*CATEGORIES, 'all')}, got {category!r}")
        path = Path(root)  # Path drops trailing slashes, so the last component is the folder's own name
        if path.name in CATEGORIES and not any((path / name).is_dir() for name in CATEGORIES):
            if category not in ("all", path.name):
                raise ValueError(f"{self.name}: {path} is the {path.name} folder, but category={category!r} was asked")
            self.category, self.category_dirs = path.name, {path.name: path}
        else:
            self.category = category
            self.category_dirs = {name: path / name for name in (CATEGORIES if category == "all" else (category,))}
        super().__init__(root, **kwargs)

    def index(self) -> Sequence[Entry]:
        list_name = "train_pairs.txt" if self.split == "train" else f"test_pairs_{self.pair_mode}.txt"
        merged = len(self.category_dirs) > 1
        entries = []
        for category, folder in self.category_dirs.items():
            self.require_dir(folder)
            images, keypoints, label_maps, dense = (self.require_dir(folder / name) for name in _FOLDERS)
            masks = folder / "masks"
            pair_file = folder / list_name
            if merged and pair_file.is_file() and not pair_file.read_text().strip():
                continue  # this category has no pairs in this split
            for person_file, cloth_file in read_pair_list(pair_file):
                stem = Path(person_file).stem
                if not stem.endswith("_0"):
                    raise InputError(f"{pair_file}: person image {person_file!r} is not named like NNNNNN_0.jpg")
                base = stem[:-2]
                files = {
                    "person": images / person_file,
                    "cloth": images / cloth_file,
                    "parse": label_maps / f"{base}_4.png",
                    "keypoints": keypoints / f"{base}_2.json",
                    "densepose": dense / f"{base}_5.png",
                }
                if masks.is_dir():
                    files["cloth_mask"] = masks / f"{Path(cloth_file).stem}.png"
                cloth_id = _strip_suffix(Path(cloth_file).stem, "_1")
                entries.append(Entry(base, cloth_id, files, {"category": category}))
        if not entries:
            raise InputError(f"{self.root}: every category's {list_name} is empty")
        return entries


# ---------------------------------------------------------------------------------------------------- writer


def _label_png(labels: np.ndarray, size: Size | None) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(labels.astype(np.uint8)))
    if size is not None and (image.height, image.width) != tuple(size):
        image = image.resize((size[1], size[0]), Image.Resampling.NEAREST)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _keypoints_json(keypoints: np.ndarray, shape: tuple[int, int]) -> str:
    """Dress Code keypoints: COCO-18 rows ``[x, y, score, id]`` scaled from the image into the 384x512 frame."""
    sx, sy = KEYPOINT_FRAME[1] / shape[1], KEYPOINT_FRAME[0] / shape[0]
    rows = []
    for joint, (x, y, score) in enumerate(np.asarray(keypoints, np.float64)):
        present = x != 0 or y != 0 or score != 0
        rows.append([x * sx, y * sy, score, joint] if present else [0.0, 0.0, 0.0, -1])
    return json.dumps({"keypoints": rows})


def write_dresscode(
    root: str | os.PathLike[str],
    split: str,
    people: list[SynthPerson],
    garments: list[SynthGarment],
    unpaired: list[tuple[int, int]],
    *,
    map_size: Size | None = None,
    masks: bool = False,
) -> None:
    """Write one split in the Dress Code layout that :class:`DressCodeDataset` reads (every file atomically).

    Sample ``i`` goes to the category ``garments[i].category``, under the id ``f"{int(person_id):06d}"``:
    ``images/X_0.jpg`` and ``X_1.jpg`` (JPEG quality 95), ``keypoints/X_2.json`` (in the 384x512 frame),
    ``label_maps/X_4.png`` (``atr18``) and ``dense/X_5.png`` ('L' PNGs), and a black ``skeletons/X_5.jpg``.
    All three category folders are created. The test split gets ``test_pairs_paired.txt`` (every person with
    their own garment) and ``test_pairs_unpaired.txt`` (``unpaired``, keeping only pairs within one
    category); the train split gets the paired ``train_pairs.txt`` and ignores ``unpaired``, as Dress Code
    has no unpaired training list. Each list is written per category and merged at the root.

    Args:
        root: the dataset folder (created if needed).
        split: ``"train"`` or ``"test"``.
        people: the people, with their annotations.
        garments: the in-shop garments; ``garments[i]`` is worn by ``people[i]``.
        unpaired: the unpaired test pairs, as (person index, garment index).
        map_size: (H, W) to store label and DensePose maps at (nearest); default: the image size.
        masks: also write LaDI-VTON's ``masks/X_1.png`` garment masks.

    Raises:
        ValueError: an unknown split or category, mismatched lists, out-of-range indices or non-numeric ids.
    """
    if split not in DressCodeDataset.splits:
        raise ValueError(f"split must be one of {DressCodeDataset.splits}, got {split!r}")
    if len(people) != len(garments):
        raise ValueError(f"people[i] wears garments[i]: got {len(people)} people and {len(garments)} garments")
    if any(not all(0 <= k < len(people) for k in pair) for pair in unpaired):
        raise ValueError(f"unpaired indices must lie in 0..{len(people) - 1}, got {unpaired}")
    unknown = sorted({g.category for g in garments} - set(CATEGORIES))
    if unknown:
        raise ValueError(f"garment categories must be among {CATEGORIES}, got {unknown}")
    try:
        ids = [f"{int(person.person_id):06d}" for person in people]
    except ValueError:
        raise ValueError("person_id values must be integers written as strings (e.g. '000012')") from None
    if len(set(ids)) != len(ids):
        raise ValueError(f"person_id values must be distinct numbers; got {[p.person_id for p in people]}")

    root = Path(root)
    for category in CATEGORIES:
        for folder in (*_FOLDERS, "skeletons", *(("masks",) if masks else ())):
            (root / category / folder).mkdir(parents=True, exist_ok=True)
    for sample_id, person, garment in zip(ids, people, garments, strict=True):
        folder = root / garment.category
        shape = person.image.shape[:2]
        atomic_write(folder / "images" / f"{sample_id}_0.jpg", encode_image(person.image, "JPEG", quality=95))
        atomic_write(folder / "images" / f"{sample_id}_1.jpg", encode_image(garment.image, "JPEG", quality=95))
        atomic_write(folder / "keypoints" / f"{sample_id}_2.json", _keypoints_json(person.keypoints, shape))
        labels = convert_labels(person.parse_noisy, "atr18")
        atomic_write(folder / "label_maps" / f"{sample_id}_4.png", _label_png(labels, map_size))
        atomic_write(folder / "dense" / f"{sample_id}_5.png", _label_png(person.densepose, map_size))
        skeleton = np.zeros((*shape, 3), np.uint8)
        atomic_write(folder / "skeletons" / f"{sample_id}_5.jpg", encode_image(skeleton, "JPEG", quality=95))
        if masks:
            atomic_write(folder / "masks" / f"{sample_id}_1.png", encode_image(garment.mask, "PNG"))

    category_of = [g.category for g in garments]
    paired = [(i, i) for i in range(len(people))]
    within = [(i, j) for i, j in unpaired if category_of[i] == category_of[j]]
    lists = {"train_pairs.txt": paired} if split == "train" else {
        "test_pairs_paired.txt": paired,
        "test_pairs_unpaired.txt": within,
    }  # fmt: skip
    for list_name, pairs in lists.items():
        merged = []
        for category in CATEGORIES:
            lines = [f"{ids[i]}_0.jpg {ids[j]}_1.jpg\n" for i, j in pairs if category_of[i] == category]
            atomic_write(root / category / list_name, "".join(lines))
            merged.extend(lines)
        atomic_write(root / list_name, "".join(merged))
