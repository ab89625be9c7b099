"""Fixtures for the data tests: small, simple synthetic records (the full renderer has its own tests)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.synthetic.record import SynthGarment, SynthPerson


def make_records(n: int = 3, size: tuple[int, int] = (64, 48), seed: int = 0):
    """``n`` people (person i wears garment i) and ``n`` garments with simple, valid annotations."""
    rng = np.random.default_rng(seed)
    h, w = size
    people, garments = [], []
    for i in range(n):
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        parse = np.zeros((h, w), np.uint8)
        parse[h // 8 : h // 4, w // 3 : 2 * w // 3] = 13  # face
        parse[h // 4 : h // 4 + 2, w // 3 : 2 * w // 3] = 20  # neck
        parse[h // 4 + 2 : 3 * h // 5, w // 4 : 3 * w // 4] = 5  # upper clothes
        parse[3 * h // 5 :, w // 4 : w // 2] = 16  # left leg
        parse[3 * h // 5 :, w // 2 : 3 * w // 4] = 17
        dense = np.zeros((h, w), np.uint8)
        dense[parse == 5] = 1
        dense[parse == 13] = 23
        keypoints = np.zeros((18, 3), np.float32)
        keypoints[:8] = [[w / 2 + j, h / 4 + 2 * j, 1.0] for j in range(8)]
        region = parse == 5
        flow = np.zeros((h, w, 2), np.float32)
        ys, xs = np.nonzero(region)
        flow[ys, xs, 0] = xs / (w - 1) * 2 - 1
        flow[ys, xs, 1] = ys / (h - 1) * 2 - 1
        people.append(
            SynthPerson(
                person_id=f"{i:06d}", garment_id=f"{i:06d}", image=image, parse=parse, parse_noisy=parse.copy(),
                densepose=dense, keypoints=keypoints, body_mask=((parse > 0) * 255).astype(np.uint8),
                flow=flow, garment_region=region,
            )
        )  # fmt: skip
        cloth = np.full((h, w, 3), 255, np.uint8)
        mask = np.zeros((h, w), np.uint8)
        mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 255
        cloth[mask > 0] = rng.integers(0, 256, 3, dtype=np.uint8)
        garments.append(SynthGarment(garment_id=f"{i:06d}", image=cloth, mask=mask))
    return people, garments


@pytest.fixture
def records():
    """Three people and garments at 64x48."""
    return make_records()
