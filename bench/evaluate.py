"""Score a folder of try-on images under a named protocol: per-sample values, summaries with CIs, provenance.

The runner behind ``pftryon eval``. It matches predictions to references (a dataset's protocol lists, or a folder of
references by file stem), decodes every file once (bytes hashed for the image-set fingerprints on the way), derives
the views a protocol needs (evaluation resolution with the protocol's resize filter; LPIPS' own resize), feeds every
metric from them in batches, and returns per-sample rows plus a summary that carries the resolved protocol, how each
metric was computed, the image-set fingerprints and the run metadata.

Under ``torchrun`` every process takes a contiguous block of each list (no padding), the metric states are
gathered in rank order, which is the input order, and feature sets are reordered by their global index before KID
draws its subsets: the summary equals the single-process one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat
from tqdm import tqdm

from bench.data import create_dataset
from bench.data.readers import InputError, file_sha256, read_labels
from bench.data.schema import LABEL_SETS
from bench.eval_journal import RESUMABLE, Journal
from bench.images import MODE_NOTES, rgb
from bench.metrics import LPIPS, MSE, PSNR, SSIM, InceptionScore, InceptionStats, MissingWeightsError, resolve_weights
from bench.metrics import functional as MF
from bench.metrics.embedding import FeatureSimilarity, ImageEmbedder, build_embedder
from bench.metrics.fid_backends import build_feature_extractor
from bench.metrics.needs import Selection, metric_weights, missing_message
from bench.metrics.perceptual import DISTS, MSSSIM
from bench.metrics.region import REGION_METRICS, GarmentRegion, garment_mask
from bench.metrics.video import VideoMetrics
from bench.metrics.weights import check_official
from bench.protocols import EXTRA_METRICS, Protocol
from bench.results import bootstrap_ci, run_metadata
from pftryon.models import atomic_write

__all__ = [
    "EvalResult", "EvalSet", "cross_protocol_table", "evaluate", "init_distributed", "match_dataset",
    "match_folders", "matching_record", "run_eval", "summary_markdown", "write_results",
]  # fmt: skip

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
# Metrics by what feeds them: one value per pair, per video transition, or from two feature sets.
_PAIRED = ("ssim", "psnr", "mse", "lpips", "is", "ms_ssim", "dists", "clip_sim", "dino_sim", *REGION_METRICS)
_TEMPORAL = ("tce", "flicker")
_INCEPTION_SET = ("fid", "kid", "precision", "recall")  # the protocol's FID features
_DINO_SET = ("fd_dinov2",)
_PIL_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class EvalSet:
    """What to score: prediction/reference pairs for the paired metrics, two image sets for FID/KID.

    Attributes:
        pairs: ``(key, prediction, reference)`` rows for SSIM/PSNR/LPIPS, in report order.
        fake: prediction files for FID/KID (the protocol's unpaired list, or the paired predictions).
        real: reference files for FID/KID (the protocol's reference set).
        description: how the lists were made (recorded in the summary).
        videos: ``(video_id, frame_index)`` per pair when the pairs are video frames (each video's frames
            consecutive and in order), for the temporal metrics; ``None`` for images.
        matching: how many predictions and references were found, matched and left unmatched (with the first few
            names), which list was used and what fraction of it is scored (``summary["inputs"]["matching"]``).
        parses: per pair, the reference's parse file, its label set and the Dress Code category (``None``
            elsewhere), for the garment-region metrics; ``None`` without a dataset (folders) or a parse.
    """

    pairs: list[tuple[str, Path, Path]]
    fake: list[Path]
    real: list[Path]
    description: dict[str, Any] = field(default_factory=dict)
    videos: list[tuple[str, int]] | None = None
    matching: dict[str, Any] = field(default_factory=dict)
    parses: list[tuple[Path, str, str | None]] | None = None


@dataclass
class EvalResult:
    """Per-sample rows (one per pair), per-video rows (videos only) and the summary (values, CIs, provenance)."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    video_rows: list[dict[str, Any]] = field(default_factory=list)


_FIRST = 5  # how many names a count in the summary lists


def _counted(names: Sequence[str]) -> dict[str, Any]:
    """A count with its first few names, for the summary."""
    return {"count": len(names), "first": list(names[:_FIRST])}


def matching_record(pair_list: str, predictions: int, references: int, listed: int, matched: int,
                    unmatched: Sequence[str], extra: Sequence[str], allow_partial: bool, *,
                    repeated: Sequence[str] = (), by_line: Sequence[str] = (),
                    unpaired_lines: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The matching facts of one list (``summary["inputs"]["matching"]``).

    ``listed`` counts distinct pairs; ``repeated`` names lines that repeat an earlier one (scored once);
    ``by_line`` the pairs whose prediction carries no name, only the list's line number; ``unpaired_lines`` the
    lines of a paired list whose person and garment ids differ."""
    return {
        "pair_list": pair_list, "predictions_found": predictions, "references_found": references,
        "listed": listed, "matched": matched, "unmatched": _counted(unmatched), "extra_predictions": _counted(extra),
        "scored_fraction": matched / listed if listed else 0.0, "allow_partial": allow_partial,
        "repeated_lines": _counted(repeated), "matched_by_line_order": _counted(by_line),
        "unpaired_lines_in_paired_list": _counted(unpaired_lines),
    }  # fmt: skip


def _refuse_partial(where: Path, what: str, missing: Sequence[str], listed: int, allow_partial: bool) -> None:
    """A partial prediction folder is an error unless ``allow_partial``; nothing matched is always one."""
    if missing and (not allow_partial or len(missing) == listed):
        hint = "" if allow_partial else "; pass allow_partial=True (--allow-partial) to score the others"
        raise InputError(
            f"{where}: no prediction for {len(missing)} of {listed} {what} (first: {', '.join(missing[:3])}){hint}"
        )


def _images_by_stem(folder: Path, what: str) -> dict[str, Path]:
    """Images under ``folder`` by relative path without suffix (``frame`` or ``video/frame``)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: {what} folder not found")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key in found:
                raise InputError(f"{path}: two {what} images share the name {key!r} ({found[key].name})")
            found[key] = path
    if not found:
        raise InputError(f"{folder}: no {what} images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def match_folders(pred_dir: str | os.PathLike[str], gt_dir: str | os.PathLike[str], *,
                  allow_partial: bool = False) -> EvalSet:  # fmt: skip
    """Pair every prediction with the reference of the same file stem; FID compares the two whole folders.

    The reference folder is the list: a reference without a prediction makes the prediction folder partial, an
    error unless ``allow_partial`` (then the summary says what fraction was scored).

    Raises:
        InputError: a prediction without a reference (named), a partial prediction folder, or an empty folder.
    """
    preds, refs = _images_by_stem(Path(pred_dir), "prediction"), _images_by_stem(Path(gt_dir), "reference")
    missing = sorted(set(preds) - set(refs))
    if missing:
        raise InputError(
            f"{preds[missing[0]]}: no reference named {missing[0]}.* in {gt_dir} "
            f"({len(missing)} prediction(s) unmatched)"
        )
    unscored = sorted(set(refs) - set(preds))
    _refuse_partial(Path(pred_dir), f"references in {gt_dir}", unscored, len(refs), allow_partial)
    pairs = [(stem, path, refs[stem]) for stem, path in preds.items()]
    description = {"mode": "folders", "pred": str(pred_dir), "gt": str(gt_dir), "matched_by": "file stem"}
    matching = matching_record(f"file stems of the reference folder {gt_dir}", len(preds), len(refs), len(refs),
                         len(pairs), unscored, [], allow_partial)  # fmt: skip
    return EvalSet(pairs, list(preds.values()), list(refs.values()), description, matching=matching)


def _candidate_stems(person: Path, cloth: Path | None, person_id: str, cloth_id: str, line: int) -> list[str]:
    """Output names methods write: ours ``<person>__<cloth>``, HR-VITON-style ``<person>_<cloth>``, the person's,
    or the pair's 0-based line number (PF-AFN's official test writes ``results/demo/PFAFN/<line>.jpg``)."""
    persons = dict.fromkeys([person.stem, person_id])
    cloths = dict.fromkeys([*([cloth.stem] if cloth else []), cloth_id])
    return [f"{p}{sep}{c}" for p in persons for c in cloths for sep in ("__", "_")] + [*persons, str(line)]


@dataclass
class _Listed:
    """The pairs of one dataset list matched to a prediction folder."""

    rows: list[tuple[str, Path, Path]]
    videos: list[tuple[str, int]] | None
    persons: list[Path]  # every listed reference, each once (matched or not)
    matching: dict[str, Any]
    parses: list[tuple[Path, str, str | None]] | None


# Layouts whose paired lines name the person and the garment by one id (MPV and VVT name them apart).
_PAIRED_BY_ID = ("viton", "viton-pfafn", "viton-hd", "dresscode")


def _dataset_pairs(pred_dir: Path, name: str, root: Path, pair_mode: str, options: dict[str, Any],
                   allow_partial: bool) -> _Listed:  # fmt: skip
    """Match one list; a repeated line is scored once and counted (as the suite does), a prediction named only by
    its line number is counted as matched by line order."""
    dataset = create_dataset(name, root, split="test", pair_mode=pair_mode, **options)
    preds = _images_by_stem(pred_dir, "prediction")
    rows, videos, parses, missing, used, repeated, by_line, seen = [], [], [], [], set(), [], [], set()
    label_set = getattr(dataset, "label_set", None)
    for line, entry in enumerate(dataset.entries):
        key = f"{entry.person_id}__{entry.cloth_id}"
        if key in seen:
            repeated.append(f"line {line + 1}: {entry.person_id} / {entry.cloth_id}")
            continue
        seen.add(key)
        person, cloth = entry.files["person"], entry.files.get("cloth")
        stems = _candidate_stems(person, cloth, entry.person_id, entry.cloth_id, line)
        stem = next((s for s in stems if s in preds), None)
        if stem is None:
            missing.append(f"{entry.person_id} / {entry.cloth_id}")
            continue
        if stem == str(line):
            by_line.append(f"{preds[stem].name} = line {line + 1} ({entry.person_id} / {entry.cloth_id})")
        used.add(stem)
        rows.append((key, preds[stem], person))
        if "video_id" in entry.extra:
            videos.append((entry.extra["video_id"], entry.extra["frame_index"]))
        if label_set is not None and "parse" in entry.files:
            parses.append((entry.files["parse"], label_set, entry.extra.get("category")))
    listed = len(seen)
    _refuse_partial(pred_dir, f"{pair_mode} pairs", missing, listed, allow_partial)
    persons = list(dict.fromkeys(entry.files["person"] for entry in dataset.entries))
    pair_list = f"pairs_file {options['pairs_file']}" if options.get("pairs_file") else f"{name} {pair_mode} test list"
    extra = [preds[s].relative_to(pred_dir).as_posix() for s in preds if s not in used]
    unpaired = [f"{e.person_id} / {e.cloth_id}" for e in dataset.entries if e.person_id != e.cloth_id] \
        if pair_mode == "paired" and name in _PAIRED_BY_ID else []  # fmt: skip
    matching = matching_record(pair_list, len(preds), len(persons), listed, len(rows), missing, extra, allow_partial,
                               repeated=repeated, by_line=by_line, unpaired_lines=unpaired)  # fmt: skip
    return _Listed(rows, videos or None, persons, matching, parses if len(parses) == len(rows) else None)


def match_dataset(
    pred_dir: str | os.PathLike[str],
    name: str,
    root: str | os.PathLike[str],
    protocol: Protocol,
    *,
    pred_unpaired_dir: str | os.PathLike[str] | None = None,
    allow_partial: bool = False,
    **options: Any,
) -> EvalSet:
    """Match predictions to a dataset's test lists: the paired list for SSIM/PSNR/LPIPS, the unpaired list for FID.

    ``pred_dir`` holds the outputs for the paired list (or for the list given by ``pairs_file`` in ``options``);
    ``pred_unpaired_dir`` those for the unpaired list. Without it, FID/KID use the paired predictions, and the
    summary says so. The FID reference set is the listed test person images (each once). Files are found by the
    names methods commonly write (see :func:`_candidate_stems`). A listed pair without a prediction is an error
    unless ``allow_partial`` (then only the matched pairs are scored and the summary gives the fraction);
    predictions the list does not name are counted and named in the summary.

    Raises:
        InputError: a partial prediction folder (without ``allow_partial``), no match at all, an empty folder.
    """
    pred_dir = Path(pred_dir)
    paired = _dataset_pairs(pred_dir, name, Path(root), "paired", options, allow_partial)
    pairs = paired.rows
    matching = {**paired.matching}
    if pred_unpaired_dir is not None:
        unpaired = _dataset_pairs(Path(pred_unpaired_dir), name, Path(root), "unpaired", options, allow_partial)
        fake = [pred for _, pred, _ in unpaired.rows]
        matching["unpaired"] = unpaired.matching
    else:
        fake = [pred for _, pred, _ in pairs]
    description = {
        "mode": "dataset", "dataset": name, "root": str(root), "protocol_dataset": protocol.dataset,
        "pred": str(pred_dir), "pred_unpaired": None if pred_unpaired_dir is None else str(pred_unpaired_dir),
        "paired_list": "pairs_file " + str(options["pairs_file"]) if options.get("pairs_file") else "paired test list",
        "fid_fake_set": "unpaired predictions" if pred_unpaired_dir is not None
        else "paired predictions (no --pred-unpaired given; the protocol computes FID on the unpaired list)",
        "fid_real_set": "test person images (every listed one)",
    }  # fmt: skip
    return EvalSet(pairs, fake, paired.persons, description, paired.videos, matching, paired.parses)


# ---------------------------------------------------------------------------------------------------------------------
# Decoding: every file read once; the views a protocol needs are derived from the one decoded image.


@dataclass(frozen=True)
class _Views:
    """How to turn one side's files (predictions or references) into the tensors the metrics see."""

    size: tuple[int, int] | None  # evaluation size (H, W); None: as stored
    filter: str = "none"  # PIL filter to reach ``size``; "none": an image of another size is refused
    by_height: bool = False  # only the height is fixed; each width becomes int(w * H / h) (CatVTON)
    jpeg_quality: int | None = None  # a resized JPEG file is re-encoded at this quality (CatVTON's GT copy)
    lpips_resize: tuple[int, int] | None = None  # both sides to this size (PIL bilinear) for LPIPS (HR-VITON)
    crop_panel: int = 1  # score the last of this many side-by-side panels
    side: str = "prediction"  # for messages


def _hxw(size: Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}"


def _target(size: tuple[int, int], views: _Views) -> tuple[int, int]:
    """The size a ``size`` (H, W) image has after ``views``' resize."""
    if views.size is None:
        return size
    if views.by_height:
        height = views.size[0]
        return height, int(size[1] * height / size[0])
    return views.size


def _crop_last_panel(image: Image.Image, panels: int, path: Path) -> Image.Image:
    if panels == 1:
        return image
    if image.width % panels:
        raise InputError(f"{path}: width {image.width} is not divisible into {panels} panels (--crop-panel)")
    step = image.width // panels
    return image.crop((image.width - step, 0, image.width, image.height))


def _to_float(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)


def _apply(image: Image.Image, views: _Views, path: Path) -> Image.Image:
    """``image`` resized as ``views`` says (PIL, then the optional JPEG re-encoding); refused where it never resizes."""
    height, width = _target((image.height, image.width), views)
    if (image.height, image.width) == (height, width):
        return image
    if views.filter == "none":
        raise InputError(
            f"{path}: {views.side} is {image.height}x{image.width}, the protocol evaluates at {height}x{width} and "
            f"never resizes the {views.side}s"
        )
    resized = image.resize((width, height), _PIL_FILTERS[views.filter])
    if views.jpeg_quality is not None and path.suffix.lower() in (".jpg", ".jpeg"):
        buffer = io.BytesIO()
        resized.save(buffer, format="JPEG", quality=views.jpeg_quality)
        resized = Image.open(buffer).convert("RGB")
    return resized


def _header(path: Path, panels: int) -> tuple[tuple[int, int], str]:
    """(H, W) of an image file (of its last panel) and its PIL mode, from its header only; a mode without an 8-bit
    RGB reading is refused here, before any work."""
    try:
        with Image.open(path) as image:
            (width, height), mode = image.size, image.mode
    except (OSError, SyntaxError) as err:
        raise InputError(f"{path}: unreadable image ({err})") from None
    except Image.DecompressionBombError as err:
        raise InputError(f"{path}: image too large ({err})") from None
    if mode != "RGB" and mode not in MODE_NOTES:
        raise InputError(f"{path}: image mode {mode} has no 8-bit RGB reading; save 8- or 16-bit PNG/JPEG")
    if width % panels:
        raise InputError(f"{path}: width {width} is not divisible into {panels} panels (--crop-panel)")
    return (height, width // panels), mode


def _mode_warnings(modes: dict[Path, str], side: str) -> list[str]:
    """One warning per non-RGB mode of one side: how many files, what reading them as RGB did, the first few."""
    by_mode: dict[str, list[str]] = {}
    for path, mode in modes.items():
        if mode != "RGB":
            by_mode.setdefault(mode, []).append(path.name)
    return [f"{len(names)} of {len(modes)} {side} file(s) are {mode}: {MODE_NOTES[mode]} (first: "
            f"{', '.join(names[:_FIRST])})" for mode, names in by_mode.items()]  # fmt: skip


class _Files(Dataset):
    """Decode files into ``(index, sha256, main view, lpips view)`` as ``views`` says."""

    def __init__(self, files: Sequence[Path], indices: Sequence[int], views: _Views) -> None:
        self.files, self.indices, self.views = list(files), list(indices), views

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[int, str, Tensor, Tensor]:
        path = self.files[i]
        try:
            data = path.read_bytes()
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError) as err:
            raise InputError(f"{path}: unreadable image ({err})") from None
        image = _apply(_crop_last_panel(rgb(image, path), self.views.crop_panel, path), self.views, path)
        main = lpips_view = _to_float(image)
        if self.views.lpips_resize is not None:  # HR-VITON: torchvision Resize((128, 128)) on PIL images
            height, width = self.views.lpips_resize
            lpips_view = _to_float(image.resize((width, height), Image.Resampling.BILINEAR))
        return self.indices[i], hashlib.sha256(data).hexdigest(), main, lpips_view


# ---------------------------------------------------------------------------------------------------------------------
# Resolution rules: which size a run evaluates at and which side is resized, decided from the file headers first.


@dataclass(frozen=True)
class _Plan:
    """The views of each image set and what the report says about them."""

    pred: _Views
    gt: _Views
    fake: _Views
    real: _Views
    report: dict[str, Any]
    warnings: list[str]


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
            choices = ", ".join(_hxw(c) for c in rule.choices)
            raise InputError(f"protocol {name}: resolution {_hxw(requested)} is not one its source accepts ({choices})")
        return requested, "the resolution argument"
    if rule.size == "predictions":
        size, chosen = first_size, f"the predictions' own size ({first.name})"
        if rule.choices and size not in rule.choices:
            choices = ", ".join(_hxw(c) for c in rule.choices)
            raise InputError(
                f"{first}: prediction is {_hxw(size)}; protocol {name} evaluates only at {choices} (its source's "
                "resolution switch) and never resizes predictions"
            )
    elif rule.size == "fixed":
        size, chosen = tuple(protocol.resolution), "the protocol's fixed resolution"
    else:
        size, chosen = first_size, f"the first prediction's height ({first.name}), as CatVTON's eval.py"
    if requested is not None and requested != size:
        raise InputError(
            f"protocol {name}: its source has no resolution switch and evaluates at {_hxw(size)} ({chosen}); "
            f"resolution {_hxw(requested)} refused"
        )
    return size, chosen  # type: ignore[return-value]


def _side_report(sizes: Sequence[tuple[int, int]], names: Sequence[str], views: _Views) -> dict[str, Any]:
    """Sizes before and after, the filter and how many files it changed, for one side."""
    after = [_target(size, views) for size in sizes]
    changed = [name for name, b, a in zip(names, sizes, after, strict=True) if a != b]
    reencoded = [n for n in changed if Path(n).suffix.lower() in (".jpg", ".jpeg")] if views.jpeg_quality else []
    return {
        "files": len(sizes),
        "sizes_before": dict(Counter(_hxw(s) for s in sizes)),
        "sizes_after": dict(Counter(_hxw(s) for s in after)),
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
    paired = bool(set(metrics) & {*_PAIRED, *_TEMPORAL})
    features = bool(set(metrics) & {*_INCEPTION_SET, *_DINO_SET})
    pred_files = [p for _, p, _ in eval_set.pairs] if paired else []
    fake_files = eval_set.fake if features else []
    pred_headers = {p: _header(p, crop_panel) for p in dict.fromkeys([*pred_files, *fake_files])}
    gt_headers = {r: _header(r, 1) for r in dict.fromkeys(r for _, _, r in eval_set.pairs)} if paired else {}
    pred_sizes, gt_sizes = ({p: size for p, (size, _) in h.items()} for h in (pred_headers, gt_headers))
    mode_warnings = [*_mode_warnings({p: mode for p, (_, mode) in pred_headers.items()}, "prediction"),
                     *_mode_warnings({r: mode for r, (_, mode) in gt_headers.items()}, "ground-truth")]  # fmt: skip
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
                f"{path}: prediction is {_hxw(before)}; protocol {name} evaluates at {_hxw(size)} ({chosen}) and "
                "never resizes predictions"
            )
    pair_size = None
    for _, p, r in eval_set.pairs if paired else ():
        p_after, r_after = _target(pred_sizes[p], pred), _target(gt_sizes[r], gt)
        if gt.filter == "none" and r_after != gt_sizes[r]:
            where = f"reads the ground truth as stored at {_hxw(size)}" if gt_filter != rule.gt else "never resizes it"
            raise InputError(f"{r}: ground truth is {_hxw(gt_sizes[r])}; protocol {name} {where} ({p.name})")
        if p_after != r_after:
            raise InputError(
                f"{p}: prediction is {_hxw(p_after)} and its ground truth {r.name} {_hxw(r_after)} after protocol "
                f"{name}'s resize; a pair of two sizes cannot be scored"
            )
        if pair_size not in (None, p_after):
            raise InputError(f"{p}: pair is {_hxw(p_after)} after the resize, the first one {_hxw(pair_size)}")
        pair_size = p_after
    # FID/KID take the predictions as stored (no source resizes them for FID); reuse the paired decode when equal.
    fake = pred
    if any(_target(pred_sizes[f], pred) != pred_sizes[f] for f in fake_files):
        fake = _Views(None, crop_panel=crop_panel)
        stored = {pred_sizes[f] for f in fake_files}
        if len(stored) > 1:
            raise InputError(f"{fake_files[0]}: FID predictions of several sizes ({', '.join(map(_hxw, stored))})")
    real = _Views(None, side="ground truth") if protocol.fid.native_reference else gt
    gt_files = [r for _, _, r in eval_set.pairs] if paired else []
    fid_predictions = "as the paired predictions" if fake == pred else "as stored (not resized)"
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
        "lpips": None if lpips_resize is None else f"both sides resized with PIL bilinear to {_hxw(lpips_resize)}",
    }
    return _Plan(pred, gt, fake, real, report, [*mode_warnings, *_resize_warnings(protocol, report, size)])


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
            f"evaluated at {_hxw(size)}; the published {protocol.name} numbers are at {_hxw(protocol.resolution)}: "
            "compare only with numbers at the same size"
        )
    return warnings


