"""VVT (FW-GAN, Dong et al. ICCV 2019): video try-on, read as one sample per frame.

Two layouts (docs/reference/datasets.md §5):

(a) ``lip``: the original LIP-challenge release::

    <root>/
      lip_clothes_person/<video_id>/        one *cloth_front.jpg (optional *cloth_front_mask.jpg) + a person png
      lip_{train,test}_frames/<video_id>/*.png                    frames; sorted = temporal order
      lip_{train,test}_frames_keypoint/<video_id>/<frame>_keypoints.json
      test_person_clothes_pose_tuple.txt    person video, cloth video, pose video (unpaired list)

(b) ``shineon``: ShineOn's ``fw_gan_vvt`` re-organisation::

    <root>/
      clothes_person/img/<PROD>/<PROD>-<COLOR>@<n>=cloth_front.jpg     upper-case product folders
      {train,test}/{train,test}_frames/<video_id>/<timestamp>_frame_<NNN>.png
      {train,test}/{train,test}_frames_keypoint/<video_id>/<frame>_keypoints.json
      {train,test}/{train,test}_frames_parsing/<video_id>/<frame>_label.png (or <frame>.png)   optional, LIP

Each frame is a sample with ``video_id`` (the frame folder's name) and ``frame_index`` (the frame's position
in its video, 0-based, after a natural sort of the file names) in the sample. The cloth of a video is found
in (a) in the folder named by the lower-case video id and in (b) by upper-casing the id, splitting it at "-"
into product and colour, and globbing ``<PROD>/<PROD>-<COLOR>*cloth_front.*``. The cloth mask role is
present only where a mask file exists; parse maps only in layout (b) with its parsing folder.

Unpaired pairs come from ``unpaired_file=`` (a whitespace list "person video, cloth video[, pose video]" or a
``.csv`` of ``cloth_path,video_id`` lines as ShineOn ships FW-GAN's list), else from the layout's default:
``<split>_person_clothes_pose_tuple.txt`` in (a) (the official ``test_...`` list) and pftryon's
``<split>_unpaired_pairs.csv`` in (b), which has no official list inside the data folder.
"""

from __future__ import annotations

import csv
import glob
import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from bench.data.base import Entry, TryOnDataset, read_pair_list
from bench.data.encode import encode_image, openpose18_json
from bench.data.readers import InputError
from bench.data.synthetic.record import SynthGarment, SynthPerson, convert_labels
from pftryon.models import atomic_write

__all__ = ["VVTDataset", "vvt_video_ids", "write_vvt"]

_logger = logging.getLogger(__name__)

LAYOUTS = ("lip", "shineon")
SPLITS = ("train", "test")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")

# A cloth to look up: ("id", video or clothes id) or ("path", a cloth file path from a CSV list).
_ClothRef = tuple[str, str]


