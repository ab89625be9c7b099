"""The official training scripts' per-batch tensors from parse, DensePose and pose (docs/reference/method.md §4.1).

Parse maps are in the 14-class common set :data:`~pftryon.train.stage.PARSE_CLASSES`; the official scripts
use ACGPN labels, mapped here as follows:

* **garment region** (``person_clothes_edge``, ACGPN 4): ``upper`` only. ``dress`` is left out: the
  official data (VITON tops) has no dress label, and for upper-body try-on a dress is neither the garment
  being replaced nor a region to keep; like ``accessory`` it is in no mask, so the generator renders it.
* **face mask** (ACGPN 1 + 12): ``hair`` + ``face``. ``neck`` is *not* included: ACGPN has no neck label, and
  a new neckline may cover or uncover it, so it is skin the generator re-synthesises (VITON-HD's agnostic
  parse removes the neck for the same reason).
* **other clothes** (ACGPN 5, 6, 8, 9, 10): ``left_shoe``, ``right_shoe``, ``bottom``, ``left_leg``,
  ``right_leg``.
* **arms** (ACGPN 11, 13): ``left_arm``, ``right_arm``.

DensePose part indices I (0 background): 1-2 torso, 3 right hand, 4 left hand, 5 left foot, 6 right foot,
7-14 legs (odd: right, even: left; 7-10 upper, 11-14 lower), 15-22 arms (odd: left, even: right; 15-18
upper, 19-22 lower), 23-24 head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pftryon.models.pf_afn import mask_garment
from pftryon.train.stage import PARSE_CLASSES

__all__ = [
    "DENSEPOSE_ARMS",
    "DENSEPOSE_HANDS",
    "DENSEPOSE_PARTS",
    "PersonRepresentation",
    "corrupt_parse",
    "dense_preserve_mask",
    "densepose_from_parse",
    "densepose_one_hot",
    "masked_garments",
    "noise_generator",
    "person_representation",
]

DENSEPOSE_PARTS = 25
DENSEPOSE_HANDS = (3, 4)
DENSEPOSE_ARMS = tuple(range(15, 23))

_LABEL = {name: index for index, name in enumerate(PARSE_CLASSES)}
_GARMENT = ("upper",)
_FACE = ("hair", "face")
_OTHER_CLOTHES = ("left_shoe", "right_shoe", "bottom", "left_leg", "right_leg")
_ARMS = ("left_arm", "right_arm")

# Common class -> the DensePose part standing for it (see densepose_from_parse).
_PARSE_TO_DENSEPOSE = {
    "background": 0, "hair": 23, "face": 23, "upper": 2, "bottom": 9, "dress": 2, "left_arm": 19,
    "right_arm": 20, "left_leg": 12, "right_leg": 11, "left_shoe": 5, "right_shoe": 6, "neck": 2, "accessory": 0,
}  # fmt: skip

# Label pairs a human parser confuses; corrupt_parse swaps them inside blobs.
_CONFUSED = (
    ("left_arm", "right_arm"), ("left_leg", "right_leg"), ("left_shoe", "right_shoe"), ("hair", "face"),
    ("upper", "dress"), ("face", "neck"), ("upper", "neck"), ("bottom", "dress"),
)  # fmt: skip


def _mask(labels: torch.Tensor, values: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[B, 1, H, W]`` float mask of ``labels`` ``[B, H, W]`` being one of ``values``."""
    return torch.isin(labels, torch.tensor(values, device=labels.device)).unsqueeze(1).to(dtype)


def _parse_mask(parse: torch.Tensor, classes: tuple[str, ...], dtype: torch.dtype) -> torch.Tensor:
    return _mask(parse, tuple(_LABEL[c] for c in classes), dtype)


