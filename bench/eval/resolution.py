"""Resolution rules: which size a run evaluates at and which side is resized, decided from the file headers before any
image is decoded; what the source would refuse (a size it never resizes, a pair of two sizes) is refused here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.readers import InputError
from bench.eval.decoding import _header, _mode_warnings, _target, _Views
from bench.eval.matching import EvalSet, _counted
from bench.eval.metric_groups import _DINO_SET, _INCEPTION_SET, _PAIRED, _TEMPORAL, _VIDEO_SETS
from bench.protocols import Protocol, hxw

__all__: list[str] = []


# FID backends whose source script reads a folder file by file and resizes each image to 299x299 on its own
# (clean-fid's ResizeDataset), so predictions of several sizes are scored; the others batch images of one size.
_MIXED_SIZE_FID_BACKENDS = ("clean-fid",)


@dataclass(frozen=True)
class _Plan:
    """The views of each image set and what the report says about them.

    ``fake_sizes``: how many sizes the FID predictions keep after their views (more than one only for a backend of
    :data:`_MIXED_SIZE_FID_BACKENDS`, whose extractor resizes each image itself: embed them one size at a time).
    """

    pred: _Views
    gt: _Views
    fake: _Views
    real: _Views
    report: dict[str, Any]
    warnings: list[str]
    fake_sizes: int = 1


def _parse_resolution(resolution: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"HxW"`` or ``(H, W)`` as a pair of ints (None stays None)."""
    if resolution is None:
        return None
    try:
        parts = resolution.lower().split("x") if isinstance(resolution, str) else list(resolution)
        height, width = (int(v) for v in parts)
    except (ValueError, TypeError):
        raise InputError(f"resolution must be HxW (e.g. 512x384), got {resolution!r}") from None
    if height <= 0 or width <= 0:
        raise InputError(f"resolution must be positive, got {resolution!r}")
    return height, width


def _evaluation_size(protocol: Protocol, first: Path, first_size: tuple[int, int],
                     requested: tuple[int, int] | None) -> tuple[tuple[int, int], str]:  # fmt: skip
    """The evaluation size under the protocol's rule and what chose it."""
    rule, name = protocol.resize, protocol.name
    if rule.size == "predictions" and requested is not None and rule.choices:
        if requested not in rule.choices:
            choices = ", ".join(hxw(c) for c in rule.choices)
            raise InputError(f"protocol {name}: resolution {hxw(requested)} is not one its source accepts ({choices})")
        return requested, "the resolution argument"
    if rule.size == "predictions":
        size, chosen = first_size, f"the predictions' own size ({first.name})"
        if rule.choices and size not in rule.choices:
            choices = ", ".join(hxw(c) for c in rule.choices)
            raise InputError(
                f"{first}: prediction is {hxw(size)}; protocol {name} evaluates only at {choices} (its source's "
                "resolution switch) and never resizes predictions"
            )
    elif rule.size == "fixed":
        size, chosen = tuple(protocol.resolution), "the protocol's fixed resolution"
    else:
        size, chosen = first_size, f"the first prediction's height ({first.name}), as CatVTON's eval.py"
    if requested is not None and requested != size:
        raise InputError(
            f"protocol {name}: its source has no resolution switch and evaluates at {hxw(size)} ({chosen}); "
            f"resolution {hxw(requested)} refused"
        )
    return size, chosen  # type: ignore[return-value]


def _side_report(sizes: Sequence[tuple[int, int]], names: Sequence[str], views: _Views) -> dict[str, Any]:
    """Sizes before and after, the filter and how many files it changed, for one side."""
    after = [_target(size, views) for size in sizes]
    changed = [name for name, b, a in zip(names, sizes, after, strict=True) if a != b]
    reencoded = [n for n in changed if Path(n).suffix.lower() in (".jpg", ".jpeg")] if views.jpeg_quality else []
    return {
        "files": len(sizes),
        "sizes_before": dict(Counter(hxw(s) for s in sizes)),
        "sizes_after": dict(Counter(hxw(s) for s in after)),
        "filter": "none (never resized)" if views.filter == "none" else f"PIL {views.filter}",
        "resized": _counted(changed),
        "jpeg_reencoded": {**_counted(reencoded), "quality": views.jpeg_quality} if views.jpeg_quality else None,
    }


