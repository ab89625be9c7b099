"""``pftryon data overlap``: train images planted in a synthetic VITON test split are found, near-misses are not."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.cli import main as pftryon
from bench.data.overlap import DEFAULT_HAMMING, DEFAULT_PIXEL, hamming_candidates, phash
from bench.data.synthetic import synthesize
from bench.data.synthetic.render import SyntheticWorld

SIZE = (128, 96)
N_TRAIN, N_TEST = 28, 12
# test person -> (train person it copies, how); the near-misses must not be reported.
DUPLICATES = {0: (3, "exact"), 1: (5, "jpeg75"), 2: (8, "resized"), 3: (11, "shift11"), 4: (14, "shift02")}
NEAR_MISSES = {5: (17, "other_person_same_garment"), 6: (20, "garment_inverted")}
CLOTH_DUPLICATE = (7, 23)  # test garment 7 is a JPEG re-encode of train garment 23


def _id(index: int) -> str:
    return f"{index:06d}"


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _shifted(pixels: np.ndarray, dy: int, dx: int) -> Image.Image:
    """``pixels`` moved by (dy, dx), the uncovered border repeating the edge."""
    h, w = pixels.shape[:2]
    padded = np.pad(pixels, ((abs(dy), abs(dy)), (abs(dx), abs(dx)), (0, 0)), mode="edge")
    return Image.fromarray(padded[abs(dy) - dy : abs(dy) - dy + h, abs(dx) - dx : abs(dx) - dx + w])


def _variant(root: Path, train: int, how: str) -> bytes:
    source = root / "train" / "image" / f"{_id(train)}_0.jpg"
    image = Image.open(source).convert("RGB")
    pixels = np.asarray(image)
    if how == "exact":
        return source.read_bytes()
    if how == "jpeg75":
        return _jpeg(image, 75)
    if how == "resized":
        half = image.resize((SIZE[1] // 2, SIZE[0] // 2), Image.Resampling.BILINEAR)
        return _jpeg(half.resize((SIZE[1], SIZE[0]), Image.Resampling.BILINEAR), 95)
    if how.startswith("shift"):
        return _jpeg(_shifted(pixels, int(how[-2]), int(how[-1])), 95)
    if how == "other_person_same_garment":  # a person who is in neither split, wearing the train person's garment
        return _jpeg(Image.fromarray(SyntheticWorld(0, SIZE, "studio").tryon(500, train).image), 95)
    if how == "garment_inverted":  # the same photo with the upper-clothes region (LIP label 5) inverted
        garment = np.asarray(Image.open(root / "train" / "image-parse" / f"{_id(train)}_0.png")) == 5
        changed = pixels.copy()
        changed[garment] = 255 - changed[garment]
        return _jpeg(Image.fromarray(changed), 95)
    raise AssertionError(how)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic VITON tree (studio backdrop, as in VITON) whose test split holds planted copies of train images."""
    root = tmp_path_factory.mktemp("overlap") / "viton"
    synthesize("viton", root, n=N_TRAIN + N_TEST, size=SIZE, test_fraction=N_TEST / (N_TRAIN + N_TEST),
               background="studio", progress=False)  # fmt: skip
    assert len((root / "train_pairs.txt").read_text().splitlines()) == N_TRAIN
    for test, (train, how) in {**DUPLICATES, **NEAR_MISSES}.items():
        (root / "test" / "image" / f"{_id(N_TRAIN + test)}_0.jpg").write_bytes(_variant(root, train, how))
    test, train = CLOTH_DUPLICATE
    garment = Image.open(root / "train" / "cloth" / f"{_id(train)}_1.jpg").convert("RGB")
    (root / "test" / "cloth" / f"{_id(N_TRAIN + test)}_1.jpg").write_bytes(_jpeg(garment, 75))
    return root


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(pftryon, ["data", "overlap", *args])
    return result.exit_code, result.output


def _pairs(root: Path) -> list[str]:
    return (root / "test_pairs.txt").read_text().splitlines()


def _found(out: Path) -> set[tuple[str, str, str]]:
    with (out / "overlap.csv").open() as handle:
        return {(row["field"], row["test_file"], row["train_file"]) for row in csv.DictReader(handle)}