# ---------------------------------------------------------------------------------------------------------------------
# Distributed helpers: contiguous shards, gathered in rank order.


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _shard(n: int, groups: Sequence[str] | None = None) -> range:
    """This process's contiguous block of ``n`` items; with ``groups`` (video ids), blocks end at group changes."""
    rank, world = _world()
    bounds = [k * n // world for k in range(world + 1)]
    if groups is not None:
        for k in range(1, world):
            while 0 < bounds[k] < n and groups[bounds[k]] == groups[bounds[k] - 1]:
                bounds[k] += 1
    if any(bounds[k] >= bounds[k + 1] for k in range(world)):
        raise InputError(f"cannot split {n} item(s) ({'videos' if groups else 'images'}) over {world} processes")
    return range(bounds[rank], bounds[rank + 1])


class _Collected(Metric):
    """Rows gathered across processes in rank order: a global index plus a per-row tensor (features, digests)."""

    full_state_update = False
    index: list[Tensor]
    value: list[Tensor]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("value", default=[], dist_reduce_fx="cat")

    def update(self, index: Tensor, value: Tensor) -> None:
        self.index.append(index.to(self.device, torch.long))
        self.value.append(value.to(self.device))

    def compute(self) -> Tensor:
        """All rows, sorted by their global index."""
        index, value = dim_zero_cat(self.index), dim_zero_cat(self.value)
        return value[torch.argsort(index)]


def _digest_tensor(hexdigests: Sequence[str]) -> Tensor:
    """sha256 hex digests as a ``[N, 32]`` uint8 tensor (so they can be gathered like any metric state)."""
    return torch.tensor([list(bytes.fromhex(h)) for h in hexdigests], dtype=torch.uint8)


def _fingerprint(digests: Tensor) -> dict[str, Any]:
    """sha256 over the sorted per-file sha256 digests: file names and order do not matter, file bytes do."""
    ordered = sorted(bytes(row.tolist()).hex() for row in digests)
    return {"files": len(ordered), "sha256": hashlib.sha256("".join(ordered).encode()).hexdigest()}


# ---------------------------------------------------------------------------------------------------------------------
# The metric pass.


def _ssim_variant(protocol: Protocol) -> str:
    if protocol.ssim.variant == "skimage_gaussian":
        return "skimage_gray" if protocol.ssim.grayscale else "skimage_rgb"
    return protocol.ssim.variant


def _check_weights(metrics: Sequence[str], protocol: Protocol, weights_dir: str | os.PathLike[str] | None,
                   allow_unofficial: bool) -> tuple[dict[str, str], list[str]]:  # fmt: skip
    """Resolve and verify every weights file the run needs before any work (well under a second).

    When a protocol metric's file is absent, MissingWeightsError names every absent file of the run in one line
    with the ``pftryon weights fetch`` command that gets them; an extra metric's absent file only drops it:
    ``{metric: "weights absent: <file> (where)"}``. A file that is not the official one raises UnofficialWeightsError
    unless ``allow_unofficial``, which turns it into a warning. Returns ``(absent, warnings)``."""
    absent: dict[str, str] = {}
    missing: list[str] = []
    paths: dict[str, Path] = {}
    for metric in metrics:
        for name in metric_weights(metric, protocol):
            try:
                paths[name] = resolve_weights(name, weights_dir)
            except MissingWeightsError as err:
                missing += [name] if name not in missing else []
                absent.setdefault(metric, f"weights absent: {err}")
    if set(absent) - set(EXTRA_METRICS):
        raise MissingWeightsError(missing_message(missing, weights_dir, Selection.of_protocol(protocol, metrics)))
    warnings = [check_official(name, path, allow_unofficial) for name, path in paths.items()]
    return absent, [w for w in warnings if w]


def _loader(
    files: Sequence[Path],
    views: _Views,
    batch_size: int,
    workers: int,
    groups: Sequence[str] | None = None,
    indices: Sequence[int] | None = None,
) -> DataLoader:
    """This process's block of ``files`` (global ``indices``, default positions) as decoded batches."""
    block = _shard(len(files), groups)
    indices = list(range(len(files))) if indices is None else list(indices)
    dataset = _Files([files[i] for i in block], [indices[i] for i in block], views)
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)


