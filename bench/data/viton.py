"""VITON at 256x192 in its two common distributions, and writers of both layouts for synthetic data.

* :class:`VitonDataset` (``"viton"``): the CP-VTON tree with the CP-VTON+ extras (datasets.md §1a, §1b).
* :class:`VitonPFAFNDataset` (``"viton-pfafn"``): PF-AFN's ``VITON_traindata`` / ``VITON_test`` trees (§1c).
* :func:`write_viton` and :func:`write_viton_pfafn` write synthetic records in exactly those layouts.

File names follow VITON: person ``<id>_0.jpg``, that person's in-shop garment ``<id>_1.jpg``. The
``person_id`` / ``cloth_id`` of a sample is the name without the ``_0`` / ``_1`` suffix and extension.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.data.base import Entry, TryOnDataset, read_pair_list
from bench.data.encode import LABEL_PALETTE, encode_image, openpose18_json
from bench.data.readers import InputError
from bench.data.synthetic.record import SynthGarment, SynthPerson, convert_labels
from pftryon.models import atomic_write

__all__ = ["VitonDataset", "VitonPFAFNDataset", "write_viton", "write_viton_pfafn"]

_PARSE_FOLDERS = {"image-parse": "lip20", "image-parse-new": "lip21"}


def _sample_id(name: str) -> str:
    """``000001_0.jpg`` -> ``000001``; names without a ``_0`` / ``_1`` suffix keep their stem."""
    stem = Path(name).stem
    base, sep, suffix = stem.rpartition("_")
    return base if sep and suffix in ("0", "1") else stem


def _own_garment(person: str, source: Path) -> str:
    """The garment file of a person file (``000001_0.jpg`` -> ``000001_1.jpg``), as VITON names them."""
    path = Path(person)
    if not path.stem.endswith("_0"):
        raise InputError(
            f"{source}: cannot derive the garment of {person!r}: expected a person file named <id>_0{path.suffix}"
        )
    return f"{path.stem[:-2]}_1{path.suffix}"


def _test_rows(root: Path, pair_mode: str) -> list[list[str]]:
    """VITON test pairs: ``test_pairs.txt`` (unpaired), ``test_pairs_same.txt`` (paired) or, without the latter,
    each person of ``test_pairs.txt`` with their own garment."""
    if pair_mode == "unpaired":
        return read_pair_list(root / "test_pairs.txt")
    same = root / "test_pairs_same.txt"
    if same.is_file():
        return read_pair_list(same)
    unpaired = root / "test_pairs.txt"
    return [[person, _own_garment(person, unpaired)] for person, _ in read_pair_list(unpaired)]


def _shifted(garments: Sequence[str]) -> list[str]:
    """Garment of row ``(i + 1) mod n`` for row ``i``: the deterministic unpaired training pairing."""
    return [garments[(i + 1) % len(garments)] for i in range(len(garments))]


def _list_files(folder: Path) -> list[str]:
    """Sorted file names in ``folder``, hidden files (``.DS_Store``, temporary files) left out."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


