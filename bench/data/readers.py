"""Decoding dataset files into tensors, with one-line errors that name the file and what was expected.

Images and masks are read by :func:`bench.images.read_image` (its rules for alpha, 16 bits, EXIF orientation and
modes hold for every command). Conventions of the reference loaders (docs/reference/datasets.md §0): RGB to [-1, 1];
masks opened as 'L' and binarised at 128 (the same as ``> 0.5`` on [0, 1]); label maps read as indices with no colour
conversion (palette PNGs keep their indices); resizing bilinear for images and nearest for masks and
labels; keypoints scaled with the image.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench import images
from bench.data.schema import Size
from bench.errors import InputError

__all__ = [
    "BODY25_FOR_COCO18",
    "InputError",
    "KEYPOINT_FORMATS",
    "file_sha256",
    "image_size",
    "open_image",
    "read_densepose",
    "read_keypoints",
    "read_labels",
    "read_mask",
    "read_rgb",
]

KEYPOINT_FORMATS = ("openpose18", "body25", "dresscode")
# COCO-18 joint k is BODY_25 joint BODY25_FOR_COCO18[k] (BODY_25's mid-hip, 8, has no COCO counterpart).
BODY25_FOR_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_size(image: Image.Image, path: Path, expected_size: Size | None) -> Image.Image:
    if expected_size is not None and (image.height, image.width) != tuple(expected_size):
        raise InputError(
            f"{path}: image is {image.height}x{image.width} (HxW), expected {expected_size[0]}x{expected_size[1]}"
        )
    return image


def open_image(path: str | os.PathLike[str], *, expected_size: Size | None = None) -> Image.Image:
    """Open and fully decode an image as stored (:func:`bench.images.open_image`); check its size (H, W) when
    ``expected_size`` is given."""
    return _check_size(images.open_image(path), Path(path), expected_size)


def image_size(path: str | os.PathLike[str]) -> Size:
    """(H, W) of an image from its header, without decoding it (:func:`bench.images.probe_image`)."""
    return images.probe_image(path).size


def _resize(image: Image.Image, size: Size | None, resample: Image.Resampling) -> Image.Image:
    if size is None or (image.height, image.width) == tuple(size):
        return image
    return image.resize((size[1], size[0]), resample)


def read_rgb(
    path: str | os.PathLike[str], size: Size | None = None, *, expected_size: Size | None = None
) -> torch.Tensor:
    """An image as float32 ``[3, H, W]`` in [-1, 1] (read by :func:`bench.images.read_image`), resized bilinearly to
    ``size`` (H, W) if given."""
    image = _check_size(images.read_image(path).image, Path(path), expected_size)
    array = np.asarray(_resize(image, size, Image.Resampling.BILINEAR), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().div(255.0).sub(0.5).div(0.5)


def read_mask(
    path: str | os.PathLike[str], size: Size | None = None, *, expected_size: Size | None = None
) -> torch.Tensor:
    """A mask as float32 ``[1, H, W]`` in {0, 1}: greyscale (:func:`bench.images.read_image` with ``grey``) >= 128,
    resized nearest to ``size`` if given."""
    image = _check_size(images.read_image(path, grey=True).image, Path(path), expected_size)
    return torch.from_numpy(np.asarray(_resize(image, size, Image.Resampling.NEAREST)) >= 128).float().unsqueeze(0)


def read_labels(
    path: str | os.PathLike[str],
    num_labels: int,
    size: Size | None = None,
    *,
    expected_size: Size | None = None,
) -> torch.Tensor:
    """A label map as int64 ``[H, W]`` (palette indices or grey values), checked to lie in ``[0, num_labels)``."""
    image = open_image(path, expected_size=expected_size)
    if image.mode not in ("P", "L"):
        raise InputError(f"{path}: expected a single-channel label map (PIL mode P or L), got mode {image.mode}")
    native = np.asarray(image)
    if native.size and native.max() >= num_labels:
        raise InputError(f"{path}: label {native.max()} out of range: expected labels 0..{num_labels - 1}")
    return torch.from_numpy(np.asarray(_resize(image, size, Image.Resampling.NEAREST), dtype=np.int64).copy())


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None


def read_keypoints(path: str | os.PathLike[str], fmt: str, *, scale: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """COCO-18 keypoints as float32 ``[18, 3]`` (x, y, confidence), x and y multiplied by ``scale`` (sx, sy).

    ``fmt`` is ``openpose18`` (``people[0].pose_keypoints``, 54 numbers; VITON, PF-AFN, MPV, VVT),
    ``body25`` (``people[0].pose_keypoints_2d``, 75 numbers, mapped to COCO-18; VITON-HD) or
    ``dresscode`` (``keypoints``: 18 rows ``[x, y, score, id]``). An empty ``people`` list means nobody was
    detected and gives zeros (missing joints), as the reference loaders do.
    """
    path = Path(path)
    data = _load_json(path)
    try:
        if fmt == "dresscode":
            rows = data["keypoints"]
            if len(rows) != 18 or any(len(row) < 2 for row in rows):
                raise InputError(f"{path}: expected 'keypoints' with 18 rows [x, y, score, id]")
            points = np.array([[row[0], row[1], row[2] if len(row) > 2 else 1.0] for row in rows], dtype=np.float32)
        elif fmt in ("openpose18", "body25"):
            people = data["people"]
            if not people:
                return torch.zeros(18, 3)
            key, count = ("pose_keypoints", 54) if fmt == "openpose18" else ("pose_keypoints_2d", 75)
            flat = people[0].get(key, people[0].get("pose_keypoints_2d" if fmt == "openpose18" else key))
            if flat is None or len(flat) != count:
                raise InputError(f"{path}: expected people[0].{key} with {count} numbers")
            points = np.asarray(flat, dtype=np.float32).reshape(-1, 3)
            if fmt == "body25":
                points = points[list(BODY25_FOR_COCO18)]
        else:
            raise ValueError(f"unknown keypoint format {fmt!r}; known: {', '.join(KEYPOINT_FORMATS)}")
    except (KeyError, TypeError, IndexError, AttributeError):
        raise InputError(f"{path}: unexpected keypoint JSON structure for format {fmt}") from None
    except ValueError as err:
        if isinstance(err, InputError) or "unknown keypoint format" in str(err):
            raise
        raise InputError(f"{path}: keypoints are not numbers ({err})") from None
    # Missing joints become zeros, whatever the file wrote (OpenPose: zeros; Dress Code: x, y <= 1).
    limit = 1.0 if fmt == "dresscode" else 0.0
    points[((points[:, 0] <= limit) & (points[:, 1] <= limit)) | (points[:, 2] <= 0)] = 0.0
    points = torch.from_numpy(points)
    points[:, 0] *= scale[0]
    points[:, 1] *= scale[1]
    return points


def read_densepose(path: str | os.PathLike[str], size: Size | None = None) -> torch.Tensor:
    """A DensePose part-index map (``.npy`` array or single-channel ``.png``) as int64 ``[H, W]`` in 0..24."""
    path = Path(path)
    if path.suffix == ".npy":
        if not path.is_file():
            raise InputError(f"{path}: file not found")
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:
            raise InputError(f"{path}: not a readable .npy array ({err})") from None
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            raise InputError(f"{path}: expected an HxW numeric DensePose index array, got {array.dtype} {array.shape}")
        if array.size and (array.min() < 0 or array.max() > 24):
            bad = array.min() if array.min() < 0 else array.max()
            raise InputError(f"{path}: DensePose index {bad} out of range 0..24")
        image = Image.fromarray(np.asarray(array).round().astype(np.uint8))
        return torch.from_numpy(np.asarray(_resize(image, size, Image.Resampling.NEAREST), dtype=np.int64).copy())
    return read_labels(path, 25, size)
