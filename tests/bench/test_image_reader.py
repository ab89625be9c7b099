"""One image reader for every command (bench.images): a generated corpus of awkward files read by eval's decoder, the
tryon preset, a dataset loader and the overlap check gives the same pixels and the same notes everywhere; bad files
give the same one-line error everywhere.

Expected pixels are computed here from the arrays the files were written from (alpha over white, 16-bit scaling), or,
for CMYK and EXIF, from PIL's plain ``Image.open(f).convert('RGB')`` (the official scripts' reading).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from bench import images
from bench.data import create_dataset
from bench.data.base import TryOnDataset
from bench.data.overlap import _features, hash_images
from bench.data.readers import InputError, read_mask, read_rgb
from bench.eval.decoding import _Files, _header, _Views
from bench.records import SCHEMA_VERSION, read_record
from bench.tryon import MANIFEST, Pair, _input_notes, _load_batch, load_pfafn, run_tryon

H, W = 64, 64
_RNG = np.random.default_rng(7)
RGB = _RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
ALPHA = np.tile(np.linspace(0, 255, W).round().astype(np.uint8), (H, 1))  # 0 (transparent) .. 255 (opaque)
SIXTEEN = _RNG.integers(0, 65536, (H, W, 3)).astype(np.uint16)
GREY16 = _RNG.integers(0, 65536, (H, W)).astype(np.uint16)
TRANSPARENT_INDEX = 3


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(width: int, height: int, depth: int, colour: int, rows: bytes | None) -> bytes:
    """A PNG written by hand (PIL cannot write 48-bit RGB, nor a header without its image data)."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    data = _chunk(b"IDAT", zlib.compress(rows)) if rows is not None else b""
    return b"\x89PNG\r\n\x1a\n" + header + data + _chunk(b"IEND", b"")


def _over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None].astype(np.float64) / 255
    return np.rint(rgb * a + 255 * (1 - a)).astype(np.uint8)


def _scaled(values: np.ndarray) -> np.ndarray:
    return np.rint(values.astype(np.float64) * 255 / 65535).astype(np.uint8)


def _grey(values: np.ndarray) -> np.ndarray:
    return np.repeat(values[..., None], 3, axis=2)


