"""The runner: :func:`evaluate` scores an :class:`~bench.eval.matching.EvalSet` under a protocol; :func:`run_eval`
(``pftryon eval``) matches, scores and writes the results files, for one protocol or ``"all"``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from bench.data.readers import InputError
from bench.eval.journal import RESUMABLE, Journal
from bench.eval.matching import EvalSet, match_dataset, match_folders
from bench.eval.metric_groups import _DINO_SET, _INCEPTION_SET, _PAIRED, _TEMPORAL, _VIDEO_SETS
from bench.eval.passes import (
    _check_weights,
    _Collected,
    _FeatureCache,
    _FeatureSets,
    _fingerprint,
    _paired_pass,
    _scorers,
)
from bench.eval.resolution import _plan
from bench.eval.sensitivity import SENSITIVITY_COLUMNS, sensitivity
from bench.eval.summary import (
    EvalResult,
    _dino_metrics,
    _feature_metrics,
    _pairing_check,
    _run_warnings,
    _summary_of,
    _video_rows,
)
from bench.metrics.embedding import build_embedder
from bench.metrics.fid_backends import build_feature_extractor
from bench.metrics.needs import Selection
from bench.metrics.region import REGION_METRICS
from bench.metrics.specs import list_metrics, metric_spec
from bench.metrics.video import VideoMetrics
from bench.metrics.video_fid import VideoFrechetDistance
from bench.protocols import EXTRA_METRICS, METRIC_NAMES, Protocol
from bench.records import SCHEMA_VERSION, EvalSummary
from bench.results import run_metadata
from bench.runtime import _world, atomic_write, init_distributed

__all__ = ["evaluate", "run_eval", "write_results"]

_logger = logging.getLogger(__name__)


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
        seed: bootstrap and pairing-check seed.
        progress: show a progress bar (rank 0 only).
        resolution: ``"HxW"`` or ``(H, W)``: the evaluation size, where the protocol's source has such a switch
            (HR-VITON: 1024x768, 512x384, 256x192); elsewhere only the size the rules give anyway. ``None``: the
            rules decide (the predictions' own size for ``pfafn`` and ``hrviton``).
        allow_unofficial_weights: score with metric weights whose sha256 is not the official file's (a warning in
            the summary) instead of refusing them.
        journal: record the per-sample rows as they are scored and continue after the rows it already holds
            (:class:`bench.eval.journal.Journal`; single process, per-sample metrics only).

    The summary's ``inputs.resize`` gives the evaluation size, what chose it, and per side the sizes before and
    after, the filter and the files it changed; ``inputs.matching`` the matching counts; ``inputs.pairing_check``
    whether the given pairing scores clearly better than random re-pairings of the same files (a permutation test
    on thumbnails of the scored views, :func:`bench.eval.summary._pairing_check`); ``warnings`` what a reader must
    know (first a failed pairing check, then resized predictions, a size other than the published one, pftryon
    additions, a partial folder).

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
    video_set_names = [m for m in _VIDEO_SETS if m in metrics]
    if (temporal or video_set_names) and eval_set.videos is None:
        raise InputError(f"protocol {protocol.name}: {temporal + video_set_names} need video frames (a video dataset "
                         "such as vvt)")  # fmt: skip
    region = [m for m in REGION_METRICS if m in metrics]
    if region and eval_set.parses is None:
        raise InputError(f"{region} need the reference persons' parse maps: score against a dataset (--dataset) "
                         "whose loader reads a parse")  # fmt: skip
    uses = [metric_spec(m).embedder for m in list_metrics() if m in metrics]  # CLIP before DINOv2, as registered
    embedders = {name: build_embedder(name, weights_dir).to(device) for name in dict.fromkeys(uses) if name}
    scorers = _scorers(paired, protocol, weights_dir, embedders, device)
    video = VideoMetrics(frame_metrics=()).to(device) if temporal else None
    video_sets = {name: VideoFrechetDistance(name, weights_dir=weights_dir,
                                             allow_unofficial_weights=allow_unofficial_weights).to(device)
                  for name in video_set_names}  # fmt: skip
    digests = {role: _Collected().to(device) for role in ("pred", "gt")}
    thumbs = {role: _Collected().to(device) for role in ("pred", "gt")}
    extractors: dict[str, torch.nn.Module] = {}
    if set(_INCEPTION_SET) & set(metrics):
        extractors["inception"] = build_feature_extractor(protocol.fid.backend, protocol.fid.mode, weights_dir)
    if set(_DINO_SET) & set(metrics):
        extractors["dinov2"] = embedders["dinov2"]
    sets, caches = {}, {}
    for key, extractor in extractors.items():
        extractor.to(device)
        caches[key] = _FeatureCache(feature_cache, eval_set.real, extractor, plan.real) if feature_cache else None
        sets[key] = _FeatureSets(eval_set, extractor, plan, caches[key], bool(paired or temporal or video_sets),
                                 device)  # fmt: skip

    decode_pairs = bool(paired or temporal or video_sets)
    total = len(eval_set.pairs) * decode_pairs + sum(len(r) for s in sets.values() for r in s.rest.values())
    with tqdm(total=total, desc=f"eval {protocol.name}", unit="img", disable=not progress or rank != 0) as bar:
        if decode_pairs:
            _paired_pass(eval_set, plan, scorers, video, digests, list(sets.values()), batch_size, workers, device,
                         bar, journal, thumbs, video_sets)  # fmt: skip
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
    features: dict[str, dict[str, torch.Tensor]] = {}
    for key, feature_set in sets.items():
        real, fake, set_digests = feature_set.compute(rank)
        features[key] = {"real": real, "fake": fake}
        if key == "inception":
            summary_metrics |= _feature_metrics(real, fake, metrics, protocol, extractors[key], fid_resamples, seed)
        else:
            summary_metrics |= _dino_metrics(real, fake, extractors[key], fid_resamples, seed)
        image_sets |= {names[role]: _fingerprint(d) for role, d in set_digests.items()}
    summary_metrics |= {name: metric.summary() for name, metric in video_sets.items()}
    summary_metrics |= {name: {"absent": why} for name, why in absent.items()}
    thumbnails = [t.compute().cpu() for t in thumbs.values()] if thumbs["pred"].update_called else [None, None]
    pairing = _pairing_check(*thumbnails, seed)
    cache_notes = [f"{'' if key == 'inception' else key + ': '}{'read from' if c.hit else 'written to'} {c.path}"
                   for key, c in caches.items() if c]  # fmt: skip
    summary = EvalSummary(
        schema_version=SCHEMA_VERSION,
        kind="eval-summary",
        protocol=protocol.to_dict(),
        metrics=summary_metrics,
        inputs={**eval_set.description, "crop_panel": crop_panel, "image_sets": image_sets,
                "reference_features": "; ".join(cache_notes) or None,
                "n_pairs": len(eval_set.pairs), "n_fake": len(eval_set.fake), "n_real": len(eval_set.real),
                "matching": eval_set.matching, "pairing_check": pairing, "resize": plan.report},
        warnings=[*([pairing["verdict"]] if pairing["status"] == "flagged" else []), *weight_warnings, *plan.warnings,
                  *_run_warnings(protocol, [*metrics, *absent], eval_set.matching)],
        run={**run_metadata(), "device": device, "batch_size": batch_size, "processes": _world()[1]},
    )  # fmt: skip
    return EvalResult(rows, summary, video_rows, features)


def write_results(result: EvalResult, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``per_sample.csv``, ``summary.json``, ``summary.md`` (+ ``per_video.csv``) atomically into ``out_dir``."""
    import pandas as pd

    from bench.report.eval_markdown import summary_markdown

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


