"""VITON loaders (CP-VTON / CP-VTON+ and PF-AFN layouts) and their synthetic-data writers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_records  # tests/data/conftest.py
from PIL import Image
from torch.utils.data import DataLoader

from bench.data import InputError, create_dataset
from bench.data.synthetic.record import convert_labels
from bench.data.viton import VitonDataset, VitonPFAFNDataset, write_viton, write_viton_pfafn

UNPAIRED = [(0, 1), (1, 2), (2, 0)]
IDS = ["000000", "000001", "000002"]


@pytest.fixture
def viton(tmp_path):
    """A CP-VTON(+) tree with both splits of three 64x48 records, and the records."""
    people, garments = make_records()
    for split in ("train", "test"):
        write_viton(tmp_path, split, people, garments, UNPAIRED)
    return tmp_path, people, garments


@pytest.fixture
def pfafn(tmp_path):
    """A PF-AFN tree (train_* and test_* folders under one root) of three 64x48 records, and the records."""
    people, garments = make_records()
    for split in ("train", "test"):
        write_viton_pfafn(tmp_path, split, people, garments, UNPAIRED)
    return tmp_path, people, garments


def decoded(path: Path, size: tuple[int, int] | None = None) -> torch.Tensor:
    """An image file as the reference loaders see it: RGB, bilinear resize, [-1, 1]."""
    image = Image.open(path).convert("RGB")
    if size is not None:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(image, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1


def check_common(sample: dict, size: tuple[int, int]) -> None:
    """Fields every VITON sample has: types, shapes, ranges."""
    h, w = size
    for key in ("person", "cloth"):
        assert sample[key].dtype == torch.float32 and sample[key].shape == (3, h, w), key
        assert sample[key].min() >= -1 and sample[key].max() <= 1, key
    assert sample["cloth_mask"].dtype == torch.float32 and sample["cloth_mask"].shape == (1, h, w)
    assert set(sample["cloth_mask"].unique().tolist()) <= {0.0, 1.0}
    assert all(isinstance(sample[k], str) for k in ("person_id", "cloth_id", "pair_mode", "dataset"))


def check_source(sample: dict, person, garment) -> None:
    """The decoded images and mask match what the writer was given (JPEG-lossy, native size)."""
    assert (sample["person"] - torch.from_numpy(person.image).permute(2, 0, 1) / 127.5 + 1).abs().mean() < 0.5
    assert (sample["cloth"] - torch.from_numpy(garment.image).permute(2, 0, 1) / 127.5 + 1).abs().mean() < 0.1
    mask = torch.from_numpy(garment.mask >= 128).float()
    assert (sample["cloth_mask"][0] != mask).float().mean() < 0.01


def check_error(err: pytest.ExceptionInfo, path: Path) -> None:
    message = str(err.value)
    assert str(path) in message, message
    assert "\n" not in message, message


# ------------------------------------------------------------------------------------------- VitonDataset


@pytest.mark.parametrize(("parse", "label_set"), [("image-parse", "lip20"), ("image-parse-new", "lip21")])
def test_viton_paired_test(viton, parse, label_set):
    root, people, garments = viton
    ds = VitonDataset(root, parse=parse)
    assert len(ds) == 3 and ds.label_set == label_set
    for i, (sample, person, garment) in enumerate(zip(ds, people, garments, strict=True)):
        check_common(sample, (64, 48))
        check_source(sample, person, garment)
        assert sample["person"].equal(decoded(root / "test" / "image" / f"{IDS[i]}_0.jpg"))
        assert (sample["person_id"], sample["cloth_id"]) == (IDS[i], IDS[i])
        assert sample["pair_mode"] == "paired" and sample["dataset"] == "viton"
        assert sample["parse_labels"] == label_set
        assert sample["parse"].dtype == torch.int64 and sample["parse"].shape == (64, 48)
        assert sample["parse"].equal(torch.from_numpy(convert_labels(person.parse_noisy, label_set)).long())
        assert sample["keypoints"].dtype == torch.float32 and sample["keypoints"].shape == (18, 3)
        assert torch.allclose(sample["keypoints"], torch.from_numpy(person.keypoints), atol=1e-4)
        assert "densepose" not in sample
    assert Image.open(root / "test" / "image-parse" / "000000_0.png").mode == "P"
    assert Image.open(root / "test" / "image-parse-new" / "000000_0.png").mode == "L"


def test_viton_unpaired_and_train(viton):
    root, _, _ = viton
    unpaired = VitonDataset(root, pair_mode="unpaired")
    assert [(s["person_id"], s["cloth_id"], s["pair_mode"]) for s in unpaired] == [
        (IDS[i], IDS[j], "unpaired") for i, j in UNPAIRED
    ]
    train = VitonDataset(root, split="train")
    assert [(e.person_id, e.cloth_id) for e in train.entries] == [(i, i) for i in IDS]
    shifted = VitonDataset(root, split="train", pair_mode="unpaired")
    assert [(e.person_id, e.cloth_id) for e in shifted.entries] == [(IDS[i], IDS[(i + 1) % 3]) for i in range(3)]
    sample = shifted[2]
    assert sample["cloth"].equal(decoded(root / "train" / "cloth" / "000000_1.jpg"))


def test_viton_paired_without_same_list(viton):
    root, _, _ = viton
    (root / "test_pairs_same.txt").unlink()
    ds = VitonDataset(root)
    assert [(e.person_id, e.cloth_id) for e in ds.entries] == [(IDS[i], IDS[i]) for i, _ in UNPAIRED]


def test_viton_resized(viton):
    root, people, _ = viton
    ds = VitonDataset(root, size=(32, 24))
    sample = ds[1]
    check_common(sample, (32, 24))
    assert torch.allclose(sample["person"], decoded(root / "test" / "image" / "000001_0.jpg", (32, 24)))
    labels = Image.open(root / "test" / "image-parse" / "000001_0.png").resize((24, 32), Image.Resampling.NEAREST)
    assert sample["parse"].shape == (32, 24) and sample["parse"].equal(torch.from_numpy(np.array(labels)).long())
    expected = torch.from_numpy(people[1].keypoints) * torch.tensor([0.5, 0.5, 1.0])
    assert torch.allclose(sample["keypoints"], expected, atol=1e-4)


def test_viton_dataloader_and_registry(viton):
    root, _, _ = viton
    ds = create_dataset("viton", root, parse="image-parse-new", pair_mode="unpaired")
    assert isinstance(ds, VitonDataset)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["person"].shape == (2, 3, 64, 48) and batch["parse"].shape == (2, 64, 48)
    assert batch["keypoints"].shape == (2, 18, 3) and batch["cloth_id"] == ["000001", "000002"]
    with pytest.raises(ValueError, match="parse must be one of"):
        VitonDataset(root, parse="image-parse-v3")


# -------------------------------------------------------------------------------------- VitonPFAFNDataset


@pytest.mark.parametrize("size", [None, (32, 24)])
def test_pfafn_train(pfafn, size):
    root, people, garments = pfafn
    ds = VitonPFAFNDataset(root, split="train", size=size)
    scale = 1.0 if size is None else 0.5
    assert len(ds) == 3
    for i, (sample, person, garment) in enumerate(zip(ds, people, garments, strict=True)):
        check_common(sample, size or (64, 48))
        if size is None:
            check_source(sample, person, garment)
        assert (sample["person_id"], sample["cloth_id"], sample["dataset"]) == (IDS[i], IDS[i], "viton-pfafn")
        labels = torch.from_numpy(convert_labels(person.parse_noisy, "acgpn14")).long()
        dense = torch.from_numpy(person.densepose).long()
        if size is not None:
            labels, dense = labels[::2, ::2], dense[::2, ::2]  # nearest halving of a 64x48 map
        assert sample["parse_labels"] == "acgpn14" and sample["parse"].dtype == torch.int64
        assert sample["parse"].equal(labels)
        assert sample["densepose"].dtype == torch.int64 and sample["densepose"].equal(dense)
        expected = torch.from_numpy(person.keypoints) * torch.tensor([scale, scale, 1.0])
        assert torch.allclose(sample["keypoints"], expected, atol=1e-4)
    shifted = VitonPFAFNDataset(root, split="train", pair_mode="unpaired")
    assert [(s["person_id"], s["cloth_id"], s["pair_mode"]) for s in shifted] == [
        (IDS[i], IDS[(i + 1) % 3], "unpaired") for i in range(3)
    ]
    assert shifted[0]["cloth"].equal(decoded(root / "train_color" / "000001_1.jpg"))


def test_pfafn_test(pfafn):
    root, people, garments = pfafn
    paired = VitonPFAFNDataset(root)
    unpaired = VitonPFAFNDataset(root, pair_mode="unpaired")
    for i, sample in enumerate(paired):
        check_common(sample, (64, 48))
        check_source(sample, people[i], garments[i])
        assert not {"parse", "parse_labels", "keypoints", "densepose"} & set(sample)
    assert [(s["person_id"], s["cloth_id"], s["pair_mode"]) for s in unpaired] == [
        (IDS[i], IDS[j], "unpaired") for i, j in UNPAIRED
    ]
    (root / "custom.txt").write_text("000002_0.jpg 000000_1.jpg\n")
    custom = VitonPFAFNDataset(root, pairs_file="custom.txt", size=(32, 24))
    assert [(e.person_id, e.cloth_id) for e in custom.entries] == [("000002", "000000")]
    check_common(custom[0], (32, 24))
    batch = next(iter(DataLoader(unpaired, batch_size=2)))
    assert batch["person"].shape == (2, 3, 64, 48) and batch["cloth_mask"].shape == (2, 1, 64, 48)
    with pytest.raises(ValueError, match="test split only"):
        VitonPFAFNDataset(root, split="train", pairs_file="custom.txt")


def test_pfafn_train_dataloader(pfafn):
    root, _, _ = pfafn
    batch = next(iter(DataLoader(create_dataset("viton-pfafn", root, split="train"), batch_size=2)))
    assert batch["densepose"].shape == (2, 64, 48) and batch["parse"].shape == (2, 64, 48)
    assert batch["person_id"] == ["000000", "000001"]


def test_pfafn_demo_fixture(viton_demo: Path) -> None:
    ds = VitonPFAFNDataset(viton_demo / "dataset", pairs_file=viton_demo / "demo.txt")
    rows = [line.split() for line in (viton_demo / "demo.txt").read_text().splitlines() if line.strip()]
    assert len(ds) == 6
    assert [(s["person_id"], s["cloth_id"]) for s in ds] == [(p[:-6], c[:-6]) for p, c in rows]
    for sample in ds:
        check_common(sample, (256, 192))


# ---------------------------------------------------------------------------------------------- writers


def test_writers_idempotent(tmp_path):
    people, garments = make_records()
    for writer, root in ((write_viton, tmp_path / "viton"), (write_viton_pfafn, tmp_path / "pfafn")):
        for split in ("train", "test"):
            writer(root, split, people, garments, UNPAIRED)
        before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
        for split in ("train", "test"):
            writer(root, split, people, garments, UNPAIRED)
        after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
        assert before == after and not [p for p in after if p.name.startswith(".")]
    pose = json.loads((tmp_path / "viton" / "test" / "pose" / "000000_0_keypoints.json").read_text())
    assert pose["version"] == 1.0 and len(pose["people"][0]["pose_keypoints"]) == 54
    assert (tmp_path / "viton" / "test_pairs.txt").read_text().splitlines()[0] == "000000_0.jpg 000001_1.jpg"
    assert (tmp_path / "viton" / "train_pairs.txt").read_text().splitlines()[2] == "000002_0.jpg 000002_1.jpg"
    assert np.load(tmp_path / "pfafn" / "train_densepose" / "000001_0.npy").dtype == np.float32
    assert sorted(p.name for p in (tmp_path / "pfafn").iterdir()) == [
        *(f"test_{f}" for f in ("clothes", "edge", "img")),
        "test_pairs.txt",
        "test_pairs_same.txt",
        *(f"train_{f}" for f in ("color", "densepose", "edge", "img", "label", "pose")),
    ]


def test_writers_reject_bad_records(tmp_path):
    people, garments = make_records()
    with pytest.raises(ValueError, match="sorted file order"):
        # person 000000 wears garment 000002 and the reverse: sorted folders would misalign them
        people[0].garment_id, people[2].garment_id = "000002", "000000"
        write_viton_pfafn(tmp_path, "train", people, [garments[2], garments[1], garments[0]], UNPAIRED)
    people, garments = make_records()
    with pytest.raises(ValueError, match="wears"):
        write_viton(tmp_path, "test", people, garments[::-1], UNPAIRED)
    with pytest.raises(ValueError, match="out of range"):
        write_viton(tmp_path, "test", people, garments, [(0, 3)])


# ------------------------------------------------------------------------------------------- bad inputs


def _remove(path: Path) -> Path:
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path


def _small_jpeg(path: Path) -> Path:
    Image.new("RGB", (24, 32), (128, 64, 32)).save(path, format="JPEG")
    return path


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _bad_label(path: Path) -> Path:
    labels = np.zeros((64, 48), np.uint8)
    labels[10, 10] = 20  # the lip21 neck label, out of range for lip20
    image = Image.fromarray(labels)
    image.putpalette([v for i in range(256) for v in (i, i, i)])
    image.save(path, format="PNG")
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _append(path: Path, line: str) -> Path:
    return _write(path, path.read_text() + line)


def _bad_densepose(path: Path) -> Path:
    np.save(path, np.full((64, 48), 30.0, np.float32))
    return path


_POSE = Path("test", "pose", "000000_0_keypoints.json")
_SHORT_POSE = json.dumps({"version": 1.0, "people": [{"pose_keypoints": [0.0] * 53}]})

# case: (loader, kwargs, damage(root) -> the offending path, whether it fails at construction or at ds[0])
BAD_INPUTS: dict[str, tuple[type, dict, Callable[[Path], Path], bool]] = {
    "missing split folder": (VitonDataset, {"split": "train"}, lambda r: r / "train", True),
    "missing parse folder": (
        VitonDataset,
        {"parse": "image-parse-new"},
        lambda r: _remove(r / "test" / "image-parse-new"),
        True,
    ),
    "missing image in pair list": (VitonDataset, {}, lambda r: _remove(r / "test" / "image" / "000001_0.jpg"), True),
    "missing pair list": (VitonDataset, {"pair_mode": "unpaired"}, lambda r: _remove(r / "test_pairs.txt"), True),
    "pair line with 3 fields": (
        VitonDataset,
        {},
        lambda r: _append(r / "test_pairs_same.txt", "a_0.jpg b_1.jpg c\n"),
        True,
    ),
    "truncated jpeg": (VitonDataset, {}, lambda r: _truncate(r / "test" / "image" / "000000_0.jpg"), False),
    "label out of range": (VitonDataset, {}, lambda r: _bad_label(r / "test" / "image-parse" / "000000_0.png"), False),
    "empty keypoint json": (VitonDataset, {}, lambda r: _write(r / _POSE, ""), False),
    "keypoints wrong length": (VitonDataset, {}, lambda r: _write(r / _POSE, _SHORT_POSE), False),
    "cloth of wrong size": (VitonDataset, {}, lambda r: _small_jpeg(r / "test" / "cloth" / "000000_1.jpg"), False),
    "pfafn missing edge folder": (VitonPFAFNDataset, {}, lambda r: _remove(r / "test_edge"), True),
    "pfafn missing pairs file": (VitonPFAFNDataset, {"pairs_file": "demo.txt"}, lambda r: r / "demo.txt", True),
    "pfafn train counts differ": (
        VitonPFAFNDataset,
        {"split": "train"},
        lambda r: _remove(r / "train_edge" / "000002_1.jpg").parent,
        True,
    ),
    "pfafn densepose out of range": (
        VitonPFAFNDataset,
        {"split": "train"},
        lambda r: _bad_densepose(r / "train_densepose" / "000000_0.npy"),
        False,
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input(tmp_path, case):
    loader, kwargs, damage, at_init = BAD_INPUTS[case]
    people, garments = make_records()
    writer = write_viton if loader is VitonDataset else write_viton_pfafn
    for split in ("train", "test") if loader is VitonPFAFNDataset else ("test",):
        writer(tmp_path, split, people, garments, UNPAIRED)
    offending = damage(tmp_path)
    if at_init:
        with pytest.raises(InputError) as err:
            loader(tmp_path, **kwargs)
    else:
        ds = loader(tmp_path, **kwargs)
        with pytest.raises(InputError) as err:
            ds[0]
    check_error(err, offending)
    if case == "pfafn train counts differ":
        assert str(tmp_path / "train_img") in str(err.value) and "2 files" in str(err.value)


def test_skip_bad(viton):
    root, _, _ = viton
    missing = _remove(root / "test" / "image" / "000001_0.jpg")
    ds = VitonDataset(root, skip_bad=True)
    assert [e.person_id for e in ds.entries] == ["000000", "000002"]
    assert len(ds.skipped) == 1 and str(missing) in ds.skipped[0]
    broken = _truncate(root / "test" / "image" / "000000_0.jpg")
    assert ds[0]["person_id"] == "000002"  # the unreadable sample is replaced by the next one
    assert len(ds.skipped) == 2 and str(broken) in ds.skipped[1]