class VitonDataset(TryOnDataset):
    """VITON in the CP-VTON layout (``viton_resize``), with CP-VTON+'s corrected parse as an option.

    Layout under ``root``: ``train_pairs.txt`` (paired), ``test_pairs.txt`` (UNPAIRED), optionally
    ``test_pairs_same.txt`` (paired), and ``train/``, ``test/`` each holding ``image/<id>_0.jpg``,
    ``cloth/<id>_1.jpg``, ``cloth-mask/<id>_1.jpg``, ``image-parse/<id>_0.png`` (palette PNG, LIP-20),
    ``image-parse-new/<id>_0.png`` (CP-VTON+ only: greyscale, LIP-20 plus 20 = skin/neck) and
    ``pose/<id>_0_keypoints.json`` (OpenPose COCO-18 in ``people[0].pose_keypoints``).

    Pairs:

    * test, paired: ``test_pairs_same.txt``; without it, each person of ``test_pairs.txt`` with their own
      garment (``<id>_0.jpg`` -> ``<id>_1.jpg``).
    * test, unpaired: ``test_pairs.txt``, the evaluation protocol's list.
    * train, paired: ``train_pairs.txt``.
    * train, unpaired: there is no official list, so person ``i`` of ``train_pairs.txt`` gets the garment of
      row ``(i + 1) mod n``; deterministic, unlike a random draw.

    There is no DensePose in this layout, so samples have no ``densepose`` field.

    Args:
        root: the ``data/`` folder.
        parse: ``"image-parse"`` (CP-VTON, label set ``lip20``) or ``"image-parse-new"`` (CP-VTON+,
            label set ``lip21``).
        **kwargs: ``split``, ``pair_mode``, ``size``, ``skip_bad`` (see :class:`~bench.data.base.TryOnDataset`).
    """

    name = "viton"
    label_set = "lip20"
    keypoint_format = "openpose18"
    splits = ("train", "test")

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        parse: str = "image-parse",
        **kwargs: Any,
    ) -> None:
        if parse not in _PARSE_FOLDERS:
            raise ValueError(f"{self.name}: parse must be one of {tuple(_PARSE_FOLDERS)}, got {parse!r}")
        self.parse_folder = parse
        self.label_set = _PARSE_FOLDERS[parse]
        super().__init__(root, **kwargs)

    def index(self) -> list[Entry]:
        base = self.require_dir(self.root / self.split)
        folders = {
            role: self.require_dir(base / folder)
            for role, folder in (
                ("person", "image"),
                ("cloth", "cloth"),
                ("cloth_mask", "cloth-mask"),
                ("parse", self.parse_folder),
                ("keypoints", "pose"),
            )
        }
        if self.split == "test":
            rows = _test_rows(self.root, self.pair_mode)
        else:
            rows = read_pair_list(self.root / "train_pairs.txt")
            if self.pair_mode == "unpaired":
                rows = [
                    [person, cloth] for (person, _), cloth in zip(rows, _shifted([c for _, c in rows]), strict=True)
                ]
        entries = []
        for person, cloth in rows:
            stem = Path(person).stem
            files = {
                "person": folders["person"] / person,
                "cloth": folders["cloth"] / cloth,
                "cloth_mask": folders["cloth_mask"] / cloth,
                "parse": folders["parse"] / f"{stem}.png",
                "keypoints": folders["keypoints"] / f"{stem}_keypoints.json",
            }
            entries.append(Entry(_sample_id(person), _sample_id(cloth), files))
        return entries


class VitonPFAFNDataset(TryOnDataset):
    """VITON as PF-AFN distributes it: ``VITON_traindata`` for training, ``VITON_test`` for testing.

    Train (``root`` is the ``VITON_traindata`` folder): ``train_img/<id>_0.jpg``, ``train_label/<id>_0.png``
    (greyscale ACGPN 14-class labels, ``acgpn14``), ``train_color/<id>_1.jpg``, ``train_edge/<id>_1.jpg``
    (cloth mask), ``train_pose/<id>_0_keypoints.json`` and ``train_densepose/<id>_0.npy``. There is no pair
    list: as in PF-AFN, the i-th file of each sorted folder belongs to sample i, so ``train_img``,
    ``train_label``, ``train_color`` and ``train_edge`` must hold the same number of files (pose and
    DensePose paths are derived from the person's name). Unpaired training gives person i the garment at
    sorted position ``(i + 1) mod n``; PF-AFN itself draws a random one.

    Test (``root`` is the ``VITON_test`` folder): ``test_img/``, ``test_clothes/`` and ``test_edge/`` (the
    edge has the cloth's file name), with the pairs in ``root/test_pairs.txt`` (unpaired) or
    ``root/test_pairs_same.txt`` (paired; without it, each person of ``test_pairs.txt`` with their own
    garment), or in ``pairs_file``. Test samples have only ``person``, ``cloth`` and ``cloth_mask``: PF-AFN
    needs no parse, pose or DensePose at test time.

    Args:
        root: the ``VITON_traindata`` or ``VITON_test`` folder (one folder may hold both).
        pairs_file: a pair list to use instead of the split's own (test only), e.g. PF-AFN's ``demo.txt``.
            A relative path that does not exist from the working folder is taken relative to ``root``.
            The list is used as it is; ``pair_mode`` then only labels the samples.
        **kwargs: ``split``, ``pair_mode``, ``size``, ``skip_bad`` (see :class:`~bench.data.base.TryOnDataset`).
    """

    name = "viton-pfafn"
    label_set = "acgpn14"
    keypoint_format = "openpose18"
    splits = ("train", "test")

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        pairs_file: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if pairs_file is not None and kwargs.get("split", "test") != "test":
            raise ValueError(
                f"{self.name}: pairs_file applies to the test split only; the train split has no pair list"
            )
        self.pairs_file = None if pairs_file is None else Path(pairs_file)
        super().__init__(root, **kwargs)

    def index(self) -> list[Entry]:
        return self._index_train() if self.split == "train" else self._index_test()

    def _index_train(self) -> list[Entry]:
        folders = {
            folder: self.require_dir(self.root / f"train_{folder}")
            for folder in ("img", "label", "color", "edge", "pose", "densepose")
        }
        names = {folder: _list_files(folders[folder]) for folder in ("img", "label", "color", "edge")}
        for folder in ("label", "color", "edge"):
            if len(names[folder]) != len(names["img"]):
                raise InputError(
                    f"{folders[folder]}: {len(names[folder])} files, but {folders['img']} has {len(names['img'])}; "
                    "PF-AFN train folders are aligned by sorted file order and must hold the same number of files"
                )
        if not names["img"]:
            raise InputError(f"{folders['img']}: no person images")
        shift = self.pair_mode == "unpaired"
        colors = _shifted(names["color"]) if shift else names["color"]
        edges = _shifted(names["edge"]) if shift else names["edge"]
        entries = []
        for person, label, color, edge in zip(names["img"], names["label"], colors, edges, strict=True):
            stem = Path(person).stem
            files = {
                "person": folders["img"] / person,
                "cloth": folders["color"] / color,
                "cloth_mask": folders["edge"] / edge,
                "parse": folders["label"] / label,
                "keypoints": folders["pose"] / f"{stem}_keypoints.json",
                "densepose": folders["densepose"] / f"{stem}.npy",
            }
            entries.append(Entry(_sample_id(person), _sample_id(color), files))
        return entries

    def _index_test(self) -> list[Entry]:
        people, clothes, edges = (self.require_dir(self.root / f"test_{f}") for f in ("img", "clothes", "edge"))
        if self.pairs_file is None:
            rows = _test_rows(self.root, self.pair_mode)
        else:
            path = self.pairs_file
            if not path.is_absolute() and not path.exists():
                path = self.root / path
            rows = read_pair_list(path)
        return [
            Entry(
                _sample_id(person),
                _sample_id(cloth),
                {"person": people / person, "cloth": clothes / cloth, "cloth_mask": edges / cloth},
            )
            for person, cloth in rows
        ]


