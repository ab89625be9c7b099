"""The qualitative grid: one row per pair, columns person | garment | each method's try-on."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from pftryon.models import atomic_write

__all__ = ["QualitativeRow", "write_grid"]

_CELL = (144, 192)  # width, height: 3:4, the try-on aspect
_GAP = 6
_HEADER = 26
_LABEL = 112
_BACKGROUND = (255, 255, 255)
_PLACEHOLDER = (225, 225, 225)
_INK = (30, 30, 30)


@dataclass(frozen=True)
class QualitativeRow:
    """One pair of the grid: the person and garment images and each method's prediction (method -> image path)."""

    pair: str
    person: Path
    garment: Path
    outputs: dict[str, Path] = field(default_factory=dict)


def _fit(text: str, font, width: int, draw: ImageDraw.ImageDraw) -> str:
    """``text`` shortened with an ellipsis until it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _tile(path: Path | None, what: str, warnings: list[str]) -> Image.Image:
    """The image fitted into a cell (letterboxed on white), or a grey placeholder when it cannot be read."""
    tile = Image.new("RGB", _CELL, _BACKGROUND)
    try:
        if path is None:
            raise FileNotFoundError("no image given")
        with Image.open(path) as image:
            fitted = ImageOps.contain(image.convert("RGB"), _CELL, Image.Resampling.LANCZOS)
    except OSError as error:
        warnings.append(f"qualitative grid: {what}: {error}")
        tile.paste(_PLACEHOLDER, (0, 0, *_CELL))
        ImageDraw.Draw(tile).text(
            (_CELL[0] // 2, _CELL[1] // 2), "missing", fill=_INK, font=ImageFont.load_default(size=12), anchor="mm"
        )
        return tile
    tile.paste(fitted, ((_CELL[0] - fitted.width) // 2, (_CELL[1] - fitted.height) // 2))
    return tile


def write_grid(rows: list[QualitativeRow], methods: list[str], path: Path) -> list[str]:
    """Draw the grid of ``rows`` with one column per method in ``methods`` order and write it as PNG to ``path``.

    An image that is missing or unreadable becomes a grey "missing" tile and a warning, not an error.

    Returns:
        The warnings.
    """
    warnings: list[str] = []
    headers = ["person", "garment", *methods]
    width = _LABEL + len(headers) * (_CELL[0] + _GAP) + _GAP
    height = _HEADER + len(rows) * (_CELL[1] + _GAP) + _GAP
    grid = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(grid)
    font, small = ImageFont.load_default(size=13), ImageFont.load_default(size=11)
    for i, header in enumerate(headers):
        x = _LABEL + _GAP + i * (_CELL[0] + _GAP) + _CELL[0] // 2
        draw.text((x, _HEADER // 2), _fit(header, font, _CELL[0], draw), fill=_INK, font=font, anchor="mm")
    for r, row in enumerate(rows):
        y = _HEADER + r * (_CELL[1] + _GAP)
        label = "\n".join(_fit(part, small, _LABEL - 8, draw) for part in row.pair.split("__"))
        draw.multiline_text((_LABEL - 6, y + _CELL[1] // 2), label, fill=_INK, font=small, anchor="rm", align="right")
        images = [(row.person, "person"), (row.garment, "garment")]
        images += [(row.outputs.get(m), m) for m in methods]
        for c, (image, what) in enumerate(images):
            tile = _tile(image, f"pair {row.pair}, {what}", warnings)
            grid.paste(tile, (_LABEL + _GAP + c * (_CELL[0] + _GAP), y))
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG", optimize=True)
    atomic_write(path, buffer.getvalue())
    return warnings
