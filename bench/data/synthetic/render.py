"""Procedural virtual try-on data with exact ground truth: in-shop garments, dressed people, try-on pairs, videos.

A :class:`SyntheticWorld` draws everything from its ``seed`` and an index, with one random stream per concern
(``np.random.default_rng([seed, index, salt])``), so that the same arguments give bit-identical arrays and a
person's body, pose, face and background never depend on the garment they wear.

Geometry lives in a canonical 256x192 frame (x right, y down, the figure centred on x = 96) that is scaled to the
world's ``size``. Garments are designed in *design units*: canonical pixels of a standard body (shoulder line at
y = 62, hips at y = 136). An in-shop garment is that design scaled and centred on a white canvas; a worn garment is the
inverse map from each person pixel to a design point, per garment part (parts may overlap in the photo):

* the main panel (torso of a top or dress, hips of trousers, a skirt) through a similarity anchored at the neck
  base (tops, dresses) or the waist (lower garments), stretched to the person's width and turned with the torso;
* sleeves and trouser legs through *bone* coordinates: the distance along and across the person's upper arm,
  forearm or leg are the distance along and across the garment's sleeve or leg axis, so a straight in-shop
  sleeve bends at the person's elbow;
* plus a smooth low-frequency displacement (fabric folds) shared by all parts.

A person pixel shows the garment where the design point lands inside that part's in-shop silhouette (bilinear
sample >= 0.5) and no later layer (head, arms, hands) covers it. Its colour is
``round(shade * bilinear_sample(garment.image, flow))`` with ``grid_sample(..., align_corners=True)`` semantics,
where ``flow`` is the stored normalised in-shop position and ``shade`` (in (0, 1], smooth) is returned in
:class:`Rendering`; so ``|warp(garment, flow) * shade - person| <= 0.5`` grey level inside ``garment_region``.

Parse labels are lip21 (LIP + 20 = neck/skin); DensePose part indices follow the usual listing (1-2 torso,
3 right hand, 4 left hand, 5 left foot, 6 right foot, 9/10 upper leg right/left, 13/14 lower leg right/left,
15-18 upper arm, 19-22 lower arm (inside/outside), 23/24 head right/left) and describe the body under the
clothes. "Right" is the person's right: the image's left for this front-facing figure, as in COCO-18 keypoints.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.data import BACKGROUNDS
from bench.data.synthetic.record import SynthGarment, SynthPerson

__all__ = ["BACKGROUNDS", "CATEGORIES", "POSES", "Pose", "Rendering", "SyntheticWorld", "interpolate_pose"]

CATEGORIES = ("upper_body", "lower_body", "dresses")
_STUDIO_RGB = np.asarray((238.0, 238.0, 236.0), np.float32)
_CATEGORY_P = (0.6, 0.2, 0.2)

# The canonical frame and the standard body garments are designed on (design units).
_CANON_H, _CANON_W, _MID = 256.0, 192.0, 96.0
_SHOP_CENTRE = (96.0, 128.0)
_POSE_CENTRE = (96.0, 140.0)
_NECK_Y = 62.0  # shoulder line / neck base
_STD_SW = 28.0  # shoulder half-width
_STD_HIP_Y = 136.0
_STD_HW = 21.0  # hip half-width
_STD_HJ = 11.0  # hip joint offset from the midline
_WAIST_DROP = 10.0  # lower garments are anchored this far above the hip joints
_ACCEPT = 0.5  # a person pixel shows a garment part where the part's bilinear mask sample reaches this

_SALT_GARMENT, _SALT_BODY, _SALT_POSE, _SALT_NOISE, _SALT_VIDEO, _SALT_FOLDS = 11, 12, 13, 14, 15, 16

# lip21 labels
BG, HAIR, UPPER, DRESS, PANTS, SKIRT, FACE = 0, 2, 5, 6, 9, 12, 13
L_ARM, R_ARM, L_LEG, R_LEG, L_SHOE, R_SHOE, NECK = 14, 15, 16, 17, 18, 19, 20

_NOISE_LABELS = (0, 2, 5, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20)
_SWAPS = ((5, 6), (14, 15), (9, 12), (13, 2), (16, 17), (18, 19))
_N_BLOBS = 12

Point = tuple[float, float]


# --------------------------------------------------------------------------------------------------- pose


@dataclass(frozen=True)
class Pose:
    """A body pose in canonical units (the 256x192 frame; scaled with the world's size).

    Angles are in radians. Arm and leg angles are measured from straight down, positive *away* from the body
    (outward); a forearm angle below about -1 swings the forearm across the torso. The lower-arm angles are
    absolute (not relative to the upper arm).

    Attributes:
        dx, dy: shift of the whole figure.
        scale: figure scale about (96, 140).
        lean: torso (and head and arms) rotation about the pelvis.
        head_tilt: extra head rotation about the top of the neck.
        right_upper, right_lower, left_upper, left_lower: arm angles.
        right_leg, left_leg: leg angles (legs are straight).
        right_arm_front: which arm is drawn over the other where they overlap.
    """

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    lean: float = 0.0
    head_tilt: float = 0.0
    right_upper: float = 0.12
    right_lower: float = 0.08
    left_upper: float = 0.12
    left_lower: float = 0.08
    right_leg: float = 0.05
    left_leg: float = 0.05
    right_arm_front: bool = True

    def lerp(self, other: Pose, t: float) -> Pose:
        """The pose a fraction ``t`` of the way to ``other`` (see :func:`interpolate_pose`)."""
        return interpolate_pose(self, other, t)

    @classmethod
    def coerce(cls, value: Pose | Mapping[str, Any]) -> Pose:
        """``value`` itself, or a :class:`Pose` built from a mapping of its fields.

        Raises:
            TypeError: ``value`` is neither, or the mapping has unknown keys.
        """
        if isinstance(value, Pose):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - names)
            if unknown:
                raise TypeError(f"unknown pose field(s) {unknown}; valid fields: {', '.join(sorted(names))}")
            return cls(**value)
        raise TypeError(f"pose must be a Pose or a mapping of its fields, got {type(value).__name__}")


def interpolate_pose(a: Pose, b: Pose, t: float) -> Pose:
    """Linear interpolation between two poses: every number moves from ``a`` (t = 0) to ``b`` (t = 1).

    ``right_arm_front`` (a choice, not a number) is ``a``'s for ``t < 0.5`` and ``b``'s from there on.
    """
    values: dict[str, Any] = {}
    for f in fields(Pose):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        values[f.name] = (va if t < 0.5 else vb) if isinstance(va, bool) else va + (vb - va) * float(t)
    return Pose(**values)


# Arm templates a person's pose is drawn from (plus jitter): (right_upper, right_lower, left_upper, left_lower).
POSES: dict[str, tuple[float, float, float, float]] = {
    "relaxed": (0.12, 0.08, 0.12, 0.08),
    "open": (0.42, 0.36, 0.42, 0.36),
    "hands_on_hips": (0.55, -0.75, 0.55, -0.75),
    "cross_right": (0.10, -1.45, 0.14, 0.10),
    "cross_left": (0.14, 0.10, 0.10, -1.45),
    "arms_crossed": (0.10, -1.40, 0.10, -1.60),
    "one_hand_on_hip": (0.55, -0.75, 0.12, 0.10),
}
_POSE_P = (0.25, 0.15, 0.14, 0.12, 0.12, 0.12, 0.10)


def _sample_pose(rng: np.random.Generator, right_arm_front: bool | None = None) -> Pose:
    names = list(POSES)
    template = POSES[names[rng.choice(len(names), p=_POSE_P)]]
    arms = np.asarray(template) + rng.uniform(-0.07, 0.07, 4)
    legs = rng.uniform(0.02, 0.10, 2)
    front = bool(rng.random() < 0.5)
    return Pose(
        dx=float(rng.uniform(-6, 6)),
        dy=float(rng.uniform(-3, 3)),
        scale=float(rng.uniform(0.92, 1.0)),
        lean=float(rng.uniform(-0.04, 0.04)),
        head_tilt=float(rng.uniform(-0.08, 0.08)),
        right_upper=float(arms[0]),
        right_lower=float(arms[1]),
        left_upper=float(arms[2]),
        left_lower=float(arms[3]),
        right_leg=float(legs[0]),
        left_leg=float(legs[1]),
        right_arm_front=front if right_arm_front is None else right_arm_front,
    )


# ---------------------------------------------------------------------------------------- small geometry


def _rot(v: Point, angle: float) -> Point:
    c, s = math.cos(angle), math.sin(angle)
    return (c * v[0] - s * v[1], s * v[0] + c * v[1])


def _add(a: Point, b: Point, k: float = 1.0) -> Point:
    return (a[0] + k * b[0], a[1] + k * b[1])


def _limb_dir(side: int, angle: float) -> Point:
    """Unit vector ``angle`` from straight down, outward for ``side`` (-1: image left, +1: image right)."""
    return (side * math.sin(angle), math.cos(angle))


def _convex(X: np.ndarray, Y: np.ndarray, pts: list[Point]) -> np.ndarray:
    """Inside a convex polygon (either orientation), as an intersection of half-planes."""
    n = len(pts)
    area = sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n))
    sign = 1.0 if area > 0 else -1.0
    mask = None
    for i in range(n):
        (x0, y0), (x1, y1) = pts[i], pts[(i + 1) % n]
        ex, ey = sign * (x1 - x0), sign * (y1 - y0)
        side = ex * Y - ey * X >= ex * y0 - ey * x0
        mask = side if mask is None else np.logical_and(mask, side, out=mask)
    return mask


def _bone(X: np.ndarray, Y: np.ndarray, origin: Point, d: Point) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates along unit ``d`` and across it (along ``(-d_y, d_x)``) from ``origin``."""
    px, py = X - origin[0], Y - origin[1]
    return px * d[0] + py * d[1], py * d[0] - px * d[1]


def _capsule(
    X: np.ndarray, Y: np.ndarray, a: Point, b: Point, ra: float, rb: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tapered capsule from ``a`` (radius ``ra``) to ``b`` (``rb``): mask, position along (0..1), across / r."""
    length = math.hypot(b[0] - a[0], b[1] - a[1]) or 1e-6
    u, v = _bone(X, Y, a, ((b[0] - a[0]) / length, (b[1] - a[1]) / length))
    t = np.clip(u * (1.0 / length), 0.0, 1.0)
    r = ra + (rb - ra) * t
    w = u - t * length
    return v * v + w * w <= r * r, t, v / r


def _ellipse(
    X: np.ndarray, Y: np.ndarray, c: Point, rx: float, ry: float, angle: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalised squared radius of an ellipse (inside where <= 1), and the local coordinates."""
    u, v = _bone(X, Y, c, (math.cos(angle), math.sin(angle)))  # the x and y axes turned by angle
    return (u * (1.0 / rx)) ** 2 + (v * (1.0 / ry)) ** 2, u, v


def _quad(joint: Point, d: Point, back: float, length: float, w_out: float, w_in: float, w_end: float, side: int):
    """The convex outline of a sleeve or trouser leg along unit ``d`` from ``joint``."""
    n = (-d[1], d[0])
    out = (-side * n[0], -side * n[1])  # the outward normal of this side
    top, end = _add(joint, d, -back), _add(joint, d, length)
    return [_add(top, out, w_out), _add(end, out, w_end), _add(end, out, -w_end), _add(top, out, -w_in)]


# ------------------------------------------------------------------------------------------------ colour


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    h6 = (h % 1.0) * 6.0
    i, f = int(h6) % 6, h6 - int(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.asarray(rgb, np.float32) * 255.0


def _garment_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A main colour and two contrasting ones, none near white (the in-shop background)."""
    h, s, v = rng.random(), rng.uniform(0.1, 0.95), rng.uniform(0.18, 0.9)
    out = [_hsv(h, s, v)]
    for _ in range(2):
        h2 = (h + rng.uniform(0.25, 0.75)) % 1.0 if rng.random() < 0.6 else h
        dv = rng.uniform(0.35, 0.6) * (1 if v < 0.55 else -1)
        out.append(_hsv(h2, rng.uniform(0.1, 0.95), float(np.clip(v + dv, 0.08, 0.92))))
    return out[0], out[1], out[2]


# ------------------------------------------------------------------------------------------- garments


@dataclass
class _Limb:
    """A sleeve or trouser leg in design units: a tapered quad along an axis from the body joint."""

    side: int  # -1: the garment's right (image left), +1: its left
    joint: Point
    angle: float  # from straight down, outward
    back: float  # how far the quad reaches behind the joint (into the main panel)
    length: float
    w_out: float
    w_in: float
    w_end: float
    clip: tuple[Point, Point] | None = None  # the part of the quad beyond this line (from the end) is cut

    @property
    def direction(self) -> Point:
        return _limb_dir(self.side, self.angle)

    def outline(self) -> list[Point]:
        return _quad(self.joint, self.direction, self.back, self.length, self.w_out, self.w_in, self.w_end, self.side)


@dataclass
class _Design:
    """One garment in design units, with its print and where it sits in the in-shop photo."""

    category: str
    kind: str  # top | dress | trousers | skirt
    main: list[list[Point]]  # convex pieces of the main panel
    limbs: list[_Limb]  # [right, left] sleeves or legs, or none
    neck: tuple[str, float, float] | None  # (round | v, half-width, depth) cut from the main panel
    hem_y: float
    colours: tuple[np.ndarray, np.ndarray, np.ndarray]
    texture: dict[str, Any]
    logo: dict[str, Any] | None
    trims: dict[str, bool]
    waist_y: float = _STD_HIP_Y - _WAIST_DROP
    zoom: float = 1.5
    centre: Point = (96.0, 128.0)
    long_sleeves: bool = False

    def place(self, zoom: float) -> None:
        """Fit the design's bounding box into the in-shop canvas (margins of 10 px) at most at ``zoom``."""
        pts = [p for poly in self.main for p in poly] + [p for limb in self.limbs for p in limb.outline()]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        if self.kind == "trousers":  # legs are clipped at the waist
            ys = [max(y, self.waist_y) for y in ys]
        w, h = max(xs) - min(xs), max(ys) - min(ys)
        self.zoom = min(zoom, (_CANON_W - 20) / w, (_CANON_H - 20) / h)
        self.centre = ((max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2)


def _sample_texture(rng: np.random.Generator) -> dict[str, Any]:
    kinds = ("solid", "stripes", "checks", "dots", "glyphs", "blocks")
    tex: dict[str, Any] = {
        "kind": kinds[rng.choice(len(kinds), p=(0.24, 0.2, 0.14, 0.14, 0.18, 0.1))],
        "angle": float(rng.uniform(0, math.pi)),
        "period": float(rng.uniform(4.0, 12.0)),
        "period2": float(rng.uniform(4.0, 12.0)),
        "duty": float(rng.uniform(0.2, 0.55)),
        "phase": float(rng.random()),
        "radius": float(rng.uniform(0.16, 0.34)),
        "cell": float(rng.uniform(6.0, 11.0)),
        "split": float(rng.uniform(-0.3, 0.3)),
    }
    # glyphs: a 4x4 table of cells, each with up to three small rectangles or lines (cell units)
    rects = np.empty((16, 3, 4), np.float32)
    line = rng.random((16, 3)) < 0.45
    long_side, thin = rng.uniform(0.35, 0.8, (16, 3)), rng.uniform(0.08, 0.15, (16, 3))
    box_w, box_h = rng.uniform(0.15, 0.4, (16, 3)), rng.uniform(0.15, 0.4, (16, 3))
    vertical = rng.random((16, 3)) < 0.5
    w = np.where(line, np.where(vertical, thin, long_side), box_w)
    h = np.where(line, np.where(vertical, long_side, thin), box_h)
    x0, y0 = rng.random((16, 3)) * (0.95 - w), rng.random((16, 3)) * (0.95 - h)
    rects[..., 0], rects[..., 1], rects[..., 2], rects[..., 3] = x0, y0, x0 + w, y0 + h
    tex["rects"], tex["on"] = rects, rng.random((16, 3)) < 0.55
    return tex


def _sample_design(rng: np.random.Generator) -> _Design:
    category = CATEGORIES[rng.choice(3, p=_CATEGORY_P)]
    colours = _garment_colours(rng)
    texture = _sample_texture(rng)
    logo = {
        "kind": ("circle", "ring", "triangle", "diamond", "square", "star", "bars")[rng.integers(7)],
        "x": float(rng.uniform(-8, 8)),
        "y": float(rng.uniform(18, 28)),
        "r": float(rng.uniform(4.5, 9.0)),
        "angle": float(rng.uniform(0, 2 * math.pi)),
    }
    with_logo = rng.random() < 0.5
    trims = {name: bool(rng.random() < 0.4) for name in ("neck", "hem", "cuffs", "waist")}
    zoom = float(rng.uniform(1.35, 1.75))
    sleeve = ("none", "short", "long")[rng.choice(3, p=(0.2, 0.45, 0.35))]
    r = rng.random(13)  # shape numbers, drawn whatever the category
    u = lambda i, lo, hi: lo + (hi - lo) * float(r[i])  # noqa: E731

    if category == "lower_body":
        waist = _STD_HIP_Y - _WAIST_DROP
        if rng.random() < 0.6:
            length = (u(0, 96, 104), u(0, 72, 84), u(0, 22, 34))[rng.choice(3, p=(0.6, 0.2, 0.2))]
            hip = [(_MID - 22.5, waist), (_MID + 22.5, waist), (_MID + 24, waist + 22), (_MID - 24, waist + 22)]
            angle, w_end = u(1, 0.02, 0.07), u(2, 8.0, 12.0)
            limbs = [
                _Limb(s, (_MID + s * _STD_HJ, _STD_HIP_Y), angle, 14.0, length, 13.5, 10.5, w_end) for s in (-1, 1)
            ]
            design = _Design(
                category, "trousers", [hip], limbs, None, _STD_HIP_Y + length, colours, texture, None, trims
            )
        else:
            length, flare, top = u(0, 34, 90), u(1, 4, 20), _STD_HW + 1
            poly = [(_MID - top, waist), (_MID + top, waist), (_MID + top + flare, waist + length)]
            poly.append((_MID - top - flare, waist + length))
            design = _Design(category, "skirt", [poly], [], None, waist + length, colours, texture, None, trims)
        design.place(zoom)
        return design

    dress = category == "dresses"
    if dress:
        sleeve = ("none", "short", "long")[rng.choice(3, p=(0.4, 0.4, 0.2))]
    sw = u(3, 27, 30) if sleeve != "none" else u(3, 22, 25.5)
    nw = u(4, 8, 12)
    neck = ("round" if rng.random() < 0.7 else "v", nw, u(5, 5, 15))
    top = [(_MID - nw, 55.5), (_MID - (sw - 4), 58.0), (_MID - sw, 65.0), (_MID - (sw - 1), 82.0)]
    top += [(2 * _MID - x, y) for x, y in reversed(top)]
    if dress:
        hem_y = _NECK_Y + (u(6, 100, 108), u(6, 123, 131), u(6, 143, 151))[rng.choice(3)]
        ww, hem_w = u(7, 18, 21), u(8, 28, 46)
        mid = [(_MID - (sw - 1), 82), (_MID - ww, 110), (_MID + ww, 110), (_MID + (sw - 1), 82)]
        skirt = [(_MID - ww, 110), (_MID - hem_w, hem_y), (_MID + hem_w, hem_y), (_MID + ww, 110)]
        main = [top, mid, skirt]
    else:
        hem_y = _NECK_Y + (u(6, 44, 56), u(6, 74, 88), u(6, 96, 110))[rng.choice(3, p=(0.2, 0.6, 0.2))]
        hem_w = u(8, 21, 27) if hem_y < 112 else u(8, 23, 31)
        main = [top, [(_MID - (sw - 1), 82), (_MID - hem_w, hem_y), (_MID + hem_w, hem_y), (_MID + (sw - 1), 82)]]
    limbs = []
    if sleeve != "none":
        if sleeve == "short":
            angle, length, w0 = u(9, 0.45, 0.75), u(10, 14, 24), u(11, 8, 9.5)
            w_end = w0 - u(12, 0.3, 1.5)
        else:
            angle, length, w0 = u(9, 0.18, 0.38), u(10, 76, 86), u(11, 7.5, 9)
            w_end = u(12, 5.5, 7)
        seams = {-1: (top[0], top[1]), 1: (top[-1], top[-2])}  # neck to shoulder, where sleeves are cut
        limbs = [
            _Limb(s, (_MID + s * (_STD_SW - 5), 65.0), angle, 6.0, length, w0, w0, w_end, seams[s]) for s in (-1, 1)
        ]
    design = _Design(
        category, "dress" if dress else "top", main, limbs, neck, hem_y, colours, texture, logo if with_logo else None,
        trims, long_sleeves=sleeve == "long",
    )  # fmt: skip
    design.place(zoom)
    return design


def _pattern(tex: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """How much of the second colour each garment point takes (0..1), from design coordinates."""
    kind = tex["kind"]
    if kind == "solid":
        return np.zeros_like(x)
    c, s = math.cos(tex["angle"]), math.sin(tex["angle"])
    a, b = x * c + y * s, y * c - x * s
    if kind == "stripes":
        return (np.mod(a * (1.0 / tex["period"]) + tex["phase"], 1.0) < tex["duty"]).astype(np.float32)
    if kind == "checks":
        if tex["angle"] > math.pi / 2:  # most checks are axis-aligned
            a, b = x, y
        p = tex["period"] + 3.0
        sa = np.mod(a * (1.0 / p) + tex["phase"], 1.0) < tex["duty"]
        sb = np.mod(b * (1.0 / p), 1.0) < tex["duty"]
        return 0.5 * sa.astype(np.float32) + 0.5 * sb.astype(np.float32)
    if kind == "dots":
        p = tex["period"] + 2.0
        row = np.floor(b * (1.0 / p))
        du = np.mod(a * (1.0 / p) + 0.5 * np.mod(row, 2.0), 1.0) - 0.5
        dv = b * (1.0 / p) - row - 0.5
        return (du * du + dv * dv < tex["radius"] ** 2).astype(np.float32)
    if kind == "glyphs":
        cell = tex["cell"]
        gx, gy = x * (1.0 / cell), y * (1.0 / cell)
        cx, cy = np.floor(gx), np.floor(gy)
        lx, ly = gx - cx, gy - cy
        cid = (np.mod(cy, 4.0) * 4 + np.mod(cx, 4.0)).astype(np.intp)
        rects, on = tex["rects"][cid], tex["on"][cid]  # [N, 3, 4], [N, 3]
        inside = (
            on
            & (lx[:, None] >= rects[..., 0])
            & (lx[:, None] <= rects[..., 2])
            & (ly[:, None] >= rects[..., 1])
            & (ly[:, None] <= rects[..., 3])
        )
        return inside.any(axis=1).astype(np.float32)
    # blocks: two colour blocks split along a slanted line through the chest
    return ((y - 100.0) + (x - _MID) * tex["split"] > 0).astype(np.float32)


def _logo_mask(logo: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    cx, cy, r = _MID + logo["x"], _NECK_Y + logo["y"], logo["r"]
    c, s = math.cos(logo["angle"]), math.sin(logo["angle"])
    dx, dy = x - cx, y - cy
    a, b = dx * c + dy * s, dy * c - dx * s
    d2 = dx * dx + dy * dy
    kind = logo["kind"]
    if kind == "circle":
        return d2 <= r * r
    if kind == "ring":
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    if kind == "diamond":
        return np.abs(a) + np.abs(b) <= r
    if kind == "square":
        return np.maximum(np.abs(a), np.abs(b)) <= 0.75 * r
    if kind == "triangle":
        pts = [_add((cx, cy), _rot((0.0, -r), logo["angle"] + k * 2 * math.pi / 3)) for k in range(3)]
        return _convex(x, y, pts)
    if kind == "star":
        theta = np.arctan2(b, a)
        rr = r * (0.55 + 0.45 * np.cos(5.0 * theta))
        return d2 <= rr * rr
    # bars: a row of short "letters" under a small square
    letter = np.mod(dx * (1.0 / 3.2) + 10.0, 1.0) < 0.65
    return ((np.abs(dx) <= 1.6 * r) & (np.abs(dy - 0.3 * r) <= 0.28 * r) & letter) | (
        np.maximum(np.abs(dx), np.abs(dy + 0.55 * r)) <= 0.35 * r
    )


@dataclass
class _Shop:
    """A rendered in-shop garment and what the person renderer needs from it."""

    design: _Design
    image: np.ndarray  # uint8 [H, W, 3]
    mask: np.ndarray  # uint8 [H, W]
    image_t: torch.Tensor  # float32 [1, 3, H, W], 0..255
    parts_t: torch.Tensor  # float32 [3, 1, H, W]: main panel, right limb, left limb
    to_grid: tuple[float, float, float, float]  # design -> normalised: (ax, bx, ay, by)


def _render_shop(design: _Design, X: np.ndarray, Y: np.ndarray, unit: float, offset_x: float) -> _Shop:
    h, w = X.shape
    z, (cx, cy) = design.zoom, design.centre
    Xd = cx + (X - _SHOP_CENTRE[0]) * (1.0 / z)
    Yd = cy + (Y - _SHOP_CENTRE[1]) * (1.0 / z)
    main = np.zeros((h, w), bool)
    for poly in design.main:
        main |= _convex(Xd, Yd, poly)
    if design.neck is not None:
        shape, nw, depth = design.neck
        if shape == "round":
            main &= _ellipse(Xd, Yd, (_MID, 56.0), nw, depth)[0] > 1.0
        else:
            main &= ~_convex(Xd, Yd, [(_MID - nw, 50.0), (_MID + nw, 50.0), (_MID + nw, 56.0), (_MID, 56.0 + depth)])
            main &= ~_convex(Xd, Yd, [(_MID - nw, 50.0), (_MID + nw, 56.0), (_MID, 56.0 + depth), (_MID - nw, 56.0)])
    limbs = []
    for limb in design.limbs:
        m = _convex(Xd, Yd, limb.outline())
        if design.kind == "trousers":
            m &= Yd >= design.waist_y
        if limb.clip is not None:  # a sleeve ends at the shoulder seam
            (x0, y0), (x1, y1) = limb.clip
            end = _add(limb.joint, limb.direction, limb.length)
            sign = 1.0 if (x1 - x0) * (end[1] - y0) - (y1 - y0) * (end[0] - x0) >= 0 else -1.0
            m &= sign * ((x1 - x0) * (Yd - y0) - (y1 - y0) * (Xd - x0)) >= 0
        limbs.append(m)
    # Parts may overlap: where a sleeve lies over the torso panel in the photo, both parts own those pixels,
    # so that neither has a hole once the sleeve turns with the arm.
    mask = main.copy()
    for m in limbs:
        mask |= m

    # colour: print, trims, logo, soft shading; computed on the garment's pixels only
    idx = np.flatnonzero(mask)
    x, y = Xd.ravel()[idx], Yd.ravel()[idx]
    ca, cb, cc = design.colours
    rgb = ca + _pattern(design.texture, x, y)[:, None] * (cb - ca)
    trim = np.zeros(x.shape, bool)
    if design.trims["neck"] and design.neck is not None and design.neck[0] == "round":
        trim |= _ellipse(x, y, (_MID, 56.0), design.neck[1] + 2.5, design.neck[2] + 2.5)[0] <= 1.0
    if design.trims["hem"] and design.kind in ("top", "skirt"):
        trim |= (y >= design.hem_y - 3.5) & main.ravel()[idx]
    if design.trims["waist"] and design.kind in ("trousers", "skirt"):
        trim |= y <= design.waist_y + 3.5
    if design.trims["cuffs"]:
        for limb, m in zip(design.limbs, limbs, strict=True):
            along, _ = _bone(x, y, limb.joint, limb.direction)
            trim |= (along >= limb.length - 3.0) & m.ravel()[idx]
    rgb[trim] = cc
    if design.logo is not None:
        rgb[_logo_mask(design.logo, x, y)] = cc if not design.trims["neck"] else cb
    shade = 1.0 - 0.07 * np.minimum(((x - _MID) * (1.0 / 40.0)) ** 2, 1.0)
    shade -= 0.03 * (1.0 + np.sin(x * 0.21 + y * 0.05 + 6.0 * design.texture["phase"]))
    image = np.full((h * w, 3), 255.0, np.float32)
    image[idx] = rgb * shade[:, None]
    image = np.floor(image + 0.5).clip(0, 255).astype(np.uint8).reshape(h, w, 3)

    parts = np.stack([main, *(limbs or [np.zeros_like(main)] * 2)]).astype(np.float32)
    # design -> shop canonical -> pixels -> normalised (align_corners=True)
    ax = z * unit * 2.0 / (w - 1)
    bx = ((_SHOP_CENTRE[0] - z * cx) * unit + offset_x) * 2.0 / (w - 1) - 1.0
    ay = z * unit * 2.0 / (h - 1)
    by = (_SHOP_CENTRE[1] - z * cy) * unit * 2.0 / (h - 1) - 1.0
    return _Shop(
        design=design,
        image=image,
        mask=(mask * 255).astype(np.uint8),
        image_t=torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None].contiguous(),
        parts_t=torch.from_numpy(parts)[:, None],
        to_grid=(ax, bx, ay, by),
    )


# ----------------------------------------------------------------------------------------------- bodies

_SKIN = np.asarray(
    [(250, 214, 190), (241, 194, 167), (224, 172, 138), (198, 134, 103), (161, 102, 75), (118, 75, 55), (87, 55, 42)],
    np.float32,
)
_HAIR = np.asarray(
    [(30, 25, 25), (60, 40, 30), (95, 62, 40), (200, 168, 110), (140, 70, 40), (150, 150, 150)], np.float32
)
_LOWER = np.asarray(
    [(40, 60, 110), (60, 90, 140), (25, 25, 30), (190, 170, 130), (90, 90, 95), (120, 40, 40)], np.float32
)


@dataclass(frozen=True)
class _Body:
    """A person's identity: proportions, colours and own clothes (all canonical units)."""

    sw: float
    hw: float
    tl: float
    head_rx: float
    head_ry: float
    neck_len: float
    neck_r: float
    l1: float
    l2: float
    r_upper: float
    r_fore: float
    r_hand: float
    thigh_frac: float
    r_thigh: float
    r_shin: float
    skin: np.ndarray
    hair: np.ndarray
    hair_style: str  # short | long | bun
    hairline: float
    eye: np.ndarray
    lips: np.ndarray
    bg_a: np.ndarray
    bg_b: np.ndarray
    bg_angle: float
    floor_y: float | None
    lower_kind: str  # pants | shorts | skirt (worn with tops)
    lower_colour: np.ndarray
    skirt_len: float
    top_colour: np.ndarray  # (worn with lower garments)
    top_sleeves: bool
    shoe: np.ndarray

    @property
    def hip_y(self) -> float:
        return _NECK_Y + self.tl

    @property
    def leg_len(self) -> float:
        return min(102.0, 238.0 - self.hip_y)


def _sample_body(rng: np.random.Generator) -> _Body:
    r = rng.random(24)
    u = lambda i, lo, hi: lo + (hi - lo) * float(r[i])  # noqa: E731
    skin = np.clip(_SKIN[rng.integers(len(_SKIN))] + rng.uniform(-8, 8, 3), 0, 255).astype(np.float32)
    hair = np.clip(_HAIR[rng.integers(len(_HAIR))] + rng.uniform(-10, 10, 3), 0, 255).astype(np.float32)
    bg_a = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.72, 0.98))
    bg_b = np.clip(bg_a * rng.uniform(0.8, 1.0) + rng.uniform(-12, 12, 3), 0, 255).astype(np.float32)
    lower = _LOWER[rng.integers(len(_LOWER))] if rng.random() < 0.7 else _hsv(rng.random(), 0.5, 0.5)
    lower = np.clip(lower + rng.uniform(-10, 10, 3), 0, 255).astype(np.float32)
    shoe = (np.float32(30), np.float32(235), None)[rng.integers(3)]
    shoe_rgb = np.full(3, shoe, np.float32) if shoe is not None else _hsv(rng.random(), 0.6, 0.45)
    return _Body(
        sw=u(0, 25, 30), hw=u(1, 18.5, 23), tl=u(2, 70, 78), head_rx=u(3, 11, 13), head_ry=u(4, 14, 16),
        neck_len=u(5, 6, 9), neck_r=u(6, 5, 6.5), l1=u(7, 40, 46), l2=u(8, 36, 42), r_upper=u(9, 5.8, 7.2),
        r_fore=u(10, 4.6, 5.6), r_hand=u(11, 4.8, 5.8), thigh_frac=u(12, 0.48, 0.53), r_thigh=u(13, 9.5, 11.5),
        r_shin=u(14, 6.2, 7.5), skin=skin, hair=hair,
        hair_style=("short", "long", "bun")[rng.choice(3, p=(0.4, 0.45, 0.15))], hairline=u(15, -0.45, -0.2),
        eye=np.asarray((40, 30, 30), np.float32) + rng.uniform(0, 30, 3).astype(np.float32),
        lips=np.clip(skin * np.asarray((0.8, 0.55, 0.55), np.float32) + 10, 0, 255),
        bg_a=bg_a, bg_b=bg_b, bg_angle=u(16, -0.6, 0.6), floor_y=u(17, 220, 236) if r[18] < 0.5 else None,
        lower_kind=("pants", "shorts", "skirt")[rng.choice(3, p=(0.55, 0.15, 0.3))], lower_colour=lower,
        skirt_len=u(19, 28, 55), top_colour=_hsv(rng.random(), rng.uniform(0.1, 0.8), rng.uniform(0.25, 0.9)),
        top_sleeves=bool(r[20] < 0.6), shoe=shoe_rgb,
    )  # fmt: skip


class _Skeleton:
    """Joint positions and outlines of a body in a pose (canonical units)."""

    def __init__(self, body: _Body, pose: Pose) -> None:
        self.k = k = pose.scale
        self.lean = pose.lean
        self.front_right = pose.right_arm_front
        hip_y = body.hip_y
        cx, cy = _POSE_CENTRE

        def glob(p: Point) -> Point:
            return (cx + k * (p[0] - cx) + pose.dx, cy + k * (p[1] - cy) + pose.dy)

        def up(p: Point) -> Point:  # upper body: turned by the lean about the pelvis
            return glob(_add((_MID, hip_y), _rot((p[0] - _MID, p[1] - hip_y), pose.lean)))

        self.glob, self.up = glob, up
        sw, hw = body.sw, body.hw
        self.neck_base = up((_MID, _NECK_Y))
        self.neck_top = up((_MID, _NECK_Y - body.neck_len))
        self.head_angle = pose.lean + pose.head_tilt
        self.head = _add(self.neck_top, _rot((0.0, -(body.head_ry - 3.0)), self.head_angle), k)
        waist_y = _NECK_Y + 0.65 * body.tl
        ww = 0.5 * (sw + hw) - 3.0
        chest = [(_MID - body.neck_r - 1, 56.0), (_MID - (sw - 4), 59.0), (_MID - sw, 66.0), (_MID - (sw - 1.5), 82.0)]
        chest += [(_MID - ww, waist_y)]
        chest += [(2 * _MID - x, y) for x, y in reversed(chest)]
        self.chest = [up(p) for p in chest]
        pelvis = [(_MID - ww, waist_y), (_MID - hw, hip_y - 4), (_MID - hw + 1, hip_y + 12)]
        pelvis += [(2 * _MID - x, y) for x, y in reversed(pelvis)]
        self.pelvis = [glob(p) for p in pelvis]
        self.waist_y = waist_y
        self.ww = ww
        self.anchor_lower = glob((_MID, hip_y - _WAIST_DROP))

        arms = {-1: (pose.right_upper, pose.right_lower), 1: (pose.left_upper, pose.left_lower)}
        legs = {-1: pose.right_leg, 1: pose.left_leg}
        self.shoulder, self.elbow, self.wrist, self.hand, self.d_upper, self.d_fore = {}, {}, {}, {}, {}, {}
        self.hip, self.knee, self.ankle, self.foot, self.d_leg = {}, {}, {}, {}, {}
        hj = hw - 0.9 * body.r_thigh
        for s in (-1, 1):
            self.d_upper[s], self.d_fore[s] = _limb_dir(s, arms[s][0]), _limb_dir(s, arms[s][1])
            self.shoulder[s] = up((_MID + s * (sw - 5), 65.0))
            self.elbow[s] = _add(self.shoulder[s], self.d_upper[s], k * body.l1)
            self.wrist[s] = _add(self.elbow[s], self.d_fore[s], k * body.l2)
            self.hand[s] = _add(self.wrist[s], self.d_fore[s], k * 0.75 * body.r_hand)
            self.d_leg[s] = _limb_dir(s, legs[s])
            self.hip[s] = glob((_MID + s * hj, hip_y))
            self.knee[s] = _add(self.hip[s], self.d_leg[s], k * body.leg_len * body.thigh_frac)
            self.ankle[s] = _add(self.hip[s], self.d_leg[s], k * body.leg_len)
            self.foot[s] = _add(self.ankle[s], (s * 2.5, 4.0), k)

    def head_point(self, body: _Body, fx: float, fy: float) -> Point:
        """A point of the head given as fractions of its radii from its centre (turned with the head)."""
        return _add(self.head, _rot((fx * body.head_rx, fy * body.head_ry), self.head_angle), self.k)

    def keypoints(self, body: _Body) -> list[Point]:
        """COCO-18, in canonical units."""
        r, lft = -1, 1
        return [
            self.head_point(body, 0.0, 0.3), self.neck_base,
            self.shoulder[r], self.elbow[r], self.wrist[r], self.shoulder[lft], self.elbow[lft], self.wrist[lft],
            self.hip[r], self.knee[r], self.ankle[r], self.hip[lft], self.knee[lft], self.ankle[lft],
            self.head_point(body, -0.38, -0.02), self.head_point(body, 0.38, -0.02),
            self.head_point(body, -1.0, 0.05), self.head_point(body, 1.0, 0.05),
        ]  # fmt: skip


# --------------------------------------------------------------------------------------------- painting


class _Canvas:
    """Back-to-front painting of colours, labels, DensePose parts and garment-segment ownership."""

    def __init__(self, background: np.ndarray) -> None:
        h, w = background.shape[:2]
        self.img = background
        self.parse = np.zeros((h, w), np.uint8)
        self.dp = np.zeros((h, w), np.uint8)
        self.owner = np.full((h, w), -1, np.int8)

    def paint(
        self,
        mask: np.ndarray,
        label: int,
        colour: np.ndarray,
        shade: np.ndarray | None = None,
        dp: int | np.ndarray | None = None,
    ) -> None:
        if shade is None:
            self.img[mask] = colour
        else:
            self.img[mask] = shade[mask][:, None] * colour
        self.parse[mask] = label
        self.owner[mask] = -1
        if dp is not None:
            self.dp[mask] = dp if isinstance(dp, int) else dp[mask]

    def paint_garment(self, mask: np.ndarray, label: int, segment: int) -> None:
        self.parse[mask] = label
        self.owner[mask] = segment


@dataclass
class _Segment:
    """One garment part mapped onto the body: design coordinates of every pixel, where it may apply, shading."""

    name: str  # main | upper<side> | fore<side> | leg<side>
    part: int  # 0 main panel, 1 right limb, 2 left limb
    xd: np.ndarray
    yd: np.ndarray
    domain: np.ndarray | None
    shade: np.ndarray
    visible: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


@dataclass
class Rendering:
    """A rendered person with the in-shop garment worn and the layers behind the ground truth.

    Attributes:
        person: the person record.
        garment: the in-shop garment worn (``person.garment_id``).
        shade: float32 [H, W] multiplicative garment shading in (0, 1]: inside ``person.garment_region`` the
            image is ``round(shade * grid_sample(garment.image, person.flow, align_corners=True))``; 1 elsewhere.
        pose: the pose drawn.
    """

    person: SynthPerson
    garment: SynthGarment
    shade: np.ndarray
    pose: Pose


# ------------------------------------------------------------------------------------------------ world


class SyntheticWorld:
    """A deterministic generator of try-on data: in-shop garments, people wearing them, videos.

    Args:
        seed: non-negative integer; everything is a function of ``(seed, index, arguments)``.
        size: (H, W) of every image; the canonical 256x192 frame is scaled by ``H / 256`` and centred.
        background: one of :data:`BACKGROUNDS`. Only the pixels behind the person change with it: bodies,
            garments, poses, parses and flows are the same in both.

    Example:
        >>> world = SyntheticWorld(0)
        >>> garment = world.garment(3)
        >>> person = world.person(7, 3)  # person 7 wearing garment 3 (== world.tryon(7, 3))
        >>> person.image.shape, person.flow.shape
        ((256, 192, 3), (256, 192, 2))
    """

    def __init__(self, seed: int, size: tuple[int, int] = (256, 192), background: str = "varied") -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if len(size) != 2 or min(int(size[0]), int(size[1])) < 16:
            raise ValueError(f"size must be (H, W) with both at least 16, got {size!r}")
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
        self.seed = int(seed)
        self.size = (int(size[0]), int(size[1]))
        self.background = background
        h, w = self.size
        self._unit = h / _CANON_H
        self._offset_x = (w - _CANON_W * self._unit) / 2.0
        xs = (np.arange(w, dtype=np.float32) - np.float32(self._offset_x)) / np.float32(self._unit)
        ys = np.arange(h, dtype=np.float32) / np.float32(self._unit)
        self._X, self._Y = np.meshgrid(xs, ys)
        self._light = (1.0 - 0.06 * (self._X / _CANON_W) - 0.04 * (self._Y / _CANON_H)).astype(np.float32)
        self._shops: OrderedDict[int, _Shop] = OrderedDict()

    # -------------------------------------------------------------------------------------- public API

    def garment(self, index: int) -> SynthGarment:
        """The in-shop garment ``index``: a centred photo on white and its silhouette.

        Raises:
            ValueError: ``index`` is negative.
        """
        shop = self._shop(index)
        return SynthGarment(f"{index:06d}", shop.image.copy(), shop.mask.copy(), shop.design.category)

    def category(self, index: int) -> str:
        """The category of garment ``index`` (one of :data:`CATEGORIES`), without rendering it."""
        return _sample_design(self._rng(index, _SALT_GARMENT)).category

    def pose(self, index: int) -> Pose:
        """The pose of person ``index`` (one of :data:`POSES` with jitter)."""
        return _sample_pose(self._rng(index, _SALT_POSE))

    def person(
        self,
        index: int,
        garment_index: int | None = None,
        *,
        parse_noise: float = 0.0,
        pose: Pose | Mapping[str, Any] | None = None,
    ) -> SynthPerson:
        """Person ``index`` wearing in-shop garment ``garment_index`` (default: ``index``, the paired garment).

        The body, face, background and (unless given) pose depend on ``index`` only, so this is also the true
        unpaired try-on result (:meth:`tryon`). See :meth:`render` for the arguments.
        """
        return self.render(index, garment_index, parse_noise=parse_noise, pose=pose).person

    def tryon(self, person_index: int, garment_index: int, **kwargs: Any) -> SynthPerson:
        """The ground-truth try-on: person ``person_index`` wearing garment ``garment_index``.

        Identical to ``person(person_index, garment_index, **kwargs)``: identity and pose never depend on
        the garment, so any garment can be put on anyone.
        """
        return self.person(person_index, garment_index, **kwargs)

    def video(
        self, person_index: int, garment_index: int, frames: int, *, parse_noise: float = 0.0
    ) -> list[SynthPerson]:
        """``frames`` frames of person ``person_index`` moving smoothly from their pose to a second one.

        Frame ``f`` uses ``interpolate_pose(a, b, smoothstep(f / (frames - 1)))``; records carry
        ``video_id = f"v{person_index:05d}"`` and ``frame_index = f``.

        Raises:
            ValueError: ``frames`` is not positive.
        """
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        a = self.pose(person_index)
        b = _sample_pose(self._rng(person_index, _SALT_VIDEO), right_arm_front=a.right_arm_front)
        out = []
        for f in range(frames):
            t = f / (frames - 1) if frames > 1 else 0.0
            t = t * t * (3.0 - 2.0 * t)
            record = self.person(person_index, garment_index, parse_noise=parse_noise, pose=interpolate_pose(a, b, t))
            record.video_id, record.frame_index = f"v{person_index:05d}", f
            out.append(record)
        return out

    def render(
        self,
        index: int,
        garment_index: int | None = None,
        *,
        parse_noise: float = 0.0,
        pose: Pose | Mapping[str, Any] | None = None,
    ) -> Rendering:
        """Render person ``index`` wearing garment ``garment_index``, with the shading behind the ground truth.

        Args:
            index: the person (identity, body, background; and pose unless ``pose`` is given).
            garment_index: the in-shop garment worn; default ``index``.
            parse_noise: p in [0, 1]: how much ``parse_noisy`` departs from ``parse`` (0: equal). Corruptions
                (boundary erosion/dilation with a radius growing with p, swaps between related labels on blobs,
                spurious blobs) are drawn from ``(seed, index)`` and only their number and size grow with p.
            pose: a :class:`Pose` (or a mapping of its fields) instead of the person's own.

        Returns:
            The :class:`Rendering`.

        Raises:
            ValueError: a negative index, or ``parse_noise`` outside [0, 1].
        """
        garment_index = index if garment_index is None else garment_index
        self._check_index(index)
        if not 0.0 <= parse_noise <= 1.0:
            raise ValueError(f"parse_noise must be in [0, 1], got {parse_noise}")
        shop = self._shop(garment_index)
        body = _sample_body(self._rng(index, _SALT_BODY))
        pose = self.pose(index) if pose is None else Pose.coerce(pose)
        sk = _Skeleton(body, pose)
        canvas, shade, flow, region = self._draw(body, sk, shop, self._rng(index, _SALT_FOLDS))
        image = np.floor(canvas.img + 0.5).clip(0, 255).astype(np.uint8)
        noisy = _corrupt_parse(canvas.parse, parse_noise, self._rng(index, _SALT_NOISE), self._unit)
        keypoints = np.zeros((18, 3), np.float32)
        kp = np.asarray(sk.keypoints(body), np.float32)
        keypoints[:, 0] = np.clip(kp[:, 0] * self._unit + self._offset_x, 0, self.size[1] - 1)
        keypoints[:, 1] = np.clip(kp[:, 1] * self._unit, 0, self.size[0] - 1)
        keypoints[:, 2] = 1.0
        person = SynthPerson(
            person_id=f"{index:06d}",
            garment_id=f"{garment_index:06d}",
            image=image,
            parse=canvas.parse,
            parse_noisy=noisy,
            densepose=canvas.dp,
            keypoints=keypoints,
            body_mask=((canvas.parse > 0) * 255).astype(np.uint8),
            flow=flow,
            garment_region=region,
        )
        garment = SynthGarment(f"{garment_index:06d}", shop.image.copy(), shop.mask.copy(), shop.design.category)
        return Rendering(person=person, garment=garment, shade=shade, pose=pose)

    # ---------------------------------------------------------------------------------------- internals

    def _check_index(self, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
            raise ValueError(f"indices must be non-negative integers, got {index!r}")

    def _rng(self, index: int, salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(index), salt])

    def _shop(self, index: int) -> _Shop:
        self._check_index(index)
        shop = self._shops.get(index)
        if shop is None:
            design = _sample_design(self._rng(index, _SALT_GARMENT))
            shop = _render_shop(design, self._X, self._Y, self._unit, self._offset_x)
            self._shops[index] = shop
            if len(self._shops) > 64:
                self._shops.popitem(last=False)
        else:
            self._shops.move_to_end(index)
        return shop

    def _segments(self, body: _Body, sk: _Skeleton, design: _Design, folds: tuple) -> list[_Segment]:
        """Map every pixel into design coordinates through each garment part (see the module docstring)."""
        X, Y, k = self._X, self._Y, sk.k
        (fx, fy), fold_shade = folds
        light = self._light
        segs = []
        if design.kind in ("top", "dress"):
            ax = body.sw / _STD_SW  # horizontal stretch to the wearer's shoulders
            px, py = X - sk.neck_base[0], Y - sk.neck_base[1]
            c, s = math.cos(sk.lean), math.sin(sk.lean)
            xd = _MID + (c * px + s * py) * (1.0 / (k * ax)) + fx
            yd = _NECK_Y + (c * py - s * px) * (1.0 / k) + fy
            across = np.minimum(((xd - _MID) * (1.0 / 32.0)) ** 2, 1.0)
            segs.append(_Segment("main", 0, xd, yd, None, light * fold_shade * (1.0 - 0.2 * across * across)))
            for limb in design.limbs:
                s_ = limb.side
                d_g = limb.direction
                n_g = (-d_g[1], d_g[0])
                u1, v1 = _bone(X, Y, sk.shoulder[s_], sk.d_upper[s_])
                u1 *= 1.0 / k
                v1 *= 1.0 / (k * ax)
                fore = design.long_sleeves
                if fore:
                    u2, v2 = _bone(X, Y, sk.elbow[s_], sk.d_fore[s_])
                    outer = u2 < 0  # the upper segment also covers the outer corner of a bent elbow
                    domain = (np.abs(v1) <= 24.0) & (u1 >= -12.0) & ((u1 <= body.l1) | (outer & (u1 <= body.l1 + 8)))
                else:
                    domain = (np.abs(v1) <= 24.0) & (u1 >= -12.0)
                segs.append(self._limb_segment(f"upper{s_}", limb, u1, v1, d_g, n_g, folds, domain))
                if fore:
                    u2 *= 1.0 / k
                    v2 *= 1.0 / (k * ax)
                    domain = (u2 >= 0.0) & (np.abs(v2) <= 24.0)
                    segs.append(self._limb_segment(f"fore{s_}", limb, u2 + body.l1, v2, d_g, n_g, folds, domain))
        else:
            axl = body.hw / _STD_HW
            px, py = X - sk.anchor_lower[0], Y - sk.anchor_lower[1]
            xd = _MID + px * (1.0 / (k * axl)) + fx
            yd = design.waist_y + py * (1.0 / k) + fy
            across = np.minimum(((xd - _MID) * (1.0 / 30.0)) ** 2, 1.0)
            segs.append(_Segment("main", 0, xd, yd, None, light * fold_shade * (1.0 - 0.14 * across * across)))
            for limb in design.limbs:
                s_ = limb.side
                d_g = limb.direction
                u, v = _bone(X, Y, sk.hip[s_], sk.d_leg[s_])
                u *= 1.0 / k
                v *= 1.0 / (k * axl)
                domain = (u >= -20.0) & (np.abs(v) <= 30.0)
                segs.append(self._limb_segment(f"leg{s_}", limb, u, v, d_g, (-d_g[1], d_g[0]), folds, domain))
        return segs

    def _limb_segment(self, name, limb, u, v, d_g, n_g, folds, domain) -> _Segment:
        (fx, fy), fold_shade = folds
        xd = limb.joint[0] + u * d_g[0] + v * n_g[0] + fx
        yd = limb.joint[1] + u * d_g[1] + v * n_g[1] + fy
        across = np.minimum((v * (1.0 / (limb.w_out + 1.0))) ** 2, 1.0)
        shade = self._light * fold_shade * (1.0 - 0.32 * across)
        return _Segment(name, 1 if limb.side < 0 else 2, xd, yd, domain, shade)

    def _folds(self, rng: np.random.Generator) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """A smooth displacement (design units) and the matching fold shading, from the person's stream."""
        X, Y = self._X, self._Y
        fx = np.zeros_like(X)
        fy = np.zeros_like(X)
        fold = np.zeros_like(X)
        total = 0.0
        for _ in range(3):
            amp = rng.uniform(0.5, 1.6)
            wavelength, direction, phase = rng.uniform(45, 110), rng.uniform(0, 2 * math.pi), rng.uniform(0, 6.3)
            disp = rng.uniform(0, 2 * math.pi)
            kx, ky = 2 * math.pi / wavelength * math.cos(direction), 2 * math.pi / wavelength * math.sin(direction)
            arg = X * kx + Y * ky + phase
            sin = np.sin(arg)
            fx += (amp * math.cos(disp)) * sin
            fy += (amp * math.sin(disp)) * sin
            fold += amp * np.cos(arg)
            total += amp
        return (fx, fy), (1.0 - 0.05 * (1.0 + fold * (1.0 / total))).astype(np.float32)

    def _background(self, body: _Body, sk: _Skeleton) -> np.ndarray:
        X, Y = self._X, self._Y
        if self.background == "studio":
            return np.broadcast_to(_STUDIO_RGB, (*X.shape, 3)).copy()
        c, s = math.cos(body.bg_angle), math.sin(body.bg_angle)
        t = np.clip(((X - _MID) * s + (Y - 128.0) * c) * (1.0 / 256.0) + 0.5, 0.0, 1.0)
        img = body.bg_a + t[..., None] * (body.bg_b - body.bg_a)
        if body.floor_y is not None:
            floor = body.floor_y <= Y
            img[floor] *= np.float32(0.88)
            feet = ((sk.foot[-1][0] + sk.foot[1][0]) / 2, (sk.foot[-1][1] + sk.foot[1][1]) / 2 + 2)
            q = _ellipse(X, Y, feet, 34.0 * sk.k, 6.0 * sk.k)[0]
            img *= (1.0 - 0.18 * np.maximum(1.0 - q, 0.0))[..., None]
        return img.astype(np.float32)

    def _draw(self, body: _Body, sk: _Skeleton, shop: _Shop, fold_rng: np.random.Generator):
        X, Y, k = self._X, self._Y, sk.k
        light = self._light
        design = shop.design
        cv = _Canvas(self._background(body, sk))
        skin = body.skin

        def cyl(vn: np.ndarray, depth: float = 0.22) -> np.ndarray:
            return light * (1.0 - depth * np.minimum(vn * vn, 1.0))

        # ground-truth garment parts mapped onto this body
        segs = self._segments(body, sk, design, self._folds(fold_rng))
        ax, bx, ay, by = shop.to_grid
        grids = torch.stack(
            [torch.from_numpy(np.stack([s.xd * ax + bx, s.yd * ay + by], -1).astype(np.float32)) for s in segs]
        )
        parts = shop.parts_t[[s.part for s in segs]]
        sampled = F.grid_sample(parts, grids, mode="bilinear", padding_mode="zeros", align_corners=True)
        sampled = sampled[:, 0].numpy()
        for i, s in enumerate(segs):
            s.visible = sampled[i] >= _ACCEPT
            if s.domain is not None:
                s.visible &= s.domain
        seg = {s.name: (i, s) for i, s in enumerate(segs)}
        worn_label = {"top": UPPER, "dress": DRESS, "trousers": PANTS, "skirt": SKIRT}[design.kind]

        # hair behind the body
        if body.hair_style == "long":
            end = sk.head_point(body, 0.0, 1.0 + 30.0 / body.head_ry)
            m, _, vn = _capsule(X, Y, sk.head, end, (body.head_rx + 4) * k, (body.head_rx + 7) * k)
            cv.paint(m, HAIR, body.hair, cyl(vn, 0.3) * 0.9)
        # legs and shoes
        for s_ in (-1, 1):
            m, t, vn = _capsule(X, Y, sk.hip[s_], sk.ankle[s_], body.r_thigh * k, body.r_shin * k)
            dp = np.where(t < body.thigh_frac, 9 if s_ < 0 else 10, 13 if s_ < 0 else 14).astype(np.uint8)
            cv.paint(m, R_LEG if s_ < 0 else L_LEG, skin, cyl(vn), dp)
            q = _ellipse(X, Y, sk.foot[s_], 7.5 * k, 5.0 * k, s_ * 0.25)[0]
            shoe_shade = light * (1.0 - 0.3 * np.minimum(q, 1.0))
            cv.paint(q <= 1.0, R_SHOE if s_ < 0 else L_SHOE, body.shoe, shoe_shade, 6 if s_ < 0 else 5)
        # torso skin and neck
        torso = _convex(X, Y, sk.chest) | _convex(X, Y, sk.pelvis)
        across = np.minimum(((X - sk.neck_base[0]) * (1.0 / (body.sw * k))) ** 2, 1.0)
        cv.paint(torso, NECK, skin, light * (1.0 - 0.18 * across), 2)
        m, _, vn = _capsule(X, Y, sk.neck_top, _add(sk.neck_base, (0.0, -2.0)), body.neck_r * k, body.neck_r * k)
        cv.paint(m, NECK, skin, cyl(vn) * 0.93, np.where(sk.neck_base[0] > X, 23, 24).astype(np.uint8))

        # lower clothes: the worn lower garment, or the person's own (not ground truth) under a top or dress
        if design.kind in ("trousers", "skirt"):
            for name in ("main", "leg-1", "leg1"):
                if name in seg:
                    cv.paint_garment(seg[name][1].visible, worn_label, seg[name][0])
        elif design.kind == "top":
            self._own_lower(cv, body, sk)
        # the tops of the upper arms go under the clothes; the rest of the arms over them
        upper_arm = {}
        for s_ in (-1, 1):
            m, t, vn = _capsule(X, Y, sk.shoulder[s_], sk.elbow[s_], body.r_upper * k, body.r_fore * k)
            dp = np.where(vn * s_ > 0, 16 if s_ < 0 else 15, 18 if s_ < 0 else 17).astype(np.uint8)
            upper_arm[s_] = (m, t, cyl(vn), dp)
            cv.paint(m & (t < 0.3), R_ARM if s_ < 0 else L_ARM, skin, upper_arm[s_][2], dp)
        # upper clothes: the worn top or dress, or the person's own top over worn lower garments
        if design.kind in ("top", "dress"):
            cv.paint_garment(seg["main"][1].visible, worn_label, seg["main"][0])
        else:
            m = _convex(X, Y, [_add(p, (p[0] - sk.neck_base[0], 0.0), 0.06) for p in sk.chest])
            hem_y = body.hip_y - 14
            hem = [sk.up((_MID - sk.ww - 1, sk.waist_y - 1)), sk.up((_MID + sk.ww + 1, sk.waist_y - 1))]
            hem = _convex(X, Y, [*hem, sk.glob((_MID + body.hw + 1, hem_y)), sk.glob((_MID - body.hw - 1, hem_y))])
            m = (m | hem) & (_ellipse(X, Y, _add(sk.neck_base, (0.0, -3.0)), 9.0 * k, 8.0 * k)[0] > 1.0)
            cv.paint(m, UPPER, body.top_colour, light * (1.0 - 0.16 * across))

        self._head(cv, body, sk)

        # arms, the back one first; each with its sleeve, then its hand
        order = (1, -1) if sk.front_right else (-1, 1)
        for s_ in order:
            label = R_ARM if s_ < 0 else L_ARM
            m, t, shade, dp = upper_arm[s_]
            cv.paint(m & (t >= 0.3), label, skin, shade, dp)
            m, _, vn = _capsule(X, Y, sk.elbow[s_], sk.wrist[s_], body.r_fore * k, body.r_fore * 0.92 * k)
            dp = np.where(vn * s_ > 0, 20 if s_ < 0 else 19, 22 if s_ < 0 else 21).astype(np.uint8)
            cv.paint(m, label, skin, cyl(vn), dp)
            if design.kind in ("top", "dress"):
                for name in (f"upper{s_}", f"fore{s_}"):
                    if name in seg:
                        cv.paint_garment(seg[name][1].visible, worn_label, seg[name][0])
            elif body.top_sleeves:  # the person's own top
                start = _add(sk.shoulder[s_], sk.d_upper[s_], -3.0 * k)
                end = _add(sk.shoulder[s_], sk.d_upper[s_], 0.45 * k * body.l1)
                m, _, vn = _capsule(X, Y, start, end, (body.r_upper + 1.6) * k, (body.r_upper + 1.2) * k)
                cv.paint(m, UPPER, body.top_colour, cyl(vn))
            along = math.atan2(-sk.d_fore[s_][0], sk.d_fore[s_][1])
            q = _ellipse(X, Y, sk.hand[s_], body.r_hand * k, body.r_hand * 1.25 * k, along)[0]
            cv.paint(q <= 1.0, label, skin * 0.97, light * (1.0 - 0.15 * np.minimum(q, 1.0)), 3 if s_ < 0 else 4)

        # the worn garment's pixels: one bilinear sample of the in-shop photo at the final flow
        h, w = self.size
        region = cv.owner >= 0
        flow = np.zeros((h, w, 2), np.float32)
        shade = np.ones((h, w), np.float32)
        idx = np.flatnonzero(region)
        if idx.size:
            owner = cv.owner.ravel()[idx].astype(np.intp)
            g = grids.reshape(len(segs), h * w, 2)[torch.from_numpy(owner), torch.from_numpy(idx)]
            flow.reshape(-1, 2)[idx] = g.numpy()
            sh = np.stack([s.shade.ravel() for s in segs])[owner, idx].astype(np.float32)
            shade.ravel()[idx] = sh
            colour = F.grid_sample(
                shop.image_t, g[None, None], mode="bilinear", padding_mode="zeros", align_corners=True
            )
            cv.img.reshape(-1, 3)[idx] = colour[0, :, 0].numpy().T * sh[:, None]
        return cv, shade, flow, region

    def _head(self, cv: _Canvas, body: _Body, sk: _Skeleton) -> None:
        """Ears, face (with eyes, brows, nose and mouth) and the hair over it."""
        X, Y, k, light, skin, angle = self._X, self._Y, sk.k, self._light, body.skin, sk.head_angle
        for s_ in (-1, 1):
            q = _ellipse(X, Y, sk.head_point(body, s_ * 1.0, 0.05), 2.6 * k, 4.0 * k, angle)[0]
            cv.paint(q <= 1.0, FACE, skin * 0.95, None, 23 if s_ < 0 else 24)
        q, hu, hv = _ellipse(X, Y, sk.head, body.head_rx * k, body.head_ry * k, angle)
        face = q <= 1.0
        halves = np.where(hu < 0, 23, 24).astype(np.uint8)
        cv.paint(face, FACE, skin, light * (1.0 - 0.2 * np.minimum(q, 1.0)), halves)
        features = [((s_ * 0.38, -0.02), (1.8, 1.3), body.eye) for s_ in (-1, 1)]
        features += [((s_ * 0.4, -0.22), (3.0, 0.8), body.hair * 0.8) for s_ in (-1, 1)]  # brows
        features += [((0.0, 0.55), (3.6, 1.3), body.lips), ((0.0, 0.22), (1.4, 2.2), skin * 0.86)]
        for (fx, fy), (rx, ry), colour in features:
            q = _ellipse(X, Y, sk.head_point(body, fx, fy), rx * k, ry * k, angle)[0]
            cv.paint(q <= 1.0, FACE, colour)
        rx, ry = body.head_rx * k, body.head_ry * k
        q2 = _ellipse(X, Y, sk.head_point(body, 0.0, -0.08), rx + 2.2 * k, ry + 2.2 * k, angle)[0]
        nu = hu * (1.0 / rx)
        hair = (q2 <= 1.0) & ((hv < (body.hairline + 0.3 * nu * nu) * ry) | ~face)
        if body.hair_style != "long":  # short hair ends above the ears
            hair &= hv < 0.1 * ry
        if body.hair_style == "bun":
            hair |= _ellipse(X, Y, sk.head_point(body, 0.0, -1.15), 7.0 * k, 6.0 * k)[0] <= 1.0
        strands = 1.0 - 0.05 * (1.0 + np.sin(hu * (1.1 / k)))
        cv.paint(hair, HAIR, body.hair, light * strands, halves)

    def _own_lower(self, cv: _Canvas, body: _Body, sk: _Skeleton) -> None:
        """The person's own pants, shorts or skirt (not ground truth), worn with a top."""
        X, Y, k = self._X, self._Y, sk.k
        colour = body.lower_colour
        top = body.hip_y - _WAIST_DROP - 2
        if body.lower_kind == "skirt":
            w0, w1 = body.hw + 1, body.hw + 9
            poly = [
                sk.glob((_MID - w0, top)),
                sk.glob((_MID + w0, top)),
                sk.glob((_MID + w1, top + body.skirt_len + 10)),
            ]
            poly.append(sk.glob((_MID - w1, top + body.skirt_len + 10)))
            m = _convex(X, Y, poly)
            across = np.minimum(((X - sk.anchor_lower[0]) * (1.0 / (w1 * k))) ** 2, 1.0)
            cv.paint(m, SKIRT, colour, self._light * (1.0 - 0.15 * across))
            return
        hip = [sk.glob((_MID - body.hw - 1, top)), sk.glob((_MID + body.hw + 1, top))]
        hip += [sk.glob((_MID + body.hw + 1.5, body.hip_y + 10)), sk.glob((_MID - body.hw - 1.5, body.hip_y + 10))]
        m = _convex(X, Y, hip)
        cv.paint(m, PANTS, colour, self._light * 0.97)
        frac = 0.38 if body.lower_kind == "shorts" else 0.93
        for s_ in (-1, 1):
            end = _add(sk.hip[s_], sk.d_leg[s_], k * body.leg_len * frac)
            r_end = body.r_thigh + (body.r_shin - body.r_thigh) * frac
            m, _, vn = _capsule(X, Y, sk.hip[s_], end, (body.r_thigh + 2) * k, (r_end + 2.5) * k)
            cv.paint(m, PANTS, colour, self._light * (1.0 - 0.25 * np.minimum(vn * vn, 1.0)))


# ------------------------------------------------------------------------------------------- parse noise


def _corrupt_parse(parse: np.ndarray, p: float, rng: np.random.Generator, unit: float) -> np.ndarray:
    """``parse`` as a (simulated) human parser might return it; the same draws for every ``p``, so it nests."""
    n_lab = len(_NOISE_LABELS)
    u_morph, grow = rng.random(n_lab), rng.random(n_lab) < 0.5
    u_swap, swap_at, swap_size = rng.random(len(_SWAPS)), rng.random(len(_SWAPS)), rng.random(len(_SWAPS))
    blob_xy, blob_r, blob_lab, blob_ang = (
        rng.random((_N_BLOBS, 2)), rng.random((_N_BLOBS, 2)), rng.random(_N_BLOBS), rng.uniform(0, math.pi, _N_BLOBS)
    )  # fmt: skip
    out = parse.copy()
    if p <= 0.0:
        return out
    h, w = parse.shape
    present = np.flatnonzero(np.bincount(parse.ravel(), minlength=21))

    # 1. boundary erosion / dilation of some labels, radius growing with p, one label after the other
    radius = max(1, math.ceil(6.0 * p * unit))
    for lab, g, um in zip(_NOISE_LABELS, grow, u_morph, strict=True):
        if um >= 0.25 + p:
            continue
        cur = torch.from_numpy(out.astype(np.float32))[None, None]
        is_lab = cur == lab
        if not is_lab.any():
            continue
        if g:  # dilate: the label spreads over its neighbours
            near = F.max_pool2d(is_lab.float(), 2 * radius + 1, stride=1, padding=radius) > 0
            out[near[0, 0].numpy()] = lab
        else:  # erode: its boundary band takes the neighbouring labels, grown inwards one pixel at a time
            fill = torch.where(is_lab, torch.full_like(cur, -1.0), cur)
            for _ in range(radius):
                fill = torch.where(fill < 0, F.max_pool2d(fill, 3, stride=1, padding=1), fill)
            band = (is_lab & (fill >= 0))[0, 0].numpy()
            out[band] = fill[0, 0].numpy()[band].astype(np.uint8)

    # 2. swaps between related labels on a blob around a pixel of one of them
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    for (a, b), us, at, size in zip(_SWAPS, u_swap, swap_at, swap_size, strict=True):
        if us >= p:
            continue
        src_lab, dst_lab = (a, b) if (out == a).any() else (b, a)
        where = np.flatnonzero(out.ravel() == src_lab)
        if where.size == 0:
            continue
        centre = where[min(int(at * where.size), where.size - 1)]
        cy, cx = divmod(int(centre), w)
        r = unit * (8.0 + 70.0 * p) * (0.6 + 0.4 * size)
        win = _window(cx, cy, r, h, w)
        sub = out[win]
        sub[((xs[win] - cx) ** 2 + (ys[win] - cy) ** 2 <= r * r) & (sub == src_lab)] = dst_lab

    # 3. spurious blobs of wrong labels around the person
    body = np.flatnonzero((parse > 0).any(axis=0)), np.flatnonzero((parse > 0).any(axis=1))
    if body[0].size:
        x0, x1, y0, y1 = body[0][0], body[0][-1], body[1][0], body[1][-1]
        for j in range(round(p * _N_BLOBS)):
            cx, cy = x0 + blob_xy[j, 0] * (x1 - x0), y0 + blob_xy[j, 1] * (y1 - y0)
            rx, ry = unit * (2.0 + 12.0 * p) * (0.5 + blob_r[j])
            c, s = math.cos(blob_ang[j]), math.sin(blob_ang[j])
            win = _window(cx, cy, max(rx, ry), h, w)
            dx, dy = xs[win] - cx, ys[win] - cy
            du, dv = dx * c + dy * s, dy * c - dx * s
            lab = present[min(int(blob_lab[j] * present.size), present.size - 1)]
            out[win][(du / rx) ** 2 + (dv / ry) ** 2 <= 1.0] = lab
    return out


def _window(cx: float, cy: float, r: float, h: int, w: int) -> tuple[slice, slice]:
    """The rows and columns of an ``h`` x ``w`` image within ``r`` of (cx, cy)."""
    y0, y1 = max(0, math.floor(cy - r)), min(h, math.ceil(cy + r) + 1)
    x0, x1 = max(0, math.floor(cx - r)), min(w, math.ceil(cx + r) + 1)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))
