"""Score a folder of try-on images under a named protocol: per-sample values, summaries with CIs, provenance.

The runner behind ``pftryon eval``. It matches predictions to references (a dataset's protocol lists, or a folder of
references by file stem), decodes every file once (bytes hashed for the image-set fingerprints on the way), derives
the views a protocol needs (evaluation resolution with the protocol's resize filter; LPIPS' own resize), feeds every
metric from them in batches, and returns per-sample rows plus a summary that carries the resolved protocol, how each
metric was computed, the image-set fingerprints and the run metadata.

Under ``torchrun`` every process takes a contiguous block of each list (no padding), the metric states are
gathered in rank order, which is the input order, and feature sets are reordered by their global index before KID
draws its subsets: the summary equals the single-process one.

One job per module, in the order a run uses them:

- :mod:`~bench.eval.matching`: which prediction is scored against which reference, and the counts.
- :mod:`~bench.eval.metric_groups`: the metrics by what feeds them.
- :mod:`~bench.eval.resolution`: the protocols' size and resize rules, decided from the file headers.
- :mod:`~bench.eval.decoding`: every file decoded once into the views the metrics see.
- :mod:`~bench.eval.passes`: the weights check and the metric pass (per-pair metrics, feature sets, digests).
- :mod:`~bench.eval.journal`: the per-sample rows on disk, so a stopped run resumes (``--resume``).
- :mod:`~bench.eval.summary`: per-metric summaries with CIs, FID / KID, per-video rows, warnings.
- :mod:`~bench.eval.runner`: :func:`evaluate` and :func:`run_eval` (``pftryon eval``).
- :mod:`~bench.eval.sensitivity`: the ``--protocol all`` table of how much each protocol choice moves the numbers.

:class:`TensorScorer` runs the same metric pass over images already in memory (predictions that never were files,
such as the ablation's try-ons against the exact synthetic truth): the same metric objects, weights checks and
summaries, at the tensors' own size, nothing decoded, resized or rounded to uint8 on the way.

The Markdown pages (``summary.md``, ``protocols.md``, ``sensitivity.md``) are written by
:mod:`bench.report.eval_markdown`; the distributed helpers live in :mod:`bench.runtime`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from bench.errors import InputError
from bench.eval.journal import RESUMABLE, Journal
from bench.eval.matching import IMAGE_SUFFIXES, EvalSet, match_dataset, match_folders, matching_record
from bench.eval.metric_groups import _IMAGES_ONLY, _INCEPTION_SET
from bench.eval.passes import _check_weights, _scorers
from bench.eval.runner import evaluate, run_eval, write_results
from bench.eval.sensitivity import SENSITIVITY_COLUMNS, sensitivity
from bench.eval.summary import EvalResult, _feature_metrics, _summary_of
from bench.metrics import functional as MF
from bench.metrics.fid_backends import build_feature_extractor
from bench.protocols import Protocol

__all__ = [
    "IMAGE_SUFFIXES", "RESUMABLE", "SENSITIVITY_COLUMNS", "EvalResult", "EvalSet", "Journal", "TensorScorer",
    "TensorScores", "evaluate", "match_dataset", "match_folders", "matching_record", "run_eval", "sensitivity",
    "write_results",
]  # fmt: skip


@dataclass
class TensorScores:
    """What :meth:`TensorScorer.score` measured.

    Attributes:
        values: per-sample values ``[N]`` (float64, input order) of each per-pair metric.
        metrics: each metric's summary entry as in eval's ``summary.json`` (per-pair metrics: mean, 95% bootstrap
            CI, std, n; FID / KID / precision / recall from the two feature sets; ``absent`` with the reason for an
            extra metric whose weights are absent), each with ``how`` it was computed.
        warnings: what a reader of the numbers must know (metric weights that are not the official files).
    """

    values: dict[str, Tensor]
    metrics: dict[str, dict[str, Any]]
    warnings: list[str]


class TensorScorer:
    """``pftryon eval``'s metric pass over images in memory: one reference set, any number of prediction sets.

    The per-pair metrics are eval's metric objects under ``protocol`` (its SSIM variant, LPIPS trunk and backend),
    built once; FID / KID / precision / recall use the protocol's FID features, the references' embedded once; the
    summaries are eval's. The images are scored as given, at their own size: no decoding, no resizing, no rounding to
    uint8 (except inside the FID extractor, which takes uint8 as a saved PNG would hold it). One process.

    Args:
        targets: the references, float ``[N, 3, H, W]`` in [0, 1].
        protocol: how each metric is computed (the protocol's size and resize rules play no part).
        metrics: per-pair metrics fed by the two images alone (SSIM, PSNR, MSE, LPIPS, MS-SSIM, DISTS) and the FID
            feature set's (FID, KID, precision, recall).
        weights_dir, allow_unofficial_weights: as for :func:`evaluate`.
        batch_size, device: how the pass runs (the float64 metrics do not depend on them; the float32 networks,
            LPIPS and the FID features, can move in the 8th digit).
        fid_resamples: bootstrap resamples for FID's std (0: none).
        seed: bootstrap seed.

    Raises:
        InputError: a metric that needs other inputs (parses, videos, embedders), a protocol that resizes LPIPS'
            inputs, or set metrics with fewer than two references.
        MissingWeightsError, UnofficialWeightsError: as for :func:`evaluate`, before any image is scored.
    """

    def __init__(self, targets: Tensor, protocol: Protocol, *, metrics: Sequence[str],
                 weights_dir: str | os.PathLike[str] | None = None, batch_size: int = 16, device: str = "cpu",
                 fid_resamples: int = 10, seed: int = 0, allow_unofficial_weights: bool = False) -> None:  # fmt: skip
        other = [m for m in metrics if m not in (*_IMAGES_ONLY, *_INCEPTION_SET)]
        if other:
            raise InputError(f"{other} need more than two sets of images in memory (parses, videos or embedders); "
                             f"in memory: {', '.join((*_IMAGES_ONLY, *_INCEPTION_SET))}")  # fmt: skip
        if "lpips" in metrics and protocol.lpips.resize is not None:
            raise InputError(f"protocol {protocol.name} resizes LPIPS' inputs; in memory, images are scored as given")
        if set(_INCEPTION_SET) & set(metrics) and len(targets) < 2:
            raise InputError(f"FID/KID need at least 2 images per set (have {len(targets)} references)")
        self.absent, self.warnings = _check_weights(metrics, protocol, weights_dir, allow_unofficial_weights)
        self.metrics = tuple(m for m in metrics if m not in self.absent)
        self.targets, self.protocol, self.batch_size, self.device = targets, protocol, batch_size, device
        self.fid_resamples, self.seed = fid_resamples, seed
        paired = [m for m in self.metrics if m in _IMAGES_ONLY]
        self.scorers = _scorers(paired, protocol, weights_dir, {}, device)
        self.extractor = None
        if set(_INCEPTION_SET) & set(self.metrics):
            self.extractor = build_feature_extractor(protocol.fid.backend, protocol.fid.mode, weights_dir).to(device)
        self._reference: Tensor | None = None

    def _batches(self, images: Tensor) -> list[Tensor]:
        return [images[i : i + self.batch_size].to(self.device) for i in range(0, len(images), self.batch_size)]

    def _features(self, images: Tensor) -> Tensor:
        assert self.extractor is not None
        return torch.cat([self.extractor(MF.to_uint8(batch)).double().cpu() for batch in self._batches(images)])

    @torch.no_grad()
    def score(self, preds: Tensor) -> TensorScores:
        """Score predictions ``[N, 3, H, W]`` (float in [0, 1], in the references' order) against the references."""
        if preds.shape != self.targets.shape:
            raise InputError(f"predictions {tuple(preds.shape)} and references {tuple(self.targets.shape)} differ")
        for metric in self.scorers.values():
            metric.reset()
        for pred, target in zip(self._batches(preds), self._batches(self.targets), strict=True):
            for metric in self.scorers.values():
                metric.update(pred, target)
        values = {name: metric.compute().cpu().reshape(-1) for name, metric in self.scorers.items()}
        summaries = {name: {**_summary_of(values[name], self.seed), "how": metric.describe()}
                     for name, metric in self.scorers.items()}  # fmt: skip
        if self.extractor is not None:
            if self._reference is None:
                self._reference = self._features(self.targets)
            summaries |= _feature_metrics(self._reference, self._features(preds), self.metrics, self.protocol,
                                          self.extractor, self.fid_resamples, self.seed)  # fmt: skip
        summaries |= {name: {"absent": why} for name, why in self.absent.items()}
        return TensorScores(values, summaries, list(self.warnings))
