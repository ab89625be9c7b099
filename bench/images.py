"""The one way every command reads an image file, and the way try-on outputs are written.

:func:`read_image` (and :func:`probe_image`, from the header alone) turns any image file into 8-bit RGB (8-bit
greyscale for masks) and says what it did as notes; :func:`note_lines` counts them in the same words for every
report (eval's summary, tryon.json, overlap.json). Every command (eval, predict and the dataset loaders, tryon,
overlap) reads through here, so a file gives the same pixels and the same notes everywhere. The rules:

- **Alpha** (RGBA, LA, PA, a palette or colour key with transparency): a model's input (tryon, predict's loaders)
  is flattened on white, ``round((c * a + 255 * (255 - a)) / 255)``, white being the background of the VITON-style
  person and garment photos; the alpha itself comes back beside the pixels. Scoring (eval and its sensitivity table)
  reads as the official evaluation scripts do, whose ``convert('RGB')`` ignores the alpha and keeps the colour as
  stored (``alpha="ignore"``). Either way a note says which was done; the two agree wherever the alpha is opaque.
- **16 bits** per sample (I;16 greyscale, 48- and 64-bit PNG) are scaled to 8: ``round(v * 255 / 65535)``, in every
  channel alike (PIL alone would take the high byte of a colour PNG's samples; those are decoded with torchvision).
- **EXIF orientation is never applied**: pixels are read as stored, as the official scripts read them (PIL's
  ``Image.open`` without ``ImageOps.exif_transpose``) and as the datasets' loaders do, so scores and predictions follow
  the protocols; a file whose orientation tag asks for a rotation or a flip gets a note.
- **CMYK** by PIL's conversion (no ICC profile, as ``convert('RGB')`` in the official scripts), **palette**, **1-bit**,
  **YCbCr** and **greyscale** images expanded to RGB. A mask (``grey=True``) is PIL's ``convert('L')`` of the file,
  after the two rules above.
- 32-bit float and other modes are refused, as are files PIL cannot decode (unknown format, empty, truncated) and
  images over PIL's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``): one :class:`InputError` line naming the
  file and what was expected.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bench.data.encode import encode_image
from bench.errors import InputError
from pftryon.models import atomic_write

__all__ = [
    "ALPHA",
    "ALPHA_IGNORED",
    "Alpha",
    "BILEVEL",
    "CMYK",
    "EXIF",
    "GREY",
    "NOTES",
    "PALETTE",
    "SIXTEEN_BIT",
    "YCBCR",
    "DecodedImage",
    "ImageHeader",
    "file_bytes",
    "note_lines",
    "open_image",
    "probe_image",
    "read_image",
    "to_uint8",
    "write_png",
]

Alpha = Literal["white", "ignore"]
"""What a read does with transparency: flatten it on white (a model's input) or ignore it (scoring)."""
ALPHA = "alpha flattened on white"
ALPHA_IGNORED = "alpha ignored (colour as stored, as the official scripts read it)"
SIXTEEN_BIT = "16-bit scaled to 8-bit"
EXIF = "EXIF orientation not applied (pixels as stored, as the official scripts read them)"
CMYK = "CMYK converted to RGB"
PALETTE = "palette converted to RGB"
BILEVEL = "1-bit expanded to RGB"
YCBCR = "YCbCr converted to RGB"
GREY = "greyscale expanded to RGB"
NOTES = (ALPHA, ALPHA_IGNORED, SIXTEEN_BIT, EXIF, CMYK, PALETTE, BILEVEL, YCBCR, GREY)
"""Every note a read can give, in the order reports list them."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# The mode a file's pixels have before conversion to RGB, and what expanding it to RGB does.
_EXPANDS = {"RGB": None, "RGBA": None, "RGBa": None, "L": GREY, "LA": GREY, "La": GREY, "P": PALETTE, "PA": PALETTE,
            "1": BILEVEL, "CMYK": CMYK, "YCbCr": YCBCR, **dict.fromkeys(_SIXTEEN_BIT_MODES, GREY)}  # fmt: skip
# PNG samples of 16 bits that PIL reads at 8 (the high byte): raw mode -> the file's own mode.
_WIDE_PNG = {"RGB;16B": "RGB", "RGBA;16B": "RGBA", "LA;16B": "LA"}
_ORIENTATION = 0x0112  # EXIF tag; 1 is "as stored"
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)


@dataclass(frozen=True)
class ImageHeader:
    """What a file's header says: its size (H, W), its PIL mode and the notes reading it will give."""

    size: tuple[int, int]
    mode: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class DecodedImage:
    """A decoded file: 8-bit ``image`` (``RGB``, or ``L`` for a mask), the file's ``alpha`` (``L``, None without
    one) and the notes of what reading it did (:data:`NOTES`)."""

    image: Image.Image
    alpha: Image.Image | None
    notes: tuple[str, ...]


def _too_large(path: Path, pixels: int | str, size: tuple[int, int] | None = None) -> InputError:
    from bench.protocols import hxw

    shape = f"{hxw(size)}, " if size else ""
    return InputError(
        f"{path}: image too large ({shape}{pixels} pixels), over the decompression-bomb limit of "
        f"{Image.MAX_IMAGE_PIXELS} pixels; downscale it (or raise PIL.Image.MAX_IMAGE_PIXELS in Python)"
    )


def file_bytes(path: str | os.PathLike[str]) -> bytes:
    """An image file's bytes (to hash them and decode them once with ``read_image(path, data=...)``)."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as err:
        raise InputError(f"{path}: not a readable image ({err.strerror}); expected a readable image file") from None


def _open(path: Path, data: bytes | None) -> Image.Image:
    """The file (or its bytes ``data``) opened, header read, not decoded; refused past the decompression-bomb limit."""
    if data is None and not path.is_file():
        raise InputError(f"{path}: file not found")
    source = io.BytesIO(data) if data is not None else path
    expected = "expected an image file PIL reads (PNG, JPEG, BMP, TIFF, WebP, ...)"
    try:
        with warnings.catch_warnings(action="ignore", category=Image.DecompressionBombWarning):
            image = Image.open(source)
    except Image.DecompressionBombError as err:
        found = re.search(r"\((\d+) pixels\)", str(err))
        raise _too_large(path, found.group(1) if found else "too many") from None
    except UnidentifiedImageError:
        empty = data == b"" if data is not None else path.stat().st_size == 0
        reason = "empty file" if empty else "unknown format"
        raise InputError(f"{path}: not a readable image ({reason}); {expected}") from None
    except _DECODE_ERRORS as err:
        raise InputError(f"{path}: not a readable image ({err}); {expected}") from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        image.close()
        raise _too_large(path, image.width * image.height, (image.height, image.width))
    return image


def _load(image: Image.Image, path: Path) -> None:
    try:
        image.load()
    except _DECODE_ERRORS as err:
        raise InputError(f"{path}: not a readable image ({err}); expected a complete, uncorrupted image file") from None


def open_image(path: str | os.PathLike[str], *, data: bytes | None = None) -> Image.Image:
    """The file decoded as stored (no conversion; label maps keep their indices), with :func:`read_image`'s errors."""
    path = Path(path)
    image = _open(path, data)
    _load(image, path)
    return image


def _wide_png(image: Image.Image) -> str | None:
    """The file's own mode when it is a PNG of 16-bit colour samples (which PIL reads at 8 bits), else None."""
    if image.format != "PNG" or not image.tile:
        return None
    raw_mode = image.tile[0].args
    return _WIDE_PNG.get(raw_mode) if isinstance(raw_mode, str) else None


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation tag (1: as stored), None without one or when the EXIF block cannot be parsed. A PNG's
    eXIf chunk is seen only before the image data (finding a later one would decode the image)."""
    if image.format == "PNG" and "exif" not in image.info:
        return None
    try:
        return image.getexif().get(_ORIENTATION)
    except _DECODE_ERRORS:
        return None


def _notes(image: Image.Image, wide: str | None, path: Path, grey: bool, alpha: Alpha) -> tuple[str, ...]:
    """What reading ``image`` (opened, not decoded; ``wide``: :func:`_wide_png`) as 8-bit RGB (``grey``: L) does;
    refuses modes it cannot read."""
    mode = wide or image.mode
    if mode not in _EXPANDS:
        raise InputError(f"{path}: image mode {mode} has no 8-bit RGB reading; expected an 8- or 16-bit PNG or JPEG")
    expands = _EXPANDS[mode]
    transparent = mode in _ALPHA_MODES or "transparency" in image.info
    notes = [
        (ALPHA if alpha == "white" else ALPHA_IGNORED) if transparent else None,
        SIXTEEN_BIT if wide or mode in _SIXTEEN_BIT_MODES else None,
        EXIF if _orientation(image) not in (None, 1) else None,
        None if grey and expands == GREY else expands,
    ]
    return tuple(note for note in NOTES if note in notes)


def probe_image(path: str | os.PathLike[str], *, grey: bool = False, alpha: Alpha = "white") -> ImageHeader:
    """Size, mode and notes of an image file from its header, without decoding it (see :func:`read_image`).

    Raises:
        InputError: as :func:`read_image`, except for damage only decoding finds (a truncated file).
    """
    path = Path(path)
    with _open(path, None) as image:
        wide = _wide_png(image)
        return ImageHeader((image.height, image.width), wide or image.mode, _notes(image, wide, path, grey, alpha))


def _scale16(values: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits: ``round(v * 255 / 65535)`` (exact in integers; no ties)."""
    return ((values.astype(np.int64) * 255 + 32767) // 65535).astype(np.uint8)


def _eight_bit(image: Image.Image, wide: str | None, path: Path, data: bytes | None) -> Image.Image:
    """``image`` (opened) decoded with 8-bit samples; 16-bit samples scaled, a colour key kept as alpha."""
    if wide is not None:  # decoded again by torchvision, which keeps the 16 bits
        from torchvision.io import ImageReadMode, decode_image

        raw = bytearray(data if data is not None else path.read_bytes())
        try:
            samples = decode_image(torch.frombuffer(raw, dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
        except RuntimeError as err:
            raise InputError(f"{path}: not a readable image ({err}); expected a complete PNG file") from None
        return Image.fromarray(_scale16(samples.permute(1, 2, 0).numpy()), wide)
    _load(image, path)
    if image.mode not in _SIXTEEN_BIT_MODES:
        return image
    values = np.asarray(image, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise InputError(f"{path}: {image.mode} values outside 0..65535; expected an 8- or 16-bit PNG")
    grey = Image.fromarray(_scale16(values), "L")
    key = image.info.get("transparency")
    if isinstance(key, int):
        grey = Image.merge("LA", (grey, Image.fromarray(np.where(values == key, 0, 255).astype(np.uint8), "L")))
    return grey


def _flatten(image: Image.Image) -> tuple[Image.Image, Image.Image]:
    """RGB on white and the alpha of an image with transparency."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.int64)
    alpha = rgba[..., 3:]
    rgb = (rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB"), Image.fromarray(alpha[..., 0].astype(np.uint8), "L")


def read_image(
    path: str | os.PathLike[str], *, data: bytes | None = None, grey: bool = False, alpha: Alpha = "white"
) -> DecodedImage:
    """Read an image file as 8-bit RGB (``grey``: 8-bit L, for masks) under the rules of this module's docstring.

    Args:
        path: the file (named in errors).
        data: its bytes, when already read (then ``path`` is not opened).
        grey: read a mask: PIL's ``convert('L')`` after flattening the alpha and scaling 16 bits.
        alpha: ``"white"`` flattens transparency on white (a model's input); ``"ignore"`` keeps the stored colour
            as the official evaluation scripts do (scoring).

    Returns:
        The pixels, the file's alpha (None without one) and the notes (:data:`NOTES`) of what the read did.

    Raises:
        InputError: file not found, not an image PIL decodes (unknown format, empty, truncated), a mode without an
            8-bit reading (float), or over the decompression-bomb limit (one line naming the file).
    """
    path = Path(path)
    with _open(path, data) as image:
        wide = _wide_png(image)
        notes = _notes(image, wide, path, grey, alpha)
        decoded = _eight_bit(image, wide, path, data)
        mask = None
        if ALPHA in notes:
            decoded, mask = _flatten(decoded)
        pixels = decoded.convert("L" if grey else "RGB")
    return DecodedImage(pixels, mask, notes)


def note_lines(notes: Mapping[Path, Sequence[str]], what: str, *, first: int = 3) -> list[str]:
    """One line per note read from ``notes`` (``{file: its notes}``): how many of the files got it and the first few,
    e.g. ``"2 of 6 prediction file(s): alpha flattened on white (first: a.png, b.png)"``; in :data:`NOTES` order."""
    by_note: dict[str, list[str]] = {}
    for path, found in notes.items():
        for note in found:
            by_note.setdefault(note, []).append(Path(path).name)
    return [
        f"{len(by_note[note])} of {len(notes)} {what} file(s): {note} (first: {', '.join(by_note[note][:first])})"
        for note in NOTES
        if note in by_note
    ]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` in [-1, 1] to ``[H, W, 3]`` uint8 the official way: ``(x + 1) / 2 * 255``, truncated."""
    scaled = (image.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255
    return scaled.permute(1, 2, 0).numpy().astype(np.uint8)


def write_png(path: str | os.PathLike[str], pixels: np.ndarray) -> None:
    """Write a uint8 ``[H, W, 3]`` array as PNG, atomically."""
    atomic_write(path, encode_image(pixels, "PNG"))