def _summary_of(values: Tensor, seed: int) -> dict[str, Any]:
    """Mean, bootstrap CI, std and n of the finite values (NaN: a sample without a value, e.g. an empty region)."""
    finite = values[torch.isfinite(values)]
    if not len(finite):
        return {"absent": f"no finite value in {len(values)} sample(s) (e.g. an empty garment region in every pair)"}
    mean, low, high = bootstrap_ci(finite.numpy(), seed=seed)
    out = {"mean": mean, "ci95": [low, high], "std": float(finite.std()) if len(finite) > 1 else 0.0,
           "n": len(finite), "ci_method": "percentile bootstrap of the mean, 10,000 resamples"}  # fmt: skip
    if len(finite) < len(values):
        out["excluded"] = f"{len(values) - len(finite)} sample(s) without a value (empty region)"
    return out


def _fid_summary(real: Tensor, fake: Tensor, resamples: int, seed: int) -> dict[str, Any]:
    """FID with pytorch-fid's sqrtm recipe, or the exact spectral form when the covariances are singular."""
    rank_deficient = min(len(real), len(fake)) <= real.shape[1]
    method = "spectral" if rank_deficient else "sqrtm"
    out: dict[str, Any] = {"value": MF.fid_from_features(real, fake, method=method), "n_real": len(real),
                           "n_fake": len(fake), "method": method}  # fmt: skip
    if resamples:
        rng = np.random.default_rng(seed)
        draws = [MF.fid_from_features(real, fake[rng.integers(0, len(fake), len(fake))], method="spectral")
                 for _ in range(resamples)]  # fmt: skip
        out["bootstrap_std"] = float(np.std(draws))
        out["std_method"] = (
            f"std of FID over {resamples} bootstrap resamples of the prediction set (spectral formula); resampling "
            "with replacement duplicates images, so these FIDs run higher than the point value"
        )
    if rank_deficient:
        out["warning"] = (
            f"{min(len(real), len(fake))} images <= {real.shape[1]} feature dimensions: the covariances are singular "
            "(FID computed with the exact spectral formula, where sqrtm is unreliable); FID is biased upward and "
            "comparable only at equal set sizes"
        )
    return out