def _natural_key(name: str) -> list[Any]:
    """Sort key that orders ``frame_9`` before ``frame_10``: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _is_mask(path: Path) -> bool:
    return "mask" in path.stem.lower()


class VVTDataset(TryOnDataset):
    """VVT, one sample per frame, in the ``lip`` or ``shineon`` layout.

    Args:
        root: the VVT folder.
        layout: ``"auto"`` (detect from the folders), ``"lip"`` or ``"shineon"``.
        unpaired_file: the unpaired list for ``pair_mode="unpaired"``, relative to ``root`` or absolute (see the
            module docstring for its formats and the default).
        **kwargs: ``split``, ``pair_mode``, ``size``, ``skip_bad`` (see :class:`TryOnDataset`). With
            ``skip_bad`` a video with no frames or no cloth is skipped whole, a frame with a missing file alone.

    ``person_id`` is ``<video_id>/<frame name>``; ``cloth_id`` is the cloth file's path under
    ``lip_clothes_person/`` or ``clothes_person/img/`` without extension.
    """

    name = "vvt"
    label_set = "lip20"
    keypoint_format = "openpose18"
    # The in-shop cloth photos are not frame crops; they are resized to the frame size whatever their size.
    free_size_roles = ("cloth", "cloth_mask")
    splits = SPLITS

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        layout: str = "auto",
        unpaired_file: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if layout not in ("auto", *LAYOUTS):
            raise ValueError(f"vvt: layout must be one of {('auto', *LAYOUTS)}, got {layout!r}")
        self.layout = layout
        self.unpaired_file = unpaired_file
        self.unpaired_source: str | None = None
        self._clothes: dict[_ClothRef, tuple[Path, Path | None, str]] = {}
        super().__init__(root, **kwargs)

    # -- layout -----------------------------------------------------------------------------------

    def _detect_layout(self) -> str:
        split = self.split
        lip = (self.root / "lip_clothes_person").is_dir() or (self.root / f"lip_{split}_frames").is_dir()
        shineon = (self.root / "clothes_person").is_dir() or (self.root / split / f"{split}_frames").is_dir()
        if lip and shineon:
            raise InputError(f"{self.root}: holds both the lip_* and the ShineOn VVT layouts; pass layout=")
        if not (lip or shineon):
            raise InputError(
                f"{self.root}: not a VVT folder: expected lip_clothes_person/ and lip_{split}_frames/ (lip layout)"
                f" or clothes_person/ and {split}/{split}_frames/ (ShineOn layout)"
            )
        return "lip" if lip else "shineon"

    def _dirs(self) -> tuple[Path, Path, Path, Path | None]:
        """(frames, keypoints, cloth root, parsing or None) folders of this split and layout."""
        split = self.split
        if self.layout == "lip":
            frames = self.root / f"lip_{split}_frames"
            return frames, Path(f"{frames}_keypoint"), self.root / "lip_clothes_person", None
        frames = self.root / split / f"{split}_frames"
        return frames, Path(f"{frames}_keypoint"), self.root / "clothes_person" / "img", Path(f"{frames}_parsing")

    # -- videos and clothes -----------------------------------------------------------------------

    @staticmethod
    def _frames(video_dir: Path) -> list[Path]:
        if not video_dir.is_dir():
            raise InputError(f"{video_dir}: video folder not found")
        frames = [
            p
            for p in video_dir.iterdir()
            if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")
        ]
        if not frames:
            raise InputError(f"{video_dir}: video folder has no frames (*.png)")
        return sorted(frames, key=lambda p: _natural_key(p.name))

    def _cloth(self, ref: _ClothRef) -> tuple[Path, Path | None, str]:
        """(cloth, mask or None, cloth_id) of a cloth reference, cached."""
        if ref not in self._clothes:
            kind, value = ref
            self._clothes[ref] = self._cloth_file(Path(value)) if kind == "path" else self._cloth_by_id(value)
        return self._clothes[ref]

    def _cloth_by_id(self, key: str) -> tuple[Path, Path | None, str]:
        cloth_root = self._dirs()[2]
        if self.layout == "lip":
            folder = cloth_root / key
            if not folder.is_dir():
                folder = cloth_root / key.lower()
            if not folder.is_dir():
                raise InputError(f"{folder}: cloth folder not found (VVT lip layout: lip_clothes_person/<video_id>/)")
            found = [p for p in sorted(folder.glob("*cloth_front.*")) if not _is_mask(p)]
            found = found or [p for p in sorted(folder.glob("*.jpg")) if not _is_mask(p)]
            if not found:
                raise InputError(f"{folder}: no *cloth_front.jpg cloth image in the cloth folder")
            masks = sorted(folder.glob("*cloth_front_mask.*"))
            return found[0], masks[0] if masks else None, f"{folder.name}/{found[0].stem}"
        parts = key.upper().split("-")
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise InputError(f"{cloth_root}: cannot look up the cloth of {key!r}: expected an id <product>-<colour>")
        product, colour = parts[0], parts[1]
        folder = cloth_root / product
        pattern = f"{product}-{colour}*cloth_front.*"
        found = [p for p in sorted(folder.glob(pattern)) if not _is_mask(p)]
        found = found or [p for p in sorted(folder.glob(f"{product}-{colour}*cloth*")) if not _is_mask(p)]
        if not found:
            raise InputError(f"{folder / pattern}: no cloth image matches (cloth of {key})")
        return self._with_mask(found[0], cloth_root)

    def _cloth_file(self, path: Path) -> tuple[Path, Path | None, str]:
        """A cloth named by path in a CSV list: the file itself if it exists, else looked up by its name.

        FW-GAN's list names result files such as ``.../clothes_4he21d00f-g11.jpg``: the id after ``clothes_``.
        """
        resolved = self.root / path
        if resolved.is_file():
            return self._with_mask(resolved, self._dirs()[2])
        return self._cloth_by_id(path.stem.removeprefix("clothes_"))

    @staticmethod
    def _with_mask(cloth: Path, cloth_root: Path) -> tuple[Path, Path | None, str]:
        masks = sorted(cloth.parent.glob(f"{glob.escape(cloth.stem)}_mask.*"))
        try:
            cloth_id = cloth.relative_to(cloth_root).with_suffix("").as_posix()
        except ValueError:
            cloth_id = cloth.stem
        return cloth, masks[0] if masks else None, cloth_id

    # -- pair lists -------------------------------------------------------------------------------

    def _unpaired_list(self) -> list[tuple[str, _ClothRef]]:
        """(video id, cloth reference) rows of the unpaired list."""
        if self.unpaired_file is not None:
            path = self.root / self.unpaired_file
        elif self.layout == "lip":
            path = self.root / f"{self.split}_person_clothes_pose_tuple.txt"
        else:
            path = self.root / f"{self.split}_unpaired_pairs.csv"
        if not path.is_file():
            raise InputError(f"{path}: unpaired list not found (VVT {self.layout} layout); pass unpaired_file=")
        self.unpaired_source = str(path)
        if path.suffix.lower() == ".csv":
            return self._read_csv_list(path)
        first = next((line.split() for line in path.read_text().splitlines() if line.strip()), [])
        columns = len(first) if len(first) in (2, 3) else 3
        return [(row[0], ("id", row[1])) for row in read_pair_list(path, columns=columns)]

    @staticmethod
    def _read_csv_list(path: Path) -> list[tuple[str, _ClothRef]]:
        rows = []
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.reader(handle), start=1):
                row = [field.strip() for field in row]
                if not any(row) or (number == 1 and [f.lower() for f in row] == ["cloth_path", "video_id"]):
                    continue
                if len(row) != 2 or not all(row):
                    raise InputError(f"{path}:{number}: expected 2 comma-separated fields cloth_path,video_id")
                rows.append((row[1], ("path", row[0])))
        if not rows:
            raise InputError(f"{path}: unpaired list is empty")
        return rows

    # -- index ------------------------------------------------------------------------------------

    def index(self) -> list[Entry]:
        """One entry per frame of every video of the split (paired) or of every video in the unpaired list."""
        if self.layout == "auto":
            self.layout = self._detect_layout()
        frames_dir, keypoint_dir, _, parse_dir = self._dirs()
        self.require_dir(frames_dir)
        if not keypoint_dir.is_dir():
            _logger.warning("%s: folder not found; frames will have no keypoints", keypoint_dir)
        if self.pair_mode == "paired":
            names = (p.name for p in frames_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            videos = sorted(names, key=_natural_key)
            if not videos:
                raise InputError(f"{frames_dir}: no video folders")
            pairs: list[tuple[str, _ClothRef]] = [(video, ("id", video)) for video in videos]
        else:
            pairs = self._unpaired_list()
        entries = []
        for video, ref in pairs:
            video_dir = frames_dir / video
            if not video_dir.is_dir() and (frames_dir / video.lower()).is_dir():
                video_dir = frames_dir / video.lower()
            try:
                frames = self._frames(video_dir)
                cloth, mask, cloth_id = self._cloth(ref)
            except InputError as err:
                if not self.skip_bad:
                    raise
                self.skipped.append(str(err))
                continue
            for position, frame in enumerate(frames):
                files = {"person": frame, "cloth": cloth}
                if mask is not None:
                    files["cloth_mask"] = mask
                if keypoint_dir.is_dir():
                    files["keypoints"] = keypoint_dir / video_dir.name / f"{frame.stem}_keypoints.json"
                if parse_dir is not None and parse_dir.is_dir():
                    label = parse_dir / video_dir.name / f"{frame.stem}_label.png"
                    plain = label.with_name(f"{frame.stem}.png")
                    files["parse"] = plain if not label.is_file() and plain.is_file() else label
                extra = {"video_id": video_dir.name, "frame_index": position}
                entries.append(Entry(f"{video_dir.name}/{frame.stem}", cloth_id, files, extra))
        return entries


# --------------------------------------------------------------------------------------------------
# Writer: synthetic frame records in either VVT layout.


def _garment_video_id(garment_id: str) -> str:
    return f"sy{int(garment_id):07d}-c11"


def _video_key(person: SynthPerson) -> str:
    return person.video_id if person.video_id is not None else _garment_video_id(person.garment_id)


def vvt_video_ids(people: list[SynthPerson]) -> dict[str, str]:
    """The folder name :func:`write_vvt` gives each video, keyed by ``video_id`` (or the garment's id if unset).

    A video is named after its garment, ``sy<7-digit garment id>-c11``; when several videos wear one
    garment, each gets ``-<video index>`` appended (the index in the sorted list of keys), which keeps the
    ShineOn cloth lookup (product and colour before the second "-") working.
    """
    garment_of: dict[str, str] = {}
    for person in people:
        key = _video_key(person)
        if garment_of.setdefault(key, person.garment_id) != person.garment_id:
            raise ValueError(f"video {key!r} wears two garments: {garment_of[key]!r} and {person.garment_id!r}")
    shared = Counter(garment_of.values())
    return {
        key: _garment_video_id(garment_of[key]) + (f"-{index}" if shared[garment_of[key]] > 1 else "")
        for index, key in enumerate(sorted(garment_of))
    }


def write_vvt(
    root: Path,
    split: str,
    people: list[SynthPerson],
    garments: list[SynthGarment],
    unpaired: list[tuple[int, int]],
    *,
    layout: str = "lip",
) -> None:
    """Write frame records ``people`` into ``root`` in a VVT layout (``"lip"`` or ``"shineon"``) as split ``split``.

    Frames are grouped into videos by ``video_id`` (frames without one form a video per garment) and ordered
    by ``frame_index`` (else by position); ``people[i].garment_id`` names the garment, looked up by id in
    ``garments`` (ids must be integers). Video folders are named by :func:`vvt_video_ids`, frames
    ``{frame_index:013d}_frame_{frame_index:03d}.png`` with a keypoint JSON beside, in the ShineOn layout also
    a ``_label.png`` LIP parse. The cloth goes to ``lip_clothes_person/<video_id>/`` (with its mask and the
    first frame as the person png) or to ``clothes_person/img/<PROD>/`` (no mask: that layout has none).

    ``unpaired`` pairs (video index, garment index), the video index counting over the sorted video keys. In
    the lip layout they go to ``<split>_person_clothes_pose_tuple.txt`` (person video, cloth video, the person
    video again as pose video), the cloth video being the first video wearing that garment or else a
    cloth-only folder ``sy<id>-c11``; in the ShineOn layout to ``<split>_unpaired_pairs.csv``
    (``cloth_path,video_id``, the path relative to ``root``), pftryon's list. Every file is written atomically.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    root = Path(root)
    by_id = {garment.garment_id: garment for garment in garments}
    for person in people:
        if person.garment_id not in by_id:
            raise ValueError(f"person {person.person_id!r} wears garment {person.garment_id!r}, not in garments")
    folders = vvt_video_ids(people)
    keys = sorted(folders)
    for v, j in unpaired:
        if not (0 <= v < len(keys) and 0 <= j < len(garments)):
            raise ValueError(
                f"unpaired pair ({v}, {j}) out of range for {len(keys)} videos and {len(garments)} garments"
            )
    videos: dict[str, list[tuple[int, SynthPerson]]] = {key: [] for key in keys}
    for position, person in enumerate(people):
        videos[_video_key(person)].append((position, person))

    if layout == "lip":
        frames_dir, cloth_root = root / f"lip_{split}_frames", root / "lip_clothes_person"
    else:
        frames_dir, cloth_root = root / split / f"{split}_frames", root / "clothes_person" / "img"
    keypoint_dir, parse_dir = Path(f"{frames_dir}_keypoint"), Path(f"{frames_dir}_parsing")

    def cloth_name(garment: SynthGarment) -> str:
        return f"SY{int(garment.garment_id):07d}-C11@1=cloth_front"

    def write_cloth(folder: Path, garment: SynthGarment, *, mask: bool) -> Path:
        path = folder / f"{cloth_name(garment)}.jpg"
        atomic_write(path, encode_image(garment.image, "JPEG", quality=95))
        if mask:
            atomic_write(folder / f"{cloth_name(garment)}_mask.jpg", encode_image(garment.mask, "JPEG", quality=95))
        return path

    cloth_video: dict[str, str] = {}  # garment id -> first lip video folder holding its cloth
    for key in keys:
        video = folders[key]
        frames = sorted(videos[key], key=lambda item: (item[1].frame_index is None, item[1].frame_index, item[0]))
        indices = [p.frame_index if p.frame_index is not None else k for k, (_, p) in enumerate(frames)]
        if len(set(indices)) != len(indices):
            raise ValueError(f"video {key!r} has repeated frame indices {indices}")
        for frame_index, (_, person) in zip(indices, frames, strict=True):
            name = f"{frame_index:013d}_frame_{frame_index:03d}"
            atomic_write(frames_dir / video / f"{name}.png", encode_image(person.image, "PNG"))
            atomic_write(keypoint_dir / video / f"{name}_keypoints.json", openpose18_json(person.keypoints))
            if layout == "shineon":
                parse = convert_labels(person.parse_noisy, "lip20")
                atomic_write(parse_dir / video / f"{name}_label.png", encode_image(parse, "PNG"))
        first = frames[0][1]
        garment = by_id[first.garment_id]
        if layout == "lip":
            write_cloth(cloth_root / video, garment, mask=True)
            person_png = cloth_root / video / f"{cloth_name(garment).split('=')[0]}=person_whole_front.png"
            atomic_write(person_png, encode_image(first.image, "PNG"))
            cloth_video.setdefault(garment.garment_id, video)
        else:
            write_cloth(cloth_root / f"SY{int(garment.garment_id):07d}", garment, mask=False)

    if not unpaired:
        return
    lines = []
    for video_index, garment_index in unpaired:
        video, garment = folders[keys[video_index]], garments[garment_index]
        if layout == "lip":
            if garment.garment_id not in cloth_video:
                cloth_video[garment.garment_id] = _garment_video_id(garment.garment_id)
                write_cloth(cloth_root / cloth_video[garment.garment_id], garment, mask=True)
            lines.append(f"{video} {cloth_video[garment.garment_id]} {video}\n")
        else:
            path = write_cloth(cloth_root / f"SY{int(garment.garment_id):07d}", garment, mask=False)
            lines.append(f"{path.relative_to(root).as_posix()},{video}\n")
    name = f"{split}_person_clothes_pose_tuple.txt" if layout == "lip" else f"{split}_unpaired_pairs.csv"
    atomic_write(root / name, "".join(lines))