def test_planted_duplicates_are_found_and_near_misses_are_not(planted: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run("--dataset", "viton", "--root", str(planted), "--out", str(out))
    assert code == 0, output
    expected = {("person", f"test/image/{_id(N_TRAIN + t)}_0.jpg", f"train/image/{_id(s)}_0.jpg")
                for t, (s, _) in DUPLICATES.items()}  # fmt: skip
    assert _found(out) == expected, "every planted copy, and nothing else (no near-miss, no other person)"
    duplicates = {f"{_id(N_TRAIN + t)}_0.jpg" for t in DUPLICATES}
    kept = [row for row in _pairs(planted) if row.split()[0] not in duplicates]
    assert len(kept) == N_TEST - len(DUPLICATES)
    assert (out / "test_pairs_clean.txt").read_text().splitlines() == kept
    settings = json.loads((out / "overlap.json").read_text())
    assert settings["images_hashed"] == {"person": {"test": N_TEST, "train": N_TRAIN}}
    assert settings["confirmed_pairs"] == {"person": len(DUPLICATES)}
    assert settings["candidates"]["person"] >= len(DUPLICATES)
    assert settings["hash"]["hamming_threshold"] == DEFAULT_HAMMING and settings["pixel"]["threshold"] == DEFAULT_PIXEL
    assert set(settings["fingerprints_sha256"]) == {"test", "train"}
    assert "keeps 7 of 12 pairs" in output


def test_the_pixel_check_alone_rejects_near_misses(planted: Path, tmp_path: Path) -> None:
    """With every train-test pair a hash candidate, the pixel distance still keeps exactly the planted copies."""
    code, output = _run("--dataset", "viton", "--root", str(planted), "--out", str(tmp_path), "--threshold", "64")
    assert code == 0, output
    assert {row[1] for row in _found(tmp_path)} == {f"test/image/{_id(N_TRAIN + t)}_0.jpg" for t in DUPLICATES}
    settings = json.loads((tmp_path / "overlap.json").read_text())
    assert settings["candidates"] == {"person": N_TEST * N_TRAIN}


def test_field_both_also_drops_the_pairs_of_a_duplicated_garment(planted: Path, tmp_path: Path) -> None:
    code, output = _run("--dataset", "viton", "--root", str(planted), "--out", str(tmp_path), "--field", "both")
    assert code == 0, output
    test, train = CLOTH_DUPLICATE
    garment = f"{_id(N_TRAIN + test)}_1.jpg"
    assert ("cloth", f"test/cloth/{garment}", f"train/cloth/{_id(train)}_1.jpg") in _found(tmp_path)
    assert {row[0] for row in _found(tmp_path)} == {"person", "cloth"}
    people = {f"{_id(N_TRAIN + t)}_0.jpg" for t in DUPLICATES}
    kept = [row for row in _pairs(planted) if row.split()[0] not in people and row.split()[1] != garment]
    assert (tmp_path / "test_pairs_clean.txt").read_text().splitlines() == kept


def test_a_non_empty_out_is_refused_without_overwrite(planted: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("earlier run")
    code, output = _run("--dataset", "viton", "--root", str(planted), "--out", str(tmp_path))
    assert code == 2 and "not empty" in output and "--overwrite" in output
    assert not (tmp_path / "overlap.csv").exists()
    code, output = _run("--dataset", "viton", "--root", str(planted), "--out", str(tmp_path), "--overwrite")
    assert code == 0, output
    assert not (tmp_path / "notes.txt").exists() and (tmp_path / "overlap.json").exists()  # replaced as one unit


def test_a_bad_root_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _run("--dataset", "viton", "--root", str(tmp_path / "missing"), "--out", str(out))
    assert code == 2
    assert output.strip().count("\n") == 0 and output.startswith("error: ") and "not found" in output
    assert not out.exists(), "a failed run leaves no folder behind"
    code, output = _run("--dataset", "mpv", "--root", str(tmp_path), "--out", str(out))
    assert code == 2 and "choose one of viton" in output


def test_hash_of_a_copy_and_the_popcount_search() -> None:
    image = Image.fromarray(SyntheticWorld(0, SIZE, "studio").person(1, 1).image)
    assert phash(image) == phash(image.copy())
    rng = np.random.default_rng(0)
    test, train = (rng.integers(0, 2**63, size, dtype=np.uint64) for size in (300, 40))
    train[7] = test[123] ^ np.uint64(0b1011)  # three bits apart
    i, j, distance = hamming_candidates(test, train, 20)
    brute = {(a, b) for a in range(len(test)) for b in range(len(train))
             if bin(int(test[a]) ^ int(train[b])).count("1") <= 20}  # fmt: skip
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute
    assert (123, 7) in brute and distance[(i == 123) & (j == 7)].tolist() == [3]


def test_cli_defaults_are_the_module_defaults() -> None:
    command = pftryon.commands["data"].commands["overlap"]
    defaults = {param.name: param.default for param in command.params}
    assert defaults["threshold"] == DEFAULT_HAMMING and defaults["pixel_threshold"] == DEFAULT_PIXEL
