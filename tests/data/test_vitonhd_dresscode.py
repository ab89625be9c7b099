"""VITON-HD and Dress Code: write synthetic records in each layout, load them back, and reject bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_records
from PIL import Image
from torch.utils.data import DataLoader

from bench.data import LABEL_SETS, InputError, create_dataset
from bench.data.dresscode import CATEGORIES, DressCodeDataset, write_dresscode
from bench.data.synthetic.record import convert_labels
from bench.data.vitonhd import VitonHDDataset, write_viton_hd

H, W = 64, 48
VHD_UNPAIRED = [(0, 1), (1, 2), (2, 3), (3, 0)]
DC_CATEGORIES = ["upper_body", "upper_body", "lower_body", "lower_body", "dresses", "dresses"]
DC_UNPAIRED = [(0, 1), (1, 0), (2, 3), (3, 2), (4, 5), (5, 4), (0, 2)]  # (0, 2) crosses categories: dropped


def check_schema(sample: dict, size: tuple[int, int], label_set: str, dataset: str, pair_mode: str) -> None:
    """Every field the sample has is of the schema's shape, dtype and range."""
    h, w = size
    for key in ("person", "cloth"):
        assert sample[key].dtype == torch.float32 and sample[key].shape == (3, h, w)
        assert sample[key].min() >= -1 and sample[key].max() <= 1
    if "cloth_mask" in sample:
        mask = sample["cloth_mask"]
        assert mask.dtype == torch.float32 and mask.shape == (1, h, w)
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert sample["parse"].dtype == torch.int64 and sample["parse"].shape == (h, w)
    assert sample["parse"].min() >= 0 and sample["parse"].max() < len(LABEL_SETS[label_set].names)
    assert sample["parse_labels"] == label_set
    assert sample["keypoints"].dtype == torch.float32 and sample["keypoints"].shape == (18, 3)
    if "densepose" in sample:
        assert sample["densepose"].dtype == torch.int64 and sample["densepose"].shape == (h, w)
        assert sample["densepose"].min() >= 0 and sample["densepose"].max() <= 24
    assert isinstance(sample["person_id"], str) and isinstance(sample["cloth_id"], str)
    assert sample["pair_mode"] == pair_mode and sample["dataset"] == dataset


