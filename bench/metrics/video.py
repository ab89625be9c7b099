"""Video try-on metrics (VVT): per-frame SSIM / PSNR / LPIPS grouped per video, temporal consistency, a video FID.

Notation: a video has predicted frames ``p_0 .. p_{T-1}`` and ground-truth frames ``g_0 .. g_{T-1}``, float
``[3, H, W]`` in [0, 1]; ``dp_t = p_t - p_{t-1}`` and ``dg_t = g_t - g_{t-1}`` for ``t = 1 .. T-1``.

- **Temporal change error** (TCE, :func:`temporal_change_error`): per transition,
  ``mean_{c,y,x} |dp_t - dg_t|``, the mean absolute difference between the predicted and the true frame-to-frame
  change. 0 when the prediction changes exactly as the ground truth (a constant offset from it included); a static
  prediction scores the mean absolute change of the ground truth. Range [0, 2]. Needs no weights and no optical flow.
- **Colour flicker error** (:func:`colour_flicker_error`): per transition, ``mean_c |mean_{y,x}(dp_t - dg_t)|``, the
  error in the change of each channel's mean, i.e. global brightness / colour flicker that motion (which moves pixels
  but roughly keeps the frame mean) does not explain. Warping-free; never exceeds the TCE of the same transition.
  Range [0, 1].
- Per video, each is the mean over its transitions (NaN for a one-frame video); overall, the mean over all
  transitions of all videos. Per-frame metrics are the existing :mod:`bench.metrics.functional` ones (same variants),
  averaged per video and over all frames.

:class:`VideoMetrics` streams frames in batches with their video ids and frame indices (the VVT loader's
``video_id`` / ``frame_index``). :class:`VideoFID` is a Fréchet distance between clip features of torchvision's
Kinetics-400 R3D-18: it is **not** the VFID of published VVT tables, which use I3D (or 3D-ResNeXt-101) features;
that VFID, and FVD, as CatV2TON computes them are :mod:`bench.metrics.video_fid`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from bench.metrics import functional as MF
from bench.metrics.image import LPIPS, PSNR, SSIM, InceptionStats, library_version
from bench.metrics.weights import build_lpips, reading_weights, resolve_weights, weights_info

__all__ = [
    "FRAME_METRICS",
    "TEMPORAL_METRICS",
    "R3D18VideoFeatures",
    "VideoFID",
    "VideoMetrics",
    "colour_flicker_error",
    "temporal_change_error",
    "video_code",
]

FRAME_METRICS = ("ssim", "psnr", "lpips")
TEMPORAL_METRICS = ("tce", "flicker")


def _transition_errors(prev_p: Tensor, prev_g: Tensor, cur_p: Tensor, cur_g: Tensor) -> dict[str, Tensor]:
    """TCE and colour flicker error of transitions ``prev -> cur`` (each ``[K, 3, H, W]``), float64 ``[K]`` each."""
    diff = (cur_p.double() - prev_p.double()) - (cur_g.double() - prev_g.double())
    return {"tce": diff.abs().mean(dim=(1, 2, 3)), "flicker": diff.mean(dim=(2, 3)).abs().mean(dim=1)}


def _check_video(preds: Tensor, target: Tensor) -> None:
    MF._check_images(preds, target)
    if len(preds) < 2:
        raise ValueError(f"A video needs at least 2 frames for temporal metrics, got {len(preds)}")


def temporal_change_error(preds: Tensor, target: Tensor) -> Tensor:
    """Temporal change error of one video: ``mean_{c,y,x} |(p_t - p_{t-1}) - (g_t - g_{t-1})|`` for t = 1 .. T-1.

    Args:
        preds: Predicted frames ``[T, 3, H, W]`` in [0, 1], in temporal order (T >= 2).
        target: Ground-truth frames of the same shape.

    Returns:
        Per-transition errors ``[T - 1]`` (float64); their mean is the video's TCE.
    """
    _check_video(preds, target)
    return _transition_errors(preds[:-1], target[:-1], preds[1:], target[1:])["tce"]


def colour_flicker_error(preds: Tensor, target: Tensor) -> Tensor:
    """Colour flicker error of one video: ``mean_c |mean_{y,x}((p_t - p_{t-1}) - (g_t - g_{t-1}))|``, t = 1 .. T-1.

    Args:
        preds: Predicted frames ``[T, 3, H, W]`` in [0, 1], in temporal order (T >= 2).
        target: Ground-truth frames of the same shape.

    Returns:
        Per-transition errors ``[T - 1]`` (float64).
    """
    _check_video(preds, target)
    return _transition_errors(preds[:-1], target[:-1], preds[1:], target[1:])["flicker"]


def video_code(video_id: str) -> int:
    """Stable 63-bit code of a video id (blake2b), the same in every process: how tensor states name videos."""
    return int.from_bytes(hashlib.blake2b(video_id.encode(), digest_size=8).digest(), "big") >> 1


def _group_means(values: Tensor, slots: Tensor, n_videos: int) -> Tensor:
    """Mean of ``values`` per video slot ``0 .. n_videos - 1`` (NaN for a video with no value)."""
    sums = torch.zeros(n_videos, dtype=torch.float64, device=values.device).index_add_(0, slots, values.double())
    counts = torch.bincount(slots, minlength=n_videos).to(torch.float64)
    return sums / counts


def _cat(state: list[Tensor] | Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A list state concatenated (an empty 1-D tensor for an empty list)."""
    if isinstance(state, list) and not state:
        return torch.zeros(0, dtype=dtype, device=device)
    return dim_zero_cat(state)