def _check_metric_names(metrics: Sequence[str] | None) -> None:
    if metrics is None:
        return
    if not metrics:
        raise InputError(f"--metrics is empty; give a comma-separated subset of {','.join(METRIC_NAMES)}")
    unknown = sorted(set(metrics) - set(METRIC_NAMES))
    if unknown:
        raise InputError(f"unknown metric(s) {', '.join(unknown)} in --metrics; known: {','.join(METRIC_NAMES)}")


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
    match: str = "names",
    strict: bool = False,
    resume: bool = False,
    fetch_weights: bool = False,
    **options: Any,
) -> tuple[list[Path], str]:
    """``pftryon eval``: match, score and write, for one protocol or ``"all"`` (one sub-folder each + a table).

    ``allow_partial`` goes to the matching (:func:`match_folders`, :func:`match_dataset`); ``options`` to
    :func:`evaluate` (``resolution`` and ``allow_unofficial_weights`` among them). Per-sample rows are journaled as
    they are scored (``out/.partial``) so that ``resume`` continues a stopped run (:mod:`bench.eval.journal`).
    ``fetch_weights`` first downloads the run's missing weights files (:func:`bench.metrics.fetch.fetch_or_raise`,
    on rank 0). Returns the files written (none on ranks > 0) and the Markdown report to print.

    ``match`` goes to :func:`match_dataset` (``"lines"``: pair the list by line order); a ``gt`` folder is matched
    under each protocol's rule (its ``gt_match``). A failed pairing check is logged as one
    warning line (stderr under the CLI) and, with ``strict``, refused before anything is written.

    Raises:
        InputError: an empty or unknown metric list, nothing to score, (``"all"``) every protocol skipped,
            ``match="lines"`` without a dataset, or ``strict`` and a failed pairing check.
        FetchError: ``fetch_weights`` and a file could not be fetched.
    """
    from bench.metrics.weights import MissingWeightsError
    from bench.protocols import list_protocols, load_protocol
    from bench.report.eval_markdown import cross_protocol_table, summary_markdown

    _check_metric_names(metrics)
    if match == "lines" and gt is not None:
        raise InputError("--match lines pairs predictions by the line order of a dataset's list: give --dataset "
                         "and --root (a --gt folder is matched by file name)")  # fmt: skip
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
            eval_set = match_folders(pred, gt, allow_partial=allow_partial, rule=protocol.gt_match)
        else:
            extra = {"pairs_file": pairs_file} if pairs_file else {}
            eval_set = match_dataset(pred, dataset, root, protocol, pred_unpaired_dir=pred_unpaired,
                                     allow_partial=allow_partial, match=match, **extra)  # fmt: skip
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
    _refuse_or_warn_pairing(results, strict)
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