class _FeatureCache:
    """Reference-set features on disk, keyed by content: the sha256 of every file's bytes (in order), of the weights
    file, the extractor and the views. Names, sizes and modification times play no part, so a file edited in place
    (``cp -a``, ``touch -r``) misses. A hit reads the files (to hash them) but neither decodes nor embeds them; a miss
    reads them again in the metric pass."""

    def __init__(self, folder: str | os.PathLike[str], files: Sequence[Path], extractor: torch.nn.Module,
                 views: _Views) -> None:  # fmt: skip
        weights = Path(getattr(extractor, "weights_path", ""))
        self.enabled = weights.is_file()  # an extractor without a weights file has no stable identity
        key = {
            "version": 4, "extractor": type(extractor).__name__, "mode": getattr(extractor, "mode", None),
            "weights": file_sha256(weights) if self.enabled else None,
            "views": [views.size, views.filter, views.by_height, views.jpeg_quality],
            "files": [file_sha256(path) for path in files] if self.enabled else [],
        }  # fmt: skip
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
        self.path = Path(folder) / f"reference-{digest[:32]}.pt"
        self.hit = self.enabled and self.path.is_file()

    def load(self) -> tuple[Tensor, Tensor]:
        """``(features, digests)`` of the reference set, in input order."""
        entry = torch.load(self.path, map_location="cpu", weights_only=True)
        return entry["features"], entry["digests"]

    def store(self, features: Tensor, digests: Tensor) -> None:
        if not self.enabled:
            return
        buffer = io.BytesIO()
        torch.save({"features": features.cpu(), "digests": digests.cpu()}, buffer)
        atomic_write(self.path, buffer.getvalue())


def _video_rows(rows: list[dict[str, Any]], videos: list[tuple[str, int]] | None, names: Sequence[str],
                temporal: dict[str, Any] | None) -> list[dict[str, Any]]:  # fmt: skip
    """One row per video: frame count, per-video means of the frame metrics ``names``, the temporal errors."""
    if videos is None:
        return []
    table: dict[str, dict[str, Any]] = {}
    for row, (video_id, _) in zip(rows, videos, strict=True):
        entry = table.setdefault(video_id, {"video_id": video_id, "frames": 0, "values": {}})
        entry["frames"] += 1
        for name in names:
            if name in row:
                entry["values"].setdefault(name, []).append(row[name])
    out = [{"video_id": e["video_id"], "frames": e["frames"], **{k: float(np.nanmean(v)) if np.isfinite(v).any()
            else float("nan") for k, v in e["values"].items()}} for e in table.values()]  # fmt: skip
    if temporal is not None:
        position = {video_id: i for i, video_id in enumerate(temporal["video_ids"])}
        per_video = temporal["per_video"]
        for row in out:
            i = position[row["video_id"]]
            row["transitions"] = int(per_video["transitions"].reshape(-1)[i])
            for name in ("tce", "flicker"):
                row[name] = float(per_video[name].reshape(-1)[i])
    return out


class _FeatureSets:
    """The FID / KID feature sets (``fake``: predictions, ``real``: references), gathered by global index.

    A member that is also a paired image is embedded from the paired pass (decoded once), by the first pair that
    holds it; :meth:`embed_rest` decodes the others. With a cache hit the reference set is not embedded at all.
    """

    column = {"fake": 1, "real": 2}  # where a member sits in a pair (key, pred, gt)

    def __init__(self, eval_set: EvalSet, extractor: torch.nn.Module, plan: _Plan, cache: _FeatureCache | None,
                 paired: bool, device: str) -> None:  # fmt: skip
        self.eval_set, self.extractor, self.cache = eval_set, extractor, cache
        self.views = {"fake": plan.fake, "real": plan.real}
        self.files = {"fake": eval_set.fake, "real": eval_set.real}
        self.skip_real = cache is not None and cache.hit
        self.features = {role: _Collected().to(device) for role in self.column}
        self.digests = {role: _Collected().to(device) for role in self.column}
        # Only members decoded with the paired views can come from the paired pass.
        embeddable = {"fake": plan.fake == plan.pred, "real": plan.real == plan.gt and not self.skip_real}
        self.position = {role: {path: i for i, path in enumerate(self.files[role])} if embeddable[role] else {}
                         for role in self.column}  # fmt: skip
        self.owner: dict[str, dict[Path, int]] = {role: {} for role in self.column}
        for role, col in self.column.items():
            for i, pair in enumerate(eval_set.pairs if paired else ()):
                if pair[col] in self.position[role]:
                    self.owner[role].setdefault(pair[col], i)
        # Members no paired image covers, decoded by :meth:`embed_rest` (none of the reference set on a cache hit).
        self.rest = {role: [] if role == "real" and self.skip_real else
                     [i for i, path in enumerate(files) if path not in self.owner[role]]
                     for role, files in self.files.items()}  # fmt: skip

    def embed(self, role: str, index: Tensor, images: Tensor, hashes: Sequence[str]) -> None:
        with torch.no_grad():
            features = self.extractor(MF.to_uint8(images.to(self.features[role].device))).double()
        self.features[role].update(index, features)
        self.digests[role].update(index, _digest_tensor(hashes))

    def embed_members(self, pairs: Sequence[int], images: dict[str, Tensor], hashes: dict[str, Sequence[str]]) -> None:
        """Embed the members that the paired batch ``pairs`` owns (``images``/``hashes`` by role)."""
        for role, col in self.column.items():
            paths = [self.eval_set.pairs[i][col] for i in pairs]
            rows = [k for k, (i, path) in enumerate(zip(pairs, paths, strict=True)) if self.owner[role].get(path) == i]
            if rows:
                members = torch.tensor([self.position[role][paths[k]] for k in rows])
                self.embed(role, members, images[role][rows], [hashes[role][k] for k in rows])

    def embed_rest(self, batch_size: int, workers: int, bar: tqdm) -> None:
        """Decode and embed the members no paired image covered."""
        for role, files in self.files.items():
            rest = self.rest[role]
            if not rest:
                continue
            loader = _loader([files[i] for i in rest], self.views[role], batch_size, workers, indices=rest)
            for index, hashes, images, _ in loader:
                self.embed(role, index, images, hashes)
                bar.update(len(index))

    def compute(self, rank: int) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """``(real, fake, digests)``: features and per-file digests by role, in input order (the reference set read
        from or written to the cache)."""
        fake, digests = self.features["fake"].compute().cpu(), {"fake": self.digests["fake"].compute().cpu()}
        if self.skip_real:
            real, digests["real"] = self.cache.load()  # type: ignore[union-attr]
            return real, fake, digests
        real, digests["real"] = self.features["real"].compute().cpu(), self.digests["real"].compute().cpu()
        if self.cache is not None and rank == 0:
            self.cache.store(real, digests["real"])
        return real, fake, digests


