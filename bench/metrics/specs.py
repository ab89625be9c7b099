"""What each metric is, in one place: one :class:`MetricSpec` per metric the suite knows.

A spec holds everything the rest of the code asks about a metric: its name (the key in ``--metrics``, protocols,
suites and ``results.csv``), its display label, which way is better, the digits a table prints, what feeds it, how
its result is summarised and read back, the weights files it loads under a protocol, and which class or function
computes it (``module:Name``, imported only when asked for). Protocols, ``pftryon eval``, the suite runner, the
report tables and ``pftryon weights`` read these specs; none keeps a table of its own.

Importing this module imports neither torch nor any metric implementation.

Example:
    >>> metric_spec("lpips").heading
    'LPIPS ↓'
    >>> metric_spec("fid").result_row({"value": 12.5, "n_fake": 100, "bootstrap_std": 0.25})
    {'value': 12.5, 'n': 100, 'note': 'bootstrap std 0.250'}
    >>> metric_spec("ssmi")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bench.errors.InputError: Unknown metric 'ssmi'. Did you mean: ssim? Available: ssim, psnr, ...
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bench.errors import InputError
from bench.registry import did_you_mean, import_target

if TYPE_CHECKING:
    from bench.protocols import Protocol

__all__ = [
    "EVAL_INPUTS", "FED_BY", "SUMMARIES", "MetricSpec", "Summary", "list_metrics", "metric_spec", "register_metric",
]  # fmt: skip

FedBy = Literal["pairs", "videos", "fid_features", "dino_features", "video_features", "truth", "latency"]
FED_BY: tuple[str, ...] = ("pairs", "videos", "fid_features", "dino_features", "video_features", "truth", "latency")
"""What feeds a metric: one value per (prediction, reference) pair; per video transition; the protocol's FID
feature sets of the predictions and the references; the DINOv2 feature sets; the clip features of the predicted and
the reference videos (video Fréchet distances, :mod:`bench.metrics.video_fid`); the suite's exact synthetic ground
truth; a latency measurement."""
EVAL_INPUTS: tuple[str, ...] = ("pairs", "videos", "fid_features", "dino_features", "video_features")
"""The inputs ``pftryon eval`` computes metrics from: its metrics are the specs fed by one of these."""
_NAME = re.compile(r"[a-z][a-z0-9_]*")

Row = dict[str, Any]


@dataclass(frozen=True)
class Summary:
    """How one kind of summary entry (a metric's entry in ``summary.json``) is read back.

    Attributes:
        kind: the kind's name (:attr:`MetricSpec.summary`).
        description: what the entry holds.
        row: the entry as the suite's result-row fields (``value``, ``ci_low``, ``ci_high``, ``n``, ``note``; those
            left out stay empty).
        text: the entry as ``(value, uncertainty)`` text for ``summary.md`` and ``protocols.md``.
    """

    kind: str
    description: str
    row: Callable[[Mapping[str, Any]], Row]
    text: Callable[[Mapping[str, Any]], tuple[str, str]]


def _set_spread(entry: Mapping[str, Any]) -> str:
    """The uncertainty of a set entry: the bootstrap std (FID), or the fit's standard error (FID-infinity)."""
    if entry.get("bootstrap_std") is not None:
        return f"bootstrap std {entry['bootstrap_std']:.3f}"
    if entry.get("intercept_se") is not None:
        return f"fit std error {entry['intercept_se']:.3f} (plain FID {entry['fid']:.3f})"
    return ""


def _set_note(entry: Mapping[str, Any]) -> str:
    return "; ".join(filter(None, [_set_spread(entry), entry.get("warning", "")]))


def _set_text(entry: Mapping[str, Any]) -> tuple[str, str]:
    return f"{entry['value']:.3f}", _set_spread(entry)


def _subsets(entry: Mapping[str, Any], std_format: str) -> str:
    """KID's spread: the std over its subsets (as ``std_format``), their number and size, and the scale."""
    size = f" of {entry['subset_size']}" if entry.get("subset_size") else ""
    return f"std {entry['std']:{std_format}} over {entry['subsets']} subsets{size} (x{entry['scale']:g})"


def _per_sample_row(entry: Mapping[str, Any]) -> Row:
    low, high = entry["ci95"]
    return {"value": entry["mean"], "ci_low": low, "ci_high": high, "n": entry["n"]}


