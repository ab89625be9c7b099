"""Which prediction is scored against which reference: a folder of references by file stem (or by CatVTON's id rule
under its protocols), or a dataset's protocol lists (by the names methods write, or by line order when asked for),
with the counts of what was found, matched, left unmatched or repeated."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import TryOnDataset, create_dataset
from bench.data.readers import InputError
from bench.protocols import GT_MATCHES, Protocol

__all__ = [
    "IMAGE_SUFFIXES", "MATCH_MODES", "EvalSet", "ListMatch", "catvton_id",
    "match_dataset", "match_folders", "match_list", "matching_record",
]  # fmt: skip

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MATCH_MODES = ("names", "lines")
"""How a dataset list is matched: ``names`` (the names methods write) or ``lines`` (the prediction named by the
0-based line number of each line, PF-AFN's test script); line order is never a silent fallback."""
_RULE_TEXT = {
    "stem": "file stem",
    "catvton-id": "CatVTON id: the 8 characters of the file name from its first digit (Zheng-Chong/CatVTON eval.py)",
    "names": "names: <person>__<cloth>, <person>_<cloth> or <person> (file stems or ids)",
    "lines": "line order: the prediction named by the 0-based line number of each list line (--match lines)",
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


_FIRST = 5  # how many names a count in the summary lists


def _counted(names: Sequence[str]) -> dict[str, Any]:
    """A count with its first few names, for the summary."""
    return {"count": len(names), "first": list(names[:_FIRST])}


def matching_record(pair_list: str, predictions: int, references: int, listed: int, matched: int,
                    unmatched: Sequence[str], extra: Sequence[str], allow_partial: bool, *,
                    repeated: Sequence[str] = (), by_line: Sequence[str] = (),
                    unpaired_lines: Sequence[str] = (), rule: str = "", stems_differ: Sequence[str] = ()
                    ) -> dict[str, Any]:  # fmt: skip
    """The matching facts of one list (``summary["inputs"]["matching"]``).

    ``listed`` counts distinct pairs; ``repeated`` names lines that repeat an earlier one (scored once);
    ``by_line`` the pairs whose prediction carries no name, only the list's line number; ``unpaired_lines`` the
    lines of a paired list whose person and garment ids differ; ``rule`` says how names were matched
    (:data:`MATCH_MODES`, :data:`bench.protocols.GT_MATCHES`); ``stems_differ`` the pairs a rule matched whose file
    stems differ."""
    return {
        "pair_list": pair_list, "rule": _RULE_TEXT.get(rule, rule), "predictions_found": predictions,
        "references_found": references, "listed": listed, "matched": matched, "unmatched": _counted(unmatched),
        "extra_predictions": _counted(extra),
        "scored_fraction": matched / listed if listed else 0.0, "allow_partial": allow_partial,
        "repeated_lines": _counted(repeated), "matched_by_line_order": _counted(by_line),
        "unpaired_lines_in_paired_list": _counted(unpaired_lines), "stems_differ": _counted(stems_differ),
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


def catvton_id(name: str) -> str | None:
    """The key CatVTON's official evaluation pairs files by: the 8 characters of the file name (suffix included)
    starting at its first digit; ``None`` for a name without a digit.

    Zheng-Chong/CatVTON, ``eval.py`` (``EvalDataset.extract_id_from_filename``, used by ``prepare_data``): it takes
    the base name of every ``.jpg``/``.png`` file under the prediction and ground-truth folders (sub-folders too),
    finds the first character for which ``str.isdigit`` holds and keeps that character and the 7 after it; a
    prediction is paired with the ground truth of the same key. So ``00006_00.jpg`` and ``00006_00_00017_00.png``
    (VITON-HD) both give ``00006_00``, ``upper_body/048392_0.jpg`` (Dress Code) gives ``048392_0``, and a short
    number runs into the suffix (``7.png`` gives ``7.png``, which ``7.jpg`` does not match). Where eval.py stops
    on a name without a digit, keeps the last of two ground truths of one key and skips a prediction without a
    ground truth, :func:`match_folders` refuses each in one line.
    """
    start = next((i for i, char in enumerate(name) if char.isdigit()), None)
    return None if start is None else name[start : start + 8]


def _by_catvton_id(files: dict[str, Path], what: str) -> dict[str, Path]:
    """``files`` re-keyed by :func:`catvton_id`; a name without a digit or two files of one id are refused."""
    found: dict[str, Path] = {}
    for path in files.values():
        key = catvton_id(path.name)
        if key is None:
            raise InputError(f"{path}: no digit in the file name; the catvton protocols match {what}s by the 8 "
                             "characters from the first digit (CatVTON's eval.py)")  # fmt: skip
        if key in found:
            raise InputError(f"{path}: ambiguous match, its CatVTON id {key!r} (8 characters from the first digit) "
                             f"is also that of the {what} {found[key]}; rename one of them")  # fmt: skip
        found[key] = path
    return found


def match_folders(pred_dir: str | os.PathLike[str], gt_dir: str | os.PathLike[str], *,
                  allow_partial: bool = False, rule: str = "stem") -> EvalSet:  # fmt: skip
    """Pair every prediction with the reference of the same key; FID compares the two whole folders.

    The key is the file stem (relative path without suffix), or with ``rule="catvton-id"`` CatVTON's id
    (:func:`catvton_id`; the catvton protocols' ``gt_match``). The reference folder is the list:
    a reference without a prediction makes the prediction folder partial, an error unless ``allow_partial`` (then
    the summary says what fraction was scored).

    Raises:
        InputError: a prediction without a reference (named), a partial prediction folder, an empty folder, an
            unknown rule; under ``catvton-id`` a name without a digit or two files of one id (ambiguous).
    """
    if rule not in GT_MATCHES:
        raise InputError(f"unknown folder matching rule {rule!r}; choose one of {', '.join(GT_MATCHES)}")
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    preds, refs = _images_by_stem(pred_dir, "prediction"), _images_by_stem(gt_dir, "reference")
    if rule == "catvton-id":
        preds, refs = _by_catvton_id(preds, "prediction"), _by_catvton_id(refs, "reference")
    missing = sorted(set(preds) - set(refs))
    if missing:
        named = f"named {missing[0]}.*" if rule == "stem" else f"with the CatVTON id {missing[0]!r}"
        raise InputError(
            f"{preds[missing[0]]}: no reference {named} in {gt_dir} ({len(missing)} prediction(s) unmatched)"
        )
    unscored = sorted(refs[key].relative_to(gt_dir).with_suffix("").as_posix() for key in set(refs) - set(preds))
    _refuse_partial(pred_dir, f"references in {gt_dir}", unscored, len(refs), allow_partial)
    pairs = [(path.relative_to(pred_dir).with_suffix("").as_posix(), path, refs[key]) for key, path in preds.items()]
    differ = [f"{pred.name} = {ref.name}" for _, pred, ref in pairs if pred.stem != ref.stem]
    description = {"mode": "folders", "pred": str(pred_dir), "gt": str(gt_dir), "matched_by": _RULE_TEXT[rule]}
    matching = matching_record(f"{'file stems' if rule == 'stem' else 'CatVTON ids'} of the reference folder "
                               f"{gt_dir}", len(preds), len(refs), len(refs), len(pairs), unscored, [], allow_partial,
                               rule=rule, stems_differ=differ)  # fmt: skip
    return EvalSet(pairs, list(preds.values()), list(refs.values()), description, matching=matching)


def _candidate_stems(person: Path, cloth: Path | None, person_id: str, cloth_id: str) -> list[str]:
    """Output names methods write: ours ``<person>__<cloth>``, HR-VITON-style ``<person>_<cloth>``, the person's."""
    persons = dict.fromkeys([person.stem, person_id])
    cloths = dict.fromkeys([*([cloth.stem] if cloth else []), cloth_id])
    return [f"{p}{sep}{c}" for p in persons for c in cloths for sep in ("__", "_")] + [*persons]


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
                   allow_partial: bool, match: str) -> ListMatch:  # fmt: skip
    """Match one test list of the dataset ``name`` on ``root`` (:func:`match_list`)."""
    dataset = create_dataset(name, root, split="test", pair_mode=pair_mode, **options)
    pair_list = f"pairs_file {options['pairs_file']}" if options.get("pairs_file") else f"{name} {pair_mode} test list"
    return match_list(pred_dir, dataset, pair_list, allow_partial=allow_partial, match=match)


def match_list(pred_dir: Path, dataset: TryOnDataset, pair_list: str, *, allow_partial: bool = False,
               match: str = "names") -> ListMatch:  # fmt: skip
    """Match the entries of a loaded list (as given: a suite keeps the first ``limit``) to the predictions in
    ``pred_dir``; ``pair_list`` names the list in the record. A repeated line is scored once and counted (as the
    suite does).

    ``match="names"`` accepts the names methods write (:func:`_candidate_stems`). ``match="lines"`` pairs each line
    with the prediction named by its 0-based line number (PF-AFN's test script writes ``<line>.jpg``), so the
    pairing holds only as long as the list is the one the predictions were made from: every such pair is counted
    as matched by line order, and the run's pairing check (:mod:`bench.eval.summary`) tests it. Line order is
    never a fallback: under ``names``, a line whose pair has no named prediction but a file named by its line
    number is refused.

    Raises:
        InputError: an unknown ``match``; under ``names`` a prediction named only by a line number; a listed pair
            without a prediction (without ``allow_partial``), no match at all, an empty folder.
    """
    if match not in MATCH_MODES:
        raise InputError(f"unknown matching {match!r} (--match); choose one of {', '.join(MATCH_MODES)}")
    name, pair_mode = dataset.name, dataset.pair_mode
    preds = _images_by_stem(pred_dir, "prediction")
    rows, videos, parses, missing, used, repeated, by_line, numbered, seen = [], [], [], [], set(), [], [], [], set()
    label_set = getattr(dataset, "label_set", None)
    for line, entry in enumerate(dataset.entries):
        key = f"{entry.person_id}__{entry.cloth_id}"
        if key in seen:
            repeated.append(f"line {line + 1}: {entry.person_id} / {entry.cloth_id}")
            continue
        seen.add(key)
        person, cloth = entry.files["person"], entry.files.get("cloth")
        pair = f"{entry.person_id} / {entry.cloth_id}"
        if match == "lines":
            stem = str(line) if str(line) in preds else None
        else:
            stems = _candidate_stems(person, cloth, entry.person_id, entry.cloth_id)
            stem = next((s for s in stems if s in preds), None)
            if stem is None and str(line) in preds:
                numbered.append(f"{preds[str(line)].name} = line {line + 1} ({pair})")
        if stem is None:
            missing.append(pair)
            continue
        if match == "lines":
            by_line.append(f"{preds[stem].name} = line {line + 1} ({pair})")
        used.add(stem)
        rows.append((key, preds[stem], person))
        if "video_id" in entry.extra:
            videos.append((entry.extra["video_id"], entry.extra["frame_index"]))
        if label_set is not None and "parse" in entry.files:
            parses.append((entry.files["parse"], label_set, entry.extra.get("category")))
    if numbered:
        raise InputError(
            f"{pred_dir}: {len(numbered)} listed pair(s) have no prediction under their names but one named by the "
            f"line number in {pair_list} (first: {', '.join(numbered[:3])}); pairing by line order is never "
            "implicit: pass --match lines (match='lines') if these files follow this exact list"
        )
    listed = len(seen)
    _refuse_partial(pred_dir, f"{pair_mode} pairs", missing, listed, allow_partial)
    persons = list(dict.fromkeys(entry.files["person"] for entry in dataset.entries))
    extra = [preds[s].relative_to(pred_dir).as_posix() for s in preds if s not in used]
    unpaired = [f"{e.person_id} / {e.cloth_id}" for e in dataset.entries if e.person_id != e.cloth_id] \
        if pair_mode == "paired" and name in _PAIRED_BY_ID else []  # fmt: skip
    matching = matching_record(pair_list, len(preds), len(persons), listed, len(rows), missing, extra, allow_partial,
                               repeated=repeated, by_line=by_line, unpaired_lines=unpaired, rule=match)  # fmt: skip
    return ListMatch(rows, videos or None, persons, matching, parses if len(parses) == len(rows) else None)


def match_dataset(
    pred_dir: str | os.PathLike[str],
    name: str,
    root: str | os.PathLike[str],
    protocol: Protocol,
    *,
    pred_unpaired_dir: str | os.PathLike[str] | None = None,
    allow_partial: bool = False,
    match: str = "names",
    **options: Any,
) -> EvalSet:
    """Match predictions to a dataset's test lists: the paired list for SSIM/PSNR/LPIPS, the unpaired list for FID.

    ``pred_dir`` holds the outputs for the paired list (or for the list given by ``pairs_file`` in ``options``);
    ``pred_unpaired_dir`` those for the unpaired list. Without it, FID/KID use the paired predictions, and the
    summary says so. The FID reference set is the listed test person images (each once). Files are found by the
    names methods commonly write, or with ``match="lines"`` by each line's number (see :func:`match_list`). A
    listed pair without a prediction is an error unless ``allow_partial`` (then only the matched pairs are scored
    and the summary gives the fraction); predictions the list does not name are counted and named in the summary.

    Raises:
        InputError: a partial prediction folder (without ``allow_partial``), no match at all, an empty folder, a
            prediction named only by its line number without ``match="lines"``.
    """
    pred_dir = Path(pred_dir)
    paired = _dataset_pairs(pred_dir, name, Path(root), "paired", options, allow_partial, match)
    pairs = paired.rows
    matching = {**paired.matching}
    if pred_unpaired_dir is not None:
        unpaired = _dataset_pairs(Path(pred_unpaired_dir), name, Path(root), "unpaired", options, allow_partial,
                                  match)  # fmt: skip
        fake = [pred for _, pred, _ in unpaired.rows]
        matching["unpaired"] = unpaired.matching
    else:
        fake = [pred for _, pred, _ in pairs]
    description = {
        "mode": "dataset", "dataset": name, "root": str(root), "protocol_dataset": protocol.dataset,
        "pred": str(pred_dir), "pred_unpaired": None if pred_unpaired_dir is None else str(pred_unpaired_dir),
        "paired_list": "pairs_file " + str(options["pairs_file"]) if options.get("pairs_file") else "paired test list",
        "matched_by": _RULE_TEXT[match], "fid_fake_set": "unpaired predictions" if pred_unpaired_dir is not None
        else "paired predictions (no --pred-unpaired given; the protocol computes FID on the unpaired list)",
        "fid_real_set": "test person images (every listed one)",
    }  # fmt: skip
    return EvalSet(pairs, fake, paired.persons, description, paired.videos, matching, paired.parses)