def _scorers(paired: Sequence[str], protocol: Protocol, weights_dir: str | os.PathLike[str] | None,
             embedders: dict[str, ImageEmbedder], device: str) -> dict[str, Metric]:  # fmt: skip
    """The per-pair metrics of ``paired`` under ``protocol``; the garment-region ones share one ``"region"`` metric."""
    build = {
        "ssim": lambda: SSIM(variant=_ssim_variant(protocol)),
        "psnr": PSNR,
        "mse": MSE,
        "is": lambda: InceptionScore(weights_dir=weights_dir),
        "lpips": lambda: LPIPS(net=protocol.lpips.net, backend=protocol.lpips.backend, weights_dir=weights_dir),
        "ms_ssim": MSSSIM,
        "dists": lambda: DISTS(weights_dir=weights_dir),
        "clip_sim": lambda: FeatureSimilarity(model=embedders["clip"]),
        "dino_sim": lambda: FeatureSimilarity(model=embedders["dinov2"]),
    }
    scorers = {name: make().to(device) for name, make in build.items() if name in paired}
    region = tuple(m for m in REGION_METRICS if m in paired)
    if region:
        scorers["region"] = GarmentRegion(region, lpips_net=protocol.lpips.net, weights_dir=weights_dir).to(device)
    return scorers


def _garment_masks(parses: Sequence[tuple[Path, str, str | None]], indices: Sequence[int],
                   size: Sequence[int]) -> Tensor:  # fmt: skip
    """Garment masks ``[N, 1, H, W]`` of the pairs ``indices``, from their references' parses at ``size``."""
    masks = []
    for i in indices:
        path, label_set, category = parses[i]
        labels = read_labels(path, len(LABEL_SETS[label_set].names), (int(size[0]), int(size[1])))
        masks.append(garment_mask(labels, label_set, category))
    return torch.stack(masks).unsqueeze(1)


def _resume(journal: Journal, scorers: dict[str, Metric], digests: dict[str, _Collected]) -> int:
    """Feed the journal's finished rows to the metrics and digests; returns how many pairs they cover."""
    done = journal.done
    if done:
        index = torch.arange(len(done))
        for name, metric in scorers.items():
            metric.values.append(torch.tensor([row[name] for row in done], dtype=torch.float64, device=metric.device))
        digests["pred"].update(index, _digest_tensor([row["pred_sha256"] for row in done]))
        digests["gt"].update(index, _digest_tensor([row["gt_sha256"] for row in done]))
    return len(done)


def _paired_pass(eval_set: EvalSet, plan: _Plan, scorers: dict[str, Metric], video: VideoMetrics | None,
                 digests: dict[str, _Collected], sets: Sequence[_FeatureSets], batch_size: int, workers: int,
                 device: str, bar: tqdm, journal: Journal | None) -> None:  # fmt: skip
    """Decode every pair once and feed the per-pair metrics, the video metrics and the feature-set members; with a
    journal, continue after its finished rows and record every batch as it is scored."""
    start = 0 if journal is None else _resume(journal, scorers, digests)
    bar.update(start)
    todo = range(start, len(eval_set.pairs))
    if not todo:  # stopped after its last batch, before the report
        return
    groups = None if eval_set.videos is None else [video_id for video_id, _ in eval_set.videos[start:]]
    preds = _loader([eval_set.pairs[i][1] for i in todo], plan.pred, batch_size, workers, groups, todo)
    refs = _loader([eval_set.pairs[i][2] for i in todo], plan.gt, batch_size, workers, groups, todo)
    for (index, pred_hash, pred, pred_lp), (_, gt_hash, gt, gt_lp) in zip(preds, refs, strict=True):
        pred, gt = pred.to(device), gt.to(device)
        for name, metric in scorers.items():
            if name == "is":  # predictions only
                metric.update(pred)
            elif name == "lpips":
                metric.update(pred_lp.to(device), gt_lp.to(device))
            elif name == "region":
                masks = _garment_masks(eval_set.parses, index.tolist(), pred.shape[-2:])  # type: ignore[arg-type]
                metric.update(pred, gt, masks.to(device))
            else:
                metric.update(pred, gt)
        if video is not None:
            frames = [eval_set.videos[i] for i in index.tolist()]  # type: ignore[index]
            video.update(pred, gt, video_ids=[v for v, _ in frames], frame_indices=[f for _, f in frames])
        digests["pred"].update(index, _digest_tensor(pred_hash))
        digests["gt"].update(index, _digest_tensor(gt_hash))
        for feature_set in sets:
            feature_set.embed_members(index.tolist(), {"fake": pred, "real": gt}, {"fake": pred_hash, "real": gt_hash})
        if journal is not None:
            values = {name: metric.values[-1].tolist() for name, metric in scorers.items()}
            journal.append(index.tolist(), pred_hash, gt_hash, values)
        bar.update(len(index))


def _feature_metrics(real: Tensor, fake: Tensor, metrics: Sequence[str], protocol: Protocol,
                     extractor: torch.nn.Module, fid_resamples: int, seed: int) -> dict[str, Any]:  # fmt: skip
    """FID (with its bootstrap std) and KID (at the protocol's scale) from the two feature sets."""
    how = InceptionStats(extractor=extractor, kid=False).describe()
    out: dict[str, Any] = {}
    if "fid" in metrics:
        out["fid"] = {**_fid_summary(real, fake, fid_resamples, seed), "how": how}
    if "kid" in metrics:
        size = min(protocol.kid.subset_size, len(real), len(fake))
        mean, std = MF.kid_from_features(real, fake, subsets=protocol.kid.subsets, subset_size=size)
        scale = protocol.kid.scale
        out["kid"] = {"mean": mean * scale, "std": std * scale, "scale": scale, "subsets": protocol.kid.subsets,
                      "subset_size": size, "n_real": len(real), "n_fake": len(fake), "how": how}  # fmt: skip
    if {"precision", "recall"} & set(metrics):
        values = dict(zip(("precision", "recall"), MF.precision_recall_from_features(real, fake, k=3), strict=True))
        prc = {**how, "metric": "precision_recall", "reproduces": "torch-fidelity prc (Kynkäänniemi et al. 2019: "
               "k-NN balls, k = 3) on the protocol's FID features"}  # fmt: skip
        out |= {name: {"value": value, "k": 3, "n_real": len(real), "n_fake": len(fake), "how": prc}
                for name, value in values.items() if name in metrics}  # fmt: skip
    return out


def _dino_metrics(real: Tensor, fake: Tensor, embedder: torch.nn.Module, fid_resamples: int,
                  seed: int) -> dict[str, Any]:  # fmt: skip
    """FD-DINOv2: the FID formula (and its bootstrap std) on DINOv2 ViT-L/14 embeddings."""
    how = {
        **InceptionStats(extractor=embedder, kid=False).describe(),
        "metric": "fd_dinov2",
        "reproduces": "FD-DINOv2 (Stein et al. 2023, dgm-eval): Fréchet distance of DINOv2 ViT-L/14 CLS features",
    }
    return {"fd_dinov2": {**_fid_summary(real, fake, fid_resamples, seed), "how": how}}  # fmt: skip


