"""Which prediction is scored against which reference: a folder of references by file stem, or a dataset's protocol
lists (the names methods write), with the counts of what was found, matched, left unmatched or repeated."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import TryOnDataset, create_dataset
from bench.data.readers import InputError
from bench.protocols import Protocol

__all__ = ["IMAGE_SUFFIXES", "EvalSet", "ListMatch", "match_dataset", "match_folders", "match_list", "matching_record"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


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
class ListMatch:
    """The pairs of one dataset list matched to a prediction folder (:func:`match_list`)."""

    rows: list[tuple[str, Path, Path]]
    videos: list[tuple[str, int]] | None
    persons: list[Path]  # every listed reference, each once (matched or not)
    matching: dict[str, Any]
    parses: list[tuple[Path, str, str | None]] | None


# Layouts whose paired lines name the person and the garment by one id (MPV and VVT name them apart).
_PAIRED_BY_ID = ("viton", "viton-pfafn", "viton-hd", "dresscode")


def _dataset_pairs(pred_dir: Path, name: str, root: Path, pair_mode: str, options: dict[str, Any],
                   allow_partial: bool) -> ListMatch:  # fmt: skip
    """Match one test list of the dataset ``name`` on ``root`` (:func:`match_list`)."""
    dataset = create_dataset(name, root, split="test", pair_mode=pair_mode, **options)
    pair_list = f"pairs_file {options['pairs_file']}" if options.get("pairs_file") else f"{name} {pair_mode} test list"
    return match_list(pred_dir, dataset, pair_list, allow_partial=allow_partial)


def match_list(pred_dir: Path, dataset: TryOnDataset, pair_list: str, *, allow_partial: bool = False) -> ListMatch:
    """Match the entries of a loaded list (as given: a suite keeps the first ``limit``) to the predictions in
    ``pred_dir`` under any accepted name (:func:`_candidate_stems`); ``pair_list`` names the list in the record. A
    repeated line is scored once and counted (as the suite does), a prediction named only by its line number is
    counted as matched by line order.

    Raises:
        InputError: a listed pair without a prediction (without ``allow_partial``), no match at all, an empty folder.
    """
    name, pair_mode = dataset.name, dataset.pair_mode
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
    extra = [preds[s].relative_to(pred_dir).as_posix() for s in preds if s not in used]
    unpaired = [f"{e.person_id} / {e.cloth_id}" for e in dataset.entries if e.person_id != e.cloth_id] \
        if pair_mode == "paired" and name in _PAIRED_BY_ID else []  # fmt: skip
    matching = matching_record(pair_list, len(preds), len(persons), listed, len(rows), missing, extra, allow_partial,
                               repeated=repeated, by_line=by_line, unpaired_lines=unpaired)  # fmt: skip
    return ListMatch(rows, videos or None, persons, matching, parses if len(parses) == len(rows) else None)


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
