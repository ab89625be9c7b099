"""Evaluation protocols: how a published codebase computes its numbers, as small declarative configs.

Each ``<name>.yaml`` beside this file loads into a frozen :class:`Protocol` (unknown keys are errors, so
a typo never passes silently). A protocol may ``include`` another and override some fields. Any change
that could move a number must bump ``version``; results are always written with the resolved protocol.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.config_files import ConfigFolder
from bench.metrics.specs import EVAL_INPUTS, list_metrics
from pftryon.config_mapping import from_mapping
from pftryon.config_types import ConfigTypeError

__all__ = [
    "AGGREGATES", "EXTRA_METRICS", "FID", "GT_MATCHES", "KID", "LPIPS", "METRIC_NAMES", "RESIZE_FILTERS", "SIZE_RULES",
    "SSIM", "Protocol", "Resize",
    "hxw", "list_protocols", "load_protocol",
]  # fmt: skip

_FILES = ConfigFolder(Path(__file__).parent, "protocol")
_SsimVariant = Literal["pytorch_ssim", "skimage_gaussian", "torchmetrics_cropped", "torchmetrics"]
_SSIM_VARIANTS: tuple[str, ...] = typing.get_args(_SsimVariant)
# PIL filters (``none``: that side is never resized; an image of another size is refused).
_Filter = Literal["none", "bilinear", "bicubic", "lanczos"]
RESIZE_FILTERS: tuple[str, ...] = typing.get_args(_Filter)
# How the evaluation size is chosen: see :class:`Resize`.
_SizeRule = Literal["predictions", "fixed", "first_prediction_height"]
SIZE_RULES: tuple[str, ...] = typing.get_args(_SizeRule)
_FidBackend = Literal["torch-fidelity", "pytorch-fid", "clean-fid"]
_FID_BACKENDS: tuple[str, ...] = typing.get_args(_FidBackend)
# The metrics a protocol may name: those ``pftryon eval`` computes (bench.metrics.specs), in registration order.
METRIC_NAMES = tuple(list_metrics(fed_by=EVAL_INPUTS))
# Metrics any protocol accepts through ``metrics`` (--metrics), as pftryon additions: no try-on script offers them
# together (bench.metrics.perceptual, .region, .embedding; precision / recall on the FID features).
EXTRA_METRICS = tuple(list_metrics(fed_by=EVAL_INPUTS, addition=True))
# How paired values are averaged: over images (frames), or per video first and then over videos.
_Aggregate = Literal["images", "videos"]
AGGREGATES: tuple[str, ...] = typing.get_args(_Aggregate)
_GtMatch = Literal["stem", "catvton-id"]
GT_MATCHES: tuple[str, ...] = typing.get_args(_GtMatch)


def hxw(size: Sequence[int]) -> str:
    """A size ``(H, W)`` as protocols, summaries and errors write it: ``256x192``."""
    return f"{size[0]}x{size[1]}"


@dataclass(frozen=True)
class SSIM:
    """SSIM variant (see bench/metrics): ``pytorch_ssim`` (zero-padded 11x11 Gaussian, mean over the map),
    ``skimage_gaussian`` (skimage, gaussian weights, population covariance; ``grayscale`` as PIL 'L' with
    data range 255), ``torchmetrics_cropped`` (torchmetrics < 1.4.2, data range 1: the reflect-padded map cropped
    by 5 px) or ``torchmetrics`` (torchmetrics >= 1.4.2: the uncropped map)."""

    variant: _SsimVariant = "torchmetrics"
    grayscale: bool = False


@dataclass(frozen=True)
class LPIPS:
    """LPIPS backbone (``alex`` | ``vgg`` | ``squeeze``), implementation, and an optional resize before scoring."""

    net: Literal["alex", "vgg", "squeeze"] = "alex"
    backend: Literal["lpips", "torchmetrics"] = "lpips"
    resize: tuple[int, int] | None = None


@dataclass(frozen=True)
class FID:
    """FID implementation (``torch-fidelity`` | ``pytorch-fid`` | ``clean-fid``), its mode, the reference set.

    ``native_reference``: the reference images enter the feature extractor as stored (LaDI-VTON's full-resolution
    statistics) instead of at the evaluation resolution.
    """

    backend: _FidBackend = "torch-fidelity"
    mode: str | None = None
    reference: str = "test person images"
    native_reference: bool = False


@dataclass(frozen=True)
class KID:
    """KID as reported: multiplied by ``scale`` (1000 in LaDI-VTON / CatVTON tables)."""

    scale: float = 1.0
    subsets: int = 100
    subset_size: int = 1000


def _size_pair(value: Any, where: str) -> tuple[int, int]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ValueError(f"{where} must be [height, width] in pixels, got {value!r}")
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class Resize:
    """The evaluation size and which side is resized to it, with which PIL filter: what the source's script does.

    Attributes:
        size: how the evaluation size is chosen. ``predictions``: the predictions' own size (all must share it;
            with ``choices``, a ``resolution`` argument may pick one of them, as the source's own switch does).
            ``fixed``: the protocol's ``resolution``. ``first_prediction_height``: the height of the first prediction
            (in pair order), each image's width scaled to ``int(w * H / h)`` (CatVTON's ``eval.py``).
        choices: sizes the source's resolution switch accepts ``[[h, w], ...]``; empty: the source has no switch.
        gt: filter applied to the ground truth (``none``: never resized; another size is refused).
        pred: filter applied to the predictions (``none``: never resized; another size is refused).
        gt_as_stored_at: evaluation sizes at which the source reads the ground truth without resizing it, so a
            ground truth of another size is refused there (HR-VITON at 1024x768).
        gt_jpeg_quality: a resized ground-truth JPEG file is re-encoded as JPEG at this quality before scoring
            (CatVTON saves its resized copy under the original ``.jpg`` names: PIL's default quality 75).
    """

    size: _SizeRule = "predictions"
    choices: tuple[tuple[int, int], ...] = ()
    gt: _Filter = "none"
    pred: _Filter = "none"
    gt_as_stored_at: tuple[tuple[int, int], ...] = ()
    gt_jpeg_quality: int | None = None

    def __post_init__(self) -> None:
        for name in ("choices", "gt_as_stored_at"):
            sizes = tuple(_size_pair(v, f"resize.{name}") for v in getattr(self, name))
            object.__setattr__(self, name, sizes)
        checks = [
            (self.size in SIZE_RULES, f"resize.size must be one of {SIZE_RULES}"),
            (self.gt in RESIZE_FILTERS and self.pred in RESIZE_FILTERS, f"resize.gt/pred must be in {RESIZE_FILTERS}"),
            (self.size != "predictions" or self.pred == "none", "resize.size predictions cannot resize predictions"),
            (not self.choices or self.size == "predictions", "resize.choices needs resize.size predictions"),
            (self.gt_jpeg_quality is None or 1 <= self.gt_jpeg_quality <= 95, "resize.gt_jpeg_quality must be 1-95"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def text(self) -> str:
        """One sentence: the evaluation size and what happens to each side (for reports)."""
        size = {
            "predictions": "the predictions' own size"
            + (f" (or a resolution argument among {', '.join(map(hxw, self.choices))})" if self.choices
               else ""),
            "fixed": "the protocol's resolution",
            "first_prediction_height": "the first prediction's height (widths scaled by each image's aspect ratio)",
        }[self.size]  # fmt: skip
        sides = []
        for side, filt in (("ground truth", self.gt), ("predictions", self.pred)):
            sides.append(f"{side} never resized" if filt == "none" else f"{side} resized with PIL {filt}")
        if self.gt_as_stored_at:
            sides.append("ground truth as stored at " + ", ".join(map(hxw, self.gt_as_stored_at)))
        if self.gt_jpeg_quality is not None:
            sides.append(f"resized ground-truth JPEGs re-encoded at quality {self.gt_jpeg_quality}")
        return f"Evaluated at {size}; " + "; ".join(sides) + "."


@dataclass(frozen=True)
class Protocol:
    """A named evaluation protocol; every field is written beside every number it produces.

    ``resolution`` is the size of the published numbers (and the evaluation size under ``resize.size: fixed``);
    ``resize`` says at which size a run evaluates and which side is resized; ``additions`` names the metrics the
    source does not compute (pftryon additions, labelled as such in every report); ``aggregate`` ``videos`` averages
    each paired metric per video first, then over videos (CatV2TON's ``eval_video_metrics.py``); ``gt_match`` is how
    ``--gt`` folders pair files: exact stems, or CatVTON's id (:func:`bench.eval.matching.catvton_id`).
    """

    name: str
    version: int
    source: str
    description: str
    dataset: str
    resolution: tuple[int, int]
    resize: Resize = field(default_factory=Resize)
    paired_list: str = "paired"
    unpaired_list: str = "unpaired"
    metrics: tuple[str, ...] = ("ssim", "lpips", "fid")
    ssim: SSIM = field(default_factory=SSIM)
    lpips: LPIPS = field(default_factory=LPIPS)
    fid: FID = field(default_factory=FID)
    kid: KID = field(default_factory=KID)
    additions: tuple[str, ...] = ()
    aggregate: _Aggregate = "images"
    gt_match: _GtMatch = "stem"
    notes: str = ""

    def __post_init__(self) -> None:
        checks = [
            (_is_size(self.resolution), f"resolution must be [height, width] in pixels, got {self.resolution!r}"),
            (self.ssim.variant in _SSIM_VARIANTS, f"ssim.variant must be one of {_SSIM_VARIANTS}"),
            (set(self.additions) <= set(self.metrics), "additions must be among the protocol's metrics"),
            (self.fid.backend in _FID_BACKENDS, f"fid.backend must be one of {_FID_BACKENDS}"),
            (self.lpips.net in ("alex", "vgg", "squeeze"), "lpips.net must be alex, vgg or squeeze"),
            (self.lpips.backend in ("lpips", "torchmetrics"), "lpips.backend must be lpips or torchmetrics"),
            (set(self.metrics) <= set(METRIC_NAMES), f"metrics must be among {METRIC_NAMES}"),
            (self.aggregate in AGGREGATES, f"aggregate must be one of {AGGREGATES}"),
            (self.gt_match in GT_MATCHES, f"gt_match must be one of {GT_MATCHES}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"protocol {self.name!r}: {message}")

    def to_dict(self) -> dict[str, Any]:
        """The resolved protocol as plain data (for results files)."""
        return dataclasses.asdict(self)


def _is_size(value: Any) -> bool:
    """Two positive integers (a YAML list or a tuple)."""
    return (isinstance(value, list | tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value))  # fmt: skip


_NESTED = {"ssim": SSIM, "lpips": LPIPS, "fid": FID, "kid": KID, "resize": Resize}


def _build(data: dict[str, Any], where: str) -> Protocol:
    nested = {key: functools.partial(from_mapping, cls, where=f"{where} {key}") for key, cls in _NESTED.items()}
    return from_mapping(Protocol, data, where, **nested)


def load_protocol(name: str) -> Protocol:
    """Load a shipped protocol (``bench/protocols/<name>.yaml``) or a custom one from a ``.yaml`` path, with its
    ``include`` chain (which may name shipped protocols) into a :class:`Protocol`."""
    where = str(_FILES.path(name))
    try:
        return _build(_FILES.load(name, schema=Protocol), where)  # each file of the chain type-checked
    except ConfigTypeError:  # names its file
        raise
    except ValueError as err:
        raise ValueError(str(err) if where in str(err) else f"{where}: {err}") from None


def list_protocols() -> list[str]:
    """Names of the shipped protocols."""
    return _FILES.names()