def masked_garments(batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(clothes, edge, clothes_un, edge_un)``: both garments binarised at 0.5 and masked (official test rule)."""
    clothes, edge = mask_garment(batch["cloth"], batch["cloth_mask"])
    clothes_un, edge_un = mask_garment(batch["cloth_un"], batch["cloth_mask_un"])
    return clothes, edge, clothes_un, edge_un


def densepose_one_hot(densepose: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot DensePose ``[B, 25, H, W]`` from part indices ``[B, H, W]`` (0..24)."""
    return F.one_hot(densepose.long(), DENSEPOSE_PARTS).movedim(-1, 1).to(dtype)


def dense_preserve_mask(dense_arms: torch.Tensor, covered: torch.Tensor) -> torch.Tensor:
    """Arm skin the generator must render: DensePose arms not covered by ``covered`` (a garment mask)."""
    return dense_arms * (1 - covered)


@dataclass
class PersonRepresentation:
    """What the official scripts derive from one person (masks ``[B, 1, H, W]`` in {0, 1}, float).

    Attributes:
        person_clothes_edge: the worn upper garment's region (the warp's target mask).
        person_clothes: the person image inside it, 0 elsewhere (the warp's target image).
        face_mask: hair and face.
        other_clothes_mask: shoes, bottom garment and legs.
        preserve_mask: ``cat[face_mask, other_clothes_mask]`` ``[B, 2, H, W]``.
        densepose: one-hot DensePose ``[B, 25, H, W]``.
        arm_mask: the parse's arms.
        hand_mask: DensePose hands (parts 3, 4).
        dense_arms: DensePose arm parts (15..22).
        preserve_region: the person pixels kept: face, other clothes, and hands (``arm * hand``) ``[B, 3, H, W]``.
        condition: PB-AFN's warp input ``cat[preserve_mask, densepose, pose]`` ``[B, 45, H, W]``.
    """

    person_clothes_edge: torch.Tensor
    person_clothes: torch.Tensor
    face_mask: torch.Tensor
    other_clothes_mask: torch.Tensor
    preserve_mask: torch.Tensor
    densepose: torch.Tensor
    arm_mask: torch.Tensor
    hand_mask: torch.Tensor
    dense_arms: torch.Tensor
    preserve_region: torch.Tensor
    condition: torch.Tensor


def person_representation(
    parse: torch.Tensor, densepose: torch.Tensor, person: torch.Tensor, pose: torch.Tensor
) -> PersonRepresentation:
    """Build the official derived tensors (docs/reference/method.md §4.1) of a batch.

    Args:
        parse: common-set labels ``[B, H, W]`` (int64).
        densepose: DensePose part indices ``[B, H, W]`` (int64, 0..24).
        person: the person image ``[B, 3, H, W]`` in [-1, 1].
        pose: pose maps ``[B, 18, H, W]`` in {-1, 1}.
    """
    dtype = person.dtype
    garment = _parse_mask(parse, _GARMENT, dtype)
    face = _parse_mask(parse, _FACE, dtype)
    other = _parse_mask(parse, _OTHER_CLOTHES, dtype)
    arms = _parse_mask(parse, _ARMS, dtype)
    hands = _mask(densepose, DENSEPOSE_HANDS, dtype)
    preserve = torch.cat([face, other], dim=1)
    one_hot = densepose_one_hot(densepose, dtype)
    return PersonRepresentation(
        person_clothes_edge=garment,
        person_clothes=person * garment,
        face_mask=face,
        other_clothes_mask=other,
        preserve_mask=preserve,
        densepose=one_hot,
        arm_mask=arms,
        hand_mask=hands,
        dense_arms=_mask(densepose, DENSEPOSE_ARMS, dtype),
        preserve_region=person * (face + other + arms * hands),
        condition=torch.cat([preserve, one_hot, pose.to(dtype)], dim=1),
    )


def densepose_from_parse(parse: torch.Tensor) -> torch.Tensor:
    """A DensePose part map from a common-set parse, for datasets without DensePose (any shape, int64).

    Each class becomes one part: ``upper``, ``dress``, ``neck`` -> 2 (torso); ``left_arm`` / ``right_arm`` ->
    19 / 20 (lower arm); ``left_leg`` / ``right_leg`` -> 12 / 11 (lower leg); ``bottom`` -> 9 (upper leg);
    ``left_shoe`` / ``right_shoe`` -> 5 / 6 (feet); ``hair``, ``face`` -> 23 (head); ``background``,
    ``accessory`` -> 0.

    What is lost against a real DensePose map:

    * **hands**: they are inside the parse's arm labels, so parts 3-4 never occur; ``hand_mask`` is empty and
      the hands are missing from ``preserve_region`` (the generator must render them);
    * **the body under clothes**: arms under sleeves and legs under trousers or a dress become torso / upper
      leg, so ``dense_arms`` holds only bare arm skin and a try-on that uncovers an arm (long to short
      sleeves) is not told to render skin there;
    * upper vs lower limb, front vs back, the two head halves, and left vs right under ``bottom``.
    """
    lookup = torch.tensor([_PARSE_TO_DENSEPOSE[c] for c in PARSE_CLASSES], dtype=torch.long, device=parse.device)
    return lookup[parse.long()]


def noise_generator(seed: int, index: int) -> torch.Generator:
    """The CPU generator of :func:`corrupt_parse` for sample ``index`` of a run seeded ``seed``.

    A function of ``(seed, index)`` only, so the corruption of a sample is the same every epoch and after a
    resume (a fixed, imperfect parser), and independent of batch composition.
    """
    state = np.random.SeedSequence([int(seed), int(index), 0x9A55]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _uniform(generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def _choice(generator: torch.Generator, n: int) -> int:
    return int(torch.randint(n, (), generator=generator).item())


def _disc(shape: tuple[int, int], centre: torch.Tensor, radius: float, device: torch.device) -> torch.Tensor:
    rows = torch.arange(shape[0], device=device).view(-1, 1)
    cols = torch.arange(shape[1], device=device).view(1, -1)
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    return F.max_pool2d(mask[None, None].float(), 2 * radius + 1, 1, radius)[0, 0] > 0


def corrupt_parse(parse: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Corrupt a parse map the way a human parser errs, deterministically given ``generator``.

    With ``k = max(1, round(4 * strength))`` and sizes proportional to ``strength * min(H, W)``, applies in turn
    ``k`` boundary errors (a present label is dilated into its neighbours or eroded, its boundary taking a
    neighbouring label), ``k`` swaps of related labels (left/right limbs and shoes, hair/face, upper/dress,
    neck...) inside a disc, and ``k`` spurious discs of a present label. ``strength == 0`` returns a copy.

    Args:
        parse: labels ``[..., H, W]`` (int64); leading dimensions are corrupted one map at a time.
        strength: in [0, 1].
        generator: a CPU :class:`torch.Generator` (e.g. :func:`noise_generator`); all draws come from it.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"corrupt_parse: strength must be in [0, 1], got {strength}")
    if strength == 0.0:
        return parse.clone()
    if parse.ndim > 2:
        return torch.stack([corrupt_parse(p, strength, generator) for p in parse])
    out = parse.clone()
    size = min(out.shape)
    count = max(1, round(4 * strength))
    for _ in range(count):
        _boundary_error(out, strength, size, generator)
    for _ in range(count):
        _swap_blob(out, strength, size, generator)
    for _ in range(count):
        _spurious_blob(out, strength, size, generator)
    return out


def _random_pixel(where: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
    pixels = where.nonzero()
    return None if len(pixels) == 0 else pixels[_choice(generator, len(pixels))]


def _boundary_error(out: torch.Tensor, strength: float, size: int, generator: torch.Generator) -> None:
    present = out.unique()
    present = present[present > 0]
    if len(present) == 0:
        return
    label = present[_choice(generator, len(present))]
    radius = max(1, round(0.04 * size * strength * _uniform(generator, 0.5, 1.0)))
    dilate = _uniform(generator) < 0.5
    inside = out == label
    if dilate:
        out[_dilate(inside, radius) & ~inside] = label
    else:  # erode: the label's boundary pixels take the largest neighbouring label within the radius
        others = torch.where(inside, -1, out).float()
        neighbour = F.max_pool2d(others[None, None], 2 * radius + 1, 1, radius)[0, 0].long()
        boundary = inside & (neighbour >= 0)
        out[boundary] = neighbour[boundary]


def _swap_blob(out: torch.Tensor, strength: float, size: int, generator: torch.Generator) -> None:
    a, b = (_LABEL[c] for c in _CONFUSED[_choice(generator, len(_CONFUSED))])
    radius = 0.15 * size * strength * _uniform(generator, 0.5, 1.0)
    centre = _random_pixel((out == a) | (out == b), generator)
    if centre is None:
        return
    blob = _disc(tuple(out.shape), centre, radius, out.device)
    is_a, is_b = blob & (out == a), blob & (out == b)
    out[is_a], out[is_b] = b, a


def _spurious_blob(out: torch.Tensor, strength: float, size: int, generator: torch.Generator) -> None:
    radius = 0.06 * size * strength * _uniform(generator, 0.5, 1.0)
    present = out.unique()
    label = present[_choice(generator, len(present))]
    centre = _random_pixel(out > 0, generator)
    if centre is None:
        return
    out[_disc(tuple(out.shape), centre, radius, out.device)] = label