def _refuse_or_warn_pairing(results: dict[str, EvalResult | str], strict: bool) -> None:
    """One warning line for a failed pairing check (the first protocol's, naming any others); ``strict`` refuses."""
    checks = {name: r.summary["inputs"]["pairing_check"] for name, r in results.items() if isinstance(r, EvalResult)}
    flagged = {name: check["verdict"] for name, check in checks.items() if check["status"] == "flagged"}
    if not flagged:
        return
    first, verdict = next(iter(flagged.items()))
    where = f" (protocol {first}" + (f"; also {', '.join(list(flagged)[1:])})" if len(flagged) > 1 else ")")
    if strict:
        raise InputError(f"--strict: {verdict}{where}")
    _logger.warning("warning: %s%s", verdict, where)


def _write_sensitivity(eval_set: EvalSet, out: str | os.PathLike[str], options: dict[str, Any]) -> list[Path]:
    """``sensitivity.md`` and ``sensitivity.csv`` of ``eval_set`` in ``out`` (see :mod:`bench.eval.sensitivity`)."""
    import pandas as pd

    from bench.report.eval_markdown import sensitivity_markdown

    rows = sensitivity([(p, r) for _, p, r in eval_set.pairs], eval_set.fake, eval_set.real,
                       weights_dir=options.get("weights_dir"), crop_panel=options.get("crop_panel", 1),
                       progress=options.get("progress", True))  # fmt: skip
    paths = [Path(out) / "sensitivity.md", Path(out) / "sensitivity.csv"]
    atomic_write(paths[0], sensitivity_markdown(rows).encode())
    atomic_write(paths[1], pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS)).to_csv(index=False).encode())
    return paths
