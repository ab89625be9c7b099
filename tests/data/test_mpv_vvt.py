"""MPV and VVT loaders: write synthetic records in each layout, read them back, and reject bad inputs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_records  # tests/data/conftest.py
from PIL import Image
from torch.utils.data import DataLoader

from bench.data import InputError, create_dataset
from bench.data.mpv import MPVDataset, write_mpv
from bench.data.synthetic.record import convert_labels
from bench.data.vvt import VVTDataset, vvt_video_ids, write_vvt

H, W = 64, 48


# --------------------------------------------------------------------------------------------------
# helpers


def _as_rgb(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1


def _decoded(path: Path) -> torch.Tensor:
    return _as_rgb(np.asarray(Image.open(path).convert("RGB")))


def _jpeg_close(tensor: torch.Tensor, array: np.ndarray) -> bool:
    """A decoded JPEG matches the written array: small mean error (edges of colour blocks ring more)."""
    return float((tensor - _as_rgb(array)).abs().mean()) < 0.03


def _check_common(sample: dict, *, size: tuple[int, int] = (H, W)) -> None:
    h, w = size
    for key in ("person", "cloth"):
        assert sample[key].dtype == torch.float32 and sample[key].shape == (3, h, w), key
        assert sample[key].min() >= -1 and sample[key].max() <= 1, key
    assert sample["keypoints"].dtype == torch.float32 and sample["keypoints"].shape == (18, 3)
    if "cloth_mask" in sample:
        mask = sample["cloth_mask"]
        assert mask.dtype == torch.float32 and mask.shape == (1, h, w)
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
    if "parse" in sample:
        assert sample["parse"].dtype == torch.int64 and sample["parse"].shape == (h, w)
        assert sample["parse_labels"] == "lip20"
        assert sample["parse"].min() >= 0 and sample["parse"].max() < 20
    assert "densepose" not in sample


def _assert_input_error(excinfo: pytest.ExceptionInfo, names: Path | str) -> None:
    message = str(excinfo.value)
    assert str(names) in message, message
    assert "\n" not in message, message


def _renumber(people, garments, start: int):
    """Records with garment ids ``start``, ``start + 1``, ...: ids must be unique across the splits of a root."""
    ids = [str(start + i) for i in range(len(garments))]
    garments = [dataclasses.replace(g, garment_id=i) for g, i in zip(garments, ids, strict=True)]
    people = [dataclasses.replace(p, garment_id=i, person_id=i) for p, i in zip(people, ids, strict=True)]
    return people, garments


# --------------------------------------------------------------------------------------------------
# MPV

MPV_UNPAIRED = [(0, 1), (1, 2), (2, 0)]


def _write_mpv_root(root: Path, image_dir: str = "all", n: int = 3) -> dict:
    train = _renumber(*make_records(n, seed=0), start=0)
    test = _renumber(*make_records(n, seed=1), start=10)
    write_mpv(root, "train", *train, [], image_dir=image_dir)
    write_mpv(root, "test", *test, [(i, (i + 1) % n) for i in range(n)], image_dir=image_dir)
    return {"train": train, "test": test}


def _mpv_entry(garment_id: str, index: int, kind: str) -> str:
    product = f"SY{int(garment_id):07d}"
    return f"{product}/{product}-C11@{index}={kind}"


@pytest.fixture(scope="module")
def mpv_roots(tmp_path_factory):
    roots = {}
    for image_dir in ("all", "MPV_192_256"):
        root = tmp_path_factory.mktemp(f"mpv_{image_dir}")
        roots[image_dir] = (root, _write_mpv_root(root, image_dir))
    return roots


def test_mpv_writer_merges_both_splits_into_one_pair_file(mpv_roots):
    root, _ = mpv_roots["all"]
    lines = (root / "all_poseA_poseB_clothes.txt").read_text().splitlines()
    rows = [line.split("\t") for line in lines]
    assert len(rows) == 6 and all(len(row) == 4 for row in rows)
    assert [row[3] for row in rows] == ["train"] * 3 + ["test"] * 3
    assert rows[3][0] == _mpv_entry("10", 0, "person_half_front.jpg")
    # Writing a split again replaces its rows instead of duplicating them.
    people, garments = _renumber(*make_records(1, seed=3), start=10)
    scratch = root.parent / "mpv_rewrite"
    shutil.copytree(root, scratch)
    write_mpv(scratch, "test", people, garments, [])
    assert len((scratch / "all_poseA_poseB_clothes.txt").read_text().splitlines()) == 6


@pytest.mark.parametrize("image_dir", ["all", "MPV_192_256"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_mpv_paired_samples_match_what_was_written(mpv_roots, image_dir, split):
    root, written = mpv_roots[image_dir]
    people, garments = written[split]
    dataset = create_dataset("mpv", root, split=split, pair_mode="paired")
    assert isinstance(dataset, MPVDataset) and len(dataset) == 3
    for i, (person, garment) in enumerate(zip(people, garments, strict=True)):
        sample = dataset[i]
        _check_common(sample)
        person_entry = _mpv_entry(garment.garment_id, i, "person_half_front")
        cloth_entry = _mpv_entry(garment.garment_id, i, "cloth_front")
        assert sample["person_id"] == person_entry and sample["cloth_id"] == cloth_entry
        assert sample["pair_mode"] == "paired" and sample["dataset"] == "mpv"
        # JPEG: exactly the decoded file, and closer to its own record than to any other.
        person_file = root / image_dir / f"{person_entry}.jpg"
        assert torch.allclose(sample["person"], _decoded(person_file), atol=1e-5)
        errors = [(sample["person"] - _as_rgb(p.image)).abs().mean() for p in people]
        assert int(np.argmin(errors)) == i
        assert _jpeg_close(sample["cloth"], garment.image)
        assert torch.equal(sample["cloth_mask"][0], torch.from_numpy(garment.mask >= 128).float())
        expected_parse = torch.from_numpy(convert_labels(person.parse_noisy, "lip20").astype(np.int64))
        assert torch.equal(sample["parse"], expected_parse)
        assert torch.allclose(sample["keypoints"], torch.from_numpy(person.keypoints), atol=1e-4)


def test_mpv_unpaired_from_written_list_explicit_list_and_derangement(mpv_roots, tmp_path):
    root, written = mpv_roots["all"]
    _, test_garments = written["test"]
    # test split: the writer's test_unpaired_pairs.txt
    dataset = MPVDataset(root, split="test", pair_mode="unpaired")
    assert dataset.unpaired_source.endswith("test_unpaired_pairs.txt")
    for sample, (i, j) in zip(dataset, MPV_UNPAIRED, strict=True):
        _check_common(sample)
        assert sample["pair_mode"] == "unpaired"
        assert sample["person_id"] == _mpv_entry(test_garments[i].garment_id, i, "person_half_front")
        assert sample["cloth_id"] == _mpv_entry(test_garments[j].garment_id, j, "cloth_front")
        assert _jpeg_close(sample["cloth"], test_garments[j].image)
    # train split: no list, so pftryon's derangement (the next row's cloth)
    dataset = MPVDataset(root, split="train", pair_mode="unpaired")
    train_ids = [g.garment_id for g in written["train"][1]]
    assert [s["cloth_id"] for s in dataset] == [
        _mpv_entry(train_ids[(i + 1) % 3], (i + 1) % 3, "cloth_front") for i in range(3)
    ]
    assert "derangement" in dataset.unpaired_source
    # an explicit list, with entries carrying the image-folder prefix, which is stripped
    person, cloth = _mpv_entry(train_ids[2], 2, "person_half_front.jpg"), _mpv_entry(train_ids[0], 0, "cloth_front.jpg")
    (tmp_path / "mine.txt").write_text(f"all/{person}\tall/{cloth}\n")
    dataset = MPVDataset(root, split="train", pair_mode="unpaired", unpaired_file=tmp_path / "mine.txt")
    assert len(dataset) == 1 and dataset[0]["cloth_id"] == cloth.removesuffix(".jpg")


def test_mpv_resize_scales_keypoints_and_batches(mpv_roots):
    root, written = mpv_roots["MPV_192_256"]
    people, _ = written["test"]
    dataset = MPVDataset(root, split="test", size=(32, 24))
    sample = dataset[1]
    _check_common(sample, size=(32, 24))
    expected = torch.from_numpy(people[1].keypoints).clone()
    expected[:, :2] *= 0.5
    assert torch.allclose(sample["keypoints"], expected, atol=1e-4)
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch["person"].shape == (2, 3, 32, 24) and batch["parse"].shape == (2, 32, 24)
    assert batch["keypoints"].shape == (2, 18, 3) and len(batch["person_id"]) == 2
    assert batch["pair_mode"] == ["paired", "paired"]


def test_mpv_protocol_filters_front_dedupes_and_finds_other_pair_file_names(tmp_path):
    root = tmp_path / "mpv"
    written = _write_mpv_root(root, n=2)
    pair_file = root / "all_poseA_poseB_clothes.txt"
    people_ids = [g.garment_id for g in written["test"][1]]
    first = _mpv_entry(people_ids[0], 0, "person_half_front.jpg")
    back = first.replace("half_front", "whole_back")  # not a front view: dropped, its files never read
    with pair_file.open("a") as handle:
        handle.write(f"{first}\t{first}\t{_mpv_entry(people_ids[1], 1, 'cloth_front.jpg')}\ttest\n")  # duplicate
        handle.write(f"{back}\t{back}\tnone.jpg\ttest\n")
    dataset = MPVDataset(root, split="test")
    assert [s["cloth_id"] for s in dataset] == [_mpv_entry(i, k, "cloth_front") for k, i in enumerate(people_ids)]
    pair_file.rename(root / "all_poseA_poseB_clothes_0607.txt")
    assert len(MPVDataset(root, split="test")) == 2
    (root / "all_poseA_poseB_clothes_0607.txt").rename(root / "custom.txt")
    assert len(MPVDataset(root, split="train", pairs_file="custom.txt")) == 2


# --------------------------------------------------------------------------------------------------
# VVT: two videos of three frames (garments 0 and 1) and a third garment worn by nobody


def _vvt_records(start: int = 0, seed: int = 0):
    people, garments = _renumber(*make_records(6, seed=seed), start=start)
    garments = garments[:3]
    frames = [
        dataclasses.replace(p, video_id=f"video{i // 3}", frame_index=i % 3, garment_id=garments[i // 3].garment_id)
        for i, p in enumerate(people)
    ]
    return frames[::-1], garments  # written out of order: the writer and the loader restore it


VVT_UNPAIRED = [(0, 2), (1, 0)]


@pytest.fixture(scope="module")
def vvt_roots(tmp_path_factory):
    roots = {}
    for layout in ("lip", "shineon"):
        root = tmp_path_factory.mktemp(f"vvt_{layout}")
        written = {"test": _vvt_records(start=0), "train": _vvt_records(start=20, seed=1)}
        for split, (people, garments) in written.items():
            write_vvt(root, split, people, garments, VVT_UNPAIRED, layout=layout)
        roots[layout] = (root, written)
    return roots


def _frames_by_video(people):
    ids = vvt_video_ids(people)
    videos: dict[str, list] = {}
    for person in sorted(people, key=lambda p: p.frame_index):
        videos.setdefault(ids[person.video_id], []).append(person)
    return dict(sorted(videos.items()))


@pytest.mark.parametrize("layout", ["lip", "shineon"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_vvt_paired_frames_in_temporal_order(vvt_roots, layout, split):
    root, written = vvt_roots[layout]
    people, garments = written[split]
    dataset = create_dataset("vvt", root, split=split, pair_mode="paired")
    assert isinstance(dataset, VVTDataset) and dataset.layout == layout and len(dataset) == 6
    videos = _frames_by_video(people)
    expected = [(video, k, person) for video, frames in videos.items() for k, person in enumerate(frames)]
    by_id = {g.garment_id: g for g in garments}
    for sample, (video, k, person) in zip(dataset, expected, strict=True):
        _check_common(sample)
        assert (sample["video_id"], sample["frame_index"]) == (video, k)
        assert sample["person_id"] == f"{video}/{k:013d}_frame_{k:03d}"
        assert sample["pair_mode"] == "paired" and sample["dataset"] == "vvt"
        assert torch.allclose(sample["person"], _as_rgb(person.image), atol=1e-5)  # PNG frames: exact
        garment = by_id[person.garment_id]
        product = f"SY{int(garment.garment_id):07d}"
        folder = video if layout == "lip" else product
        assert sample["cloth_id"] == f"{folder}/{product}-C11@1=cloth_front"
        assert _jpeg_close(sample["cloth"], garment.image)
        assert torch.allclose(sample["keypoints"], torch.from_numpy(person.keypoints), atol=1e-4)
        if layout == "lip":  # a mask file, no parsing folder
            assert torch.equal(sample["cloth_mask"][0], torch.from_numpy(garment.mask >= 128).float())
            assert "parse" not in sample
        else:  # no mask file in the ShineOn layout; SCHP-style parsing
            assert "cloth_mask" not in sample
            expected_parse = torch.from_numpy(convert_labels(person.parse_noisy, "lip20").astype(np.int64))
            assert torch.equal(sample["parse"], expected_parse)


@pytest.mark.parametrize("layout", ["lip", "shineon"])
def test_vvt_unpaired_lists_and_batches(vvt_roots, layout, tmp_path):
    root, written = vvt_roots[layout]
    people, garments = written["test"]
    keys = sorted(vvt_video_ids(people).items())
    dataset = VVTDataset(root, split="test", pair_mode="unpaired", layout=layout)
    expected_name = "test_person_clothes_pose_tuple.txt" if layout == "lip" else "test_unpaired_pairs.csv"
    assert dataset.unpaired_source.endswith(expected_name)
    assert len(dataset) == 6
    for sample in dataset:
        _check_common(sample)
        assert sample["pair_mode"] == "unpaired"
        video_index = [video for _, video in keys].index(sample["video_id"])
        garment = garments[dict(VVT_UNPAIRED)[video_index]]
        assert f"SY{int(garment.garment_id):07d}-C11@1=cloth_front" in sample["cloth_id"]
        assert _jpeg_close(sample["cloth"], garment.image)
    batch = next(iter(DataLoader(dataset, batch_size=2)))
    assert batch["person"].shape == (2, 3, H, W) and batch["frame_index"].tolist() == [0, 1]
    assert batch["video_id"][0] == batch["video_id"][1] == keys[0][1]
    # FW-GAN's CSV as ShineOn ships it: a results path named clothes_<video id>.jpg, then the person video.
    first, second = keys[0][1], keys[1][1]
    (tmp_path / "fwgan.csv").write_text(f"/data_hdd/results/GIF/clothes_{second}.jpg,{first}\n")
    dataset = VVTDataset(root, split="test", pair_mode="unpaired", unpaired_file=tmp_path / "fwgan.csv")
    assert len(dataset) == 3 and {s["video_id"] for s in dataset} == {first}
    assert _jpeg_close(dataset[0]["cloth"], garments[1].image)


def test_vvt_resize_shared_garments_and_natural_frame_order(tmp_path):
    people, garments = _vvt_records()
    people = [dataclasses.replace(p, garment_id=garments[0].garment_id) for p in people]  # both videos, garment 0
    ids = vvt_video_ids(people)
    assert sorted(ids.values()) == ["sy0000000-c11-0", "sy0000000-c11-1"]
    write_vvt(tmp_path, "test", people, garments, [], layout="shineon")
    dataset = VVTDataset(tmp_path, split="test", size=(32, 24))
    assert len(dataset) == 6 and len({s["cloth_id"] for s in dataset}) == 1
    sample = dataset[4]
    _check_common(sample, size=(32, 24))
    expected = torch.from_numpy(_frames_by_video(people)["sy0000000-c11-1"][1].keypoints).clone()
    expected[:, :2] *= 0.5
    assert torch.allclose(sample["keypoints"], expected, atol=1e-4)
    # Frame names without zero padding still sort in temporal order.
    video = tmp_path / "test" / "test_frames" / "sy0000000-c11-0"
    for name, new in [("0000000000000_frame_000", "frame_9"), ("0000000000001_frame_001", "frame_10")]:
        (video / f"{name}.png").rename(video / f"{new}.png")
        keypoints = tmp_path / "test" / "test_frames_keypoint" / "sy0000000-c11-0"
        (keypoints / f"{name}_keypoints.json").rename(keypoints / f"{new}_keypoints.json")
        parsing = tmp_path / "test" / "test_frames_parsing" / "sy0000000-c11-0"
        (parsing / f"{name}_label.png").rename(parsing / f"{new}.png")  # the <frame>.png parse name
    dataset = VVTDataset(tmp_path, split="test")
    names = [e.person_id.split("/")[1] for e in dataset.entries[:3]]
    assert names == ["0000000000002_frame_002", "frame_9", "frame_10"]
    assert [e.extra["frame_index"] for e in dataset.entries[:3]] == [0, 1, 2]
    assert dataset.entries[1].files["parse"].name == "frame_9.png"


# --------------------------------------------------------------------------------------------------
# bad inputs: one-line InputError naming the file or folder


@pytest.fixture
def mpv_root(tmp_path):
    root = tmp_path / "mpv"
    _write_mpv_root(root, n=2)
    return root


def test_mpv_pair_file_with_three_columns(mpv_root):
    pair_file = mpv_root / "all_poseA_poseB_clothes.txt"
    pair_file.write_text(pair_file.read_text() + "a.jpg\tb.jpg\ttest\n")
    with pytest.raises(InputError) as excinfo:
        MPVDataset(mpv_root)
    _assert_input_error(excinfo, pair_file)
    assert "expected 4 fields" in str(excinfo.value)


def test_mpv_split_column_must_be_train_or_test(mpv_root):
    pair_file = mpv_root / "all_poseA_poseB_clothes.txt"
    pair_file.write_text(pair_file.read_text().replace("\ttest\n", "\tval\n", 1))
    with pytest.raises(InputError) as excinfo:
        MPVDataset(mpv_root, split="train")
    _assert_input_error(excinfo, pair_file)
    assert "'val'" in str(excinfo.value)


def test_mpv_pair_row_naming_a_missing_image(mpv_root):
    missing = mpv_root / "all" / f"{_mpv_entry('11', 1, 'person_half_front')}.jpg"
    missing.unlink()
    with pytest.raises(InputError) as excinfo:
        MPVDataset(mpv_root)
    _assert_input_error(excinfo, missing)
    dataset = MPVDataset(mpv_root, skip_bad=True)
    assert len(dataset) == 1 and str(missing) in dataset.skipped[0]


def test_mpv_truncated_jpeg(mpv_root):
    person = mpv_root / "all" / f"{_mpv_entry('10', 0, 'person_half_front')}.jpg"
    person.write_bytes(person.read_bytes()[: person.stat().st_size // 2])
    dataset = MPVDataset(mpv_root)
    with pytest.raises(InputError) as excinfo:
        dataset[0]
    _assert_input_error(excinfo, person)
    assert "not a readable image" in str(excinfo.value)


def test_mpv_missing_pair_file_or_image_folder(tmp_path, mpv_root):
    with pytest.raises(InputError) as excinfo:
        MPVDataset(tmp_path)
    _assert_input_error(excinfo, tmp_path)
    shutil.rmtree(mpv_root / "all")
    with pytest.raises(InputError) as excinfo:
        MPVDataset(mpv_root)
    _assert_input_error(excinfo, mpv_root)


@pytest.fixture
def vvt_root(tmp_path):
    root = tmp_path / "vvt"
    people, garments = _vvt_records()
    write_vvt(root, "test", people, garments, VVT_UNPAIRED, layout="lip")
    return root


def test_vvt_video_folder_without_frames(vvt_root):
    empty = vvt_root / "lip_test_frames" / "sy0000009-c11"
    empty.mkdir()
    with pytest.raises(InputError) as excinfo:
        VVTDataset(vvt_root)
    _assert_input_error(excinfo, empty)
    dataset = VVTDataset(vvt_root, skip_bad=True)
    assert len(dataset) == 6 and dataset.skipped == [str(excinfo.value)]


def test_vvt_missing_cloth_folder(vvt_root):
    cloth = vvt_root / "lip_clothes_person" / "sy0000001-c11"
    shutil.rmtree(cloth)
    with pytest.raises(InputError) as excinfo:
        VVTDataset(vvt_root)
    _assert_input_error(excinfo, cloth)
    assert len(VVTDataset(vvt_root, skip_bad=True)) == 3


def test_vvt_missing_keypoint_json_for_a_frame(vvt_root):
    keypoints = vvt_root / "lip_test_frames_keypoint" / "sy0000000-c11" / "0000000000001_frame_001_keypoints.json"
    keypoints.unlink()
    with pytest.raises(InputError) as excinfo:
        VVTDataset(vvt_root)
    _assert_input_error(excinfo, keypoints)
    dataset = VVTDataset(vvt_root, skip_bad=True)
    assert len(dataset) == 5 and str(keypoints) in dataset.skipped[0]


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"people": [{"pose_keypoints": [1.0, 2.0]}]}), json.dumps({"persons": []})]
)
def test_vvt_malformed_keypoint_json(vvt_root, content):
    keypoints = vvt_root / "lip_test_frames_keypoint" / "sy0000000-c11" / "0000000000000_frame_000_keypoints.json"
    keypoints.write_text(content)
    dataset = VVTDataset(vvt_root)
    with pytest.raises(InputError) as excinfo:
        dataset[0]
    _assert_input_error(excinfo, keypoints)


def test_vvt_empty_people_list_gives_zero_keypoints(vvt_root):
    keypoints = vvt_root / "lip_test_frames_keypoint" / "sy0000000-c11" / "0000000000002_frame_002_keypoints.json"
    keypoints.write_text(json.dumps({"version": 1.0, "people": []}))
    sample = VVTDataset(vvt_root)[2]
    assert sample["keypoints"].shape == (18, 3) and not sample["keypoints"].any()


def test_vvt_not_a_vvt_folder_and_unknown_list_video(tmp_path, vvt_root):
    with pytest.raises(InputError) as excinfo:
        VVTDataset(tmp_path)
    _assert_input_error(excinfo, tmp_path)
    listing = vvt_root / "test_person_clothes_pose_tuple.txt"
    listing.write_text("nosuchvideo-c11 sy0000000-c11 nosuchvideo-c11\n")
    with pytest.raises(InputError) as excinfo:
        VVTDataset(vvt_root, pair_mode="unpaired")
    _assert_input_error(excinfo, vvt_root / "lip_test_frames" / "nosuchvideo-c11")
    listing.unlink()
    with pytest.raises(InputError) as excinfo:
        VVTDataset(vvt_root, pair_mode="unpaired")
    _assert_input_error(excinfo, listing)
