"""CP-VTON's cloth-agnostic person representation (docs/reference/method.md §6.1).

``agnostic = cat[shape (1), head image (3), pose maps (18)]``, 22 channels in [-1, 1], built from a LIP
parse map, the person image and 18 OpenPose COCO keypoints the way the official ``cp_dataset.py`` builds
it: the blurred body silhouette and the pose squares go through PIL, so they match by construction.

Training (:mod:`baselines.training.cp_vton`) sees the training batch of :mod:`pftryon.train.stage` instead: the
parse in the 14-class common label set and the 18 pose maps already drawn (by the same
:func:`~pftryon.representation.pose_maps`). :func:`agnostic_from_common` builds the representation from those, with
the LIP label sets mapped to common classes (:data:`COMMON_HEAD` ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from PIL import Image

from pftryon.representation import image_to_tensor, pose_maps
from pftryon.train.stage import PARSE_CLASSES

__all__ = [
    "CLOTH_LABELS",
    "COMMON_CLOTH",
    "COMMON_HEAD",
    "COMMON_PLUS_GMM_HEAD",
    "COMMON_PLUS_TOM_HEAD",
    "HEAD_LABELS",
    "PLUS_GMM_HEAD_LABELS",
    "PLUS_TOM_HEAD_LABELS",
    "agnostic_from_common",
    "body_shape",
    "cloth_target",
    "common_labels",
    "cpvton_agnostic",
]

HEAD_LABELS = (1, 2, 4, 13)
"""LIP labels kept as the "head" by CP-VTON: hat, hair, sunglasses, face."""
PLUS_GMM_HEAD_LABELS = (1, 4, 13)
"""CP-VTON+ GMM keeps hat, sunglasses and face (no hair)."""
PLUS_TOM_HEAD_LABELS = (1, 2, 4, 9, 12, 13, 16, 17)
"""CP-VTON+ TOM keeps hat, hair, sunglasses, pants, skirt, face and both legs."""
CLOTH_LABELS = (5, 6, 7)
"""LIP upper-clothes, dress and coat: the region the GMM learns to cover."""

# The same sets in the common label set (``pftryon.train.stage.PARSE_CLASSES``, ``bench.data.schema.COMMON``). LIP's
# hat and sunglasses map to ``accessory`` together with glove, socks and scarf, so ``accessory`` is left out of every
# head set (keeping it would show gloves, socks and scarves); jumpsuits map to ``dress`` and join the garment region.
COMMON_HEAD = ("hair", "face")
"""CP-VTON's head in common classes: hair, face (LIP hat and sunglasses are not separable; see above)."""
COMMON_PLUS_GMM_HEAD = ("face",)
"""CP-VTON+ GMM head in common classes: face."""
COMMON_PLUS_TOM_HEAD = ("hair", "face", "bottom", "left_leg", "right_leg")
"""CP-VTON+ TOM kept regions in common classes: hair, face, bottom (pants, skirt) and both legs."""
COMMON_CLOTH = ("upper", "dress")
"""The garment region in common classes: upper (LIP upper-clothes, coat) and dress (LIP dress, jumpsuits)."""


def common_labels(names: Sequence[str]) -> tuple[int, ...]:
    """The common-set label indices of class ``names``."""
    return tuple(PARSE_CLASSES.index(name) for name in names)