def as_float(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1


def closest(image: torch.Tensor, candidates: list[np.ndarray]) -> int:
    """Index of the written image nearest to a loaded one (JPEG blurs the records' noise images too much to
    compare pixel by pixel)."""
    return int(np.argmin([(image - as_float(c)).abs().mean() for c in candidates]))


def assert_input_error(call, offending: Path) -> str:
    """``call()`` raises an :class:`InputError` whose one-line message names ``offending``."""
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert str(offending) in message, message
    assert "\n" not in message
    return message


def write_png(path: Path, array: np.ndarray, mode_p: bool = False) -> None:
    image = Image.fromarray(array)
    if mode_p:
        image.putpalette([k % 256 for k in range(768)])
    image.save(path, format="PNG")


# ---------------------------------------------------------------------------------------------------- VITON-HD


@pytest.fixture
def vhd(tmp_path):
    """A VITON-HD root with a 4-person test split and a 2-person train split, and what was written."""
    root = tmp_path / "zalando-hd-resized"
    test = make_records(4, (H, W), seed=1)
    train = make_records(2, (H, W), seed=2)
    write_viton_hd(root, "test", *test, VHD_UNPAIRED)
    write_viton_hd(root, "train", *train, [(0, 1), (1, 0)])
    return root, {"test": test, "train": train}


@pytest.mark.parametrize("hyphenated", [False, True])
def test_vitonhd_paired_and_unpaired(tmp_path, hyphenated):
    root = tmp_path / "vhd"
    people, garments = make_records(4, (H, W), seed=3)
    write_viton_hd(root, "test", people, garments, VHD_UNPAIRED, hyphenated=hyphenated)
    expected_folders = ("image-parse", "openpose-json", "openpose-img") if hyphenated else (
        "image-parse-v3", "openpose_json", "openpose_img"
    )  # fmt: skip
    assert all((root / "test" / folder).is_dir() for folder in expected_folders)
    for pair_mode, pairs in (("paired", [(i, i) for i in range(4)]), ("unpaired", VHD_UNPAIRED)):
        data = create_dataset("viton-hd", root, split="test", pair_mode=pair_mode)
        assert isinstance(data, VitonHDDataset) and data.layout == ("original" if hyphenated else "release")
        assert len(data) == len(pairs)
        for sample, (i, j) in zip(data, pairs, strict=True):
            check_schema(sample, (H, W), "cihp20", "viton-hd", pair_mode)
            assert sample["person_id"] == f"{i:05d}_00" and sample["cloth_id"] == f"{j:05d}_00"
            assert closest(sample["person"], [p.image for p in people]) == i
            assert (sample["cloth"] - as_float(garments[j].image)).abs().mean() < 0.02
            assert (sample["cloth_mask"][0].numpy() != (garments[j].mask > 0)).mean() < 0.01
            expected_parse = convert_labels(people[i].parse_noisy, "cihp20")
            assert np.array_equal(sample["parse"].numpy(), expected_parse)
            assert torch.allclose(sample["keypoints"], torch.from_numpy(people[i].keypoints), atol=1e-3)
            assert "densepose" not in sample  # image-densepose/ is a rendering, not part indices


def test_vitonhd_body25_json_and_train_split(vhd):
    root, records = vhd
    people, _ = records["test"]
    document = json.loads((root / "test" / "openpose_json" / "00000_00_keypoints.json").read_text())
    body = np.array(document["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    assert document["version"] == 1.3 and body.shape == (25, 3)
    assert not body[8].any() and not body[19:].any()  # the records' hips are missing, so mid-hip is zero
    for pair_mode in ("paired", "unpaired"):
        data = VitonHDDataset(root, split="train", pair_mode=pair_mode)
        assert [s["cloth_id"] for s in data] == (["00000_00", "00001_00"] if pair_mode == "paired" else [
            "00001_00", "00000_00"
        ])  # fmt: skip
        check_schema(data[0], (H, W), "cihp20", "viton-hd", pair_mode)


def test_vitonhd_mid_hip(tmp_path):
    people, garments = make_records(1, (H, W))
    people[0].keypoints[8] = [10, 40, 0.5]
    people[0].keypoints[11] = [20, 42, 1.0]
    write_viton_hd(tmp_path, "test", people, garments, [(0, 0)])
    document = json.loads((tmp_path / "test" / "openpose_json" / "00000_00_keypoints.json").read_text())
    body = np.array(document["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    assert np.allclose(body[8], [15, 41, 0.75]) and np.allclose(body[9], [10, 40, 0.5])
    sample = VitonHDDataset(tmp_path)[0]
    assert torch.allclose(sample["keypoints"], torch.from_numpy(people[0].keypoints), atol=1e-3)


@pytest.mark.parametrize("size", [(32, 24), (96, 64)])
def test_vitonhd_resized(vhd, size):
    root, records = vhd
    people, _ = records["test"]
    data = VitonHDDataset(root, pair_mode="unpaired", size=size)
    scale = torch.tensor([size[1] / W, size[0] / H, 1.0])
    for index, sample in enumerate(data):
        check_schema(sample, size, "cihp20", "viton-hd", "unpaired")
        expected = torch.from_numpy(people[VHD_UNPAIRED[index][0]].keypoints) * scale
        assert torch.allclose(sample["keypoints"], expected, atol=1e-3)


def test_vitonhd_dataloader(vhd):
    root, _ = vhd
    batch = next(iter(DataLoader(VitonHDDataset(root, pair_mode="unpaired"), batch_size=2)))
    assert batch["person"].shape == (2, 3, H, W) and batch["parse"].shape == (2, H, W)
    assert batch["keypoints"].shape == (2, 18, 3) and batch["cloth_mask"].shape == (2, 1, H, W)
    assert batch["person_id"] == ["00000_00", "00001_00"] and batch["cloth_id"] == ["00001_00", "00002_00"]


# ---------------------------------------------------------------------------------------------------- Dress Code


def dc_records(n: int = 6, seed: int = 4, first_id: int = 0, size: tuple[int, int] = (H, W)):
    people, garments = make_records(n, size, seed=seed)
    for i, (person, garment) in enumerate(zip(people, garments, strict=True)):
        person.person_id = person.garment_id = garment.garment_id = f"{first_id + i:06d}"
        garment.category = DC_CATEGORIES[i % len(DC_CATEGORIES)]
    return people, garments


@pytest.fixture
def dc(tmp_path):
    """A Dress Code root with a 6-person test split (two per category) and a 3-person train split."""
    root = tmp_path / "DressCode"
    test = dc_records()
    train = dc_records(3, seed=5, first_id=100)
    for garment, category in zip(train[1], CATEGORIES, strict=True):
        garment.category = category
    write_dresscode(root, "test", *test, DC_UNPAIRED)
    write_dresscode(root, "train", *train, [])
    return root, {"test": test, "train": train}


def test_dresscode_layout_written(dc):
    root, _ = dc
    for category in CATEGORIES:
        for folder in ("images", "keypoints", "label_maps", "dense", "skeletons"):
            assert (root / category / folder).is_dir()
    assert (root / "upper_body" / "images" / "000000_1.jpg").is_file()
    assert Image.open(root / "upper_body" / "label_maps" / "000000_4.png").mode == "L"
    assert Image.open(root / "upper_body" / "skeletons" / "000000_5.jpg").size == (W, H)
    lines = (root / "test_pairs_unpaired.txt").read_text().splitlines()
    assert lines == [f"{i:06d}_0.jpg {j:06d}_1.jpg" for i, j in DC_UNPAIRED[:6]]
    assert (root / "lower_body" / "test_pairs_paired.txt").read_text().split() == [
        "000002_0.jpg", "000002_1.jpg", "000003_0.jpg", "000003_1.jpg"
    ]  # fmt: skip
    rows = json.loads((root / "upper_body" / "keypoints" / "000000_2.json").read_text())["keypoints"]
    assert len(rows) == 18 and all(len(row) == 4 for row in rows)


@pytest.mark.parametrize("category", [*CATEGORIES, "all"])
@pytest.mark.parametrize("pair_mode", ["paired", "unpaired"])
def test_dresscode_categories(dc, category, pair_mode):
    root, records = dc
    people, garments = records["test"]
    pairs = [(i, i) for i in range(6)] if pair_mode == "paired" else DC_UNPAIRED[:6]
    if category != "all":
        pairs = [pair for pair in pairs if DC_CATEGORIES[pair[0]] == category]
    data = create_dataset("dresscode", root, category=category, pair_mode=pair_mode)
    assert isinstance(data, DressCodeDataset) and len(data) == len(pairs)
    for sample, (i, j) in zip(data, pairs, strict=True):
        check_schema(sample, (H, W), "atr18", "dresscode", pair_mode)
        assert sample["category"] == DC_CATEGORIES[i]
        assert sample["person_id"] == f"{i:06d}" and sample["cloth_id"] == f"{j:06d}"
        assert "cloth_mask" not in sample  # masks/ is LaDI-VTON's add-on, absent here
        assert closest(sample["person"], [p.image for p in people]) == i
        assert (sample["cloth"] - as_float(garments[j].image)).abs().mean() < 0.02
        assert np.array_equal(sample["parse"].numpy(), convert_labels(people[i].parse_noisy, "atr18"))
        assert np.array_equal(sample["densepose"].numpy(), people[i].densepose)
        # stored in the 384x512 frame, returned in the image's own pixel frame
        assert torch.allclose(sample["keypoints"], torch.from_numpy(people[i].keypoints), atol=1e-3)


def test_dresscode_keypoint_frame_and_resize(dc):
    root, records = dc
    people, _ = records["test"]
    rows = json.loads((root / "upper_body" / "keypoints" / "000000_2.json").read_text())["keypoints"]
    stored = np.array(rows)[:, :2]
    assert np.allclose(stored, people[0].keypoints[:, :2] * [384 / W, 512 / H], atol=1e-4)
    for size in ((128, 96), (32, 40)):
        sample = DressCodeDataset(root, category="upper_body", size=size)[0]
        check_schema(sample, size, "atr18", "dresscode", "paired")
        expected = torch.from_numpy(people[0].keypoints) * torch.tensor([size[1] / W, size[0] / H, 1.0])
        assert torch.allclose(sample["keypoints"], expected, atol=1e-3)


def test_dresscode_free_size_maps_and_masks(tmp_path):
    people, garments = dc_records(3, size=(128, 96))
    write_dresscode(tmp_path, "test", people, garments, [], map_size=(H, W), masks=True)
    label_map = tmp_path / "upper_body" / "label_maps" / "000000_4.png"
    assert Image.open(label_map).size == (W, H)
    sample = DressCodeDataset(tmp_path, category="upper_body")[0]
    check_schema(sample, (128, 96), "atr18", "dresscode", "paired")
    upsampled = np.array(Image.open(label_map).resize((96, 128), Image.Resampling.NEAREST))
    assert np.array_equal(sample["parse"].numpy(), upsampled)
    assert (sample["cloth_mask"][0].numpy() == (garments[0].mask > 0)).all()
    assert DressCodeDataset(tmp_path, category="upper_body", size=(H, W))[0]["densepose"].shape == (H, W)
    with pytest.raises(InputError, match="test_pairs_unpaired.txt: pair list is empty"):
        DressCodeDataset(tmp_path, category="upper_body", pair_mode="unpaired")
    # "all" skips a category with an empty list (dresses has no sample here) but not an empty dataset
    assert [s["category"] for s in DressCodeDataset(tmp_path)] == ["upper_body", "upper_body", "lower_body"]
    assert_input_error(lambda: DressCodeDataset(tmp_path, pair_mode="unpaired"), tmp_path)


def test_dresscode_roots_with_trailing_slash(dc):
    root, _ = dc
    data = DressCodeDataset(f"{root}/", pair_mode="unpaired")
    assert data.category == "all" and len(data) == 6
    assert [s["category"] for s in data] == DC_CATEGORIES
    data = DressCodeDataset(f"{root / 'lower_body'}/")
    assert data.category == "lower_body"
    assert [(s["person_id"], s["category"]) for s in data] == [("000002", "lower_body"), ("000003", "lower_body")]
    assert len(DressCodeDataset(root / "dresses", category="dresses", pair_mode="unpaired")) == 2
    with pytest.raises(ValueError, match="is the dresses folder"):
        DressCodeDataset(root / "dresses", category="upper_body")


def test_dresscode_train_split(dc):
    root, records = dc
    data = DressCodeDataset(root, split="train")
    assert [(s["person_id"], s["category"]) for s in data] == [
        (f"{100 + k:06d}", category) for k, category in enumerate(CATEGORIES)
    ]
    check_schema(data[1], (H, W), "atr18", "dresscode", "paired")
    # no unpaired training list exists: both modes read train_pairs.txt, the release's own pairs
    unpaired = DressCodeDataset(root, split="train", pair_mode="unpaired")
    assert [(s["person_id"], s["cloth_id"]) for s in unpaired] == [(s["person_id"], s["cloth_id"]) for s in data]
    check_schema(unpaired[2], (H, W), "atr18", "dresscode", "unpaired")
    with pytest.raises(ValueError, match="category must be one of"):
        DressCodeDataset(root, category="tops")


def test_dresscode_dataloader(dc):
    root, _ = dc
    batch = next(iter(DataLoader(DressCodeDataset(root, pair_mode="unpaired"), batch_size=2)))
    assert batch["person"].shape == (2, 3, H, W) and batch["densepose"].shape == (2, H, W)
    assert batch["keypoints"].shape == (2, 18, 3) and batch["parse"].dtype == torch.int64
    assert batch["category"] == ["upper_body", "upper_body"] and batch["cloth_id"] == ["000001", "000000"]


# ---------------------------------------------------------------------------------------------------- bad inputs


def test_bad_missing_category_folder(dc):
    root, _ = dc
    shutil.rmtree(root / "lower_body")
    assert_input_error(lambda: DressCodeDataset(root), root / "lower_body")
    assert len(DressCodeDataset(root, category="dresses")) == 2  # the other categories still load alone


def test_bad_pair_list_names_missing_image(vhd):
    root, _ = vhd
    with (root / "test_pairs.txt").open("a") as handle:
        handle.write("09999_00.jpg 00000_00.jpg\n")
    assert_input_error(lambda: VitonHDDataset(root, pair_mode="unpaired"), root / "test" / "image" / "09999_00.jpg")
    data = VitonHDDataset(root, pair_mode="unpaired", skip_bad=True)
    assert len(data) == 4 and len(data.skipped) == 1


def test_bad_truncated_jpeg(vhd):
    root, _ = vhd
    person = root / "test" / "image" / "00000_00.jpg"
    person.write_bytes(person.read_bytes()[: len(person.read_bytes()) // 2])
    data = VitonHDDataset(root)
    assert_input_error(lambda: data[0], person)


def test_bad_label_out_of_range(vhd, dc):
    root, _ = vhd
    parse = root / "test" / "image-parse-v3" / "00001_00.png"
    write_png(parse, np.full((H, W), 25, np.uint8), mode_p=True)
    data = VitonHDDataset(root)
    assert "label 25 out of range" in assert_input_error(lambda: data[1], parse)
    dc_root, _ = dc
    label_map = dc_root / "upper_body" / "label_maps" / "000000_4.png"
    write_png(label_map, np.full((H, W), 18, np.uint8))
    assert_input_error(lambda: DressCodeDataset(dc_root)[0], label_map)
    dense = dc_root / "dresses" / "dense" / "000004_5.png"
    write_png(dense, np.full((H, W), 30, np.uint8))
    assert_input_error(lambda: DressCodeDataset(dc_root, category="dresses")[0], dense)


@pytest.mark.parametrize("content", ["", "{}", '{"people": [{}]}'])
def test_bad_empty_keypoint_json(vhd, content):
    root, _ = vhd
    keypoints = root / "test" / "openpose_json" / "00002_00_keypoints.json"
    keypoints.write_text(content)
    data = VitonHDDataset(root)
    assert_input_error(lambda: data[2], keypoints)


def test_vitonhd_nobody_detected_gives_zeros(vhd):
    root, _ = vhd
    (root / "test" / "openpose_json" / "00002_00_keypoints.json").write_text('{"version": 1.3, "people": []}')
    assert not VitonHDDataset(root)[2]["keypoints"].any()


def test_bad_dresscode_keypoints(dc):
    root, _ = dc
    keypoints = root / "lower_body" / "keypoints" / "000003_2.json"
    keypoints.write_text(json.dumps({"keypoints": [[1.0, 2.0, 1.0, k] for k in range(17)]}))
    data = DressCodeDataset(root, category="lower_body")
    assert "18 rows" in assert_input_error(lambda: data[1], keypoints)
    keypoints.write_text("")
    assert_input_error(lambda: data[1], keypoints)


def test_bad_both_spellings(vhd):
    root, _ = vhd
    (root / "test" / "openpose-json").mkdir()
    message = assert_input_error(lambda: VitonHDDataset(root), root / "test")
    assert "openpose-json" in message and "openpose_json" in message
    assert len(VitonHDDataset(root, split="train")) == 2  # the other split is unaffected


def test_bad_neither_spelling(vhd):
    root, _ = vhd
    for folder in ("image-parse-v3", "openpose_json", "openpose_img"):
        shutil.rmtree(root / "test" / folder)
    message = assert_input_error(lambda: VitonHDDataset(root), root / "test")
    assert "image-parse-v3" in message and "openpose-json" in message


def test_bad_missing_parse_folder_of_detected_layout(vhd):
    root, _ = vhd
    shutil.rmtree(root / "test" / "image-parse-v3")
    assert_input_error(lambda: VitonHDDataset(root), root / "test" / "image-parse-v3")


def test_bad_rgb_label_map(dc):
    root, _ = dc
    label_map = root / "dresses" / "label_maps" / "000005_4.png"
    write_png(label_map, np.zeros((H, W, 3), np.uint8))
    data = DressCodeDataset(root, category="dresses")
    assert "mode RGB" in assert_input_error(lambda: data[1], label_map)


def test_bad_dresscode_person_name(dc):
    root, _ = dc
    pair_file = root / "upper_body" / "test_pairs_paired.txt"
    pair_file.write_text("000000.jpg 000000_1.jpg\n")
    assert_input_error(lambda: DressCodeDataset(root, category="upper_body"), pair_file)


def test_bad_missing_pair_list(dc):
    root, _ = dc
    pair_file = root / "dresses" / "test_pairs_unpaired.txt"
    pair_file.unlink()
    assert_input_error(lambda: DressCodeDataset(root, pair_mode="unpaired"), pair_file)