def _per_sample_text(entry: Mapping[str, Any]) -> tuple[str, str]:
    low, high = entry["ci95"]
    return f"{entry['mean']:.4f}", f"[{low:.4f}, {high:.4f}]"


SUMMARIES: dict[str, Summary] = {
    s.kind: s
    for s in (
        Summary("per_sample", "mean of the per-sample values with a percentile-bootstrap 95% CI, std and n",
                _per_sample_row, _per_sample_text),
        Summary("set", "one value from two feature sets (FID), with the std over bootstrap resamples of the "
                "predictions (FID-infinity: the standard error of its fit)",
                lambda e: {"value": e["value"], "n": e.get("n_fake"), "note": _set_note(e)}, _set_text),
        Summary("subsets", "mean and std over random subsets of the two feature sets (KID, at the protocol's scale), "
                "with the number and size of the subsets",
                lambda e: {"value": e["mean"], "n": e.get("n_fake"), "note": _subsets(e, ".4g")},
                lambda e: (f"{e['mean']:.4f}", _subsets(e, ".4f"))),
        Summary("splits", "value and std over splits of the predictions (Inception Score)",
                lambda e: {"value": e["value"], "n": e.get("n"),
                           "note": f"std {e['std']:.4g} over {e['splits']} split(s)"},
                lambda e: (f"{e['value']:.4f}", f"std {e['std']:.4f} over {e['splits']} split(s)")),
        Summary("knn", "one value from k-nearest-neighbour balls in two feature sets (precision / recall)",
                lambda e: {"value": e["value"], "n": e.get("n_fake"), "note": f"k = {e['k']}"},
                lambda e: (f"{e['value']:.4f}", f"k = {e['k']}")),
        Summary("value", "one measured value (latency: no interval)", lambda e: {"value": e["value"]},
                lambda e: (f"{e['value']:.4f}", "")),
    )
}  # fmt: skip
"""Every kind of summary, by name."""