# ----------------------------------------------------------------------------------------------- writers


def _jpeg(array: np.ndarray) -> bytes:
    """RGB or greyscale uint8 array as a quality-95 JPEG."""
    return encode_image(Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)), "JPEG", quality=95)


def _label_png(labels: np.ndarray, *, palette: bool) -> bytes:
    """Label map as a PNG: palette-indexed ('P', indices kept) or greyscale ('L')."""
    image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8))
    if palette:
        image.putpalette(LABEL_PALETTE)  # turns the 'L' image into 'P' with the values kept as indices
    return encode_image(image, "PNG")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _pair_lines(pairs: Sequence[tuple[SynthPerson, SynthGarment]]) -> str:
    return "".join(f"{p.person_id}_0.jpg {g.garment_id}_1.jpg\n" for p, g in pairs)


def _check_records(
    split: str, people: Sequence[SynthPerson], garments: Sequence[SynthGarment], unpaired: Sequence[tuple[int, int]]
) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if len(people) != len(garments) or not people:
        raise ValueError(
            "expected as many garments as people (person i wears garment i), "
            f"got {len(people)} people and {len(garments)} garments"
        )
    for i, (person, garment) in enumerate(zip(people, garments, strict=True)):
        if person.garment_id != garment.garment_id:
            raise ValueError(f"people[{i}] wears {person.garment_id!r} but garments[{i}] is {garment.garment_id!r}")
    for i, j in unpaired:
        if not (0 <= i < len(people) and 0 <= j < len(garments)):
            raise ValueError(f"unpaired pair ({i}, {j}) out of range for {len(people)} people and garments")


