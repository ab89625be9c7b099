"""The procedural renderer: field contracts, determinism, exact ground truth, parse noise, try-on and video."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.data.schema import LABEL_SETS
from bench.data.synthetic.record import SynthGarment, SynthPerson
from bench.data.synthetic.render import CATEGORIES, POSES, Pose, Rendering, SyntheticWorld, interpolate_pose

SIZE = (256, 192)
WORN_LABELS = {"upper_body": {5}, "dresses": {6}, "lower_body": {9, 12}}
PERSON_LABELS = {0, 2, 5, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20}


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return SyntheticWorld(0, SIZE)


@pytest.fixture(scope="module")
def by_category(world) -> dict[str, list[int]]:
    """Garment indices of each category (the first few)."""
    out: dict[str, list[int]] = {c: [] for c in CATEGORIES}
    for i in range(60):
        out[world.category(i)].append(i)
    assert all(len(v) >= 3 for v in out.values()), out
    return out


def _pairs(by_category) -> list[tuple[int, int]]:
    """(person, garment) pairs covering every category, paired and unpaired."""
    pairs = []
    for j, cat in enumerate(CATEGORIES):
        for k, g in enumerate(by_category[cat][:3]):
            pairs += [(g, g), (10 + 3 * j + k, g)]
    return pairs


def _warp(garment: np.ndarray, flow: np.ndarray) -> np.ndarray:
    image = torch.from_numpy(garment).permute(2, 0, 1)[None].float()
    out = F.grid_sample(image, torch.from_numpy(flow)[None], mode="bilinear", padding_mode="zeros", align_corners=True)
    return out[0].permute(1, 2, 0).numpy()


def _gt_fields(p: SynthPerson) -> dict[str, np.ndarray]:
    return {
        "image": p.image, "parse": p.parse, "densepose": p.densepose, "keypoints": p.keypoints,
        "body_mask": p.body_mask, "flow": p.flow, "garment_region": p.garment_region,
    }  # fmt: skip


def test_garment_fields(world, by_category):
    for cat in CATEGORIES:
        for i in by_category[cat][:3]:
            g = world.garment(i)
            assert isinstance(g, SynthGarment)
            assert g.garment_id == f"{i:06d}" and g.category == cat
            assert g.image.shape == (*SIZE, 3) and g.image.dtype == np.uint8
            assert g.mask.shape == SIZE and g.mask.dtype == np.uint8
            assert set(np.unique(g.mask)) == {0, 255}
            assert (g.image[g.mask == 0] == 255).all(), "the background must be white"
            assert (g.image[g.mask > 0].min(axis=-1) < 250).mean() > 0.99, "garments are not white"
            # centred, clear of the borders
            ys, xs = np.nonzero(g.mask)
            assert ys.min() > 2 and xs.min() > 2 and ys.max() < SIZE[0] - 3 and xs.max() < SIZE[1] - 3
            assert abs((xs.min() + xs.max()) / 2 - SIZE[1] / 2) < 4


def test_categories_roughly_60_20_20(world):
    counts = {c: 0 for c in CATEGORIES}
    for i in range(400):
        counts[world.category(i)] += 1
    assert 0.5 < counts["upper_body"] / 400 < 0.7
    assert 0.12 < counts["lower_body"] / 400 < 0.28
    assert 0.12 < counts["dresses"] / 400 < 0.28


def test_person_fields(world, by_category):
    for person, garment in _pairs(by_category):
        p = world.person(person, garment)
        assert isinstance(p, SynthPerson)
        assert p.person_id == f"{person:06d}" and p.garment_id == f"{garment:06d}"
        assert p.video_id is None and p.frame_index is None
        assert p.image.shape == (*SIZE, 3) and p.image.dtype == np.uint8
        for name in ("parse", "parse_noisy", "densepose", "body_mask"):
            arr = getattr(p, name)
            assert arr.shape == SIZE and arr.dtype == np.uint8, name
        assert p.flow.shape == (*SIZE, 2) and p.flow.dtype == np.float32
        assert p.garment_region.shape == SIZE and p.garment_region.dtype == bool
        assert p.keypoints.shape == (18, 3) and p.keypoints.dtype == np.float32
        assert set(np.unique(p.parse)) <= PERSON_LABELS
        assert int(p.parse.max()) < len(LABEL_SETS["lip21"].names)
        assert int(p.densepose.max()) <= 24
        assert set(np.unique(p.body_mask)) <= {0, 255}
        assert ((p.body_mask > 0) == (p.parse > 0)).all()
        assert (p.densepose[p.parse == 0] == 0).all(), "DensePose lies on the body"
        assert (p.densepose[np.isin(p.parse, (14, 15, 16, 17, 13))] > 0).all()
        kp = p.keypoints
        assert (kp[:, 2] == 1).all()
        assert (kp[:, 0] >= 0).all() and (kp[:, 0] <= SIZE[1] - 1).all()
        assert (kp[:, 1] >= 0).all() and (kp[:, 1] <= SIZE[0] - 1).all()
        assert kp[2, 0] < kp[5, 0] and kp[8, 0] < kp[11, 0], "the person's right is the image's left"
        assert kp[0, 1] < kp[1, 1] < kp[8, 1] < kp[9, 1] < kp[10, 1]
        assert np.array_equal(p.parse_noisy, p.parse)
        # the worn garment: one label, in the body, flow only where it holds
        region = p.garment_region
        assert region.mean() > 0.01
        assert set(np.unique(p.parse[region])) <= WORN_LABELS[world.category(garment)]
        assert (p.flow[~region] == 0).all() and np.abs(p.flow[region]).max() <= 1.0


@pytest.mark.parametrize("size", [SIZE, (128, 96), (100, 90)])
def test_ground_truth_flow_reproduces_garment_pixels(size, by_category):
    world = SyntheticWorld(3, size)
    worst = 0.0
    for person, garment in _pairs(by_category):
        r = world.render(person, garment)
        assert isinstance(r, Rendering)
        p, region = r.person, r.person.garment_region
        assert r.shade.shape == size and r.shade.dtype == np.float32
        assert (r.shade > 0).all() and (r.shade <= 1).all() and (r.shade[~region] == 1).all()
        predicted = _warp(r.garment.image, p.flow) * r.shade[..., None]
        worst = max(worst, float(np.abs(predicted[region] - p.image[region]).max()))
        # the flow lands inside the in-shop silhouette
        landed = _warp(np.repeat(r.garment.mask[..., None], 3, -1), p.flow)[..., 0]
        assert (landed[region] >= 127.5).all()
    assert worst <= 0.5 + 1e-3, f"max |warp * shade - image| = {worst} grey levels"


def test_determinism_and_seed_sensitivity():
    a, b, c = SyntheticWorld(7, SIZE), SyntheticWorld(7, SIZE), SyntheticWorld(8, SIZE)
    for i, j in ((0, 0), (3, 11)):
        pa, pb = a.person(i, j, parse_noise=0.3), b.person(i, j, parse_noise=0.3)
        for name, value in _gt_fields(pa).items():
            assert np.array_equal(value, getattr(pb, name)), name
        assert np.array_equal(pa.parse_noisy, pb.parse_noisy)
        assert np.array_equal(pa.parse_noisy, a.person(i, j, parse_noise=0.3).parse_noisy), "repeatable"
        assert np.array_equal(a.garment(j).image, b.garment(j).image)
        assert not np.array_equal(pa.image, c.person(i, j).image)
        assert not np.array_equal(a.garment(j).image, c.garment(j).image)
    assert not np.array_equal(a.person(1, 1).image, a.person(2, 1).image)


def test_parse_noise(world):
    rates = []
    for i in range(4):
        clean = world.person(i, i)
        assert np.array_equal(world.person(i, i, parse_noise=0.0).parse_noisy, clean.parse)
        row = []
        for p in (0.0, 0.1, 0.3, 0.6):
            noisy = world.person(i, i, parse_noise=p)
            for name, value in _gt_fields(clean).items():
                assert np.array_equal(value, getattr(noisy, name)), f"{name} changed with parse noise {p}"
            assert set(np.unique(noisy.parse_noisy)) <= set(range(21))
            row.append(float((noisy.parse_noisy != clean.parse).mean()))
        rates.append(row)
        assert row[0] == 0.0 and all(b > a for a, b in zip(row, row[1:], strict=False)), row
    assert np.mean([r[1] for r in rates]) < 0.05 < np.mean([r[3] for r in rates])


def test_same_person_in_two_garments(world, by_category):
    person = 5
    garments = [by_category["upper_body"][0], by_category["lower_body"][0], by_category["dresses"][0]]
    renders = [world.person(person, g) for g in garments]
    first = renders[0]
    for other in renders[1:]:
        assert not np.array_equal(first.image, other.image)
        assert np.array_equal(first.keypoints, other.keypoints)
        assert np.array_equal(first.densepose, other.densepose), "DensePose describes the body"
        for labels in ({0}, {2, 13}):  # background; hair and face
            both = np.isin(first.parse, list(labels)) & np.isin(other.parse, list(labels))
            assert both.mean() > 0.01 if labels == {2, 13} else both.mean() > 0.3
            assert np.array_equal(first.image[both], other.image[both])
    # the try-on ground truth is the same render
    assert np.array_equal(world.tryon(person, garments[1]).image, renders[1].image)


def test_explicit_pose_and_interpolation(world):
    a, b = world.pose(0), Pose(**{**vars(Pose()), "right_lower": -1.45, "lean": 0.03})
    assert interpolate_pose(a, b, 0.0) == a and interpolate_pose(a, b, 1.0) == b
    mid = a.lerp(b, 0.5)
    assert mid.right_lower == pytest.approx((a.right_lower + b.right_lower) / 2)
    same = world.person(2, 2, pose=world.pose(2))
    assert np.array_equal(same.image, world.person(2, 2).image)
    moved = world.person(2, 2, pose={"right_upper": 0.5, "right_lower": -0.8})
    assert not np.array_equal(moved.keypoints, same.keypoints)
    assert set(POSES) >= {"relaxed", "arms_crossed"}
    with pytest.raises(TypeError, match="unknown pose field"):
        world.person(2, 2, pose={"elbow": 1.0})


def test_video(world):
    frames = world.video(4, 9, 6)
    assert len(frames) == 6
    assert [f.frame_index for f in frames] == list(range(6))
    assert all(f.video_id == "v00004" and f.person_id == "000004" and f.garment_id == "000009" for f in frames)
    images = [f.image.astype(np.float32) for f in frames]
    steps = [float(np.abs(x - y).mean()) for x, y in zip(images, images[1:], strict=False)]
    total = float(np.abs(images[0] - images[-1]).mean())
    assert total > 1.0 and max(steps) < total, (steps, total)
    kp_steps = [float(np.abs(x.keypoints - y.keypoints).max()) for x, y in zip(frames, frames[1:], strict=False)]
    assert max(kp_steps) < 15.0
    assert np.array_equal(frames[0].image, world.person(4, 9).image), "the video starts at the person's pose"


def test_invalid_arguments(world):
    with pytest.raises(ValueError, match="parse_noise"):
        world.person(0, 0, parse_noise=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        world.garment(-1)
    with pytest.raises(ValueError, match="frames"):
        world.video(0, 0, 0)
    with pytest.raises(ValueError, match="seed"):
        SyntheticWorld(-1)
    with pytest.raises(ValueError, match="background"):
        SyntheticWorld(0, SIZE, "green-screen")


def test_studio_background_changes_only_what_is_behind_the_person(world):
    studio = SyntheticWorld(0, SIZE, "studio")
    backdrops = set()
    for index, garment in ((1, 1), (2, 5), (3, 1)):
        varied, plain = world.person(index, garment), studio.person(index, garment)
        body = varied.parse > 0
        np.testing.assert_array_equal(plain.image[body], varied.image[body])
        np.testing.assert_array_equal(plain.parse, varied.parse)
        np.testing.assert_array_equal(plain.flow, varied.flow)
        behind = plain.image[~body]
        assert (behind == behind[0]).all(), "the studio backdrop is one colour"
        assert not (varied.image[~body] == varied.image[~body][0]).all()
        backdrops.add(tuple(behind[0]))
    assert len(backdrops) == 1, "everyone stands before the same backdrop"
