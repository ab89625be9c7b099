"""The loader base class: a dataset indexes its files once, then decodes one sample per ``__getitem__``."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from torch.utils.data import Dataset

from bench.data.readers import (
    InputError,
    image_size,
    read_densepose,
    read_keypoints,
    read_labels,
    read_mask,
    read_rgb,
)
from bench.data.schema import LABEL_SETS, PAIR_MODES, Size

__all__ = ["Entry", "TryOnDataset", "read_pair_list"]

ROLES = ("person", "cloth", "cloth_mask", "parse", "keypoints", "densepose")


@dataclass(frozen=True)
class Entry:
    """One sample before decoding: its ids, its files by role (see :data:`ROLES`) and extra fields."""

    person_id: str
    cloth_id: str
    files: Mapping[str, Path]
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        reserved = set(self.extra) & {*ROLES, "person_id", "cloth_id", "pair_mode", "dataset", "parse_labels"}
        if reserved:
            raise ValueError(f"Entry.extra must not set sample fields: {sorted(reserved)}")


def read_pair_list(path: str | os.PathLike[str], columns: int = 2, sep: str | None = None) -> list[list[str]]:
    """Rows of a whitespace- (or ``sep``-) separated pair list; every non-empty row must have ``columns`` fields."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: pair list not found")
    rows = []
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a UTF-8 byte-order mark is dropped
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start}); expected lines 'person.jpg cloth.jpg'") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(sep)
        if len(fields) != columns:
            raise InputError(f"{path}:{number}: expected {columns} fields, got {len(fields)}: {line.strip()!r}")
        rows.append(fields)
    if not rows:
        raise InputError(f"{path}: pair list is empty")
    return rows


class TryOnDataset(Dataset):
    """Base class of every loader: subclasses implement :meth:`index` and set the class attributes.

    Args:
        root: the dataset folder, in the official layout.
        split: ``"train"`` or ``"test"``.
        pair_mode: ``"paired"`` (each person with their own garment) or ``"unpaired"`` (the protocol's list).
        size: output size (H, W); default: the files' own size.
        skip_bad: skip samples whose files are missing (at construction) or unreadable (when read: the
            next readable sample is returned instead) rather than failing; what was skipped, and why, is
            in :attr:`skipped` (in DataLoader workers, it stays in the worker: run ``pftryon data check``
            to list every problem up front).

    :meth:`index` runs inside ``__init__``: a subclass sets its own attributes before calling
    ``super().__init__``.
    """

    name: ClassVar[str]
    label_set: str | None = None  # a loader may choose it per instance (e.g. CP-VTON+ image-parse-new)
    keypoint_format: ClassVar[str] = "openpose18"
    # (H, W) of the frame the keypoint coordinates are written in, when it is not the person image's.
    keypoint_frame: ClassVar[Size | None] = None
    # Roles whose files may have a different size from the person image (resized regardless).
    free_size_roles: ClassVar[tuple[str, ...]] = ()
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = "test",
        pair_mode: str = "paired",
        size: Size | None = None,
        skip_bad: bool = False,
    ) -> None:
        if split not in self.splits:
            raise ValueError(f"{self.name}: split must be one of {self.splits}, got {split!r}")
        if pair_mode not in PAIR_MODES:
            raise ValueError(f"{self.name}: pair_mode must be one of {PAIR_MODES}, got {pair_mode!r}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: dataset folder not found")
        self.split, self.pair_mode, self.size, self.skip_bad = split, pair_mode, size, skip_bad
        self.skipped: list[str] = []
        self.incomplete: list[Entry] = []  # with ``skip_bad``: the entries skipped for missing files
        self.entries = [entry for entry in self.index() if self._files_exist(entry)]

    def index(self) -> Sequence[Entry]:
        """List the samples of this split and pair mode from the layout's folders and pair lists."""
        raise NotImplementedError

    def require_dir(self, path: Path) -> Path:
        """``path`` if it is a folder, else an :class:`InputError` naming it."""
        if not path.is_dir():
            raise InputError(f"{path}: folder not found (expected by the {self.name} layout)")
        return path

    def _files_exist(self, entry: Entry) -> bool:
        missing = [str(path) for path in entry.files.values() if not path.is_file()]
        if not missing:
            return True
        also = f"; also missing: {', '.join(missing[1:])}" if missing[1:] else ""
        message = f"{missing[0]}: file not found (sample {entry.person_id} / {entry.cloth_id}){also}"
        if not self.skip_bad:
            raise InputError(message)
        self.skipped.append(message)
        self.incomplete.append(entry)
        return False

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not self.skip_bad:
            return self.load(self.entries[index])
        for offset in range(len(self.entries)):
            entry = self.entries[(index + offset) % len(self.entries)]
            try:
                return self.load(entry)
            except InputError as err:
                self.skipped.append(str(err))
        raise InputError(f"{self.root}: no readable sample left ({len(self.skipped)} skipped)")

    def load(self, entry: Entry) -> dict[str, Any]:
        """Decode one sample into the schema of :mod:`bench.data.schema`."""
        sample, problems = self._decode(entry)
        if problems:
            raise problems[0]
        return sample

    def problems(self, entry: Entry) -> list[str]:
        """Every problem of one sample's existing files (one line per file), each decoded even when another fails;
        missing files are :attr:`skipped` lines."""
        missing = tuple(f"{path}:" for path in entry.files.values() if not path.is_file())
        return [str(err) for err in self._decode(entry)[1] if not str(err).startswith(missing)]

    def _decode(self, entry: Entry) -> tuple[dict[str, Any], list[InputError]]:
        files = entry.files
        problems: list[InputError] = []

        def read(key: str, reader: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
            try:
                sample[key] = reader(files[key], *args, **kwargs)
            except InputError as err:
                problems.append(err)

        sample: dict[str, Any] = {
            "person_id": entry.person_id,
            "cloth_id": entry.cloth_id,
            "pair_mode": self.pair_mode,
            "dataset": self.name,
            **entry.extra,
        }
        try:
            native: Size | None = image_size(files["person"])
        except InputError as err:
            problems.append(err)
            native = None
        size = self.size or native
        fixed = {role: None if role in self.free_size_roles else native for role in ROLES}
        if native is not None:
            read("person", read_rgb, size, expected_size=native)
        if "cloth" in files:
            read("cloth", read_rgb, size, expected_size=fixed["cloth"])
        if "cloth_mask" in files:
            read("cloth_mask", read_mask, size, expected_size=fixed["cloth_mask"])
        if "parse" in files and self.label_set is not None:
            read("parse", read_labels, len(LABEL_SETS[self.label_set].names), size, expected_size=fixed["parse"])
            sample["parse_labels"] = self.label_set
        if "keypoints" in files:
            frame = self.keypoint_frame or native
            scale = (size[1] / frame[1], size[0] / frame[0]) if size and frame else (1.0, 1.0)
            read("keypoints", read_keypoints, self.keypoint_format, scale=scale)
        if "densepose" in files:
            read("densepose", read_densepose, size)
        return sample, problems
