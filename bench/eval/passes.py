"""The metric pass: the weights a run needs (checked before any work), the per-pair metrics, the paired pass over
decoded batches (resumable through the journal), the FID / KID feature sets and their on-disk reference cache, the
per-file digests behind the image-set fingerprints and the thumbnails of the pairing check.

Metric states and feature sets are gathered across processes in rank order, which is the input order, and feature
sets are reordered by their global index before KID draws its subsets: the summary equals the single-process one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat
from tqdm import tqdm

from bench.data.readers import file_sha256, read_labels
from bench.data.schema import LABEL_SETS
from bench.eval.decoding import _loader, _Views
from bench.eval.journal import Journal
from bench.eval.matching import EvalSet
from bench.eval.metric_groups import _VIDEO_SETS
from bench.eval.resolution import _Plan
from bench.metrics import LPIPS, MSE, PSNR, SSIM, InceptionScore, MissingWeightsError, resolve_weights
from bench.metrics import functional as MF
from bench.metrics.embedding import FeatureSimilarity, ImageEmbedder
from bench.metrics.needs import Selection, metric_weights, missing_message
from bench.metrics.perceptual import DISTS, MSSSIM
from bench.metrics.region import REGION_METRICS, GarmentRegion, garment_mask
from bench.metrics.video import VideoMetrics
from bench.metrics.weights import check_official
from bench.protocols import EXTRA_METRICS, Protocol
from bench.runtime import atomic_write

__all__: list[str] = []


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
    unless ``allow_unofficial``, which turns it into a warning. A video Fréchet distance's absent file only drops it
    too (its backbones are large downloads few runs have). Returns ``(absent, warnings)``."""
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
    if set(absent) - set(EXTRA_METRICS) - set(_VIDEO_SETS):
        raise MissingWeightsError(missing_message(missing, weights_dir, Selection.of_protocol(protocol, metrics)))
    warnings = [check_official(name, path, allow_unofficial) for name, path in paths.items()]
    return absent, [w for w in warnings if w]


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


class _FeatureSets:
    """The FID / KID feature sets (``fake``: predictions, ``real``: references), gathered by global index.

    A member that is also a paired image is embedded from the paired pass (decoded once), by the first pair that
    holds it; :meth:`embed_rest` decodes the others. With a cache hit the reference set is not embedded at all.
    """

    column = {"fake": 1, "real": 2}  # where a member sits in a pair (key, pred, gt)

    def __init__(self, eval_set: EvalSet, extractor: torch.nn.Module, plan: _Plan, cache: _FeatureCache | None,
                 paired: bool, device: str) -> None:  # fmt: skip
        self.eval_set, self.extractor, self.cache = eval_set, extractor, cache
        self.fake_sizes = plan.fake_sizes  # more than one: predictions embedded one at a time (no stacking)
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
            size = 1 if role == "fake" and self.fake_sizes > 1 else batch_size
            loader = _loader([files[i] for i in rest], self.views[role], size, workers, indices=rest)
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


_THUMBNAIL = (16, 12)
"""(H, W) of the pairing check's thumbnails: each scored view area-averaged to 16x12 RGB, kept as 8-bit."""


def _thumbnails(images: Tensor) -> Tensor:
    """``[N, 3 * 16 * 12]`` uint8 thumbnails of ``[N, 3, H, W]`` images in [0, 1] (area average, :data:`_THUMBNAIL`)."""
    small = F.adaptive_avg_pool2d(images.float(), _THUMBNAIL)
    return small.mul(255).round().to(torch.uint8).flatten(1)


def _thumbnails_of_done(eval_set: EvalSet, plan: _Plan, done: int, thumbs: dict[str, _Collected], batch_size: int,
                        workers: int) -> None:  # fmt: skip
    """Thumbnails of the first ``done`` pairs (a resumed run's journaled rows, which the pass does not decode)."""
    for role, col, views in (("pred", 1, plan.pred), ("gt", 2, plan.gt)):
        for index, _, images, _ in _loader([eval_set.pairs[i][col] for i in range(done)], views, batch_size, workers):
            thumbs[role].update(index, _thumbnails(images))


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
                 device: str, bar: tqdm, journal: Journal | None, thumbs: dict[str, _Collected],
                 video_sets: dict[str, Metric]) -> None:  # fmt: skip
    """Decode every pair once and feed the per-pair metrics, the video metrics, the feature-set members, the
    pairing check's ``thumbs`` (by role) and the video Fréchet distances (references as their real set); with a
    journal, continue after its finished rows (decoded again for their thumbnails only) and record every batch as it
    is scored."""
    start = 0 if journal is None else _resume(journal, scorers, digests)
    if start:
        _thumbnails_of_done(eval_set, plan, start, thumbs, batch_size, workers)
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
        if video is not None or video_sets:
            frames = [eval_set.videos[i] for i in index.tolist()]  # type: ignore[index]
            ids, positions = [v for v, _ in frames], [f for _, f in frames]
        if video is not None:
            video.update(pred, gt, video_ids=ids, frame_indices=positions)
        for metric in video_sets.values():
            metric.update(gt, real=True, video_ids=ids, frame_indices=positions)
            metric.update(pred, real=False, video_ids=ids, frame_indices=positions)
        digests["pred"].update(index, _digest_tensor(pred_hash))
        digests["gt"].update(index, _digest_tensor(gt_hash))
        thumbs["pred"].update(index, _thumbnails(pred))
        thumbs["gt"].update(index, _thumbnails(gt))
        for feature_set in sets:
            feature_set.embed_members(index.tolist(), {"fake": pred, "real": gt}, {"fake": pred_hash, "real": gt_hash})
        if journal is not None:
            values = {name: metric.values[-1].tolist() for name, metric in scorers.items()}
            journal.append(index.tolist(), pred_hash, gt_hash, values)
        bar.update(len(index))
