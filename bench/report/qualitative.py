"""The qualitative grid: one row per pair, columns person | garment | the true try-on (where the data has it) | each
method's try-on. A method that failed is flagged: its outputs are near-constant, or it could not run."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from pftryon.models import atomic_write

__all__ = ["FLAT_STD", "Grid", "QualitativeRow", "write_grid"]

FLAT_STD = 0.02
"""A method's outputs are near-constant (flagged) when every one shown has a pixel standard deviation below this (values
in [0, 1], over all pixels and channels): a collapsed model, not a try-on."""
TRUTH = "true try-on"

_CELL = (144, 192)  # width, height: 3:4, the try-on aspect
_GAP = 6
_HEADER = 40  # two lines of column title
_LABEL = 112
_FRAME = 3  # the red frame around a flagged method's tiles
_BANNER = 16  # the height of the red "FAILED" band on top of them
_BACKGROUND = (255, 255, 255)
_PLACEHOLDER = (225, 225, 225)
_FAILED = (250, 222, 222)
_INK = (30, 30, 30)
_RED = (190, 0, 32)


@dataclass(frozen=True)
class QualitativeRow:
    """One pair of the grid: the person and garment images, the true try-on (``None`` where the data has none), each
    method's prediction (method -> image path) and the methods that could not run (method -> why)."""

    pair: str
    person: Path
    garment: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    truth: Path | None = None
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """A drawn grid: its file, its column titles in order, the flagged methods (method -> why) and the problems met."""

    path: Path
    columns: tuple[str, ...]
    flagged: dict[str, str]
    warnings: tuple[str, ...]

    @property
    def has_truth(self) -> bool:
        """True when a column shows the true try-on."""
        return TRUTH in self.columns


def _fit(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> str:
    """``text`` shortened with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> str:
    """``text`` on at most two lines of ``width`` pixels, broken between words, the second shortened if need be."""
    if draw.textlength(text, font=font) <= width:
        return text
    words = text.split()
    for cut in range(len(words) - 1, 0, -1):
        first = " ".join(words[:cut])
        if draw.textlength(first, font=font) <= width:
            return f"{first}\n{_fit(' '.join(words[cut:]), font, width, draw)}"
    return _fit(text, font, width, draw)


def _read(path: Path | None) -> Image.Image:
    if path is None:
        raise FileNotFoundError("no image given")
    with Image.open(path) as image:
        return image.convert("RGB")


def _tile(image: Image.Image | None, label: str = "missing", fill: tuple[int, int, int] = _PLACEHOLDER) -> Image.Image:
    """The image fitted into a cell (letterboxed on white), or a ``fill`` placeholder saying ``label``."""
    tile = Image.new("RGB", _CELL, _BACKGROUND)
    if image is None:
        tile.paste(fill, (0, 0, *_CELL))
        ImageDraw.Draw(tile).multiline_text((_CELL[0] // 2, _CELL[1] // 2), label, fill=_INK, anchor="mm",
                                            align="center", font=ImageFont.load_default(size=12))  # fmt: skip
        return tile
    fitted = ImageOps.contain(image, _CELL, Image.Resampling.LANCZOS)
    tile.paste(fitted, ((_CELL[0] - fitted.width) // 2, (_CELL[1] - fitted.height) // 2))
    return tile


def _flags(rows: Sequence[QualitativeRow], methods: Sequence[str], images: Mapping[tuple[int, str], Image.Image]
           ) -> dict[str, str]:  # fmt: skip
    """Why each failed method is flagged: it could not run (a row's ``failed``), or every output shown is
    near-constant (:data:`FLAT_STD`)."""
    flagged = {}
    for method in methods:
        errors = [row.failed[method] for row in rows if method in row.failed]
        drawn = [
            np.asarray(images[r, method], dtype=np.float64) / 255 for r in range(len(rows)) if (r, method) in images
        ]
        if errors and not drawn:
            flagged[method] = errors[0]
        elif drawn and max(float(a.std()) for a in drawn) < FLAT_STD:
            flagged[method] = f"near-constant output (pixel std below {FLAT_STD} on every pair shown)"
    return flagged


def write_grid(rows: list[QualitativeRow], methods: list[str], path: Path,
               titles: Mapping[str, str] | None = None) -> Grid:  # fmt: skip
    """Draw the grid of ``rows`` with one column per method in ``methods`` order (headed by ``titles``, default the
    names) and write it as PNG to ``path``.

    An image that is missing or unreadable becomes a grey "missing" tile and a warning, not an error; a method that
    could not run gets pink "failed" tiles; a flagged method's title is red and its tiles framed in red under a
    "FAILED" band.

    Returns:
        What was drawn (:class:`Grid`).
    """
    titles = titles or {}
    warnings: list[str] = []
    truth = any(row.truth is not None for row in rows)
    images: dict[tuple[int, str], Image.Image] = {}
    for r, row in enumerate(rows):
        sources = [("person", row.person), ("garment", row.garment)] + ([(TRUTH, row.truth)] if truth else [])
        sources += [(m, row.outputs.get(m)) for m in methods if m not in row.failed or m in row.outputs]
        for what, source in sources:
            try:
                images[r, what] = _read(source)
            except OSError as error:
                warnings.append(f"qualitative grid: pair {row.pair}, {what}: {error}")
    flagged = _flags(rows, methods, images)
    fixed = ["person", "garment"] + ([TRUTH] if truth else [])
    headers = fixed + [titles.get(m, m) for m in methods]
    width = _LABEL + len(headers) * (_CELL[0] + _GAP) + _GAP
    height = _HEADER + len(rows) * (_CELL[1] + _GAP) + _GAP
    grid = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(grid)
    font, small = ImageFont.load_default(size=13), ImageFont.load_default(size=11)
    keys = fixed + list(methods)
    for i, (key, header) in enumerate(zip(keys, headers, strict=True)):
        x = _LABEL + _GAP + i * (_CELL[0] + _GAP) + _CELL[0] // 2
        draw.multiline_text((x, _HEADER // 2), _wrap(header, font, _CELL[0], draw), anchor="mm", align="center",
                            fill=_RED if key in flagged else _INK, font=font)  # fmt: skip
    for r, row in enumerate(rows):
        y = _HEADER + r * (_CELL[1] + _GAP)
        label = "\n".join(_fit(part, small, _LABEL - 8, draw) for part in row.pair.split("__"))
        draw.multiline_text((_LABEL - 6, y + _CELL[1] // 2), label, fill=_INK, font=small, anchor="rm", align="right")
        for c, key in enumerate(keys):
            x = _LABEL + _GAP + c * (_CELL[0] + _GAP)
            if key in row.failed and key not in row.outputs:
                tile = _tile(None, "failed:\ncould not run", _FAILED)
            else:
                tile = _tile(images.get((r, key)))
            grid.paste(tile, (x, y))
            if key in flagged:
                draw.rectangle((x, y, x + _CELL[0] - 1, y + _CELL[1] - 1), outline=_RED, width=_FRAME)
                draw.rectangle((x, y, x + _CELL[0] - 1, y + _BANNER), fill=_RED)
                centre = (x + _CELL[0] // 2, y + _BANNER // 2 + 1)
                draw.text(centre, "FAILED", fill=_BACKGROUND, font=small, anchor="mm")
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG", optimize=True)
    atomic_write(path, buffer.getvalue())
    return Grid(path, tuple(fixed + [titles.get(m, m) for m in methods]), flagged, tuple(warnings))