class VideoMetrics(Metric):
    """Per-frame SSIM / PSNR / LPIPS and the temporal errors of predicted videos, grouped per video.

    Frames stream in batches of any size with ``video_ids`` and ``frame_indices``; each video's frames must arrive in
    increasing, consecutive ``frame_index`` order and contiguously (the order of the VVT loader): a transition pairs a
    frame with the previous one of the same video, carried across batches. Anything else (a gap, a repeat, a video
    coming back after others) is an error rather than a silently missing transition. In DDP, shard by video.

    ``compute()`` returns::

        {"video_ids": [V ids, in order of first appearance (per process, then by rank after sync)],
         "per_video": {"frames": [V] int64, "transitions": [V] int64, <metric>: [V] float64 means, ...},
         "overall": {<metric>: float64 mean over all frames (frame metrics) or all transitions (temporal)}}

    with metrics the chosen ``frame_metrics`` plus ``"tce"`` and ``"flicker"`` (see the module docstring). A video with
    one frame has NaN temporal means. A video id seen only by another process is shown as its :func:`video_code` in hex.
    As everywhere in torchmetrics, one-element tensors come back 0-d (a single video).

    Args:
        frame_metrics: Per-frame metrics among ``"ssim"``, ``"psnr"``, ``"lpips"``.
        ssim_variant: SSIM variant (see :data:`bench.metrics.functional.SSIM_VARIANTS`).
        psnr_cap: PSNR of identical frames (dB).
        lpips_net: LPIPS trunk.
        lpips_backend: LPIPS implementation.
        lpips_model: A prebuilt LPIPS model (from :func:`bench.metrics.weights.build_lpips`).
        weights_dir: Folder searched for the LPIPS trunk weights before the torch hub cache.
        **kwargs: ``torchmetrics.Metric`` options.

    Example:
        >>> import torch
        >>> gt = torch.rand(5, 3, 16, 16)
        >>> metric = VideoMetrics(frame_metrics=("psnr",))
        >>> metric.update(gt[:2], gt[:2], video_ids=["b", "b"], frame_indices=[0, 1])
        >>> metric.update(gt[2:], gt[2:], video_ids=["b", "a", "a"], frame_indices=[2, 0, 1])
        >>> result = metric.compute()
        >>> result["video_ids"], result["per_video"]["transitions"], result["per_video"]["tce"]
        (['b', 'a'], tensor([2, 1]), tensor([0., 0.], dtype=torch.float64))
    """

    is_differentiable: ClassVar[bool] = False
    higher_is_better: ClassVar[bool | None] = None  # per metric: see describe()
    full_state_update: ClassVar[bool] = False

    def __init__(
        self,
        frame_metrics: Sequence[str] = ("ssim", "psnr"),
        ssim_variant: str = "pytorch_ssim",
        psnr_cap: float = 100.0,
        lpips_net: Literal["alex", "vgg", "squeeze"] = "alex",
        lpips_backend: Literal["lpips", "torchmetrics"] = "lpips",
        lpips_model: nn.Module | None = None,
        weights_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(frame_metrics) - set(FRAME_METRICS))
        if unknown:
            raise ValueError(f"Unknown frame metrics {unknown}; expected a subset of {FRAME_METRICS}")
        super().__init__(**kwargs)
        self.frame_metrics = tuple(m for m in FRAME_METRICS if m in frame_metrics)
        scorers: dict[str, nn.Module] = {}
        if "ssim" in self.frame_metrics:
            scorers["ssim"] = SSIM(variant=ssim_variant)
        if "psnr" in self.frame_metrics:
            scorers["psnr"] = PSNR(cap=psnr_cap)
        if "lpips" in self.frame_metrics:
            model = lpips_model if lpips_model is not None else build_lpips(lpips_net, lpips_backend, weights_dir)
            scorers["lpips"] = LPIPS(net=lpips_net, backend=lpips_backend, model=model)
        self.scorers = nn.ModuleDict(scorers)
        self.add_state("frame_video", default=[], dist_reduce_fx="cat")
        self.add_state("frame_index", default=[], dist_reduce_fx="cat")
        self.add_state("pair_video", default=[], dist_reduce_fx="cat")
        for name in self.frame_metrics:
            self.add_state(f"frame_{name}", default=[], dist_reduce_fx="cat")
        for name in TEMPORAL_METRICS:
            self.add_state(f"pair_{name}", default=[], dist_reduce_fx="cat")
        self._clear_stream()

    def _clear_stream(self) -> None:
        """Forget the carried last frames, the videos seen and their names (process-local, not metric states)."""
        self._carry: dict[int, tuple[int, Tensor, Tensor]] = {}
        self._seen: set[int] = set()
        self._names: dict[int, str] = {}

    def update(
        self, preds: Tensor, target: Tensor, video_ids: Sequence[str], frame_indices: Sequence[int] | Tensor
    ) -> None:
        """Add a batch of frames.

        Args:
            preds: Predicted frames, float ``[N, 3, H, W]`` in [0, 1].
            target: Ground-truth frames of the same shape.
            video_ids: The video of each frame (N strings).
            frame_indices: Each frame's 0-based position in its video (N integers).
        """
        MF._check_images(preds, target)
        indices = torch.as_tensor(frame_indices, dtype=torch.int64).reshape(-1).tolist()
        ids = list(video_ids)
        if not len(ids) == len(indices) == len(preds):
            raise ValueError(f"Expected {len(preds)} video ids and frame indices, got {len(ids)} and {len(indices)}")
        codes = [video_code(v) for v in ids]
        carry, seen = dict(self._carry), set(self._seen)
        prev_p, prev_g, rows = [], [], []
        for row, (video, code, t) in enumerate(zip(ids, codes, indices, strict=True)):
            if code in carry:
                last, p, g = carry[code]
                if t != last + 1:
                    raise ValueError(
                        f"Video {video!r}: frame {t} follows frame {last}; temporal metrics need every frame of a "
                        "video in increasing frame_index order"
                    )
                prev_p.append(p)
                prev_g.append(g)
                rows.append(row)
            elif code in seen:
                raise ValueError(
                    f"Video {video!r} comes back after other videos: feed each video's frames contiguously (in DDP, "
                    "shard by video), or call reset() before another pass"
                )
            carry[code] = (t, preds[row], target[row])
            seen.add(code)

        frame_values = {name: scorer._score(preds, target) for name, scorer in self.scorers.items()}
        if rows:
            pair_values = _transition_errors(torch.stack(prev_p), torch.stack(prev_g), preds[rows], target[rows])
        else:
            pair_values = {name: torch.zeros(0, dtype=torch.float64) for name in TEMPORAL_METRICS}

        def as_state(values: Sequence[int] | Tensor, dtype: torch.dtype) -> Tensor:
            return torch.as_tensor(values, dtype=dtype).to(self.device)

        self.frame_video.append(as_state(codes, torch.int64))
        self.frame_index.append(as_state(indices, torch.int64))
        self.pair_video.append(as_state([codes[row] for row in rows], torch.int64))
        for name, values in frame_values.items():
            getattr(self, f"frame_{name}").append(as_state(values.detach(), torch.float64))
        for name, values in pair_values.items():
            getattr(self, f"pair_{name}").append(as_state(values, torch.float64))
        batch_codes = set(codes)
        self._carry = {c: (t, p.clone(), g.clone()) for c, (t, p, g) in carry.items() if c in batch_codes}
        self._seen = seen
        self._names.update(zip(codes, ids, strict=True))

    def compute(self) -> dict[str, Any]:
        """Per-video and overall values (after DDP sync); see the class docstring."""
        if isinstance(self.frame_video, list) and not self.frame_video:
            raise ValueError("VideoMetrics.compute needs frames: call update() first")
        frame_codes = _cat(self.frame_video, torch.int64, self.device)
        videos, inverse = torch.unique(frame_codes, return_inverse=True)
        n_frames, n_videos = len(frame_codes), len(videos)
        positions = torch.arange(n_frames, device=frame_codes.device)
        first = torch.full((n_videos,), n_frames, device=frame_codes.device)
        first = first.scatter_reduce(0, inverse, positions, reduce="amin")
        order = torch.argsort(first)  # videos in order of first appearance
        slot_of = torch.empty_like(order)
        slot_of[order] = torch.arange(n_videos, device=order.device)
        frame_slots = slot_of[inverse]
        pair_slots = slot_of[torch.searchsorted(videos, _cat(self.pair_video, torch.int64, self.device))]

        per_video: dict[str, Tensor] = {
            "frames": torch.bincount(frame_slots, minlength=n_videos),
            "transitions": torch.bincount(pair_slots, minlength=n_videos),
        }
        overall: dict[str, Tensor] = {}
        groups = [(name, f"frame_{name}", frame_slots) for name in self.frame_metrics]
        groups += [(name, f"pair_{name}", pair_slots) for name in TEMPORAL_METRICS]
        for name, state, slots in groups:
            values = _cat(getattr(self, state), torch.float64, self.device)
            per_video[name] = _group_means(values, slots, n_videos)
            overall[name] = values.mean() if len(values) else torch.tensor(float("nan"), dtype=torch.float64)
        ids = [self._names.get(code, f"{code:016x}") for code in videos[order].tolist()]
        return {"video_ids": ids, "per_video": per_video, "overall": overall}

    def reset(self) -> None:
        """Clear the states and the stream (carried frames, videos seen)."""
        super().reset()
        self._clear_stream()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: a batch alone has no defined temporal value (its transitions span batches)."""
        raise TypeError("VideoMetrics has no batch value: call update() for each batch, then compute()")

    def describe(self) -> dict[str, Any]:
        """How each value is computed, for the reports."""
        return {
            "metric": "video",
            "frame_metrics": {name: scorer.describe() for name, scorer in self.scorers.items()},
            "temporal": {
                "tce": {
                    "name": "temporal change error",
                    "formula": "mean_{c,y,x} |(p_t - p_{t-1}) - (g_t - g_{t-1})| per transition, frames in [0, 1]",
                    "range": [0.0, 2.0],
                    "higher_is_better": False,
                },
                "flicker": {
                    "name": "colour flicker error",
                    "formula": "mean_c |mean_{y,x}((p_t - p_{t-1}) - (g_t - g_{t-1}))| per transition",
                    "range": [0.0, 1.0],
                    "higher_is_better": False,
                },
                "transitions": "consecutive frame_index values (t - 1, t) of one video; no warping, no optical flow",
            },
            "grouping": "per video: mean over its frames (frame metrics) or transitions (temporal); overall: mean "
            "over all frames or all transitions; NaN temporal values for one-frame videos",
            "dtype": "float64",
            "libraries": {"torch": library_version("torch"), "torchmetrics": library_version("torchmetrics")},
        }


class R3D18VideoFeatures(nn.Module):
    """Clip features of torchvision's R3D-18 (Kinetics-400): a uint8 video ``[T, 3, H, W]`` -> ``[T // clip_len, 512]``.

    The video is cut into non-overlapping clips of ``clip_len`` consecutive frames (the last ``T mod clip_len`` frames
    are dropped), preprocessed with torchvision's ``KINETICS400_V1`` preset (bilinear resize to 128x171 without
    antialiasing, so the aspect ratio is not kept; centre crop 112x112; Kinetics mean / std) and embedded with the
    classifier removed (512-d global average pool). Locked in eval mode.

    Args:
        weights_dir: Folder searched before the torch hub cache for ``r3d_18-b3b3357e.pth``.
        clip_len: Frames per clip (16, the length the weights were evaluated with, by default).

    Raises:
        MissingWeightsError: If the weights file is not found (never downloaded).
    """

    def __init__(self, weights_dir: str | Path | None = None, clip_len: int = 16) -> None:
        if clip_len < 1:
            raise ValueError(f"clip_len must be >= 1, got {clip_len}")
        super().__init__()
        from torchvision.models.video import R3D_18_Weights, r3d_18

        path = resolve_weights("r3d_18", weights_dir)
        model = r3d_18(weights=None)
        with reading_weights(path):
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.fc = nn.Identity()
        self.model = model
        self.preprocess = R3D_18_Weights.KINETICS400_V1.transforms()
        self.clip_len = clip_len
        self.weights_path = str(path)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> R3D18VideoFeatures:
        """Stay in eval mode whatever is asked."""
        return super().train(False)

    def forward(self, video: Tensor) -> Tensor:
        """Features ``[K, 512]`` (float32) of the ``K = T // clip_len`` clips of a uint8 video ``[T, 3, H, W]``."""
        if video.dtype != torch.uint8 or video.ndim != 4 or video.shape[1] != 3:
            raise ValueError(f"Expected a uint8 video [T, 3, H, W], got {video.dtype} {tuple(video.shape)}")
        n_clips = len(video) // self.clip_len
        if n_clips == 0:
            return torch.zeros(0, 512, device=video.device)
        clips = video[: n_clips * self.clip_len].reshape(n_clips, self.clip_len, *video.shape[1:])
        with torch.no_grad():
            return self.model(self.preprocess(clips))

    def describe(self) -> dict[str, Any]:
        """How the clip features are computed; states that they are not comparable with published VFID."""
        return {
            "backbone": "torchvision r3d_18 (3D ResNet-18), KINETICS400_V1 weights",
            "comparable_with": "no published number: not the VFID (I3D) nor the VFID (3D-ResNeXt-101) of FW-GAN / "
            "ClothFormer tables",
            "layer": "512 (global average pool, fc removed)",
            "input": f"one video per update, uint8 [T, 3, H, W] (float [0, 1] quantised as floor(255x + 0.5)); "
            f"non-overlapping clips of {self.clip_len} consecutive frames, the last T mod {self.clip_len} dropped",
            "resize": "torchvision KINETICS400_V1 preset: bilinear to 128x171 (antialias=False, aspect not kept), "
            "centre crop 112x112, Kinetics mean/std",
            "clip_len": self.clip_len,
            "weights": weights_info("r3d_18", self.weights_path),
            "libraries": {"torchvision": library_version("torchvision")},
        }