def _as_stored(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _write_corpus(folder: Path) -> dict[str, tuple[np.ndarray, tuple[str, ...]]]:
    """The awkward but readable files: ``{name: (expected RGB pixels, expected notes)}``."""
    Image.fromarray(RGB).save(folder / "plain.png")
    Image.fromarray(np.dstack([RGB, ALPHA]), "RGBA").save(folder / "rgba.png")
    Image.fromarray(np.dstack([RGB[..., 0], ALPHA]), "LA").save(folder / "la.png")
    palette = Image.fromarray(RGB).quantize(16)
    palette.save(folder / "palette.png", transparency=TRANSPARENT_INDEX)
    indices, colours = np.asarray(palette), np.array(palette.getpalette()[:48], np.uint8).reshape(16, 3)
    Image.fromarray(GREY16).save(folder / "grey16.png")
    rows = b"".join(b"\x00" + SIXTEEN[y].astype(">u2").tobytes() for y in range(H))
    (folder / "rgb16.png").write_bytes(_png(W, H, 16, 2, rows))
    Image.fromarray(RGB).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    Image.fromarray(RGB).save(folder / "exif.jpg", exif=exif.tobytes(), quality=95)
    keyed = np.where((indices == TRANSPARENT_INDEX)[..., None], 255, colours[indices])
    return {
        "plain.png": (RGB, ()),
        "rgba.png": (_over_white(RGB, ALPHA), (images.ALPHA,)),
        "la.png": (_grey(_over_white(RGB[..., :1], ALPHA)[..., 0]), (images.ALPHA, images.GREY)),
        "palette.png": (keyed.astype(np.uint8), (images.ALPHA, images.PALETTE)),
        "grey16.png": (_grey(_scaled(GREY16)), (images.SIXTEEN_BIT, images.GREY)),
        "rgb16.png": (_scaled(SIXTEEN), (images.SIXTEEN_BIT,)),
        "cmyk.jpg": (_as_stored(folder / "cmyk.jpg"), (images.CMYK,)),
        "exif.jpg": (_as_stored(folder / "exif.jpg"), (images.EXIF,)),
    }


def _write_bad(folder: Path) -> dict[str, str]:
    """The files every reader refuses: ``{name: what the message says}``."""
    Image.fromarray(RGB).save(folder / "whole.png")
    whole = (folder / "whole.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "huge.png").write_bytes(_png(100_000, 100_000, 8, 2, None))  # PIL's own error: over twice the limit
    (folder / "big.png").write_bytes(_png(10_000, 10_000, 8, 2, None))  # over the limit, under twice it
    return {
        "truncated.png": "not a readable image (image file is truncated)",
        "empty.png": "not a readable image (empty file)",
        "text.png": "not a readable image (unknown format)",
        "huge.png": "image too large (10000000000 pixels)",
        "big.png": "image too large (10000x10000, 100000000 pixels)",
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    folder = tmp_path_factory.mktemp("image_corpus")
    readable, bad = _write_corpus(folder), _write_bad(folder)
    Image.new("L", (W, H), 255).save(folder / "mask.png")
    return folder, readable, bad


def _eval_read(path: Path) -> tuple[np.ndarray, list[str]]:
    _, _, main, _ = _Files([path], [0], _Views(None))[0]
    notes = _header(path, 1)[1]
    return (main * 255).round().byte().permute(1, 2, 0).numpy(), images.note_lines({path: notes}, "person")


def _tryon_read(path: Path, mask: Path) -> tuple[np.ndarray, list[str]]:
    person = _load_batch([Pair(path, path, mask)])[0][0]
    notes = [line for line in _input_notes([Pair(path, path, mask)]) if " person file(s): " in line]
    return ((person + 1) / 2 * 255).round().byte().permute(1, 2, 0).numpy(), notes


def _loader_with(viton: Path, data: bytes, tmp_path: Path) -> tuple[TryOnDataset, Path]:
    """A copy of the synthetic VITON whose first test person file holds ``data`` (opened by content, not suffix)."""
    root = tmp_path / "viton"
    shutil.copytree(viton, root)
    dataset = create_dataset("viton", root, split="test")
    person = dataset.entries[0].files["person"]
    person.write_bytes(data)
    return dataset, person


NAMES = ["plain.png", "rgba.png", "la.png", "palette.png", "grey16.png", "rgb16.png", "cmyk.jpg", "exif.jpg"]


@pytest.mark.parametrize("name", NAMES)
def test_every_command_reads_the_same_pixels_and_notes(name, corpus, viton, tmp_path):
    folder, readable, _ = corpus
    path = folder / name
    expected, notes = readable[name]
    lines = images.note_lines({path: notes}, "person")
    assert bool(lines) == bool(notes)

    decoded = images.read_image(path)
    assert decoded.notes == notes and images.probe_image(path).notes == notes
    np.testing.assert_array_equal(np.asarray(decoded.image), expected)
    pixels, said = _tryon_read(path, folder / "mask.png")
    np.testing.assert_array_equal(pixels, expected)
    assert said == lines
    # Scoring reads as the official scripts do: alpha ignored, the stored colour kept (PIL's convert('RGB')).
    scored = tuple(images.ALPHA_IGNORED if note == images.ALPHA else note for note in notes)
    official = np.asarray(Image.open(path).convert("RGB")) if images.ALPHA in notes else expected
    pixels, said = _eval_read(path)
    np.testing.assert_array_equal(pixels, official)
    assert said == images.note_lines({path: scored}, "person")
    assert images.probe_image(path, alpha="ignore").notes == scored
    dataset, moved = _loader_with(viton, path.read_bytes(), tmp_path)
    pixels = ((dataset[0]["person"] + 1) / 2 * 255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(pixels, expected)
    assert images.probe_image(moved).notes == notes
    overlap = hash_images([path], progress=False)
    assert overlap.notes == {path: notes}
    np.testing.assert_array_equal(overlap.thumbs[0], _features(Image.fromarray(expected))[1])


def test_alpha_comes_back_beside_the_flattened_pixels(corpus):
    folder, _, _ = corpus
    np.testing.assert_array_equal(np.asarray(images.read_image(folder / "rgba.png").alpha), ALPHA)
    assert images.read_image(folder / "plain.png").alpha is None


def test_exif_orientation_is_not_applied(corpus):
    """The rule of the official scripts (PIL without exif_transpose): pixels as stored, and a note saying so."""
    folder, readable, _ = corpus
    with Image.open(folder / "exif.jpg") as image:
        upright = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    stored = readable["exif.jpg"][0]
    assert not np.array_equal(upright, stored)
    np.testing.assert_array_equal(np.asarray(images.read_image(folder / "exif.jpg").image), stored)


def test_plain_8_bit_files_read_as_pil_reads_them(corpus, tmp_path):
    """The protocols' numbers stand: RGB JPEG/PNG as ``convert('RGB')``, L/RGB/P masks as ``convert('L') >= 128``."""
    Image.fromarray(RGB).save(tmp_path / "a.jpg", quality=90)
    for path in (tmp_path / "a.jpg", corpus[0] / "plain.png"):
        assert images.read_image(path).notes == ()
        np.testing.assert_array_equal(np.asarray(images.read_image(path).image), _as_stored(path))
    Image.fromarray(RGB[..., 1]).save(tmp_path / "m.png")
    Image.fromarray(RGB).save(tmp_path / "m.jpg")
    Image.fromarray(RGB).quantize(8).save(tmp_path / "mp.png")
    for mask in ("m.png", "m.jpg", "mp.png"):
        with Image.open(tmp_path / mask) as image:
            expected = np.asarray(image.convert("L")) >= 128
        np.testing.assert_array_equal(read_mask(tmp_path / mask)[0].numpy(), expected)


def test_a_mask_is_read_after_the_same_rules(corpus, tmp_path):
    """Alpha flattened on white before the threshold; 16 bits scaled (PIL's own I;16 to L would clip at 255)."""
    folder, _, _ = corpus
    flat = _over_white(RGB, ALPHA)
    with Image.fromarray(flat) as image:
        expected = np.asarray(image.convert("L")) >= 128
    np.testing.assert_array_equal(read_mask(folder / "rgba.png")[0].numpy(), expected)
    np.testing.assert_array_equal(read_mask(folder / "grey16.png")[0].numpy(), _scaled(GREY16) >= 128)
    assert images.read_image(folder / "grey16.png", grey=True).notes == (images.SIXTEEN_BIT,)


@pytest.mark.parametrize("name", ["truncated.png", "empty.png", "text.png", "huge.png", "big.png"])
def test_bad_files_give_one_line_naming_the_file_everywhere(name, corpus, viton, tmp_path):
    folder, _, bad = corpus
    path = folder / name
    expected = f"{path}: {bad[name]}"
    messages = []
    for read in (images.read_image, read_rgb, read_mask, lambda p: _Files([p], [0], _Views(None))[0],
                 lambda p: hash_images([p], progress=False)):  # fmt: skip
        with pytest.raises(InputError) as caught:
            read(path)
        messages.append(str(caught.value))
    dataset, moved = _loader_with(viton, path.read_bytes(), tmp_path)
    with pytest.raises(InputError) as caught:
        dataset[0]
    messages.append(str(caught.value).replace(str(moved), str(path)))
    assert all(m == messages[0] for m in messages), messages
    assert messages[0].startswith(expected) and "\n" not in messages[0], messages[0]
    if name != "truncated.png":  # the header alone already says so: eval and tryon refuse before any work
        for probe in (lambda p: _header(p, 1), lambda p: _input_notes([Pair(p, p, p)])):
            with pytest.raises(InputError, match=f"^{re.escape(expected)}"):
                probe(path)


def test_bomb_message_says_what_to_change(corpus):
    with pytest.raises(InputError, match=r"over the decompression-bomb limit of \d+ pixels; downscale it"):
        images.probe_image(corpus[0] / "big.png")


def test_note_lines_count_each_note_in_report_order(tmp_path):
    notes = {tmp_path / "a.png": (images.ALPHA, images.GREY), tmp_path / "b.png": (images.ALPHA,),
             tmp_path / "c.png": ()}  # fmt: skip
    assert images.note_lines(notes, "prediction") == [
        "2 of 3 prediction file(s): alpha flattened on white (first: a.png, b.png)",
        "1 of 3 prediction file(s): greyscale expanded to RGB (first: a.png)",
    ]


# --- tryon.json: a typed record with the inputs' notes ------------------------------------------------------------


def test_tryon_json_is_a_versioned_record_with_the_notes(corpus, tiny_pfafn, tmp_path):
    folder, _, _ = corpus
    model, files = load_pfafn(tiny_pfafn)
    pair = Pair(folder / "rgba.png", folder / "grey16.png", folder / "mask.png")
    out = tmp_path / "out"
    result = run_tryon(model, [pair], out, device=torch.device("cpu"), checkpoints=files, progress=False)
    record = read_record(out / MANIFEST, "tryon")
    assert record["kind"] == "tryon" and record["schema_version"] == SCHEMA_VERSION
    assert record["checkpoint_sha256"] == files and record["triptych"] is False
    assert (
        record["image_notes"]
        == result.notes
        == [
            "1 of 1 person file(s): alpha flattened on white (first: rgba.png)",
            "1 of 1 garment file(s): 16-bit scaled to 8-bit (first: grey16.png)",
            "1 of 1 garment file(s): greyscale expanded to RGB (first: grey16.png)",
        ]
    )


def test_tryon_resumes_a_folder_of_an_unversioned_record_and_refuses_another_kind(corpus, tiny_pfafn, tmp_path):
    folder, _, _ = corpus
    model, files = load_pfafn(tiny_pfafn)
    pair = Pair(folder / "plain.png", folder / "plain.png", folder / "mask.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"checkpoint_sha256": files, "triptych": False}))
    run_tryon(model, [pair], out, device=torch.device("cpu"), checkpoints=files, progress=False)
    assert read_record(out / MANIFEST, "tryon")["image_notes"] == []
    (out / MANIFEST).write_text(json.dumps({"schema_version": 1, "kind": "predict"}))
    with pytest.raises(InputError, match=rf"{MANIFEST}: a 'predict' record, not a 'tryon' one"):
        run_tryon(model, [pair], out, device=torch.device("cpu"), checkpoints=files, progress=False)