def _run_warnings(protocol: Protocol, metrics: Sequence[str], matching: dict[str, Any]) -> list[str]:
    """Warnings about what was scored: pftryon additions, a partial folder, predictions outside the list."""
    warnings = []
    added = [_LABELS[m] for m in metrics if m in protocol.additions or m in EXTRA_METRICS]
    if added:
        warnings.append(f"{', '.join(added)}: pftryon additions, not computed by the protocol's source")
    for which, entry in (("", matching), ("unpaired ", matching.get("unpaired"))):
        if not entry:
            continue
        if entry["unmatched"]["count"]:
            warnings.append(
                f"partial {which}prediction folder: {entry['matched']} of {entry['listed']} listed pairs scored "
                f"({entry['scored_fraction']:.1%}, allow_partial); missing: {', '.join(entry['unmatched']['first'])}"
            )
        if entry["extra_predictions"]["count"]:
            extra = entry["extra_predictions"]
            warnings.append(
                f"{extra['count']} {which}prediction(s) not in {entry['pair_list']} were not scored (first: "
                f"{', '.join(extra['first'])})"
            )
        warnings += _list_warnings(entry, which)
    return warnings


def _list_warnings(entry: dict[str, Any], which: str) -> list[str]:
    """What the pair list itself did to the matching: repeated lines, line-order matching, unpaired lines."""
    out = []
    for field_name, text in (
        ("repeated_lines", "repeated line(s) in {list}, each scored once"),
        ("matched_by_line_order", "{which}prediction(s) carry no pair names and were matched by line order of "
         "{list}: a reordered or edited list silently pairs them with other references"),
        ("unpaired_lines_in_paired_list", "line(s) of the paired list {list} pair a person with another id's "
         "garment: scored against the person image as if paired"),
    ):  # fmt: skip
        counted = entry.get(field_name)
        if counted and counted["count"]:
            message = text.format(list=entry["pair_list"], which=which)
            out.append(f"{counted['count']} {message} (first: {', '.join(counted['first'])})")
    return out