class VideoFID(InceptionStats):
    """Fréchet distance between R3D-18 clip features of real and generated videos (optionally KID on them too).

    ``update(video, real=True/False)`` takes **one video** per call, float ``[T, 3, H, W]`` in [0, 1] or uint8, and adds
    its ``T // clip_len`` clip features to that set; ``update(features=..., real=...)`` adds cached features.
    ``compute()`` is :meth:`InceptionStats.compute` (needs at least 2 clips per set). Not comparable with the I3D-based
    VFID of published VVT tables (see :class:`R3D18VideoFeatures`).

    Args:
        weights_dir: Folder searched before the torch hub cache for ``r3d_18-b3b3357e.pth``.
        clip_len: Frames per clip.
        extractor: A prebuilt video extractor (uint8 ``[T, 3, H, W]`` -> ``[K, D]``) to use instead.
        kid: Also compute KID on the clip features (off by default: few clips).
        **kwargs: :class:`InceptionStats` options (``fid_method``, ``reset_real_features``, ...).
    """

    def __init__(
        self,
        weights_dir: str | Path | None = None,
        clip_len: int = 16,
        extractor: nn.Module | None = None,
        kid: bool = False,
        **kwargs: Any,
    ) -> None:
        if extractor is None:
            extractor = R3D18VideoFeatures(weights_dir, clip_len)
        super().__init__(extractor=extractor, kid=kid, **kwargs)

    def describe(self) -> dict[str, Any]:
        """:meth:`InceptionStats.describe` with the video extractor's description, named ``vfid_r3d18``."""
        return {**super().describe(), "metric": "vfid_r3d18"}