def _plan(eval_set: EvalSet, protocol: Protocol, metrics: Sequence[str], crop_panel: int,
          resolution: str | Sequence[int] | None) -> _Plan:  # fmt: skip
    """Apply the protocol's resolution rules to the file headers: the evaluation size, each side's views, the
    report and its warnings; refuse what the source would refuse (a size it never resizes, a pair whose sizes
    differ after the resize)."""
    rule, name = protocol.resize, protocol.name
    paired = bool(set(metrics) & {*_PAIRED, *_TEMPORAL, *_VIDEO_SETS})
    features = bool(set(metrics) & {*_INCEPTION_SET, *_DINO_SET})
    pred_files = [p for _, p, _ in eval_set.pairs] if paired else []
    fake_files = eval_set.fake if features else []
    pred_headers = {p: _header(p, crop_panel) for p in dict.fromkeys([*pred_files, *fake_files])}
    gt_headers = {r: _header(r, 1) for r in dict.fromkeys(r for _, _, r in eval_set.pairs)} if paired else {}
    pred_sizes, gt_sizes = ({p: size for p, (size, _) in h.items()} for h in (pred_headers, gt_headers))
    mode_warnings = [*_mode_warnings({p: notes for p, (_, notes) in pred_headers.items()}, "prediction"),
                     *_mode_warnings({r: notes for r, (_, notes) in gt_headers.items()}, "ground-truth")]  # fmt: skip
    if not pred_sizes:
        raise InputError("nothing to score: no predictions")
    first = (pred_files or fake_files)[0]
    size, chosen = _evaluation_size(protocol, first, pred_sizes[first], _parse_resolution(resolution))
    by_height = rule.size == "first_prediction_height"
    gt_filter = "none" if size in rule.gt_as_stored_at else rule.gt
    lpips_resize = protocol.lpips.resize if "lpips" in metrics else None
    pred = _Views(size, rule.pred, by_height, None, lpips_resize, crop_panel, "prediction")
    gt = _Views(size, gt_filter, by_height, rule.gt_jpeg_quality, lpips_resize, 1, "ground truth")
    for path, before in pred_sizes.items():
        if pred.filter == "none" and _target(before, pred) != before:
            raise InputError(
                f"{path}: prediction is {hxw(before)}; protocol {name} evaluates at {hxw(size)} ({chosen}) and "
                "never resizes predictions"
            )
    pair_size = None
    for _, p, r in eval_set.pairs if paired else ():
        p_after, r_after = _target(pred_sizes[p], pred), _target(gt_sizes[r], gt)
        if gt.filter == "none" and r_after != gt_sizes[r]:
            where = f"reads the ground truth as stored at {hxw(size)}" if gt_filter != rule.gt else "never resizes it"
            raise InputError(f"{r}: ground truth is {hxw(gt_sizes[r])}; protocol {name} {where} ({p.name})")
        if p_after != r_after:
            raise InputError(
                f"{p}: prediction is {hxw(p_after)} and its ground truth {r.name} {hxw(r_after)} after protocol "
                f"{name}'s resize; a pair of two sizes cannot be scored"
            )
        if pair_size not in (None, p_after):
            raise InputError(f"{p}: pair is {hxw(p_after)} after the resize, the first one {hxw(pair_size)}")
        pair_size = p_after
    # FID/KID take the predictions as stored (no source resizes them for FID); reuse the paired decode when equal.
    fake = pred
    if any(_target(pred_sizes[f], pred) != pred_sizes[f] for f in fake_files):
        fake = _Views(None, crop_panel=crop_panel)
    fake_sizes = sorted({_target(pred_sizes[f], fake) for f in fake_files}, reverse=True)
    if len(fake_sizes) > 1 and protocol.fid.backend not in _MIXED_SIZE_FID_BACKENDS:
        raise InputError(
            f"{fake_files[0]}: FID predictions of several sizes ({', '.join(map(hxw, fake_sizes))}); protocol {name}'s "
            f"FID backend {protocol.fid.backend} scores images of one size (only clean-fid resizes each image itself)"
        )
    real = _Views(None, side="ground truth") if protocol.fid.native_reference else gt
    gt_files = [r for _, _, r in eval_set.pairs] if paired else []
    fid_predictions = "as the paired predictions" if fake == pred else "as stored (not resized)"
    if len(fake_sizes) > 1:
        fid_predictions += (f"; {len(fake_sizes)} sizes ({', '.join(map(hxw, fake_sizes))}), each resized to 299x299 "
                            f"by {protocol.fid.backend} itself, as the source's folder FID does")  # fmt: skip
    fid_reference = "as stored (not resized)" if protocol.fid.native_reference else "as the ground truth above"
    report = {
        "rule": rule.text(),
        "evaluation_size": list(size),
        "chosen_by": chosen,
        "published_size": list(protocol.resolution),
        "predictions": _side_report([pred_sizes[p] for p in pred_files], [p.name for p in pred_files], pred),
        "ground_truth": _side_report([gt_sizes[r] for r in gt_files], [r.name for r in gt_files], gt),
        "fid_predictions": fid_predictions if features else "not computed",
        "fid_reference": fid_reference if features else "not computed",
        "lpips": None if lpips_resize is None else f"both sides resized with PIL bilinear to {hxw(lpips_resize)}",
    }
    mixed = [f"FID predictions {fid_predictions}"] if features and len(fake_sizes) > 1 else []
    return _Plan(pred, gt, fake, real, report, [*mode_warnings, *_resize_warnings(protocol, report, size), *mixed],
                 max(1, len(fake_sizes)))  # fmt: skip


def _resize_warnings(protocol: Protocol, report: dict[str, Any], size: tuple[int, int]) -> list[str]:
    """What a reader of the numbers must know about the resizing."""
    warnings = []
    resized = report["predictions"]["resized"]
    if resized["count"]:
        target = ", ".join(report["predictions"]["sizes_after"])
        to = f"the first prediction's height ({size[0]} px)" if protocol.resize.size == "first_prediction_height" \
            else target  # fmt: skip
        warnings.append(
            f"{resized['count']} of {report['predictions']['files']} prediction(s) resized to {to} with "
            f"{report['predictions']['filter']}, as the protocol's source does (first: {', '.join(resized['first'])})"
        )
    if tuple(size) != tuple(protocol.resolution):
        warnings.append(
            f"evaluated at {hxw(size)}; the published {protocol.name} numbers are at {hxw(protocol.resolution)}: "
            "compare only with numbers at the same size"
        )
    return warnings
