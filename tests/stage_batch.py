"""A training batch of two synthetic people, as :class:`pftryon.train.data.TrainingPairs` collates it (the stage
tests of PF-AFN and of the baselines share it)."""

from __future__ import annotations

import torch

from bench.data.schema import to_common
from bench.data.synthetic.render import SyntheticWorld
from pftryon.representation import pose_maps


def _image(array: object) -> torch.Tensor:
    return torch.as_tensor(array).permute(2, 0, 1).float() / 127.5 - 1


def stage_batch(size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Two synthetic people at ``size`` with their upper-body garments and two other garments."""
    world = SyntheticWorld(0, size)
    uppers = [i for i in range(40) if world.category(i) == "upper_body"][:4]
    items = []
    for index, (own, other) in enumerate(zip(uppers[:2], uppers[2:], strict=True)):
        person, cloth, cloth_un = world.person(own), world.garment(own), world.garment(other)
        items.append(
            {
                "person": _image(person.image),
                "cloth": _image(cloth.image),
                "cloth_mask": torch.as_tensor(cloth.mask[None] > 127).float(),
                "cloth_un": _image(cloth_un.image),
                "cloth_mask_un": torch.as_tensor(cloth_un.mask[None] > 127).float(),
                "parse": to_common(person.parse, "lip21"),
                "densepose": torch.as_tensor(person.densepose).long(),
                "pose": pose_maps(person.keypoints, *size),
                "index": torch.tensor(index),
            }
        )
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}
