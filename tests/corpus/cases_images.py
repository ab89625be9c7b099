"""Awkward image files through ``eval``, ``tryon``, ``predict`` and ``data overlap``: every command reads them with the
one reader (bench.images), so alpha, 16 bits, CMYK and EXIF orientation are read alike and noted in the same words,
and unreadable, empty and oversized files get the same one-line error.

``tryon`` keeps its notes in ``out/tryon.json`` (checked by tests/bench/test_image_reader.py); its readable cases are
``accepted`` here (a 16-bit or RGBA input used to be refused or silently changed).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from corpus_lib import Case, Workspace
from PIL import Image

REPORT = "report/summary.md"
FIRST_PERSON, FIRST_CLOTH = "000006_0.jpg", "000006_1.jpg"  # the viton template's first test pair


def _huge_png() -> bytes:
    """A PNG header declaring 100000x100000 pixels (no image data follows)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _rgba(image: Image.Image) -> Image.Image:
    """Half transparent: the left half of the alpha is 0."""
    alpha = np.full((image.height, image.width), 255, np.uint8)
    alpha[:, : image.width // 2] = 0
    return Image.fromarray(np.dstack([np.asarray(image.convert("RGB")), alpha]), "RGBA")


def _grey16(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257)


def _save_exif_rotated(image: Image.Image, path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    image.convert("RGB").save(path.with_suffix(".jpg"), format="JPEG", exif=exif.tobytes())


def _resave(path: Path, convert: Callable[[Image.Image], Image.Image], fmt: str = "PNG") -> None:
    """Re-save ``path`` (same name: the readers go by content) through ``convert``."""
    with Image.open(path) as image:
        converted = convert(image.convert("RGB"))
    converted.save(path, format=fmt)


# --- eval --------------------------------------------------------------------------------------------------------


def _eval(ws: Workspace) -> list:
    return ["eval", "--pred", ws.asset("preds"), "--dataset", "viton", "--root", ws.asset("viton"), "--protocol",
            "pfafn", "--metrics", "ssim,psnr", "--out", ws.path("report")]  # fmt: skip


def _exif_predictions(ws: Workspace) -> None:
    for path in sorted(ws.asset("preds").iterdir()):
        with Image.open(path) as image:
            _save_exif_rotated(image, path)


def _first_prediction(data: bytes) -> Callable[[Workspace], None]:
    return lambda ws: sorted(ws.asset("preds").iterdir())[0].write_bytes(data)


# --- tryon (single pair mode on the viton template's first test pair) ---------------------------------------------


def _tryon(ws: Workspace) -> list:
    test = ws.asset("viton") / "test"
    return ["tryon", "--person", test / "image" / FIRST_PERSON, "--cloth", test / "cloth" / FIRST_CLOTH,
            "--edge", test / "cloth-mask" / FIRST_CLOTH, "--checkpoints", ws.asset("ckpt"), "--out", ws.path("out"),
            "--device", "cpu"]  # fmt: skip


def _test_file(folder: str, name: str, edit: Callable[[Path], None]) -> Callable[[Workspace], None]:
    return lambda ws: edit(ws.asset("viton") / "test" / folder / name)


# --- data overlap ------------------------------------------------------------------------------------------------


def _overlap(ws: Workspace) -> list:
    return ["data", "overlap", "--dataset", "viton", "--root", ws.asset("viton"), "--out", ws.path("dedup")]


def _first_train_person(ws: Workspace) -> None:
    _resave(sorted((ws.asset("viton") / "train" / "image").iterdir())[0], _rgba)


def _predict(ws: Workspace) -> list:
    return ["predict", "--method", "no_warp", "--dataset", "viton", "--root", ws.asset("viton"), "--out",
            ws.path("out"), "--device", "cpu"]  # fmt: skip


CASES = [
    Case("eval-image-exif-rotated", "eval", "JPEG predictions whose EXIF orientation asks for a 90-degree turn",
         "warning", _eval, setup=_exif_predictions, expect="EXIF orientation not applied", report=REPORT,
         writes=("report",)),
    Case("eval-image-text-named-png", "eval", "a text file named like a prediction", "error", _eval,
         setup=_first_prediction(b"this is not an image\n"), names="000006_0.jpg",
         expect=r"not a readable image \(unknown format\)"),
    Case("eval-image-huge-declared", "eval", "a prediction whose header declares 100000x100000 pixels", "error",
         _eval, setup=_first_prediction(_huge_png()), names="000006_0.jpg", expect="decompression-bomb limit"),
    Case("tryon-image-16-bit-grey-person", "tryon", "the person image is a 16-bit greyscale PNG", "accepted",
         _tryon, setup=_test_file("image", FIRST_PERSON, lambda p: _resave(p, _grey16)), writes=("out",)),
    Case("tryon-image-rgba-garment", "tryon", "the garment is a half-transparent RGBA PNG", "accepted",
         _tryon, setup=_test_file("cloth", FIRST_CLOTH, lambda p: _resave(p, _rgba)), writes=("out",)),
    Case("tryon-image-cmyk-person", "tryon", "the person image is a CMYK JPEG", "accepted",
         _tryon, setup=_test_file("image", FIRST_PERSON, lambda p: _resave(p, lambda im: im.convert("CMYK"), "JPEG")),
         writes=("out",)),
    Case("tryon-image-empty-edge", "tryon", "the garment mask is a zero-byte file", "error",
         _tryon, setup=_test_file("cloth-mask", FIRST_CLOTH, lambda p: p.write_bytes(b"")), names=FIRST_CLOTH,
         expect=r"not a readable image \(empty file\)"),
    Case("tryon-image-truncated-person", "tryon", "the person image is cut in half", "error",
         _tryon, setup=_test_file("image", FIRST_PERSON, lambda p: p.write_bytes(p.read_bytes()[:300])),
         names=FIRST_PERSON, expect="not a readable image"),
    Case("tryon-image-huge-person", "tryon", "the person image declares 100000x100000 pixels", "error",
         _tryon, setup=_test_file("image", FIRST_PERSON, lambda p: p.write_bytes(_huge_png())), names=FIRST_PERSON,
         expect="decompression-bomb limit"),
    Case("predict-image-16-bit-grey-person", "predict", "a test person image is a 16-bit greyscale PNG", "accepted",
         _predict, setup=_test_file("image", FIRST_PERSON, lambda p: _resave(p, _grey16)), writes=("out",)),
    Case("data-overlap-image-rgba-person", "data", "a train person image is a half-transparent RGBA PNG", "warning",
         _overlap, setup=_first_train_person, expect="1 of 6 train person file.s.: alpha flattened on white",
         report="dedup/overlap.json", writes=("dedup",)),
]  # fmt: skip
