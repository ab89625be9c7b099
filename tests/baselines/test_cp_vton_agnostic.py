"""CP-VTON's person representation: silhouette, head image, pose squares, GMM target."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from baselines.cp_vton_agnostic import body_shape, cloth_target, cpvton_agnostic
from pftryon.representation import pose_maps

HEIGHT, WIDTH = 256, 192
# (x, y, confidence); x <= 1 or y <= 1 means absent. Integer points, one clipped by the left border.
KEYPOINTS = np.zeros((18, 3))
KEYPOINTS[0] = (100, 50, 0.9)
KEYPOINTS[1] = (96, 80, 0.8)
KEYPOINTS[2] = (3, 200, 0.5)
KEYPOINTS[3] = (1, 120, 0.7)  # absent: x <= 1
KEYPOINTS[4] = (120, 1, 0.7)  # absent: y <= 1
KEYPOINTS[5] = (188, 252, 0.6)


def _parse() -> torch.Tensor:
    parse = torch.zeros(HEIGHT, WIDTH, dtype=torch.long)
    parse[60:160, 40:150] = 5  # upper clothes
    parse[160:240, 50:140] = 9  # pants
    parse[20:60, 70:120] = 13  # face
    parse[10:20, 70:120] = 2  # hair
    parse[25:30, 80:110] = 4  # sunglasses
    parse[60:120, 20:40] = 14  # left arm
    return parse


def _person(seed: int = 0) -> torch.Tensor:
    return torch.rand(3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _square(x: int, y: int, radius: int = 5) -> np.ndarray:
    expected = -np.ones((HEIGHT, WIDTH), dtype=np.float32)
    expected[max(y - radius, 0) : y + radius + 1, max(x - radius, 0) : x + radius + 1] = 1
    return expected


def test_agnostic_layout_and_range() -> None:
    agnostic = cpvton_agnostic(_parse(), _person(), KEYPOINTS)
    assert agnostic.shape == (22, HEIGHT, WIDTH) and agnostic.dtype == torch.float32
    assert agnostic.min().item() >= -1 and agnostic.max().item() <= 1
    torch.testing.assert_close(agnostic[0:1], body_shape(_parse()))
    torch.testing.assert_close(agnostic[4:], pose_maps(KEYPOINTS, HEIGHT, WIDTH))


def test_pose_squares_at_keypoints() -> None:
    maps = pose_maps(torch.from_numpy(KEYPOINTS), HEIGHT, WIDTH).numpy()
    assert maps.shape == (18, HEIGHT, WIDTH)
    for index in (0, 1, 2, 5):
        x, y = int(KEYPOINTS[index, 0]), int(KEYPOINTS[index, 1])
        np.testing.assert_array_equal(maps[index], _square(x, y), err_msg=f"keypoint {index}")
    assert (maps[0] == 1).sum() == 121
    for index in (3, 4, *range(6, 18)):
        assert (maps[index] == -1).all(), f"absent keypoint {index} drew something"


def test_pose_maps_radius_and_xy_only() -> None:
    maps = pose_maps([[60, 90], [0, 0]], HEIGHT, WIDTH, radius=3).numpy()
    np.testing.assert_array_equal(maps[0], _square(60, 90, radius=3))
    assert (maps[1] == -1).all()


def _pose_maps_one_canvas_per_joint(keypoints: np.ndarray, height: int, width: int, radius: int) -> torch.Tensor:
    """The official loaders' drawing, literally: a fresh PIL canvas per joint, converted whole."""
    maps = torch.full((len(keypoints), height, width), -1.0)
    for index, (x, y) in enumerate(keypoints[:, :2].tolist()):
        if x > 1 and y > 1:
            canvas = Image.new("L", (width, height))
            ImageDraw.Draw(canvas).rectangle((x - radius, y - radius, x + radius, y + radius), "white", "white")
            maps[index] = torch.from_numpy(np.array(canvas)).float() / 255 * 2 - 1
    return maps


def test_pose_maps_equal_the_official_drawing_at_fractional_and_clipped_joints() -> None:
    rng = np.random.default_rng(0)
    for trial in range(300):
        height, width, radius = int(rng.integers(8, 64)), int(rng.integers(8, 64)), int(rng.integers(0, 7))
        keypoints = rng.uniform(-8, max(height, width) + 8, size=(18, 2))
        if trial % 2:
            keypoints = np.round(keypoints)
        expected = _pose_maps_one_canvas_per_joint(keypoints, height, width, radius)
        assert torch.equal(pose_maps(keypoints, height, width, radius), expected), (trial, keypoints.tolist())


