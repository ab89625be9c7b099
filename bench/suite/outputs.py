"""What a suite row is scored on: its outputs per pair list (:class:`Outputs`), the eval set a protocol scores
(:func:`eval_set`), and the exact-truth cell of synthetic data (:func:`truth_cell`: SSIM / PSNR against the true
try-on, flow end-point error against the true flow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.eval import EvalSet, evaluate, matching_record
from bench.protocols import load_protocol
from bench.results import BOOTSTRAP, bootstrap_ci
from bench.suite.cells import per_sample_values
from bench.suite.data import PreparedDataset

__all__ = ["TRUTH_METRICS", "TRUTH_PROTOCOL", "TRUTH_PROTOCOL_RECORD", "Outputs", "eval_set", "fake_keys", "pair_keys",
           "truth_cell"]  # fmt: skip

TRUTH_PROTOCOL = "exact-truth"
TRUTH_METRICS = ("ssim_truth", "psnr_truth", "flow_epe")
TRUTH_PROTOCOL_RECORD = {
    "name": TRUTH_PROTOCOL,
    "description": (
        "Synthetic data only: each unpaired try-on (a person in another garment) against the exact try-on the "
        "generator rendered for that person and garment (the true try-on), and each predicted garment flow against "
        "the generator's true flow. SSIM (pytorch-ssim form: 11x11 Gaussian, sigma 1.5) and PSNR at the predictions' "
        "own size, nothing resized; flow end-point error (EPE): the mean Euclidean distance, in pixels, between the "
        "predicted and the true flow vector (the garment point a pixel samples) over the true garment region, for "
        "every method that warps the garment by a dense sampling grid (appearance flows, CP-VTON's thin-plate "
        "spline); a method without one (no warp) has no EPE."
    ),
    "source": "pftryon's synthetic generator (bench.data.synthetic): the true try-on and flow are rendered with the "
    "data; bench.metrics.flow.flow_epe",
    "metrics": list(TRUTH_METRICS),
    "pair_list": "unpaired",
}
"""The exact-truth protocol as ``run.json`` lists it beside the shipped protocols (the report explains it from here)."""


@dataclass(frozen=True)
class Outputs:
    """One row's outputs on one dataset: per pair mode, the file of each listed pair by its ``<person>__<cloth>``
    key (a mode left out: no outputs of it), and for a predictions row how each folder matched its list."""

    files: dict[str, dict[str, Path]]
    matching: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def written(cls, dataset: PreparedDataset, folders: dict[str, Path]) -> Outputs:
        """What :func:`bench.predict.predict` wrote: ``<folder>/<person>__<cloth>.png`` per listed pair."""
        files = {mode: {key: root / f"{key}.png" for key in pair_keys(dataset, mode)} for mode, root in folders.items()}
        return cls(files)

    def eval_matching(self) -> dict[str, Any]:
        """The matching record as :func:`bench.eval.match_dataset` gives it: the paired list's, with the unpaired
        list's under ``unpaired`` (a row with unpaired outputs only: that list's)."""
        paired, unpaired = self.matching.get("paired"), self.matching.get("unpaired")
        if paired is None:
            return dict(unpaired or {})
        return {**paired, "unpaired": unpaired} if unpaired else dict(paired)


def pair_keys(dataset: PreparedDataset, mode: str) -> list[str]:
    """The ``<person>__<cloth>`` key of every line of a list, in order (a repeated line repeated)."""
    return [f"{e.person_id}__{e.cloth_id}" for e in dataset.loaders[mode].entries]


def eval_set(dataset: PreparedDataset, outputs: Outputs) -> EvalSet:
    """The paired list's predictions against the person images; the unpaired list's predictions for FID/KID (a mode
    without outputs: no pairs, or no FID set). A line repeated in a list is scored once (``pftryon predict`` wrote it
    once), and the matching record counts it."""
    entries = dataset.loaders["paired"].entries
    unique: dict[str, Any] = {}
    repeated = []
    for line, entry in enumerate(entries):
        name = f"{entry.person_id}__{entry.cloth_id}"
        if name in unique:
            repeated.append(f"line {line + 1}: {entry.person_id} / {entry.cloth_id}")
        unique.setdefault(name, entry)
    paired, unpaired = outputs.files.get("paired"), outputs.files.get("unpaired")
    pairs = [(name, paired[name], e.files["person"]) for name, e in unique.items()] if paired is not None else []
    fake = list(dict.fromkeys(unpaired[key] for key in pair_keys(dataset, "unpaired"))) if unpaired is not None else []
    real = list(dict.fromkeys(e.files["person"] for e in unique.values()))
    videos = None
    if pairs and "video_id" in entries[0].extra:  # VVT: frames of a video consecutive and in order (temporal metrics)
        videos = [(e.extra["video_id"], e.extra["frame_index"]) for e in unique.values()]
    pair_list = f"{dataset.spec.name} {dataset.spec.split} paired list"
    matching = outputs.eval_matching() or matching_record(pair_list, len(pairs), len(real), len(pairs), len(pairs),
                                                          [], [], False, repeated=repeated)  # fmt: skip
    matched_by = "any name pftryon eval accepts" if outputs.matching else "<person>__<cloth> names written by predict"
    description = {
        "mode": "suite", "dataset": dataset.spec.name, "root": str(dataset.root), "split": dataset.spec.split,
        "paired_list": f"{len(pairs)} pairs", "fid_fake_set": f"{len(fake)} unpaired predictions",
        "fid_real_set": f"{len(real)} test person images", "matched_by": matched_by,
    }  # fmt: skip
    return EvalSet(pairs, fake, real, description, videos, matching)


def truth_cell(dataset: PreparedDataset, unpaired: dict[str, Path], batch_size: int, device: str) -> dict[str, Any]:
    """Unpaired predictions (by key) against the exact synthetic try-on (SSIM in the pytorch-ssim form, PSNR), and
    flows where each prediction has its ``.npy`` beside it."""
    from bench.metrics.flow import flow_epe

    assert dataset.truth is not None
    names = pair_keys(dataset, "unpaired")
    pairs = [(n, unpaired[n], dataset.truth / "tryon" / f"{n}.png") for n in names]
    protocol = load_protocol("pfafn")  # pytorch-ssim at the predictions' own size, nothing resized
    description = {"mode": "synthetic ground truth", "truth": str(dataset.truth / "tryon")}
    result = evaluate(EvalSet(pairs, [], [], description), protocol, metrics=("ssim", "psnr"), batch_size=batch_size,
                      device=device, progress=False, seed=BOOTSTRAP.seed)  # fmt: skip
    cell = {f"{k}_truth": v for k, v in result.summary["metrics"].items()}
    per_sample = {f"{m}_truth": v for m, v in per_sample_values(result.rows, ("ssim", "psnr")).items()}
    flows = [unpaired[n].with_suffix(".npy") for n in names]
    if all(f.is_file() for f in flows):
        epe = [float(flow_epe(torch.from_numpy(np.load(f))[None], _true_flow(dataset.truth, n))[0])
               for f, n in zip(flows, names, strict=True)]  # fmt: skip
        mean, low, high = bootstrap_ci(epe, resamples=BOOTSTRAP.resamples, confidence=BOOTSTRAP.confidence,
                                       seed=BOOTSTRAP.seed)  # fmt: skip
        cell["flow_epe"] = {"mean": mean, "ci95": [low, high], "n": len(epe),
                            "how": {"unit": "pixels, mean over the true garment region"}}  # fmt: skip
        per_sample["flow_epe"] = dict(zip(names, epe, strict=True))
    return {**cell, "per_sample": per_sample}


def _true_flow(truth: Path, name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(truth / "flow" / f"{name}.npy").astype(np.float32)).permute(2, 0, 1)[None]


def fake_keys(dataset: PreparedDataset, outputs: Outputs) -> list[str]:
    """The sample key of each FID prediction, in the order of :func:`_eval_set`'s fake list (first pair of a file)."""
    first: dict[Path, str] = {}
    for key in pair_keys(dataset, "unpaired"):
        first.setdefault(outputs.files["unpaired"][key], key)
    return list(first.values())
