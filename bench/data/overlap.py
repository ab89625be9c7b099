"""Near-duplicate images between a dataset's train and test splits, and the test pair list without them.

C-VTON's authors found VITON test images that are near-copies of training images and re-scored PF-AFN on a cleaned
test set. :func:`find_overlap` repeats that check for any layout with a two-column test pair list:

1. every person (or garment) image of the train and test splits, as the loaders list them, is read as every command
   reads it (:func:`bench.images.read_image`; its notes are counted in the report), re-centred on its content and
   gets a 64-bit DCT perceptual hash (:func:`phash`) and a 64x48 greyscale thumbnail;
2. each test image whose hash lies within ``hamming`` bits of a train image's is a *candidate* (all pairs, XOR and
   popcount over the hash matrix, in chunks);
3. a candidate is *confirmed* when the two thumbnails differ by less than ``pixel`` grey levels (0-255) in every
   cell of a 4x4 grid (:func:`pixel_distance`), which rejects similar but different images (another person in the
   same garment, a repainted region).

Defaults, measured on synthetic VITON people (128x96 and 256x192): exact copies, JPEG re-encodes (quality 75),
half-size-and-back resizes and copies shifted by 1-2 pixels lie within 10 bits and 9.0 grey levels; other people,
also in the same garment, and copies with a quarter to a half of the image replaced lie 14.8 grey levels or more
apart. Hence ``hamming`` 12 (the hash only picks candidates) and ``pixel`` 12. Being greyscale, the check cannot
tell a recoloured copy of equal brightness from the original.

:func:`write_overlap` writes ``overlap.csv`` (one row per confirmed pair), ``overlap.json`` (settings and counts) and
``test_pairs_clean.txt`` (the test list without the pairs whose person or garment is a duplicate), each atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.fft import dctn
from tqdm import tqdm

from bench.data import create_dataset
from bench.errors import InputError
from bench.images import file_bytes, note_lines, read_image

__all__ = [
    "DEFAULT_HAMMING",
    "DEFAULT_PIXEL",
    "FIELDS",
    "HASH_KIND",
    "PAIR_LIST_DATASETS",
    "ImageSet",
    "Match",
    "OverlapReport",
    "find_overlap",
    "hamming_candidates",
    "hash_images",
    "phash",
    "pixel_distance",
    "write_overlap",
]

# Greyscale, re-centred on its content, LANCZOS to 32x32, DCT-II, the 8x8 lowest frequencies above their median.
HASH_KIND = "phash-dct64-centred"
DEFAULT_HAMMING = 12
DEFAULT_PIXEL = 12.0
THUMB_SIZE = (64, 48)  # (H, W) of the greyscale thumbnails compared pixel by pixel
GRID = (4, 4)  # cells of the thumbnail over which the pixel distance takes its largest mean absolute difference
FIELDS = {"person": ("person",), "cloth": ("cloth",), "both": ("person", "cloth")}
# Layouts whose test pair list is lines "<person file> <garment file>" of file names: the cleaned list keeps that form.
PAIR_LIST_DATASETS = ("viton", "viton-pfafn", "viton-hd", "dresscode")
_CHUNK = 256  # test hashes per XOR block: 256 x 14k uint64 is about 29 MB


def phash(image: Image.Image) -> int:
    """The 64-bit perceptual hash of ``image`` as :func:`find_overlap` computes it, as an int (bit 63 first)."""
    return int(_phash_bits(_features(image)[0][None])[0])


def _features(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The hash input (32x32 float) and the compared thumbnail (64x48 uint8), both re-centred on the image's content.

    A copy shifted by a few pixels would flip many hash bits (the low-frequency coefficients of a centred, nearly
    symmetric person lie close to their median), so both are shifted, with sub-pixel cubic interpolation, to put the
    centroid of the thumbnail's gradient magnitude in the middle. The thumbnail is then box-blurred (3x3), so a
    re-encode or a resize that blurs the image moves the pixel distance less than a different image does.
    """
    grey = image.convert("L")
    height, width = THUMB_SIZE
    small = np.asarray(grey.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    thumb = np.asarray(grey.resize((width, height), Image.Resampling.BOX), dtype=np.float64)
    gradient = np.hypot(*np.gradient(thumb))
    total = gradient.sum()
    if total > 0:
        rows, cols = np.indices(thumb.shape)
        dy = (height - 1) / 2 - (gradient * rows).sum() / total
        dx = (width - 1) / 2 - (gradient * cols).sum() / total
        thumb = ndimage.shift(thumb, (dy, dx), order=3, mode="nearest")
        small = ndimage.shift(small, (dy * 32 / height, dx * 32 / width), order=3, mode="nearest")
    thumb = ndimage.uniform_filter(thumb, size=3, mode="nearest")
    return small, np.clip(np.rint(thumb), 0, 255).astype(np.uint8)


def _phash_bits(pixels: np.ndarray) -> np.ndarray:
    """uint64 hashes of an (N, 32, 32) stack: the 8x8 low corner of the unnormalised DCT-II, bit = above its median."""
    low = dctn(pixels, type=2, axes=(1, 2))[:, :8, :8].reshape(len(pixels), 64)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


@dataclass
class ImageSet:
    """Images of one role and split: paths, pHashes (uint64), thumbnails (N, 64, 48) uint8, file sha256s and what
    reading each file did (:func:`bench.images.read_image`'s notes)."""

    paths: list[Path]
    hashes: np.ndarray
    thumbs: np.ndarray
    sha256: dict[Path, str]
    notes: dict[Path, tuple[str, ...]]


def hash_images(paths: Sequence[Path], *, progress: bool = True, desc: str = "hash") -> ImageSet:
    """Read each image once: its sha256, pHash and thumbnail.

    Raises:
        InputError: an image that cannot be read or decoded (one line naming it).
    """
    paths = list(paths)
    stacks, thumbs, digests, notes = [], [], {}, {}
    for path in tqdm(paths, desc=desc, unit="image", disable=not progress):
        data = file_bytes(path)
        decoded = read_image(path, data=data)
        small, thumb = _features(decoded.image)
        stacks.append(small)
        thumbs.append(thumb)
        digests[path] = hashlib.sha256(data).hexdigest()
        notes[path] = decoded.notes
    height, width = THUMB_SIZE
    hashes = _phash_bits(np.stack(stacks)) if stacks else np.zeros(0, np.uint64)
    grid = np.stack(thumbs) if thumbs else np.zeros((0, height, width), np.uint8)
    return ImageSet(paths, hashes, grid, digests, notes)


def hamming_candidates(test: np.ndarray, train: np.ndarray, threshold: int) -> tuple[np.ndarray, ...]:
    """``(i, j, d)``: every test hash ``i`` within ``threshold`` bits of train hash ``j``, with the distance ``d``."""
    found_i, found_j, found_d = [], [], []
    for start in range(0, len(test), _CHUNK):
        distance = np.bitwise_count(test[start : start + _CHUNK, None] ^ train[None, :])
        i, j = np.nonzero(distance <= threshold)
        found_i.append(i + start)
        found_j.append(j)
        found_d.append(distance[i, j])
    if not found_i:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, np.uint8)
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d).astype(np.uint8)