def body_shape(mask: torch.Tensor) -> torch.Tensor:
    """The blurred body silhouette ``[1, H, W]`` in [-1, 1].

    ``mask > 0`` is drawn as a 0/255 image, PIL-bilinearly resized down to ``(W // 16, H // 16)`` and
    back up to ``(W, H)``.

    Args:
        mask: ``[H, W]`` map whose non-zero pixels are the body: the parse map in CP-VTON, the
            ``image-mask`` body mask in CP-VTON+.
    """
    height, width = mask.shape
    image = Image.fromarray((mask > 0).cpu().numpy().astype(np.uint8) * 255)
    image = image.resize((width // 16, height // 16), Image.BILINEAR).resize((width, height), Image.BILINEAR)
    return image_to_tensor(image)


def cloth_target(parse: torch.Tensor, person: torch.Tensor, labels: Sequence[int] = CLOTH_LABELS) -> torch.Tensor:
    """The GMM training target ``im_c``: the person's upper garment, white elsewhere.

    Args:
        parse: LIP label map ``[H, W]`` or ``[B, H, W]``.
        person: Person image ``[3, H, W]`` or ``[B, 3, H, W]`` in [-1, 1].
        labels: The garment labels (``common_labels(COMMON_CLOTH)`` for a common-set parse).

    Returns:
        ``person * pcm + (1 - pcm)`` with ``pcm`` the mask of ``labels``, shaped like ``person``.
    """
    pcm = _label_mask(parse, labels, person)
    return person * pcm + (1 - pcm)


def cpvton_agnostic(
    parse: torch.Tensor,
    person: torch.Tensor,
    keypoints: torch.Tensor | np.ndarray | Sequence[Sequence[float]],
    *,
    plus: bool = False,
    stage: Literal["gmm", "tom"] = "gmm",
    body_mask: torch.Tensor | None = None,
    radius: int = 5,
) -> torch.Tensor:
    """Build CP-VTON's cloth-agnostic person representation.

    Args:
        parse: LIP label map ``[H, W]`` or ``[B, H, W]`` (integer labels 0..19, or 20 in CP-VTON+).
        person: Person image ``[3, H, W]`` or ``[B, 3, H, W]`` in [-1, 1].
        keypoints: ``[K, 2|3]`` or ``[B, K, 2|3]`` pixel keypoints ``(x, y[, confidence])``; 18 COCO
            joints give 22 channels. Points with ``x <= 1`` or ``y <= 1`` are absent.
        plus: Use CP-VTON+'s head labels (:data:`PLUS_GMM_HEAD_LABELS` or :data:`PLUS_TOM_HEAD_LABELS`).
        stage: Which CP-VTON+ network the representation feeds; CP-VTON uses one for both.
        body_mask: Silhouette source ``[H, W]`` or ``[B, H, W]`` instead of ``parse > 0`` (CP-VTON+ reads
            its ``image-mask`` body mask here).
        radius: Half-size of the pose squares.

    Returns:
        ``cat[shape (1), head image (3), pose maps (K)]`` on ``person``'s device and dtype:
        ``[1 + 3 + K, H, W]``, or ``[B, 1 + 3 + K, H, W]`` for batched inputs.

    Raises:
        ValueError: If the shapes do not fit together or ``stage`` is unknown.
    """
    if stage not in ("gmm", "tom"):
        raise ValueError(f"stage must be 'gmm' or 'tom', got {stage!r}")
    if parse.ndim == 3:
        return torch.stack(
            [
                cpvton_agnostic(
                    parse[i],
                    person[i],
                    keypoints[i],
                    plus=plus,
                    stage=stage,
                    body_mask=None if body_mask is None else body_mask[i],
                    radius=radius,
                )
                for i in range(parse.shape[0])
            ]
        )
    if parse.ndim != 2 or person.ndim != 3 or person.shape != (3, *parse.shape):
        raise ValueError(
            f"expected parse [H, W] and person [3, H, W] (or batched), got {list(parse.shape)} and {list(person.shape)}"
        )
    height, width = parse.shape
    head_labels = (PLUS_GMM_HEAD_LABELS if stage == "gmm" else PLUS_TOM_HEAD_LABELS) if plus else HEAD_LABELS
    head = _label_mask(parse, head_labels, person)
    shape = body_shape(parse if body_mask is None else body_mask)
    pose = pose_maps(keypoints, height, width, radius)
    return torch.cat([shape.to(person), person * head - (1 - head), pose.to(person)])


def agnostic_from_common(
    parse: torch.Tensor,
    person: torch.Tensor,
    pose: torch.Tensor,
    *,
    plus: bool = False,
    stage: Literal["gmm", "tom"] = "gmm",
) -> torch.Tensor:
    """CP-VTON's agnostic from a training batch: a common-set parse and pose maps already drawn.

    The same construction as :func:`cpvton_agnostic` (the body silhouette from ``parse > 0`` through
    :func:`body_shape`, the head image, the pose maps), with the head sets in common classes (:data:`COMMON_HEAD`,
    :data:`COMMON_PLUS_GMM_HEAD`, :data:`COMMON_PLUS_TOM_HEAD`). CP-VTON+'s silhouette comes from its
    ``image-mask`` body mask, which training batches do not carry: ``parse > 0`` stands in (the same region up to
    the parser's edges).

    Args:
        parse: Common-set labels ``[B, H, W]``.
        person: ``[B, 3, H, W]`` in [-1, 1].
        pose: ``[B, K, H, W]`` in {-1, 1} (:func:`~pftryon.representation.pose_maps`, radius 5).
        plus: CP-VTON+'s head sets.
        stage: Which CP-VTON+ network the representation feeds; CP-VTON uses one for both.

    Returns:
        ``[B, 1 + 3 + K, H, W]`` on ``person``'s device and dtype.
    """
    if stage not in ("gmm", "tom"):
        raise ValueError(f"stage must be 'gmm' or 'tom', got {stage!r}")
    batch, height, width = parse.shape if parse.ndim == 3 else (0, 0, 0)
    if (
        parse.ndim != 3
        or person.shape != (batch, 3, height, width)
        or pose.ndim != 4
        or (pose.shape[0], *pose.shape[2:]) != (batch, height, width)
    ):
        raise ValueError(
            f"expected parse [B, H, W], person [B, 3, H, W] and pose [B, K, H, W], got {list(parse.shape)}, "
            f"{list(person.shape)} and {list(pose.shape)}"
        )
    names = (COMMON_PLUS_GMM_HEAD if stage == "gmm" else COMMON_PLUS_TOM_HEAD) if plus else COMMON_HEAD
    head = _label_mask(parse, common_labels(names), person)
    shape = torch.stack([body_shape(p) for p in parse]).to(person)
    return torch.cat([shape, person * head - (1 - head), pose.to(person)], dim=1)


def _label_mask(parse: torch.Tensor, labels: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    """``parse ∈ labels`` as a 0/1 tensor with a channel axis, on ``like``'s device and dtype."""
    mask = torch.isin(parse, torch.tensor(labels, device=parse.device))
    return mask.unsqueeze(-3).to(like)