def evaluate(
    eval_set: EvalSet,
    protocol: Protocol,
    *,
    metrics: Sequence[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
    crop_panel: int = 1,
    batch_size: int = 16,
    workers: int = 0,
    device: str = "cpu",
    fid_resamples: int = 10,
    seed: int = 0,
    feature_cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
    resolution: str | Sequence[int] | None = None,
    allow_unofficial_weights: bool = False,
    journal: Journal | None = None,
) -> EvalResult:
    """Score ``eval_set`` under ``protocol``, at the size its resolution rules give (``protocol.resize``).

    Args:
        eval_set: what to score (:func:`match_folders` or :func:`match_dataset`).
        protocol: the protocol (resolution, resize filter, SSIM variant, LPIPS backbone and resize, FID, KID scale).
        metrics: subset of the protocol's metrics (default: all of them).
        weights_dir: folder searched for metric weights before the torch hub cache.
        crop_panel: predictions are this many panels side by side; the last one is scored (PF-AFN saves 3).
        batch_size, workers, device: how the pass runs (the numbers do not depend on them).
        fid_resamples: bootstrap resamples for FID's std (0: none).
        feature_cache: folder where the reference set's features are kept with its files' sha256, keyed by the
            bytes of the files and of the weights file, the extractor and the views (a second run against the same
            reference set hashes it but neither decodes nor embeds it); ``None``: no cache.
        seed: bootstrap seed.
        progress: show a progress bar (rank 0 only).
        resolution: ``"HxW"`` or ``(H, W)``: the evaluation size, where the protocol's source has such a switch
            (HR-VITON: 1024x768, 512x384, 256x192); elsewhere only the size the rules give anyway. ``None``: the
            rules decide (the predictions' own size for ``pfafn`` and ``hrviton``).
        allow_unofficial_weights: score with metric weights whose sha256 is not the official file's (a warning in
            the summary) instead of refusing them.
        journal: record the per-sample rows as they are scored and continue after the rows it already holds
            (:class:`bench.eval_journal.Journal`; single process, per-sample metrics only).

    The summary's ``inputs.resize`` gives the evaluation size, what chose it, and per side the sizes before and
    after, the filter and the files it changed; ``inputs.matching`` the matching counts; ``warnings`` what a reader
    must know (resized predictions, a size other than the published one, pftryon additions, a partial folder).

    Raises:
        MissingWeightsError, UnofficialWeightsError: before any image is read, when a needed weights file is absent,
            or is not the official file (unless ``allow_unofficial_weights``).
        InputError: no metric, unreadable images, sizes the protocol's source would refuse, a resolution it has no
            switch for, FID/KID on fewer than two images: named, before any metric work.
    """
    metrics = tuple(protocol.metrics if metrics is None else metrics)
    unknown = sorted(set(metrics) - set(protocol.metrics) - set(EXTRA_METRICS))
    if unknown:
        raise InputError(f"protocol {protocol.name} does not define {unknown}; it has {list(protocol.metrics)} "
                         f"(and accepts the extras {list(EXTRA_METRICS)})")  # fmt: skip
    if not metrics:
        raise InputError(f"protocol {protocol.name}: no metric to compute; choose from {list(protocol.metrics)}")
    small = [f"{role} {len(files)}" for role, files in (("predictions", eval_set.fake), ("references", eval_set.real))
             if len(files) < 2]  # fmt: skip
    if {*_INCEPTION_SET, *_DINO_SET} & set(metrics) and small:
        raise InputError(f"{eval_set.description.get('pred', 'predictions')}: FID/KID need at least 2 images per set "
                         f"(have {', '.join(small)}); drop the set metrics from --metrics")  # fmt: skip
    absent, weight_warnings = _check_weights(metrics, protocol, weights_dir, allow_unofficial_weights)
    metrics = tuple(m for m in metrics if m not in absent)
    if not metrics:
        raise InputError(f"protocol {protocol.name}: nothing to score, every metric's weights are absent "
                         f"({'; '.join(f'{m}: {why}' for m, why in absent.items())})")  # fmt: skip
    plan = _plan(eval_set, protocol, metrics, crop_panel, resolution)
    rank, _ = _world()
    paired = [m for m in _PAIRED if m in metrics]
    temporal = [m for m in _TEMPORAL if m in metrics]
    if temporal and eval_set.videos is None:
        raise InputError(f"protocol {protocol.name}: {temporal} need video frames (a video dataset such as vvt)")
    region = [m for m in REGION_METRICS if m in metrics]
    if region and eval_set.parses is None:
        raise InputError(f"{region} need the reference persons' parse maps: score against a dataset (--dataset) "
                         "whose loader reads a parse")  # fmt: skip
    embedders = {name: build_embedder(name, weights_dir).to(device) for name, uses in
                 (("clip", {"clip_sim"}), ("dinov2", {"dino_sim", *_DINO_SET})) if uses & set(metrics)}  # fmt: skip
    scorers = _scorers(paired, protocol, weights_dir, embedders, device)
    video = VideoMetrics(frame_metrics=()).to(device) if temporal else None
    digests = {role: _Collected().to(device) for role in ("pred", "gt")}
    extractors: dict[str, torch.nn.Module] = {}
    if set(_INCEPTION_SET) & set(metrics):
        extractors["inception"] = build_feature_extractor(protocol.fid.backend, protocol.fid.mode, weights_dir)
    if set(_DINO_SET) & set(metrics):
        extractors["dinov2"] = embedders["dinov2"]
    sets, caches = {}, {}
    for key, extractor in extractors.items():
        extractor.to(device)
        caches[key] = _FeatureCache(feature_cache, eval_set.real, extractor, plan.real) if feature_cache else None
        sets[key] = _FeatureSets(eval_set, extractor, plan, caches[key], bool(paired or temporal), device)

    total = len(eval_set.pairs) * bool(paired or temporal) + sum(len(r) for s in sets.values() for r in s.rest.values())
    with tqdm(total=total, desc=f"eval {protocol.name}", unit="img", disable=not progress or rank != 0) as bar:
        if paired or temporal:
            _paired_pass(eval_set, plan, scorers, video, digests, list(sets.values()), batch_size, workers, device,
                         bar, journal)  # fmt: skip
        for feature_set in sets.values():
            feature_set.embed_rest(batch_size, workers, bar)

    rows = [{"key": key, "pred": str(pred), "gt": str(ref)} for key, pred, ref in eval_set.pairs]
    summary_metrics: dict[str, Any] = {}
    for name, metric in scorers.items():
        if name == "is":
            mean, std = metric.score()
            summary_metrics[name] = {"value": mean, "std": std, "splits": metric.splits, "n": len(rows),
                                     "how": metric.describe()}  # fmt: skip
            continue
        computed = metric.compute()
        per_sample = computed if isinstance(computed, dict) else {name: computed}
        for key, values in per_sample.items():
            values = values.cpu().reshape(-1)  # torchmetrics squeezes a single value to 0-d
            for row, value in zip(rows, values.tolist(), strict=True):
                row[key] = value
            summary_metrics[key] = {**_summary_of(values, seed), "how": metric.describe()}
    if "lpips" in summary_metrics and plan.report["lpips"]:
        summary_metrics["lpips"]["how"]["resize"] = plan.report["lpips"]
    per_pair = [m for m in summary_metrics if m != "is"]
    video_rows = _video_rows(rows, eval_set.videos, per_pair, video.compute() if video is not None else None)
    if protocol.aggregate == "videos" and video_rows:
        for name in per_pair:
            values = torch.tensor([row[name] for row in video_rows], dtype=torch.float64)
            summary_metrics[name] = {**_summary_of(values, seed), "unit": "mean over videos of the per-video frame "
                                     "mean", "how": summary_metrics[name]["how"]}  # fmt: skip
    for name in temporal:
        values = torch.tensor([row[name] for row in video_rows if row["transitions"]], dtype=torch.float64)
        summary_metrics[name] = {**_summary_of(values, seed), "unit": "mean over videos of the per-transition mean",
                                 "how": video.describe()}  # type: ignore[union-attr]  # fmt: skip
    names = {"pred": "pred_paired", "gt": "gt_paired", "fake": "pred_fid", "real": "reference_fid"}
    image_sets = {names[role]: _fingerprint(d.compute().cpu()) for role, d in digests.items() if d.update_called}
    for key, feature_set in sets.items():
        real, fake, set_digests = feature_set.compute(rank)
        if key == "inception":
            summary_metrics |= _feature_metrics(real, fake, metrics, protocol, extractors[key], fid_resamples, seed)
        else:
            summary_metrics |= _dino_metrics(real, fake, extractors[key], fid_resamples, seed)
        image_sets |= {names[role]: _fingerprint(d) for role, d in set_digests.items()}
    summary_metrics |= {name: {"absent": why} for name, why in absent.items()}
    cache_notes = [f"{'' if key == 'inception' else key + ': '}{'read from' if c.hit else 'written to'} {c.path}"
                   for key, c in caches.items() if c]  # fmt: skip
    summary = {
        "protocol": protocol.to_dict(),
        "metrics": summary_metrics,
        "inputs": {**eval_set.description, "crop_panel": crop_panel, "image_sets": image_sets,
                   "reference_features": "; ".join(cache_notes) or None,
                   "n_pairs": len(eval_set.pairs), "n_fake": len(eval_set.fake), "n_real": len(eval_set.real),
                   "matching": eval_set.matching, "resize": plan.report},
        "warnings": [*weight_warnings, *plan.warnings,
                     *_run_warnings(protocol, [*metrics, *absent], eval_set.matching)],
        "run": {**run_metadata(), "device": device, "batch_size": batch_size, "processes": _world()[1]},
    }  # fmt: skip
    return EvalResult(rows, summary, video_rows)


# ---------------------------------------------------------------------------------------------------------------------
# Results files.

_LABELS = {"ssim": "SSIM", "psnr": "PSNR (dB)", "mse": "MSE", "lpips": "LPIPS", "is": "IS", "fid": "FID", "kid": "KID",
           "tce": "temporal change error", "flicker": "colour flicker error", "ms_ssim": "MS-SSIM", "dists": "DISTS",
           "ssim_garment": "SSIM (garment)", "ssim_outside": "SSIM (outside garment)",
           "lpips_garment": "LPIPS (garment)", "lpips_outside": "LPIPS (outside garment)",
           "clip_sim": "CLIP-I similarity", "dino_sim": "DINOv2 similarity", "fd_dinov2": "FD-DINOv2",
           "precision": "precision", "recall": "recall"}  # fmt: skip


def _cell(name: str, entry: dict[str, Any]) -> tuple[str, str]:
    """(value, uncertainty) as table text."""
    if "absent" in entry:
        return "n/a", entry["absent"].replace("|", "/")
    if name in ("precision", "recall"):
        return f"{entry['value']:.4f}", f"k = {entry['k']}"
    if name in ("fid", "fd_dinov2"):
        std = entry.get("bootstrap_std")
        return f"{entry['value']:.3f}", "" if std is None else f"bootstrap std {std:.3f}"
    if name == "is":
        return f"{entry['value']:.4f}", f"std {entry['std']:.4f} over {entry['splits']} split(s)"
    if name == "kid":
        return f"{entry['mean']:.4f}", f"std {entry['std']:.4f} over {entry['subsets']} subsets (x{entry['scale']:g})"
    low, high = entry["ci95"]
    return f"{entry['mean']:.4f}", f"[{low:.4f}, {high:.4f}]"


def _how(entry: dict[str, Any]) -> str:
    how = entry["how"]
    parts = [how.get("variant") or how.get("backbone") or how.get("implementation") or ""]
    if how.get("reproduces"):
        parts.append(how["reproduces"])
    return "; ".join(p for p in parts if p).replace("|", "/")


def _side_line(label: str, side: dict[str, Any]) -> str:
    before, after = ", ".join(side["sizes_before"]) or "-", ", ".join(side["sizes_after"]) or "-"
    line = f"- {label}: {side['files']} file(s), {before} -> {after}, filter {side['filter']}, " \
        f"{side['resized']['count']} resized"  # fmt: skip
    if side.get("jpeg_reencoded"):
        line += f", {side['jpeg_reencoded']['count']} re-encoded as JPEG quality {side['jpeg_reencoded']['quality']}"
    return line


def _matching_lines(matching: dict[str, Any]) -> list[str]:
    lines = []
    for which, entry in (("paired", matching), ("unpaired", matching.get("unpaired"))):
        if not entry:
            continue
        unmatched, extra = entry["unmatched"], entry["extra_predictions"]
        lines += [
            f"- {which} list: {entry['pair_list']}; {entry['predictions_found']} prediction(s) and "
            f"{entry['references_found']} reference(s) found, {entry['matched']} of {entry['listed']} listed pairs "
            f"matched ({entry['scored_fraction']:.1%} scored)",
            f"  - unmatched: {unmatched['count']}" + (f" (first: {', '.join(unmatched['first'])})" if unmatched[
                "count"] else ""),
            f"  - predictions not in the list: {extra['count']}" + (f" (first: {', '.join(extra['first'])})" if extra[
                "count"] else ""),
        ]  # fmt: skip
    return lines


def summary_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown report: the numbers, then exactly how and on what they were computed."""
    protocol, inputs, run = summary["protocol"], summary["inputs"], summary["run"]
    additions = set(protocol.get("additions", ()))
    lines = [
        f"# pftryon eval: protocol `{protocol['name']}` (version {protocol['version']})", "",
        f"{protocol['description']}", "", f"Source: {protocol['source']}", "",
        "| metric | value | uncertainty | n | computed as |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, entry in summary["metrics"].items():
        value, spread = _cell(name, entry)
        n = entry.get("n") or (f"{entry['n_fake']} vs {entry['n_real']}" if "n_fake" in entry else "")
        label = _LABELS[name] + (" (pftryon addition)" if name in additions or name in EXTRA_METRICS else "")
        lines.append(f"| {label} | {value} | {spread} | {n} | {_how(entry) if 'how' in entry else ''} |")
    warnings = [f"- {w}" for w in summary.get("warnings", [])]
    warnings += [f"- {_LABELS[n]}: {e['warning']}" for n, e in summary["metrics"].items() if e.get("warning")]
    lines += ["", *(["Warnings:", "", *warnings, ""] if warnings else [])]
    resize = inputs.get("resize")
    if resize:
        size = _hxw(resize["evaluation_size"])
        published = _hxw(resize["published_size"])
        lines += [
            "## Resizing", "", resize["rule"], "",
            f"- evaluation size: {size}, chosen by {resize['chosen_by']} (published: {published})",
            _side_line("predictions", resize["predictions"]), _side_line("ground truth", resize["ground_truth"]),
            f"- FID/KID predictions: {resize['fid_predictions']}; reference set: {resize['fid_reference']}",
            *([f"- LPIPS: {resize['lpips']}"] if resize["lpips"] else []), "",
        ]  # fmt: skip
    if inputs.get("matching"):
        lines += ["## Matching", "", *_matching_lines(inputs["matching"]), ""]
    skip = {"image_sets", "matching", "resize"}
    lines += ["## Inputs", ""] + [f"- {k}: {v}" for k, v in inputs.items() if k not in skip]
    sets = inputs["image_sets"].items()
    lines += [f"- image set `{k}`: {v['files']} files, sha256 {v['sha256'][:16]}" for k, v in sets]
    versions = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
    lines += ["", "## Run", "", f"- date: {run['date']}", f"- commit: {run['git_commit']}",
              f"- device: {run['device']}", f"- processes: {run['processes']}", f"- versions: {versions}",
              "", "Full protocol and metric descriptions: summary.json.", ""]  # fmt: skip
    return "\n".join(lines)


def write_results(result: EvalResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``per_sample.csv``, ``summary.json``, ``summary.md`` (+ ``per_video.csv``) atomically into ``out_dir``."""
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "per_sample.csv", out / "summary.json", out / "summary.md"]
    atomic_write(paths[0], pd.DataFrame(result.rows).to_csv(index=False).encode())
    atomic_write(paths[1], (json.dumps(result.summary, indent=2, default=str) + "\n").encode())
    atomic_write(paths[2], summary_markdown(result.summary).encode())
    if result.video_rows:
        paths.append(out / "per_video.csv")
        atomic_write(paths[-1], pd.DataFrame(result.video_rows).to_csv(index=False).encode())
    return paths