def pixel_distance(test: np.ndarray, train: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Distance of thumbnails ``test[i[k]]`` and ``train[j[k]]`` ((N, 64, 48) uint8 stacks), in grey levels (0-255).

    The largest mean absolute difference over a 4x4 grid of cells (16x12 pixels each), so that an image with one
    region changed is as far as its changed cells, not that distance diluted by the unchanged rest."""
    height, width = THUMB_SIZE
    rows, cols = GRID
    out = np.empty(len(i), np.float64)
    for start in range(0, len(i), 4096):  # gathered in blocks: a million candidates would be 3 GB at once
        a, b = test[i[start : start + 4096]], train[j[start : start + 4096]]
        diff = np.maximum(a, b)
        diff -= np.minimum(a, b)  # |a - b| without leaving uint8
        cells = diff.reshape(-1, rows, height // rows, cols, width // cols).astype(np.uint16).sum(axis=2)
        out[start : start + 4096] = cells.sum(axis=3, dtype=np.uint32).max(axis=(1, 2))
    return out / (height // rows * width // cols)


@dataclass(frozen=True)
class Match:
    """A confirmed near-duplicate: role, test and train file (relative to the root), Hamming and pixel distance."""

    field: str
    test: str
    train: str
    hamming: int
    pixel: float


@dataclass
class OverlapReport:
    """What :func:`find_overlap` found: settings, counts per role, confirmed pairs and the cleaned pair list."""

    dataset: str
    root: Path
    field: str
    pair_mode: str
    hamming: int
    pixel: float
    images: dict[str, dict[str, int]] = field(default_factory=dict)
    candidates: dict[str, int] = field(default_factory=dict)
    matches: list[Match] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    image_notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicates(self) -> dict[str, int]:
        """Distinct test images with at least one confirmed train duplicate, per role."""
        return {role: len({m.test for m in self.matches if m.field == role}) for role in FIELDS[self.field]}

    def settings(self) -> dict[str, Any]:
        """The JSON record: hash kind, thresholds, counts and fingerprints."""
        return {
            "dataset": self.dataset,
            "root": str(self.root),
            "field": self.field,
            "test_pair_mode": self.pair_mode,
            "hash": {"kind": HASH_KIND, "bits": 64, "hamming_threshold": self.hamming},
            "pixel": {
                "thumbnail_hw": list(THUMB_SIZE),
                "grid": list(GRID),
                "metric": "largest mean absolute grey-level difference (0-255) over the grid's cells",
                "threshold": self.pixel,
            },
            "images_hashed": self.images,
            "candidates": self.candidates,
            "confirmed_pairs": {role: sum(m.field == role for m in self.matches) for role in FIELDS[self.field]},
            "duplicate_test_images": self.duplicates,
            "test_pairs": {"before": len(self.rows), "after": len(self.kept)},
            "fingerprints_sha256": self.fingerprints,
            "image_notes": self.image_notes,
            "seconds": round(self.seconds, 2),
        }

    def summary(self) -> str:
        """One paragraph for the terminal."""
        roles = FIELDS[self.field]
        hashed = "; ".join(f"{r}: {self.images[r]['test']} test and {self.images[r]['train']} train" for r in roles)
        found = "; ".join(
            f"{r}: {self.candidates[r]} candidate pair(s), {sum(m.field == r for m in self.matches)} confirmed, "
            f"{self.duplicates[r]} test image(s) duplicated"
            for r in roles
        )
        dropped = len(self.rows) - len(self.kept)
        notes = "".join(f" Read: {line}." for line in self.image_notes)
        return (
            f"{self.dataset} at {self.root}: hashed {hashed} images ({HASH_KIND}). Pairs within {self.hamming} of 64 "
            f"bits are candidates, confirmed when their 64x48 greyscale thumbnails differ by less than {self.pixel:g} "
            f"grey levels on average in every cell of a 4x4 grid. {found}. The cleaned {self.pair_mode} test list "
            f"keeps {len(self.kept)} of {len(self.rows)} pairs ({dropped} dropped).{notes} {self.seconds:.1f} s."
        )


def _unique(paths: Sequence[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))


def _relative(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def find_overlap(
    name: str,
    root: str | os.PathLike[str],
    *,
    field: str = "person",
    hamming: int = DEFAULT_HAMMING,
    pixel: float = DEFAULT_PIXEL,
    pair_mode: str = "unpaired",
    progress: bool = True,
) -> OverlapReport:
    """Find test images of ``name`` under ``root`` that near-duplicate a train image (see the module docstring).

    Args:
        name: a dataset of :data:`PAIR_LIST_DATASETS`.
        root: the dataset folder.
        field: ``"person"``, ``"cloth"`` or ``"both"``: which images are compared, and which duplicates drop a pair.
        hamming: the largest Hamming distance (of 64 bits) of a candidate.
        pixel: a candidate is confirmed below this :func:`pixel_distance` (grey levels) of the thumbnails.
        pair_mode: which test list is cleaned (``"unpaired"``: VITON's ``test_pairs.txt``).
        progress: show a progress bar while hashing.

    Raises:
        InputError: a dataset without a two-column test list, a bad tree or an unreadable image.
        ValueError: a bad ``field`` or threshold.
    """
    if name not in PAIR_LIST_DATASETS:
        raise InputError(f"--dataset {name}: no two-column test pair list to clean; choose one of "
                         f"{', '.join(PAIR_LIST_DATASETS)}")  # fmt: skip
    if field not in FIELDS:
        raise ValueError(f"field must be one of {tuple(FIELDS)}, got {field!r}")
    if not 0 <= hamming <= 64 or pixel < 0:
        raise ValueError(f"expected 0 <= hamming <= 64 and pixel >= 0, got hamming={hamming}, pixel={pixel}")
    from bench.data.cache import content_fingerprint

    started = time.perf_counter()
    root = Path(root)
    splits = {
        "test": create_dataset(name, root, split="test", pair_mode=pair_mode),
        "train": create_dataset(name, root, split="train", pair_mode="paired"),
    }
    report = OverlapReport(name, root, field, pair_mode, hamming, pixel)
    duplicate: set[Path] = set()
    digests: dict[Path, str] = {}
    for role in FIELDS[field]:
        sets = {}
        for split, loader in splits.items():
            paths = _unique([entry.files[role] for entry in loader.entries])
            sets[split] = hash_images(paths, progress=progress, desc=f"{split} {role}")
        test, train = sets["test"], sets["train"]
        for split, image_set in sets.items():
            digests |= image_set.sha256
            report.image_notes += note_lines(image_set.notes, f"{split} {role}")
        report.images[role] = {split: len(s.paths) for split, s in sets.items()}
        i, j, bits = hamming_candidates(test.hashes, train.hashes, hamming)
        report.candidates[role] = len(i)
        distance = pixel_distance(test.thumbs, train.thumbs, i, j)
        confirmed = distance < pixel
        for a, b, d, p in zip(i[confirmed], j[confirmed], bits[confirmed], distance[confirmed], strict=True):
            report.matches.append(Match(role, _relative(test.paths[a], root), _relative(train.paths[b], root),
                                        int(d), round(float(p), 3)))  # fmt: skip
            duplicate.add(test.paths[a])
    report.matches.sort(key=lambda m: (m.field, m.test, m.pixel, m.train))
    roles = FIELDS[field]
    for entry in splits["test"].entries:
        row = f"{entry.files['person'].name} {entry.files['cloth'].name}"
        report.rows.append(row)
        if not any(entry.files[role] in duplicate for role in roles):
            report.kept.append(row)
    for split, loader in splits.items():
        report.fingerprints[split] = content_fingerprint(loader, digests)
    report.seconds = time.perf_counter() - started
    return report


def write_overlap(report: OverlapReport, out: str | os.PathLike[str]) -> list[Path]:
    """Write ``overlap.csv``, ``overlap.json`` and ``test_pairs_clean.txt`` into ``out``, each atomically."""
    from pftryon.models import atomic_write

    out = Path(out)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["field", "test_file", "train_file", "hamming", "pixel_distance"])
    writer.writerows([m.field, m.test, m.train, m.hamming, f"{m.pixel:.3f}"] for m in report.matches)
    files = {
        "overlap.csv": table.getvalue(),
        "overlap.json": json.dumps(report.settings(), indent=2) + "\n",
        "test_pairs_clean.txt": "".join(f"{row}\n" for row in report.kept),
    }
    for file_name, text in files.items():
        atomic_write(out / file_name, text)
    return [out / file_name for file_name in files]
