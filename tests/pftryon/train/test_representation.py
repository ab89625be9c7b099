"""The official derived tensors, the DensePose fallback and the parse corruption."""

from __future__ import annotations

import pytest
import torch

from pftryon.train.representation import (
    corrupt_parse,
    dense_preserve_mask,
    densepose_from_parse,
    densepose_one_hot,
    masked_garments,
    noise_generator,
    person_representation,
)
from pftryon.train.stage import PARSE_CLASSES

L = {name: i for i, name in enumerate(PARSE_CLASSES)}


def _hand_made() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One 4x4 person whose pixels cover every class (parse), with a hand-placed DensePose map."""
    parse = torch.tensor(
        [
            [L["hair"], L["face"], L["neck"], L["accessory"]],
            [L["left_arm"], L["upper"], L["upper"], L["right_arm"]],
            [L["dress"], L["bottom"], L["bottom"], L["background"]],
            [L["left_leg"], L["right_leg"], L["left_shoe"], L["right_shoe"]],
        ]
    )[None]
    densepose = torch.tensor([[23, 24, 2, 0], [3, 1, 2, 20], [1, 9, 10, 0], [12, 11, 5, 6]])[None]
    person = torch.arange(48, dtype=torch.float32).view(1, 3, 4, 4) / 48
    pose = torch.full((1, 18, 4, 4), -1.0)
    pose[0, 3, 1, 1] = 1.0
    return parse, densepose, person, pose


def test_person_representation_masks() -> None:
    parse, densepose, person, pose = _hand_made()
    rep = person_representation(parse, densepose, person, pose)

    def pixels(mask: torch.Tensor) -> set[tuple[int, int]]:
        return {tuple(p) for p in mask[0, 0].nonzero().tolist()}

    assert pixels(rep.person_clothes_edge) == {(1, 1), (1, 2)}  # upper only: no dress
    assert pixels(rep.face_mask) == {(0, 0), (0, 1)}  # hair + face, not the neck
    assert pixels(rep.other_clothes_mask) == {(2, 1), (2, 2), (3, 0), (3, 1), (3, 2), (3, 3)}
    assert pixels(rep.arm_mask) == {(1, 0), (1, 3)}
    assert pixels(rep.hand_mask) == {(1, 0)}
    assert pixels(rep.dense_arms) == {(1, 3)}
    assert torch.equal(rep.person_clothes, person * rep.person_clothes_edge)
    assert torch.equal(rep.preserve_mask, torch.cat([rep.face_mask, rep.other_clothes_mask], dim=1))
    kept = pixels(rep.face_mask) | pixels(rep.other_clothes_mask) | {(1, 0)}  # the hand on the left arm
    expected = torch.zeros(1, 1, 4, 4)
    rows, cols = zip(*kept, strict=True)
    expected[0, 0, list(rows), list(cols)] = 1
    assert torch.equal(rep.preserve_region, person * expected)
    assert rep.condition.shape == (1, 45, 4, 4)
    assert torch.equal(rep.condition[:, :2], rep.preserve_mask)
    assert torch.equal(rep.condition[:, 2:27], densepose_one_hot(densepose))
    assert torch.equal(rep.condition[:, 27:], pose)
    assert all(m.dtype == torch.float32 for m in (rep.face_mask, rep.densepose, rep.condition))


def test_dense_preserve_mask_and_garments() -> None:
    arms, covered = torch.tensor([1.0, 1.0, 0.0]), torch.tensor([0.0, 1.0, 1.0])
    assert dense_preserve_mask(arms, covered).tolist() == [1.0, 0.0, 0.0]
    batch = {
        "cloth": torch.ones(1, 3, 2, 2),
        "cloth_mask": torch.tensor([[[[0.2, 0.6], [1.0, 0.5]]]]),
        "cloth_un": -torch.ones(1, 3, 2, 2),
        "cloth_mask_un": torch.ones(1, 1, 2, 2),
    }
    clothes, edge, clothes_un, edge_un = masked_garments(batch)
    assert edge.flatten().tolist() == [0.0, 1.0, 1.0, 0.0]
    assert torch.equal(clothes, edge.expand(1, 3, 2, 2))
    assert torch.equal(clothes_un, batch["cloth_un"]) and torch.equal(edge_un, batch["cloth_mask_un"])


def test_densepose_one_hot() -> None:
    densepose = torch.randint(0, 25, (2, 5, 3))
    one_hot = densepose_one_hot(densepose)
    assert one_hot.shape == (2, 25, 5, 3)
    assert torch.equal(one_hot.sum(1), torch.ones(2, 5, 3))
    assert torch.equal(one_hot.argmax(1), densepose)


def test_densepose_from_parse() -> None:
    parse = torch.arange(len(PARSE_CLASSES)).view(2, 7)
    densepose = densepose_from_parse(parse)
    assert densepose.dtype == torch.int64 and densepose.shape == parse.shape
    expected = {
        "background": 0, "hair": 23, "face": 23, "upper": 2, "bottom": 9, "dress": 2, "left_arm": 19,
        "right_arm": 20, "left_leg": 12, "right_leg": 11, "left_shoe": 5, "right_shoe": 6, "neck": 2, "accessory": 0,
    }  # fmt: skip
    assert {name: densepose.flatten()[L[name]].item() for name in PARSE_CLASSES} == expected
    # Derived masks: arms become arm parts, hands are lost.
    rep = person_representation(parse[None], densepose[None], torch.ones(1, 3, 2, 7), torch.zeros(1, 18, 2, 7))
    assert torch.equal(rep.dense_arms, rep.arm_mask)
    assert rep.hand_mask.sum() == 0


def test_corrupt_parse_identity_and_determinism() -> None:
    parse = torch.zeros(64, 48, dtype=torch.long)
    parse[4:12, 18:30] = L["hair"]
    parse[8:16, 20:28] = L["face"]
    parse[16:40, 12:36] = L["upper"]
    parse[18:38, 6:12] = L["left_arm"]
    parse[18:38, 36:42] = L["right_arm"]
    parse[40:56, 14:34] = L["bottom"]
    parse[56:62, 14:22] = L["left_shoe"]
    parse[56:62, 26:34] = L["right_shoe"]

    same = corrupt_parse(parse, 0.0, noise_generator(0, 3))
    assert torch.equal(same, parse) and same.data_ptr() != parse.data_ptr()

    a = corrupt_parse(parse, 0.6, noise_generator(0, 3))
    b = corrupt_parse(parse, 0.6, noise_generator(0, 3))
    c = corrupt_parse(parse, 0.6, noise_generator(1, 3))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    changed = (a != parse).float().mean()
    assert 0 < changed < 0.3
    assert a.dtype == parse.dtype and a.min() >= 0 and a.max() < len(PARSE_CLASSES)
    weak = (corrupt_parse(parse, 0.1, noise_generator(0, 3)) != parse).float().mean()
    strong = (corrupt_parse(parse, 1.0, noise_generator(0, 3)) != parse).float().mean()
    assert weak < strong

    batch = torch.stack([parse, parse.flip(1)])
    generator = noise_generator(0, 3)
    expected = [corrupt_parse(p, 0.5, generator) for p in batch]
    assert torch.equal(corrupt_parse(batch, 0.5, noise_generator(0, 3)), torch.stack(expected))
    with pytest.raises(ValueError, match="strength"):
        corrupt_parse(parse, 1.5, noise_generator(0, 0))
