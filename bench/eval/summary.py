"""What a run reports: per-metric summaries (mean, bootstrap CI, std, n), FID / KID / precision / recall from the
two feature sets, per-video rows, and the warnings a reader of the numbers must see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bench.metrics import InceptionStats
from bench.metrics import functional as MF
from bench.metrics.specs import metric_spec
from bench.protocols import EXTRA_METRICS, Protocol
from bench.records import EvalSummary
from bench.results import bootstrap_ci

__all__ = ["EvalResult"]


@dataclass
class EvalResult:
    """Per-sample rows (one per pair), per-video rows (videos only) and the summary (values, CIs, provenance)."""

    rows: list[dict[str, Any]]
    summary: EvalSummary
    video_rows: list[dict[str, Any]] = field(default_factory=list)


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