def cross_protocol_table(results: dict[str, EvalResult | str]) -> str:
    """Markdown table of the same images under several protocols (a string value: why it was skipped); one column
    per metric any protocol computed."""
    scored = [r.summary["metrics"] for r in results.values() if isinstance(r, EvalResult)]
    columns = [m for m in _LABELS if any(m in entries for entries in scored)]
    lines = ["| protocol | " + " | ".join(_LABELS[m] for m in columns) + " | notes |",
             "|---" * (len(columns) + 2) + "|"]  # fmt: skip
    for name, result in results.items():
        if isinstance(result, str):
            lines.append(f"| {name} | " + " | ".join("" for _ in columns) + f" | skipped: {result} |")
            continue
        entries = result.summary["metrics"]
        cells = [" ".join(_cell(m, entries[m])) if m in entries else "" for m in columns]
        protocol, resize = result.summary["protocol"], result.summary["inputs"].get("resize")
        size = resize["evaluation_size"] if resize else protocol["resolution"]
        note = f"{_hxw(size)}, SSIM {protocol['ssim']['variant']}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {note} |")
    return "\n".join(lines) + "\n"


def init_distributed(device: str) -> None:
    """Join the process group when launched by ``torchrun`` (gloo on CPU, nccl on CUDA); no-op otherwise."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def _check_metric_names(metrics: Sequence[str] | None) -> None:
    if metrics is None:
        return
    if not metrics:
        raise InputError(f"--metrics is empty; give a comma-separated subset of {','.join(_LABELS)}")
    unknown = sorted(set(metrics) - set(_LABELS))
    if unknown:
        raise InputError(f"unknown metric(s) {', '.join(unknown)} in --metrics; known: {','.join(_LABELS)}")


def _journal(out: Path, protocol: Protocol, metrics: Sequence[str], eval_set: EvalSet, options: dict[str, Any],
             resume: bool) -> Journal | None:  # fmt: skip
    """The run's journal where it can have one (one process, per-sample metrics only; ``resume`` insists)."""
    if _world()[1] > 1 or not (resume or set(metrics) <= set(RESUMABLE)):
        return None
    kept = {k: v for k, v in options.items() if k not in ("batch_size", "workers", "progress", "feature_cache")}
    identity = {"protocol": protocol.to_dict(), "metrics": list(metrics), "options": kept,
                "pairs": [[key, str(pred), str(ref)] for key, pred, ref in eval_set.pairs]}  # fmt: skip
    return Journal(out, identity, metrics, resume)


def run_eval(
    pred: str | os.PathLike[str],
    out: str | os.PathLike[str],
    protocol_name: str,
    *,
    gt: str | os.PathLike[str] | None = None,
    dataset: str | None = None,
    root: str | os.PathLike[str] | None = None,
    pairs_file: str | os.PathLike[str] | None = None,
    pred_unpaired: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
    allow_partial: bool = False,
    resume: bool = False,
    fetch_weights: bool = False,
    **options: Any,
) -> tuple[list[Path], str]:
    """``pftryon eval``: match, score and write, for one protocol or ``"all"`` (one sub-folder each + a table).

    ``allow_partial`` goes to the matching (:func:`match_folders`, :func:`match_dataset`); ``options`` to
    :func:`evaluate` (``resolution`` and ``allow_unofficial_weights`` among them). Per-sample rows are journaled as
    they are scored (``out/.partial``) so that ``resume`` continues a stopped run (:mod:`bench.eval_journal`).
    ``fetch_weights`` first downloads the run's missing weights files (:func:`bench.metrics.fetch.fetch_or_raise`,
    on rank 0). Returns the files written (none on ranks > 0) and the Markdown report to print.

    Raises:
        InputError: an empty or unknown metric list, nothing to score, or (``"all"``) every protocol skipped.
        FetchError: ``fetch_weights`` and a file could not be fetched.
    """
    from bench.metrics.weights import MissingWeightsError
    from bench.protocols import list_protocols, load_protocol

    _check_metric_names(metrics)
    init_distributed(options.get("device", "cpu"))
    rank, world = _world()
    names = list_protocols() if protocol_name == "all" else [protocol_name]
    if fetch_weights:
        from bench.metrics.fetch import fetch_or_raise

        if rank == 0:
            fetch_or_raise(Selection(tuple(names), None if metrics is None else tuple(metrics)),
                           options.get("weights_dir"))  # fmt: skip
        if world > 1:
            dist.barrier()
    results: dict[str, EvalResult | str] = {}
    journals: dict[str, Journal | None] = {}
    eval_sets: list[EvalSet] = []
    for name in names:
        protocol = load_protocol(name)
        known = {*protocol.metrics, *EXTRA_METRICS}
        wanted = protocol.metrics if metrics is None else tuple(m for m in metrics if m in known)
        if metrics is not None and protocol_name != "all" and len(wanted) < len(metrics):
            missing = sorted(set(metrics) - known)
            raise InputError(f"protocol {name} does not define {missing}; it has {list(protocol.metrics)}")
        if not wanted:
            results[name] = f"defines none of {', '.join(metrics or ())}"
            continue
        if gt is not None:
            eval_set = match_folders(pred, gt, allow_partial=allow_partial)
        else:
            extra = {"pairs_file": pairs_file} if pairs_file else {}
            eval_set = match_dataset(pred, dataset, root, protocol, pred_unpaired_dir=pred_unpaired,
                                     allow_partial=allow_partial, **extra)  # fmt: skip
        eval_sets.append(eval_set)
        folder = Path(out) if protocol_name != "all" else Path(out) / name
        try:
            journals[name] = _journal(folder, protocol, wanted, eval_set, options, resume)
            results[name] = evaluate(eval_set, protocol, metrics=wanted, journal=journals[name], **options)
        except (InputError, MissingWeightsError) as err:
            if protocol_name != "all":
                raise
            results[name] = str(err)
    if rank != 0:
        return [], ""
    if not any(isinstance(r, EvalResult) for r in results.values()):
        reasons = "; ".join(f"{name}: {reason}" for name, reason in results.items())
        raise InputError(f"--protocol all scored nothing: every protocol was skipped ({reasons})")
    written: list[Path] = []
    for name, result in results.items():
        if isinstance(result, EvalResult):
            folder = Path(out) if protocol_name != "all" else Path(out) / name
            written += write_results(result, folder)
            if journals.get(name) is not None:
                journals[name].finish()  # type: ignore[union-attr]
    if protocol_name != "all":
        return written, summary_markdown(results[protocol_name].summary)  # type: ignore[union-attr]
    table = "# The same images under every protocol\n\n" + cross_protocol_table(results)
    atomic_write(Path(out) / "protocols.md", table.encode())
    return [*written, Path(out) / "protocols.md", *_write_sensitivity(eval_sets[0], out, options)], table


def _write_sensitivity(eval_set: EvalSet, out: str | os.PathLike[str], options: dict[str, Any]) -> list[Path]:
    """``sensitivity.md`` and ``sensitivity.csv`` of ``eval_set`` in ``out`` (see :mod:`bench.sensitivity`)."""
    import pandas as pd

    from bench.sensitivity import SENSITIVITY_COLUMNS, sensitivity, sensitivity_markdown

    rows = sensitivity([(p, r) for _, p, r in eval_set.pairs], eval_set.fake, eval_set.real,
                       weights_dir=options.get("weights_dir"), crop_panel=options.get("crop_panel", 1))  # fmt: skip
    paths = [Path(out) / "sensitivity.md", Path(out) / "sensitivity.csv"]
    atomic_write(paths[0], sensitivity_markdown(rows).encode())
    atomic_write(paths[1], pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS)).to_csv(index=False).encode())
    return paths