@dataclass(frozen=True)
class MetricSpec:
    """What one metric is.

    Attributes:
        name: the key (``--metrics``, protocol and suite ``metrics``, ``results.csv``): lower-case letters, digits, _.
        label: the display label (table headings, Markdown reports).
        higher_is_better: which way is better (the heading's arrow, plots' Pareto fronts).
        digits: decimals a table prints of a measured value.
        fed_by: what feeds it (:data:`FED_BY`); ``pftryon eval`` computes those fed by :data:`EVAL_INPUTS`.
        summary: the kind of its summary entry (:data:`SUMMARIES`).
        column: its column's place in the suite report's tables (ascending).
        addition: a pftryon addition no try-on source computes: every protocol accepts it, reports label it.
        weights: the weights files it loads (keys of :data:`~bench.metrics.weights.WEIGHTS`), or a function of the
            protocol giving them.
        embedder: the :data:`~bench.metrics.embedding.EMBEDDERS` entry whose features it uses (its weights file).
        implementation: the class or function that computes it, ``"module:Name"``, imported only by
            :meth:`implementation_object`.
        domain: the values it can take, ``(low, high)``; an interval built from a spread (over training seeds) is
            clipped to it.
    """

    name: str
    label: str
    higher_is_better: bool
    digits: int
    fed_by: FedBy
    summary: str
    column: int
    addition: bool = False
    weights: tuple[str, ...] | Callable[[Protocol], tuple[str, ...]] = ()
    embedder: str | None = None
    implementation: str = ""
    domain: tuple[float, float] = (-math.inf, math.inf)

    def __post_init__(self) -> None:
        checks = [
            (bool(_NAME.fullmatch(self.name)), "name: lower-case letters, digits and '_', starting with a letter"),
            (bool(self.label), "label: give the display label"),
            (isinstance(self.higher_is_better, bool), "higher_is_better must be True or False"),
            (isinstance(self.digits, int) and not isinstance(self.digits, bool) and self.digits >= 0,
             "digits must be an integer >= 0"),
            (self.fed_by in FED_BY, f"fed_by must be one of {FED_BY}"),
            (self.summary in SUMMARIES, f"summary must be one of {tuple(SUMMARIES)}"),
            (self.embedder is None or not self.weights, "give weights or embedder, not both"),
            (not self.implementation or ":" in self.implementation, "implementation must be 'module:Name'"),
            (len(self.domain) == 2 and self.domain[0] < self.domain[1], "domain must be (low, high) with low < high"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(f"metric {self.name!r}: {message}")

    @property
    def heading(self) -> str:
        """The label with its direction arrow, e.g. ``SSIM ↑``."""
        return f"{self.label} {'↑' if self.higher_is_better else '↓'}"

    @property
    def speed(self) -> bool:
        """True for a latency column (ms/image, GFLOPs, ...), which the report keeps apart from quality."""
        return self.fed_by == "latency"

    def weights_for(self, protocol: Protocol) -> tuple[str, ...]:
        """The weights files it loads under ``protocol`` (keys of ``WEIGHTS``); none for SSIM, PSNR, MSE, ..."""
        if self.embedder is not None:
            from bench.metrics.embedding import EMBEDDERS

            return (EMBEDDERS[self.embedder].weights,)
        return tuple(self.weights(protocol) if callable(self.weights) else self.weights)

    def result_row(self, entry: Mapping[str, Any]) -> Row:
        """Its summary entry as result-row fields (``value``, ``ci_low``, ``ci_high``, ``n``, ``note``); an entry
        that could not be computed (``absent``) gives its reason as the note."""
        if "absent" in entry:
            return {"note": entry["absent"]}
        return SUMMARIES[self.summary].row(entry)

    def text(self, entry: Mapping[str, Any]) -> tuple[str, str]:
        """Its summary entry as ``(value, uncertainty)`` table text (``n/a`` and the reason when absent)."""
        if "absent" in entry:
            return "n/a", entry["absent"].replace("|", "/")
        return SUMMARIES[self.summary].text(entry)

    def implementation_object(self) -> Any:
        """The class or function named by :attr:`implementation`, imported now (``None`` when none is named)."""
        return import_target(self.implementation, f"metric {self.name}") if self.implementation else None


_SPECS: dict[str, MetricSpec] = {}


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to the registry (in order: the order of protocol errors, ``--metrics`` and eval's tables).

    Raises:
        InputError: a metric of that name is already registered.
    """
    if spec.name in _SPECS:
        raise InputError(f"metric {spec.name!r} is registered twice; rename one")
    _SPECS[spec.name] = spec
    return spec


def metric_spec(name: str) -> MetricSpec:
    """The spec of ``name``.

    Raises:
        InputError: an unknown name, with the closest names and every registered one.
    """
    try:
        return _SPECS[name]
    except KeyError:
        raise InputError(f"Unknown metric {name!r}.{did_you_mean(name, _SPECS)} Available: "
                         f"{', '.join(_SPECS)}") from None  # fmt: skip


def list_metrics(*, fed_by: str | Iterable[str] | None = None, addition: bool | None = None) -> list[str]:
    """The registered names in registration order, optionally only those fed by ``fed_by`` (one input or several,
    :data:`FED_BY`) and with :attr:`MetricSpec.addition` equal to ``addition``."""
    inputs = None if fed_by is None else {fed_by} if isinstance(fed_by, str) else set(fed_by)
    return [
        name
        for name, spec in _SPECS.items()
        if (inputs is None or spec.fed_by in inputs) and (addition is None or spec.addition == addition)
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Weights that depend on the protocol.


def _lpips_net(protocol: Protocol) -> tuple[str, ...]:
    """The protocol's LPIPS backbone (``alex``, ``vgg`` or ``squeeze``)."""
    return (protocol.lpips.net,)


def _fid_extractor(protocol: Protocol) -> tuple[str, ...]:
    """The protocol's FID feature extractor (its ``fid.backend`` and ``fid.mode``)."""
    from bench.metrics.fid_backends import fid_weights_name

    return (fid_weights_name(protocol.fid.backend, protocol.fid.mode),)


# ---------------------------------------------------------------------------------------------------------------------
# The metrics. Registration order is the order of eval's metric lists and tables; ``column`` orders the suite report.

_IMAGE, _PERCEPTUAL, _REGION = "bench.metrics.image", "bench.metrics.perceptual", "bench.metrics.region:GarmentRegion"
_FUNCTIONAL, _VIDEO = "bench.metrics.functional", "bench.metrics.video:VideoMetrics"
_SIMILARITY, _LATENCY = "bench.metrics.embedding:FeatureSimilarity", "bench.latency:measure_latency"
_VIDEO_FD = "bench.metrics.video_fid:VideoFrechetDistance"

# Domains: SSIM in [-1, 1]; distances, errors and PSNR of images in range non-negative; precision/recall fractions.
_SSIM_RANGE, _NON_NEGATIVE, _FRACTION = (-1.0, 1.0), (0.0, math.inf), (0.0, 1.0)

_BUILT_IN = (
    # The metrics the protocols' sources compute.
    MetricSpec("ssim", "SSIM", True, 4, "pairs", "per_sample", 10, implementation=f"{_IMAGE}:SSIM", domain=_SSIM_RANGE),
    MetricSpec("psnr", "PSNR (dB)", True, 2, "pairs", "per_sample", 20,
               implementation=f"{_IMAGE}:PSNR", domain=_NON_NEGATIVE),
    MetricSpec("mse", "MSE", False, 5, "pairs", "per_sample", 60, implementation=f"{_IMAGE}:MSE", domain=_NON_NEGATIVE),
    MetricSpec("lpips", "LPIPS", False, 4, "pairs", "per_sample", 30, weights=_lpips_net,
               implementation=f"{_IMAGE}:LPIPS", domain=_NON_NEGATIVE),
    MetricSpec("is", "IS", True, 3, "pairs", "splits", 70, weights=("inception_imagenet",),
               implementation=f"{_IMAGE}:InceptionScore"),
    MetricSpec("fid", "FID", False, 2, "fid_features", "set", 40, weights=_fid_extractor,
               implementation=f"{_FUNCTIONAL}:fid_from_features", domain=_NON_NEGATIVE),
    MetricSpec("kid", "KID", False, 4, "fid_features", "subsets", 50, weights=_fid_extractor,
               implementation=f"{_FUNCTIONAL}:kid_from_features"),
    # Video metrics (videos only: bench.metrics.video).
    MetricSpec("tce", "temporal change error", False, 4, "videos", "per_sample", 110,
               implementation=_VIDEO, domain=_NON_NEGATIVE),
    MetricSpec("flicker", "colour flicker error", False, 4, "videos", "per_sample", 120,
               implementation=_VIDEO, domain=_NON_NEGATIVE),
    # Video Fréchet distances on clip features (bench.metrics.video_fid), as CatV2TON's eval_video_metrics.py.
    MetricSpec("vfid_i3d", "VFID (I3D)", False, 3, "video_features", "set", 112, weights=("i3d_vfid",),
               implementation=_VIDEO_FD, domain=_NON_NEGATIVE),
    MetricSpec("vfid_resnext", "VFID (ResNeXt)", False, 3, "video_features", "set", 114, weights=("resnext101_vfid",),
               implementation=_VIDEO_FD, domain=_NON_NEGATIVE),
    MetricSpec("fvd", "FVD (VideoMAE)", False, 2, "video_features", "set", 116, weights=("videomae_vitg",),
               implementation=_VIDEO_FD, domain=_NON_NEGATIVE),
    # pftryon additions: no try-on script computes them; every protocol accepts them through --metrics.
    MetricSpec("ms_ssim", "MS-SSIM", True, 4, "pairs", "per_sample", 130, addition=True,
               implementation=f"{_PERCEPTUAL}:MSSSIM", domain=_SSIM_RANGE),
    MetricSpec("dists", "DISTS", False, 4, "pairs", "per_sample", 140, addition=True, weights=("vgg", "dists"),
               implementation=f"{_PERCEPTUAL}:DISTS", domain=_NON_NEGATIVE),
    MetricSpec("ssim_garment", "SSIM (garment)", True, 4, "pairs", "per_sample", 150, addition=True,
               implementation=_REGION, domain=_SSIM_RANGE),
    MetricSpec("ssim_outside", "SSIM (outside garment)", True, 4, "pairs", "per_sample", 160, addition=True,
               implementation=_REGION, domain=_SSIM_RANGE),
    MetricSpec("lpips_garment", "LPIPS (garment)", False, 4, "pairs", "per_sample", 170, addition=True,
               weights=_lpips_net, implementation=_REGION, domain=_NON_NEGATIVE),
    MetricSpec("lpips_outside", "LPIPS (outside garment)", False, 4, "pairs", "per_sample", 180, addition=True,
               weights=_lpips_net, implementation=_REGION, domain=_NON_NEGATIVE),
    MetricSpec("clip_sim", "CLIP-I similarity", True, 4, "pairs", "per_sample", 190, addition=True, embedder="clip",
               implementation=_SIMILARITY),
    MetricSpec("dino_sim", "DINOv2 similarity", True, 4, "pairs", "per_sample", 200, addition=True,
               embedder="dinov2", implementation=_SIMILARITY),
    MetricSpec("fd_dinov2", "FD-DINOv2", False, 2, "dino_features", "set", 210, addition=True, embedder="dinov2",
               implementation=f"{_FUNCTIONAL}:fid_from_features", domain=_NON_NEGATIVE),
    MetricSpec("precision", "precision", True, 3, "fid_features", "knn", 220, addition=True, weights=_fid_extractor,
               implementation=f"{_FUNCTIONAL}:precision_recall_from_features", domain=_FRACTION),
    MetricSpec("recall", "recall", True, 3, "fid_features", "knn", 230, addition=True, weights=_fid_extractor,
               implementation=f"{_FUNCTIONAL}:precision_recall_from_features", domain=_FRACTION),
    MetricSpec("fid_inf", "FID-infinity", False, 2, "fid_features", "set", 45, addition=True, weights=_fid_extractor,
               implementation="bench.metrics.fid_infinity:fid_infinity", domain=_NON_NEGATIVE),
    # Against the exact ground truth of synthetic data (the suite's exact-truth protocol).
    MetricSpec("ssim_truth", "SSIM vs truth", True, 4, "truth", "per_sample", 80,
               implementation=f"{_IMAGE}:SSIM", domain=_SSIM_RANGE),
    MetricSpec("psnr_truth", "PSNR vs truth (dB)", True, 2, "truth", "per_sample", 90,
               implementation=f"{_IMAGE}:PSNR", domain=_NON_NEGATIVE),
    MetricSpec("flow_epe", "flow EPE (px)", False, 3, "truth", "per_sample", 100,
               implementation="bench.metrics.flow:flow_epe", domain=_NON_NEGATIVE),
    # Latency (bench.latency), in the report's latency tables.
    MetricSpec("ms_per_image", "ms/image", False, 2, "latency", "value", 240, implementation=_LATENCY),
    MetricSpec("ms_p10", "ms/image p10", False, 2, "latency", "value", 241, implementation=_LATENCY),
    MetricSpec("ms_p90", "ms/image p90", False, 2, "latency", "value", 242, implementation=_LATENCY),
    MetricSpec("ms_p99", "ms/image p99", False, 2, "latency", "value", 243, implementation=_LATENCY),
    MetricSpec("ms_cold", "cold ms/image", False, 2, "latency", "value", 244, implementation=_LATENCY),
    MetricSpec("ms_stage_warp", "warp ms/image", False, 2, "latency", "value", 290, implementation=_LATENCY),
    MetricSpec("ms_stage_gen", "generator ms/image", False, 2, "latency", "value", 291, implementation=_LATENCY),
    MetricSpec("ms_stage_gmm", "GMM ms/image", False, 2, "latency", "value", 292, implementation=_LATENCY),
    MetricSpec("ms_stage_tom", "TOM ms/image", False, 2, "latency", "value", 293, implementation=_LATENCY),
    MetricSpec("ms_stage_other", "other ms/image", False, 2, "latency", "value", 294, implementation=_LATENCY),
    MetricSpec("images_per_s", "images/s", True, 1, "latency", "value", 250, implementation=_LATENCY),
    MetricSpec("gflops", "GFLOPs", False, 2, "latency", "value", 260, implementation=_LATENCY),
    MetricSpec("params_m", "params (M)", False, 2, "latency", "value", 270, implementation=_LATENCY),
    MetricSpec("peak_mem_mb", "peak memory (MB)", False, 1, "latency", "value", 280, implementation=_LATENCY),
)  # fmt: skip
for _spec in _BUILT_IN:
    register_metric(_spec)
