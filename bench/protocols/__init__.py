"""Evaluation protocols: how a published codebase computes its numbers, as small declarative configs.

Each ``<name>.yaml`` beside this file loads into a frozen :class:`Protocol` (unknown keys are errors, so
a typo never passes silently). A protocol may ``include`` another and override some fields. Any change
that could move a number must bump ``version``; results are always written with the resolved protocol.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pftryon.config_mapping import from_mapping

__all__ = ["FID", "KID", "LPIPS", "METRIC_NAMES", "SSIM", "Protocol", "list_protocols", "load_protocol"]

_HERE = Path(__file__).parent
_SSIM_VARIANTS = ("pytorch_ssim", "skimage_gaussian", "torchmetrics")
_RESIZE_FILTERS = ("none", "bilinear", "bicubic", "lanczos", "antialiased_bilinear")
_FID_BACKENDS = ("torch-fidelity", "pytorch-fid", "clean-fid")
# Image metrics, then the temporal ones (videos only: see bench.metrics.video).
METRIC_NAMES = ("ssim", "psnr", "lpips", "fid", "kid", "tce", "flicker")


@dataclass(frozen=True)
class SSIM:
    """SSIM variant (see bench/metrics): ``pytorch_ssim`` (zero-padded 11x11 Gaussian, mean over the map),
    ``skimage_gaussian`` (skimage, gaussian weights, population covariance; ``grayscale`` as PIL 'L' with
    data range 255) or ``torchmetrics`` (its defaults, data range 1)."""

    variant: str = "torchmetrics"
    grayscale: bool = False


@dataclass(frozen=True)
class LPIPS:
    """LPIPS backbone (``alex`` | ``vgg`` | ``squeeze``), implementation, and an optional resize before scoring."""

    net: str = "alex"
    backend: str = "lpips"
    resize: tuple[int, int] | None = None


@dataclass(frozen=True)
class FID:
    """FID implementation (``torch-fidelity`` | ``pytorch-fid`` | ``clean-fid``), its mode, the reference set.

    ``native_reference``: the reference images enter the feature extractor as stored (LaDI-VTON's full-resolution
    statistics) instead of at the evaluation resolution.
    """

    backend: str = "torch-fidelity"
    mode: str | None = None
    reference: str = "test person images"
    native_reference: bool = False


@dataclass(frozen=True)
class KID:
    """KID as reported: multiplied by ``scale`` (1000 in LaDI-VTON / CatVTON tables)."""

    scale: float = 1.0
    subsets: int = 100
    subset_size: int = 1000


@dataclass(frozen=True)
class Protocol:
    """A named evaluation protocol; every field is written beside every number it produces."""

    name: str
    version: int
    source: str
    description: str
    dataset: str
    resolution: tuple[int, int]
    gt_resize: str = "none"
    paired_list: str = "paired"
    unpaired_list: str = "unpaired"
    metrics: tuple[str, ...] = ("ssim", "lpips", "fid")
    ssim: SSIM = field(default_factory=SSIM)
    lpips: LPIPS = field(default_factory=LPIPS)
    fid: FID = field(default_factory=FID)
    kid: KID = field(default_factory=KID)
    notes: str = ""

    def __post_init__(self) -> None:
        checks = [
            (self.ssim.variant in _SSIM_VARIANTS, f"ssim.variant must be one of {_SSIM_VARIANTS}"),
            (self.gt_resize in _RESIZE_FILTERS, f"gt_resize must be one of {_RESIZE_FILTERS}"),
            (self.fid.backend in _FID_BACKENDS, f"fid.backend must be one of {_FID_BACKENDS}"),
            (self.lpips.net in ("alex", "vgg", "squeeze"), "lpips.net must be alex, vgg or squeeze"),
            (self.lpips.backend in ("lpips", "torchmetrics"), "lpips.backend must be lpips or torchmetrics"),
            (set(self.metrics) <= set(METRIC_NAMES), f"metrics must be among {METRIC_NAMES}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"protocol {self.name!r}: {message}")

    def to_dict(self) -> dict[str, Any]:
        """The resolved protocol as plain data (for results files)."""
        return dataclasses.asdict(self)


_NESTED = {"ssim": SSIM, "lpips": LPIPS, "fid": FID, "kid": KID}


def _build(data: dict[str, Any], where: str) -> Protocol:
    nested = {key: functools.partial(_nested, cls, where=f"{where} {key}") for key, cls in _NESTED.items()}
    return from_mapping(Protocol, data, where, **nested)


def _nested(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping")
    return from_mapping(cls, value, where)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def _path(name: str) -> Path:
    """A shipped protocol's file, or ``name`` itself when it is a YAML file (a custom protocol)."""
    if name.endswith((".yaml", ".yml")):
        if not Path(name).is_file():
            raise ValueError(f"{name}: protocol file not found")
        return Path(name)
    path = _HERE / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"Unknown protocol {name!r}. Available: {', '.join(list_protocols())} (or a .yaml file)")
    return path


def _raw(name: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    path = _path(name)
    if name in seen:
        raise ValueError(f"{path}: include cycle {' -> '.join((*seen, name))}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    parent = data.pop("include", None)
    return _merge(_raw(parent, (*seen, name)), data) if parent else data


def load_protocol(name: str) -> Protocol:
    """Load a shipped protocol (``bench/protocols/<name>.yaml``) or a custom one from a ``.yaml`` path, with its
    ``include`` chain (which may name shipped protocols) into a :class:`Protocol`."""
    return _build(_raw(name), str(_path(name)))


def list_protocols() -> list[str]:
    """Names of the shipped protocols."""
    return sorted(p.stem for p in _HERE.glob("*.yaml"))
