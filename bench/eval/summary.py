"""What a run reports: per-metric summaries (mean, bootstrap CI, std, n), FID / KID / precision / recall from the
two feature sets, per-video rows, the pairing check (is the given pairing clearly better than random re-pairings?),
and the warnings a reader of the numbers must see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import permutation_test
from torch import Tensor

from bench.eval.passes import _THUMBNAIL
from bench.metrics import InceptionStats
from bench.metrics import functional as MF
from bench.metrics.specs import metric_spec
from bench.protocols import EXTRA_METRICS, Protocol
from bench.records import EvalSummary
from bench.results import bootstrap_ci

__all__ = ["PAIRING_ALPHA", "PAIRING_RESAMPLES", "EvalResult"]

PAIRING_ALPHA = 0.01
"""The pairing check flags a run whose permutation p-value is at least this (or whose given pairing scores no
better than the median random re-pairing)."""
PAIRING_RESAMPLES = 999
"""Random re-pairings the given pairing is compared with (the smallest possible p-value is 1 / 1000)."""
_PAIRING_MIN = 8  # fewer pairs: too few re-pairings for a test at PAIRING_ALPHA; the check is skipped, saying so
_PAIRING_MAX = 2000  # more pairs: a random subset of this many (fixed seed) is tested, bounding time and memory


@dataclass
class EvalResult:
    """Per-sample rows (one per pair), per-video rows (videos only), the summary (values, CIs, provenance) and the
    set-level features (for paired comparisons of FID / KID)."""

    rows: list[dict[str, Any]]
    summary: EvalSummary
    video_rows: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    """Per extractor (``inception``, ``dinov2``) the ``{"real", "fake"}`` feature sets, in the eval set's order."""


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
    if "fid_inf" in metrics:
        from bench.metrics.fid_infinity import fid_infinity

        out["fid_inf"] = {**fid_infinity(real, fake, seed=seed), "how": how}
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
    added = [metric_spec(m).label for m in metrics if m in protocol.additions or m in EXTRA_METRICS]
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
        ("matched_by_line_order", "{which}prediction(s) were matched by line order of {list} (--match lines): a "
         "reordered or edited list pairs them with other references (the pairing check tests the pairing)"),
        ("unpaired_lines_in_paired_list", "line(s) of the paired list {list} pair a person with another id's "
         "garment: scored against the person image as if paired"),
    ):  # fmt: skip
        counted = entry.get(field_name)
        if counted and counted["count"]:
            message = text.format(list=entry["pair_list"], which=which)
            out.append(f"{counted['count']} {message} (first: {', '.join(counted['first'])})")
    return out


def _pairing_check(pred: Tensor | None, gt: Tensor | None, seed: int) -> dict[str, Any]:
    """Is the given pairing clearly better than random re-pairings of the same files? (``inputs.pairing_check``)

    A permutation test over pairings on a cheap per-pair score, the MSE of the two thumbnails of each pair
    (``pred``, ``gt``: ``[N, D]`` uint8 rows from :func:`bench.eval.passes._thumbnails`, in pair order): the mean
    score of the given pairing against :data:`PAIRING_RESAMPLES` random re-pairings (uniform random permutations
    of the references, ``seed``), with ``scipy.stats.permutation_test`` (``permutation_type="pairings"``), so
    ``p = (1 + re-pairings scoring at most the given one) / (resamples + 1)``. ``status`` is ``flagged`` when
    ``p >= PAIRING_ALPHA`` or the given score is not below the median re-pairing, ``passed`` otherwise, ``skipped``
    (with the reason) without per-pair thumbnails or with fewer than 8 pairs; ``verdict`` says it in one line.
    """
    height, width = _THUMBNAIL
    out: dict[str, Any] = {
        "statistic": f"mean over pairs of the MSE between {height}x{width} RGB thumbnails (area averages of the "
        "scored views, values in [0, 1]); lower is better",
        "test": "permutation test over pairings (scipy.stats.permutation_test, permutation_type 'pairings', "
        f"alternative 'less'): the given pairing against {PAIRING_RESAMPLES} random re-pairings of the same files, "
        f"seed {seed}; p = (1 + re-pairings scoring <= the given one) / ({PAIRING_RESAMPLES} + 1); flagged when "
        f"p >= {PAIRING_ALPHA} or the given score is not below the median re-pairing",
        "resamples": PAIRING_RESAMPLES, "alpha": PAIRING_ALPHA, "seed": seed,
    }  # fmt: skip
    if pred is None or gt is None:
        reason = "no per-pair metric was computed (FID/KID compare two sets, not pairs)"
        return {"status": "skipped", "verdict": f"pairing check skipped: {reason}", "reason": reason, **out}
    n = len(pred)
    if n < _PAIRING_MIN:
        reason = f"{n} pair(s), too few for a permutation test (it needs at least {_PAIRING_MIN})"
        return {"status": "skipped", "verdict": f"pairing check skipped: {reason}", "reason": reason, "n_pairs": n,
                **out}  # fmt: skip
    rng = np.random.default_rng(seed)
    tested = np.sort(rng.choice(n, _PAIRING_MAX, replace=False)) if n > _PAIRING_MAX else np.arange(n)
    preds, refs = (torch.as_tensor(t[tested]).double().div(255) for t in (pred, gt))
    mse = (torch.cdist(preds, refs).square() / preds.shape[1]).numpy()  # [i, j]: prediction i with reference j
    rows = np.arange(len(tested))
    result = permutation_test((rows,), lambda refs_of, axis: mse[rows, refs_of].mean(axis=axis), vectorized=True,
                              permutation_type="pairings", n_resamples=PAIRING_RESAMPLES, alternative="less",
                              random_state=rng)  # fmt: skip
    given, null = float(result.statistic), np.asarray(result.null_distribution)
    median, p_value = float(np.median(null)), float(result.pvalue)
    facts = f"mean thumbnail MSE {given:.4g} vs median {median:.4g} over {PAIRING_RESAMPLES} random re-pairings, " \
        f"p = {p_value:.3g}" + (f", {len(tested)} of {n} pairs tested" if len(tested) < n else "")  # fmt: skip
    if p_value < PAIRING_ALPHA and given < median:
        status, verdict = "passed", f"pairing check passed: the given pairing beats random re-pairings ({facts})"
    else:
        how = "no better than the median of" if given >= median else "not clearly better than"
        status = "flagged"
        verdict = (
            f"pairing check failed: the given pairing of predictions and references scores {how} random "
            f"re-pairings of the same files ({facts}, alpha {PAIRING_ALPHA}); check the matching (file names, "
            "--match lines, the pair list) and that the predictions were made for these references"
        )
    return {"status": status, "verdict": verdict, "n_pairs": n, "n_tested": len(tested), "given": given,
            "repairings": {"median": median, "min": float(null.min()), "max": float(null.max())},
            "p_value": p_value, **out}  # fmt: skip
