"""VITON-HD (zalando-hd-resized, 1024x768): the loader and a writer of the same layout (datasets.md §2).

Layout::

    root/
      train_pairs.txt  test_pairs.txt     "00000_00.jpg 00000_00.jpg"; test_pairs.txt is the UNPAIRED list
      train/ test/
        image/            NNNNN_00.jpg              person
        cloth/            NNNNN_00.jpg              garment (same file name as the person who wears it)
        cloth-mask/       NNNNN_00.jpg              garment mask (JPEG, binarised at 128)
        image-parse-v3/   NNNNN_00.png              CIHP 20-label parse, palette 'P' PNG
        openpose_json/    NNNNN_00_keypoints.json   OpenPose BODY_25, image pixel frame
        openpose_img/     NNNNN_00_rendered.png     rendered skeleton (not exposed)
        image-densepose/  NNNNN_00.jpg              DensePose *visualisation* (not exposed)

The official ``shadow2496/VITON-HD`` sample instead names the parse, pose JSON and pose image folders
``image-parse/``, ``openpose-json/`` and ``openpose-img/``; both spellings are read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.data.base import Entry, TryOnDataset, read_pair_list
from bench.data.encode import LABEL_PALETTE, encode_image
from bench.data.readers import BODY25_FOR_COCO18, InputError
from bench.data.synthetic.record import SynthGarment, SynthPerson, convert_labels
from pftryon.models import atomic_write

__all__ = ["LAYOUTS", "VitonHDDataset", "write_viton_hd"]

# Folder names that differ between the full release and the original repository's sample data.
LAYOUTS: dict[str, dict[str, str]] = {
    "release": {"parse": "image-parse-v3", "keypoints": "openpose_json", "pose_image": "openpose_img"},
    "original": {"parse": "image-parse", "keypoints": "openpose-json", "pose_image": "openpose-img"},
}


def _detect_layout(split_dir: Path) -> str:
    """``"release"`` or ``"original"``: which folder spelling ``split_dir`` uses (exactly one must be present)."""
    found = {
        layout: [folder for folder in names.values() if (split_dir / folder).is_dir()]
        for layout, names in LAYOUTS.items()
    }
    if found["release"] and found["original"]:
        raise InputError(
            f"{split_dir}: holds both the release folders ({', '.join(found['release'])}) and the original "
            f"repository's hyphenated ones ({', '.join(found['original'])}); keep one spelling"
        )
    for layout, folders in found.items():
        if folders:
            return layout
    release, original = LAYOUTS["release"], LAYOUTS["original"]
    raise InputError(
        f"{split_dir}: no parse or pose folders: expected {release['parse']}/ and {release['keypoints']}/ (release) "
        f"or {original['parse']}/ and {original['keypoints']}/ (original VITON-HD repository)"
    )


class VitonHDDataset(TryOnDataset):
    """VITON-HD in the zalando-hd-resized layout, or with the original repository's hyphenated folder names.

    Pair modes follow HR-VITON and LaDI-VTON: ``unpaired`` reads ``{split}_pairs.txt`` as listed;
    ``paired`` takes each person of its first column (once, in order) with the garment of the same file
    name. Ids are file stems (``"00000_00"``). Keypoints are BODY_25 in the person image's pixel frame,
    returned as COCO-18 (BODY_25's mid-hip is dropped). The parse keeps CIHP's labels (``cihp20``: 10 is
    the neck).

    ``image-densepose/`` is **not** exposed as ``densepose``: it is an RGB rendering of DensePose, not the
    part-index map the schema promises, and its colours cannot be inverted to indices reliably.

    Args:
        root: the folder holding ``train_pairs.txt``, ``test_pairs.txt``, ``train/`` and ``test/``.
        **kwargs: see :class:`~bench.data.base.TryOnDataset`.

    Raises:
        InputError: a folder, pair list or file of the layout is missing, or both folder spellings are present.

    Example:
        >>> data = VitonHDDataset("zalando-hd-resized", split="test", pair_mode="unpaired", size=(512, 384))
    """

    name = "viton-hd"
    label_set = "cihp20"
    keypoint_format = "body25"

    layout: str  # "release" or "original", set by index()

    def index(self) -> Sequence[Entry]:
        split_dir = self.require_dir(self.root / self.split)
        self.layout = _detect_layout(split_dir)
        names = LAYOUTS[self.layout]
        image, cloth, cloth_mask, parse, keypoints = (
            self.require_dir(split_dir / folder)
            for folder in ("image", "cloth", "cloth-mask", names["parse"], names["keypoints"])
        )
        rows = read_pair_list(self.root / f"{self.split}_pairs.txt")
        if self.pair_mode == "paired":
            pairs = [(person, person) for person in dict.fromkeys(row[0] for row in rows)]
        else:
            pairs = [(row[0], row[1]) for row in rows]
        entries = []
        for person_file, cloth_file in pairs:
            person_id = Path(person_file).stem
            files = {
                "person": image / person_file,
                "cloth": cloth / cloth_file,
                "cloth_mask": cloth_mask / cloth_file,
                "parse": parse / f"{person_id}.png",
                "keypoints": keypoints / f"{person_id}_keypoints.json",
            }
            entries.append(Entry(person_id, Path(cloth_file).stem, files))
        return entries


# ---------------------------------------------------------------------------------------------------- writer


def _openpose_json(keypoints: np.ndarray) -> str:
    """An OpenPose 1.3 BODY_25 document from COCO-18 keypoints (mid-hip = mean of the hips; 19..24 zero)."""
    body = np.zeros((25, 3), np.float64)
    coco = np.asarray(keypoints, np.float64)
    body[list(BODY25_FOR_COCO18)] = coco
    right_hip, left_hip = coco[8], coco[11]
    if right_hip.any() and left_hip.any():
        body[8] = (right_hip + left_hip) / 2
    person = {
        "person_id": [-1],
        "pose_keypoints_2d": body.ravel().tolist(),
        "face_keypoints_2d": [],
        "hand_left_keypoints_2d": [0.0] * 63,
        "hand_right_keypoints_2d": [0.0] * 63,
        "pose_keypoints_3d": [],
        "face_keypoints_3d": [],
        "hand_left_keypoints_3d": [],
        "hand_right_keypoints_3d": [],
    }
    return json.dumps({"version": 1.3, "people": [person]})


def _rendered_pose(keypoints: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A crude stand-in for OpenPose's rendering: a white 3x3 dot per present joint on black."""
    canvas = np.zeros((*shape, 3), np.uint8)
    for x, y, _ in np.asarray(keypoints):
        if x > 0 or y > 0:
            col, row = int(round(x)), int(round(y))
            canvas[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2] = 255
    return canvas


def _densepose_rendering(parts: np.ndarray) -> np.ndarray:
    """An RGB visualisation of a DensePose part map, like ``image-densepose/`` (not invertible by design)."""
    parts = parts.astype(np.uint16)
    return np.stack([(parts * 37) % 256, (parts * 91) % 256, (255 - parts * 10) % 256], axis=-1).astype(np.uint8)


def _numbered_ids(people: Sequence[SynthPerson], digits: int, suffix: str = "") -> list[str]:
    try:
        ids = [f"{int(person.person_id):0{digits}d}{suffix}" for person in people]
    except ValueError:
        raise ValueError("person_id values must be integers written as strings (e.g. '000012')") from None
    if len(set(ids)) != len(ids):
        raise ValueError(f"person_id values must be distinct numbers; got {[p.person_id for p in people]}")
    return ids


def _check_pairs(people: Sequence[SynthPerson], garments: Sequence[SynthGarment], pairs: Sequence[tuple[int, int]]):
    if len(people) != len(garments):
        raise ValueError(f"people[i] wears garments[i]: got {len(people)} people and {len(garments)} garments")
    bad = [pair for pair in pairs if not all(0 <= k < len(people) for k in pair)]
    if bad:
        raise ValueError(f"unpaired indices out of range 0..{len(people) - 1}: {bad}")


def write_viton_hd(
    root: str | os.PathLike[str],
    split: str,
    people: list[SynthPerson],
    garments: list[SynthGarment],
    unpaired: list[tuple[int, int]],
    *,
    hyphenated: bool = False,
) -> None:
    """Write one split in the VITON-HD layout that :class:`VitonHDDataset` reads (every file atomically).

    ``people[i]`` wears ``garments[i]``; both are saved under the person's id ``f"{int(person_id):05d}_00"``.
    ``{split}_pairs.txt`` lists ``unpaired`` as (person index, garment index); its first column also
    decides which people the paired mode sees. Images and masks are JPEG (quality 95); the parse is a
    palette PNG of ``cihp20`` labels; keypoints are an OpenPose BODY_25 JSON; ``openpose_img/`` and
    ``image-densepose/`` hold renderings only.

    Args:
        root: the dataset folder (created if needed).
        split: ``"train"`` or ``"test"``.
        people: the people, with their annotations.
        garments: the in-shop garments; ``garments[i]`` is worn by ``people[i]``.
        unpaired: the pair list, as (person index, garment index).
        hyphenated: use the original repository's folder names (``image-parse``, ``openpose-json``,
            ``openpose-img``) instead of the release's.

    Raises:
        ValueError: an unknown split, mismatched lists, out-of-range pair indices or non-numeric ids.
    """
    if split not in VitonHDDataset.splits:
        raise ValueError(f"split must be one of {VitonHDDataset.splits}, got {split!r}")
    _check_pairs(people, garments, unpaired)
    ids = _numbered_ids(people, 5, "_00")
    names = LAYOUTS["original" if hyphenated else "release"]
    base = Path(root) / split
    palette = LABEL_PALETTE
    for sample_id, person, garment in zip(ids, people, garments, strict=True):
        atomic_write(base / "image" / f"{sample_id}.jpg", encode_image(person.image, "JPEG", quality=95))
        atomic_write(base / "cloth" / f"{sample_id}.jpg", encode_image(garment.image, "JPEG", quality=95))
        atomic_write(base / "cloth-mask" / f"{sample_id}.jpg", encode_image(garment.mask, "JPEG", quality=95))
        parse = convert_labels(person.parse_noisy, "cihp20")
        atomic_write(base / names["parse"] / f"{sample_id}.png", encode_image(parse, "PNG", palette=palette))
        atomic_write(base / names["keypoints"] / f"{sample_id}_keypoints.json", _openpose_json(person.keypoints))
        rendered = _rendered_pose(person.keypoints, person.image.shape[:2])
        atomic_write(base / names["pose_image"] / f"{sample_id}_rendered.png", encode_image(rendered, "PNG"))
        densepose = _densepose_rendering(person.densepose)
        atomic_write(base / "image-densepose" / f"{sample_id}.jpg", encode_image(densepose, "JPEG", quality=95))
    atomic_write(Path(root) / f"{split}_pairs.txt", "".join(f"{ids[i]}.jpg {ids[j]}.jpg\n" for i, j in unpaired))