def write_viton(
    root: Path,
    split: str,
    people: list[SynthPerson],
    garments: list[SynthGarment],
    unpaired: list[tuple[int, int]],
) -> None:
    """Write one split in the CP-VTON layout with the CP-VTON+ extras, as :class:`VitonDataset` reads it.

    Writes ``root/<split>/{image, cloth, cloth-mask, image-parse, image-parse-new, image-mask, pose}``
    (JPEG quality 95 for photos and masks; palette PNG with ``lip20`` labels in ``image-parse``; greyscale
    PNG with ``lip21`` labels in ``image-parse-new``; greyscale PNG body masks in ``image-mask``) and the
    pair lists: ``train_pairs.txt`` (paired) for train; ``test_pairs.txt`` (``unpaired``, as
    ``(person index, garment index)``) and ``test_pairs_same.txt`` (paired) for test. There is no official
    unpaired training list, so ``unpaired`` is not written for train. ``people[i]`` wears ``garments[i]``.
    Every file is written atomically, and writing the same records again gives the same files.
    """
    _check_records(split, people, garments, unpaired)
    root = Path(root)
    base = root / split
    for person in people:
        name = f"{person.person_id}_0"
        atomic_write(base / "image" / f"{name}.jpg", _jpeg(person.image))
        lip20, lip21 = (convert_labels(person.parse_noisy, s) for s in ("lip20", "lip21"))
        atomic_write(base / "image-parse" / f"{name}.png", _label_png(lip20, palette=True))
        atomic_write(base / "image-parse-new" / f"{name}.png", _label_png(lip21, palette=False))
        atomic_write(
            base / "image-mask" / f"{name}.png",
            encode_image(Image.fromarray(np.ascontiguousarray(person.body_mask, dtype=np.uint8)), "PNG"),
        )
        atomic_write(base / "pose" / f"{name}_keypoints.json", openpose18_json(person.keypoints))
    for garment in garments:
        name = f"{garment.garment_id}_1.jpg"
        atomic_write(base / "cloth" / name, _jpeg(garment.image))
        atomic_write(base / "cloth-mask" / name, _jpeg(garment.mask))
    paired = list(zip(people, garments, strict=True))
    if split == "train":
        atomic_write(root / "train_pairs.txt", _pair_lines(paired))
    else:
        atomic_write(root / "test_pairs.txt", _pair_lines([(people[i], garments[j]) for i, j in unpaired]))
        atomic_write(root / "test_pairs_same.txt", _pair_lines(paired))


def write_viton_pfafn(
    root: Path,
    split: str,
    people: list[SynthPerson],
    garments: list[SynthGarment],
    unpaired: list[tuple[int, int]],
) -> None:
    """Write one split in PF-AFN's layout, as :class:`VitonPFAFNDataset` reads it.

    Train: ``root/train_{img, label, color, edge, pose, densepose}`` (JPEG quality 95 photos and edges;
    greyscale PNG ``acgpn14`` labels; OpenPose JSON; float32 ``.npy`` DensePose index maps) and no pair list,
    since PF-AFN pairs by sorted file order: the people, sorted by id, must wear the garments sorted by id
    (``ValueError`` otherwise), and ``unpaired`` is not written. Test: ``root/test_{img, clothes, edge}``
    with ``root/test_pairs.txt`` (``unpaired``) and ``root/test_pairs_same.txt`` (paired). ``people[i]``
    wears ``garments[i]``. Every file is written atomically, and writing the same records again gives the
    same files.
    """
    _check_records(split, people, garments, unpaired)
    root = Path(root)
    if split == "train":
        by_person = [p.garment_id for p in sorted(people, key=lambda p: p.person_id)]
        if by_person != sorted(g.garment_id for g in garments):
            raise ValueError(
                "PF-AFN train folders pair person and garment by sorted file order: sorting the people by id must "
                "sort their garments by id too"
            )
        for person in people:
            name = f"{person.person_id}_0"
            atomic_write(root / "train_img" / f"{name}.jpg", _jpeg(person.image))
            labels = convert_labels(person.parse_noisy, "acgpn14")
            atomic_write(root / "train_label" / f"{name}.png", _label_png(labels, palette=False))
            atomic_write(root / "train_pose" / f"{name}_keypoints.json", openpose18_json(person.keypoints))
            atomic_write(root / "train_densepose" / f"{name}.npy", _npy(person.densepose.astype(np.float32)))
        for garment in garments:
            name = f"{garment.garment_id}_1.jpg"
            atomic_write(root / "train_color" / name, _jpeg(garment.image))
            atomic_write(root / "train_edge" / name, _jpeg(garment.mask))
        return
    for person in people:
        atomic_write(root / "test_img" / f"{person.person_id}_0.jpg", _jpeg(person.image))
    for garment in garments:
        name = f"{garment.garment_id}_1.jpg"
        atomic_write(root / "test_clothes" / name, _jpeg(garment.image))
        atomic_write(root / "test_edge" / name, _jpeg(garment.mask))
    atomic_write(root / "test_pairs.txt", _pair_lines([(people[i], garments[j]) for i, j in unpaired]))
    atomic_write(root / "test_pairs_same.txt", _pair_lines(list(zip(people, garments, strict=True))))