def test_pose_maps_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"keypoints must have shape \[K, 2\] or \[K, 3\].*got \[54\]"):
        pose_maps(np.zeros(54), HEIGHT, WIDTH)


def test_head_copies_person_and_is_minus_one_elsewhere() -> None:
    parse, person = _parse(), _person()
    head = cpvton_agnostic(parse, person, KEYPOINTS)[1:4]
    region = (parse == 1) | (parse == 2) | (parse == 4) | (parse == 13)
    assert region.sum() > 0
    torch.testing.assert_close(head[:, region], person[:, region], rtol=0, atol=0)
    assert (head[:, ~region] == -1).all()


def test_plus_head_labels_depend_on_stage() -> None:
    parse, person = _parse(), _person()
    hair, pants = parse == 2, parse == 9
    gmm = cpvton_agnostic(parse, person, KEYPOINTS, plus=True)[1:4]
    tom = cpvton_agnostic(parse, person, KEYPOINTS, plus=True, stage="tom")[1:4]
    assert (gmm[:, hair] == -1).all() and (gmm[:, pants] == -1).all()
    torch.testing.assert_close(tom[:, hair | pants], person[:, hair | pants], rtol=0, atol=0)
    with pytest.raises(ValueError, match="stage must be 'gmm' or 'tom'"):
        cpvton_agnostic(parse, person, KEYPOINTS, stage="TOM")  # type: ignore[arg-type]


def test_shape_is_blurred_silhouette() -> None:
    parse = _parse()
    shape = body_shape(parse)
    assert shape.shape == (1, HEIGHT, WIDTH)
    # Independent expectation: torch's antialiased bilinear resize follows PIL's filter; PIL rounds in
    # fixed point, so allow two grey levels.
    silhouette = (parse > 0).float()[None, None] * 255
    small = F.interpolate(silhouette, size=(HEIGHT // 16, WIDTH // 16), mode="bilinear", antialias=True).round()
    large = F.interpolate(small, size=(HEIGHT, WIDTH), mode="bilinear", antialias=True).round()
    torch.testing.assert_close(shape, large[0] / 127.5 - 1, atol=2.5 / 127.5, rtol=0)
    assert shape[0, 0, 0] == -1 and shape[0, 120, 95] > 0.5
    assert shape.unique().numel() > 50, "the silhouette is not blurred"
    assert (body_shape(torch.zeros(HEIGHT, WIDTH)) == -1).all()
    assert (body_shape(torch.ones(HEIGHT, WIDTH)) == 1).all()


def test_body_mask_replaces_parse_silhouette() -> None:
    body = torch.zeros(HEIGHT, WIDTH)
    body[:, : WIDTH // 2] = 1
    agnostic = cpvton_agnostic(_parse(), _person(), KEYPOINTS, plus=True, body_mask=body)
    torch.testing.assert_close(agnostic[0:1], body_shape(body))


def test_cloth_target() -> None:
    parse, person = _parse(), _person()
    target = cloth_target(parse, person)
    cloth = parse == 5
    torch.testing.assert_close(target[:, cloth], person[:, cloth], rtol=0, atol=0)
    assert (target[:, ~cloth] == 1).all()


def test_batched_equals_per_sample_and_keeps_dtype() -> None:
    parse = torch.stack([_parse(), _parse().flip(-1)])
    person = torch.stack([_person(0), _person(1)]).double()
    keypoints = np.stack([KEYPOINTS, KEYPOINTS[::-1].copy()])
    batched = cpvton_agnostic(parse, person, keypoints)
    assert batched.shape == (2, 22, HEIGHT, WIDTH) and batched.dtype == torch.float64
    for i in range(2):
        torch.testing.assert_close(batched[i], cpvton_agnostic(parse[i], person[i], keypoints[i]))
    torch.testing.assert_close(cloth_target(parse, person)[1], cloth_target(parse[1], person[1]))


def test_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"expected parse \[H, W\] and person \[3, H, W\]"):
        cpvton_agnostic(_parse(), _person()[:, :128], KEYPOINTS)
