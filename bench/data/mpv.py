"""MPV (MG-VTON, Dong et al. ICCV 2019) in the LIP-challenge layout, read with the single-pose protocol.

Layout (docs/reference/datasets.md §4)::

    <root>/
      all_poseA_poseB_clothes.txt        poseA  poseB  cloth  split   (TAB-separated; or ..._0607.txt)
      all/ (or MPV_192_256/)
        <PRODUCT>/<PRODUCT>-<COLOR>@<n>=person_half_front.jpg
        <PRODUCT>/<PRODUCT>-<COLOR>@<n>=cloth_front.jpg
        <PRODUCT>/<PRODUCT>-<COLOR>@<n>=cloth_front_mask.jpg
      all_parsing/<PRODUCT>/<name>.png                               LIP, 20 labels
      all_person_clothes_keypoints/<PRODUCT>/<name>_keypoints.json   COCO-18, 'pose_keypoints'

Single-pose protocol, as most image try-on papers use MPV: keep the rows whose poseA contains "front",
drop repeated poseA entries (the first row wins), and keep the rows whose 4th column is the split.

There is no official unpaired list for MPV. Unpaired pairs come, in this order, from ``unpaired_file=``
(two columns: person entry, cloth entry), from ``<root>/<split>_unpaired_pairs.txt`` (the list pftryon's
writer leaves beside synthetic data), or else from pftryon's own deterministic derangement: each person
with the cloth of the next selected row whose cloth differs (cyclically). Record which one a number used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from bench.data.base import Entry, TryOnDataset, read_pair_list
from bench.data.encode import encode_image, openpose18_json
from bench.data.readers import InputError
from bench.data.synthetic.record import SynthGarment, SynthPerson, convert_labels
from pftryon.models import atomic_write

__all__ = ["MPVDataset", "write_mpv"]

_logger = logging.getLogger(__name__)

PAIR_FILES = ("all_poseA_poseB_clothes.txt", "all_poseA_poseB_clothes_0607.txt")
IMAGE_DIRS = ("all", "MPV_192_256")
PARSE_DIR = "all_parsing"
KEYPOINT_DIR = "all_person_clothes_keypoints"
SPLITS = ("train", "test")


def _normalise_entry(entry: str) -> str:
    """A pair-file entry as ``<PRODUCT>/<name>.<ext>``: forward slashes, no image-folder prefix.

    Entries normally carry the product folder. Some copies prefix the image folder (C-VTON joins the root
    with the entry), some old ones use backslashes, and a bare name gets its product from the part before
    the first "-".
    """
    parts = [part for part in entry.replace("\\", "/").split("/") if part]
    if len(parts) > 2 and parts[0] in IMAGE_DIRS:
        parts = parts[1:]
    if len(parts) == 1:
        parts = [parts[0].split("-")[0], parts[0]]
    return "/".join(parts)


def _without_suffix(entry: str) -> str:
    return str(PurePosixPath(entry).with_suffix(""))


class MPVDataset(TryOnDataset):
    """MPV, single-pose protocol: one sample per front-view person of the split.

    Args:
        root: the MPV folder (holding the pair file and ``all/`` or ``MPV_192_256/``).
        pairs_file: the 4-column pair file, relative to ``root`` or absolute; default: the first of
            ``all_poseA_poseB_clothes.txt`` and ``all_poseA_poseB_clothes_0607.txt`` found in ``root``.
        unpaired_file: a 2-column list (person entry, cloth entry) for ``pair_mode="unpaired"``, relative to
            ``root`` or absolute; default: see the module docstring.
        **kwargs: ``split``, ``pair_mode``, ``size``, ``skip_bad`` (see :class:`TryOnDataset`).

    Samples carry ``person_id`` and ``cloth_id`` as the pair-file entries without extension, e.g.
    ``RE321D05M/RE321D05M-Q11@8=person_half_front``. The parse and keypoint roles are present when the
    ``all_parsing/`` and ``all_person_clothes_keypoints/`` folders are; a missing file inside them is an error.
    """

    name = "mpv"
    label_set = "lip20"
    keypoint_format = "openpose18"
    splits = SPLITS

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        pairs_file: str | os.PathLike[str] | None = None,
        unpaired_file: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.pairs_file = pairs_file
        self.unpaired_file = unpaired_file
        self.unpaired_source: str | None = None
        super().__init__(root, **kwargs)

    def _pair_path(self) -> Path:
        if self.pairs_file is not None:
            path = self.root / self.pairs_file
            if not path.is_file():
                raise InputError(f"{path}: pair file not found (pairs_file=)")
            return path
        for name in PAIR_FILES:
            if (self.root / name).is_file():
                return self.root / name
        raise InputError(f"{self.root}: no MPV pair file: expected {' or '.join(PAIR_FILES)} (or pass pairs_file=)")

    def _image_dir(self) -> Path:
        for name in IMAGE_DIRS:
            if (self.root / name).is_dir():
                return self.root / name
        raise InputError(f"{self.root}: no MPV image folder: expected {'/ or '.join(IMAGE_DIRS)}/")

    def _optional_dir(self, name: str) -> Path | None:
        path = self.root / name
        if path.is_dir():
            return path
        _logger.warning("%s: folder not found; samples will have no %s", path, name)
        return None

    def _selected_rows(self, pair_path: Path) -> list[tuple[str, str]]:
        """(person entry, cloth entry) of this split under the single-pose protocol."""
        rows = read_pair_list(pair_path, columns=4)
        for number, row in enumerate(rows, start=1):
            if row[3] not in SPLITS:
                raise InputError(
                    f"{pair_path}: row {number} ({row[0]}): split column must be 'train' or 'test', got {row[3]!r}"
                )
        seen: set[str] = set()
        selected = []
        for pose_a, _pose_b, cloth, split in rows:
            person = _normalise_entry(pose_a)
            if "front" not in PurePosixPath(person).name or person in seen:
                continue
            seen.add(person)
            if split == self.split:
                selected.append((person, _normalise_entry(cloth)))
        if not selected:
            raise InputError(f"{pair_path}: no {self.split} rows with a front-view poseA")
        return selected

    def _unpaired_rows(self, rows: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        path = None
        if self.unpaired_file is not None:
            path = self.root / self.unpaired_file
        elif (self.root / f"{self.split}_unpaired_pairs.txt").is_file():
            path = self.root / f"{self.split}_unpaired_pairs.txt"
        if path is not None:
            self.unpaired_source = str(path)
            return [(_normalise_entry(a), _normalise_entry(b)) for a, b in read_pair_list(path, columns=2)]
        self.unpaired_source = "pftryon derangement (next row with a different cloth)"
        pairs = []
        for i, (person, cloth) in enumerate(rows):
            others = (rows[(i + k) % len(rows)][1] for k in range(1, len(rows)))
            other = next((c for c in others if c != cloth), None)
            if other is None:
                raise InputError(
                    f"{self.root}: cannot derange the {self.split} split: every row has cloth {cloth};"
                    " pass unpaired_file="
                )
            pairs.append((person, other))
        return pairs

    def index(self) -> list[Entry]:
        """The split's front-view people with their own cloth (paired) or the unpaired list's cloth."""
        pair_path = self._pair_path()
        images = self._image_dir()
        rows = self._selected_rows(pair_path)
        parse_dir = self._optional_dir(PARSE_DIR)
        keypoint_dir = self._optional_dir(KEYPOINT_DIR)
        pairs = rows if self.pair_mode == "paired" else self._unpaired_rows(rows)
        entries = []
        for person, cloth in pairs:
            product, stem = person.split("/")[0], PurePosixPath(_without_suffix(person)).name
            files = {
                "person": images / person,
                "cloth": images / cloth,
                "cloth_mask": images / f"{_without_suffix(cloth)}_mask.jpg",
            }
            if parse_dir is not None:
                files["parse"] = parse_dir / product / f"{stem}.png"
            if keypoint_dir is not None:
                files["keypoints"] = keypoint_dir / product / f"{stem}_keypoints.json"
            entries.append(Entry(_without_suffix(person), _without_suffix(cloth), files))
        return entries


# --------------------------------------------------------------------------------------------------
# Writer: synthetic records in the MPV layout.


def write_mpv(
    root: Path,
    split: str,
    people: list[SynthPerson],
    garments: list[SynthGarment],
    unpaired: list[tuple[int, int]],
    *,
    image_dir: str = "all",
) -> None:
    """Write ``people`` (``people[i]`` wears ``garments[i]``) into ``root`` in the MPV layout, as split ``split``.

    Product folders are ``SY<7-digit garment id>`` (garment ids must be integers) and file names
    ``<PRODUCT>-C11@<i>=person_half_front.jpg`` / ``=cloth_front.jpg`` / ``=cloth_front_mask.jpg``, with
    ``i`` the position in ``people``. Both splits share one pair file, so the rows are merged into the
    existing ``all_poseA_poseB_clothes.txt`` (a row whose poseA is written again is replaced): writing
    train then test gives one file with both splits. Garment ids must be unique across the splits written
    into one root, since equal ids give equal file names. poseB repeats poseA (one pose per person).

    ``unpaired`` pairs (person index, garment index) go to ``<root>/<split>_unpaired_pairs.txt`` (TAB, person
    entry and cloth entry). This is pftryon's list; MPV has no official one. :class:`MPVDataset` reads it by
    default. Every file is written atomically.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if len(people) != len(garments):
        raise ValueError(f"people[i] wears garments[i]: got {len(people)} people and {len(garments)} garments")
    if image_dir not in IMAGE_DIRS:
        raise ValueError(f"image_dir must be one of {IMAGE_DIRS}, got {image_dir!r}")
    for i, j in unpaired:
        if not (0 <= i < len(people) and 0 <= j < len(garments)):
            raise ValueError(f"unpaired pair ({i}, {j}) out of range for {len(people)} people and garments")
    root = Path(root)
    names = []
    for i, (person, garment) in enumerate(zip(people, garments, strict=True)):
        product = f"SY{int(garment.garment_id):07d}"
        stem = f"{product}-C11@{i}="
        person_entry, cloth_entry = f"{product}/{stem}person_half_front.jpg", f"{product}/{stem}cloth_front.jpg"
        names.append((person_entry, cloth_entry))
        images = root / image_dir / product
        atomic_write(images / f"{stem}person_half_front.jpg", encode_image(person.image, "JPEG", quality=95))
        atomic_write(images / f"{stem}cloth_front.jpg", encode_image(garment.image, "JPEG", quality=95))
        atomic_write(images / f"{stem}cloth_front_mask.jpg", encode_image(garment.mask, "JPEG", quality=95))
        parse = convert_labels(person.parse_noisy, "lip20")
        atomic_write(root / PARSE_DIR / product / f"{stem}person_half_front.png", encode_image(parse, "PNG"))
        keypoint_path = root / KEYPOINT_DIR / product / f"{stem}person_half_front_keypoints.json"
        atomic_write(keypoint_path, openpose18_json(person.keypoints))

    pair_path = root / PAIR_FILES[0]
    new_rows = [[person, person, cloth, split] for person, cloth in names]
    written = {row[0] for row in new_rows}
    old_rows = read_pair_list(pair_path, columns=4) if pair_path.is_file() and pair_path.stat().st_size else []
    rows = [row for row in old_rows if row[0] not in written] + new_rows
    atomic_write(pair_path, "".join("\t".join(row) + "\n" for row in rows))

    if unpaired:
        lines = [f"{names[i][0]}\t{names[j][1]}\n" for i, j in unpaired]
        atomic_write(root / f"{split}_unpaired_pairs.txt", "".join(lines))
