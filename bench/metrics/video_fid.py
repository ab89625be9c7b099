"""Video Fréchet distances: VFID (I3D, 3D ResNeXt-101) and FVD (VideoMAE v2, I3D), as published scripts compute them.

``FD = |mu_r - mu_f|^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` between Gaussians fitted to the clip features of a real
and a fake set of videos, through the project's Fréchet formula (:func:`bench.metrics.functional.fid_from_features`).
The backbones, their preprocessing and train/eval mode are in :mod:`bench.metrics.video_backbones`; this module adds
the clip sampling, the streaming metric and the functional core.

**Clip sampling** (:class:`ClipSampling`), deterministic and recorded with every value:

- ``"consecutive"``: clips ``[kL, (k + 1)L)`` for ``k = 0 .. floor(T / L) - 1`` (start 0, stride L, no overlap), each
  counted once; the last ``T mod L`` frames are not used.
- ``"catv2ton"``: the first clip ``[0, L)`` only, counted ``floor(T / L)`` times. This is what CatV2TON's VFID
  computes: its ``VideoDataset`` means to read ``floor(T / L)`` consecutive clips per video, but its index arithmetic
  (``bisect_left`` on the cumulative clip counts, then the index minus that count) always gives a start at or
  before frame 0, which OpenCV reads as frame 0; its per-video counts also differ from ``floor(T / L)`` by at most
  one with the order in which ``glob`` lists the files.

A video shorter than one clip contributes nothing and is counted (``*_videos_without_clip``). Frames stream in
batches with their video ids and frame indices; each video's frames must arrive from frame 0, in order and
contiguously (the VVT loader's order); in DDP, shard by video.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor
from torchmetrics import Metric

from bench.metrics import functional as MF
from bench.metrics.image import library_version
from bench.metrics.video import _cat, video_code
from bench.metrics.video_backbones import (
    ClipEmbedder,
    Covariance,
    Mode,
    Sampling,
    VideoFrechetPreset,
    video_preset,
)

__all__ = ["ClipSampling", "VideoFrechetDistance", "frechet_from_clip_features", "video_frechet_distance"]

_SETS = ("real", "fake")
_STATES = ("features", "clip_video", "frame_video", "frame_count")


@dataclass(frozen=True)
class ClipSampling:
    """Which clips of a ``T``-frame video are embedded and how often each counts (see the module docstring)."""

    length: int
    rule: Sampling

    def __post_init__(self) -> None:
        if self.length < 1 or self.rule not in ("catv2ton", "consecutive"):
            raise ValueError(f"clip sampling: length >= 1 and rule 'catv2ton' or 'consecutive', got {self}")

    def clips(self, frames: int) -> list[tuple[int, int]]:
        """``(start, weight)`` of each clip of a ``frames``-frame video."""
        count = frames // self.length
        if self.rule == "catv2ton":
            return [(0, count)] if count else []
        return [(k * self.length, 1) for k in range(count)]

    def describe(self) -> dict[str, Any]:
        """The rule in words, for the reports."""
        text = {
            "consecutive": f"non-overlapping clips of {self.length} frames from frame 0 (stride {self.length}), each "
            f"counted once; the last T mod {self.length} frames unused",
            "catv2ton": f"the first {self.length} frames of each video, counted floor(T / {self.length}) times "
            "(CatV2TON's VideoDataset reads every clip from frame 0)",
        }[self.rule]  # fmt: skip
        return {"clip_length": self.length, "rule": self.rule, "text": text,
                "short_videos": f"a video under {self.length} frames gives no clip (counted)"}  # fmt: skip


def frechet_from_clip_features(
    real: Tensor, fake: Tensor, real_weights: Tensor | None = None, fake_weights: Tensor | None = None, *,
    covariance: Covariance = "unbiased", method: Literal["sqrtm", "spectral"] = "spectral",
) -> float:  # fmt: skip
    """Fréchet distance between two weighted sets of clip features (each clip counted ``weight`` times).

    Args:
        real: Features ``[N, D]``.
        fake: Features ``[M, D]``.
        real_weights: How many times each real clip counts (integers >= 1; default 1).
        fake_weights: The same for the fake clips.
        covariance: ``"unbiased"`` (divided by ``n - 1``, ``np.cov``; CatV2TON's VFID) or ``"population"``
            (divided by ``n``; cd-fvd's FVD), ``n`` the weighted count.
        method: :func:`~bench.metrics.functional.fid_from_features`'s square-root method.

    Returns:
        The distance as a float.
    """
    if covariance not in ("unbiased", "population"):
        raise ValueError(f"covariance must be 'unbiased' or 'population', got {covariance!r}")
    sets = []
    for features, weights in ((real, real_weights), (fake, fake_weights)):
        x = features.double() if weights is None else features.double().repeat_interleave(weights.long(), dim=0)
        if covariance == "population" and len(x) > 1:  # np.cov of the shrunk set = the population covariance of x
            mean = x.mean(dim=0, keepdim=True)
            x = mean + (x - mean) * ((len(x) - 1) / len(x)) ** 0.5
        sets.append(x)
    return MF.fid_from_features(sets[0], sets[1], method=method)


class _Open:
    """A video being streamed: its frames since the last clip boundary and the index expected next."""

    __slots__ = ("buffer", "next")

    def __init__(self) -> None:
        self.buffer: list[Tensor] = []
        self.next = 0


class VideoFrechetDistance(Metric):
    """A video Fréchet distance (VFID or FVD) between a real and a fake set of videos, from their clip features.

    ``update(frames, real=..., video_ids=..., frame_indices=...)`` streams frames (float ``[N, 3, H, W]`` in [0, 1],
    quantised as ``floor(255x + 0.5)`` like a saved PNG, or uint8) of one set; without ``video_ids`` the frames are
    one whole video. Clips are embedded as soon as they are complete, so memory holds at most ``L - 1`` frames per
    video in flight. ``compute()`` returns float64 tensors: ``value``, ``n_real`` / ``n_fake`` (clips, each counted
    with its weight), ``real_clips`` / ``fake_clips`` (distinct clips embedded), ``dims`` (feature dimensions),
    ``real_videos`` / ``fake_videos`` and ``real_videos_without_clip`` / ``fake_videos_without_clip``.

    Args:
        preset: ``"vfid_i3d"``, ``"vfid_resnext"``, ``"fvd"``, ``"fvd_i3d"`` or a
            :class:`~bench.metrics.video_backbones.VideoFrechetPreset`.
        weights_dir: folder searched before the torch hub cache for the backbone's file.
        mode: ``"eval"`` (both official scripts) or ``"train"`` (see :mod:`bench.metrics.video_backbones`).
        sampling: the clip rule (default: the preset's).
        covariance: ``"unbiased"`` or ``"population"`` (default: the preset's).
        fid_method: ``"spectral"`` (exact, also for the singular covariances of few clips) or ``"sqrtm"`` (scipy, as
            both official scripts; the same value where the covariances are not singular).
        embedder: a prebuilt :class:`~bench.metrics.video_backbones.ClipEmbedder` (its preset, weights and mode are
            used; ``preset``, ``weights_dir`` and ``mode`` are ignored).
        allow_unofficial_weights: embed with a file whose sha256 differs from the pinned one (recorded).
        **kwargs: ``torchmetrics.Metric`` options.

    Raises:
        MissingWeightsError: the backbone's weights file is absent (one line naming it and the fetch command).

    Example:
        >>> from bench.metrics.video_fid import ClipSampling
        >>> ClipSampling(10, "catv2ton").clips(25), ClipSampling(10, "consecutive").clips(25)
        ([(0, 2)], [(0, 1), (10, 1)])
    """

    is_differentiable: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    def __init__(
        self,
        preset: str | VideoFrechetPreset = "vfid_i3d",
        *,
        weights_dir: str | Path | None = None,
        mode: Mode = "eval",
        sampling: Sampling | None = None,
        covariance: Covariance | None = None,
        fid_method: Literal["sqrtm", "spectral"] = "spectral",
        embedder: ClipEmbedder | None = None,
        allow_unofficial_weights: bool = False,
        **kwargs: Any,
    ) -> None:
        if fid_method not in ("sqrtm", "spectral"):
            raise ValueError(f"fid_method must be 'sqrtm' or 'spectral', got {fid_method!r}")
        chosen = video_preset(preset if embedder is None else embedder.preset)
        chosen_covariance = covariance or chosen.covariance
        if chosen_covariance not in ("unbiased", "population"):
            raise ValueError(f"covariance must be 'unbiased' or 'population', got {chosen_covariance!r}")
        sampling_rule = ClipSampling(chosen.clip_length, sampling or chosen.sampling)
        super().__init__(**kwargs)
        if embedder is None:
            embedder = ClipEmbedder(chosen, weights_dir, mode, allow_unofficial_weights=allow_unofficial_weights)
        self.embedder = embedder
        self.preset, self.sampling, self.covariance = chosen, sampling_rule, chosen_covariance
        self.fid_method = fid_method
        for role in _SETS:
            for state in _STATES:
                self.add_state(f"{role}_{state}", default=[], dist_reduce_fx="cat")
        self._clear_streams()

    def _clear_streams(self) -> None:
        """Forget the videos in flight and those seen (process-local, not metric states)."""
        self._open: dict[str, dict[int, _Open]] = {role: {} for role in _SETS}
        self._seen: dict[str, set[int]] = {role: set() for role in _SETS}
        self._anonymous = itertools.count()

    def update(self, frames: Tensor, real: bool, video_ids: Sequence[str] | None = None,
               frame_indices: Sequence[int] | Tensor | None = None) -> None:  # fmt: skip
        """Add frames of the real (``real=True``) or the fake set.

        Args:
            frames: Float ``[N, 3, H, W]`` in [0, 1] or uint8 frames, in each video's temporal order.
            real: Which set the frames belong to.
            video_ids: The video of each frame (N strings); ``None``: the frames are one whole video.
            frame_indices: Each frame's 0-based position in its video (required with ``video_ids``).
        """
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"Expected frames [N, 3, H, W], got {tuple(frames.shape)}")
        if frames.is_floating_point() and frames.numel() and (frames.min() < 0 or frames.max() > 1):
            raise ValueError("Expected float frames in [0, 1] (or uint8); convert [-1, 1] outputs with (x + 1) / 2")
        if video_ids is None:
            video_ids, frame_indices = [f"<video {next(self._anonymous)}>"] * len(frames), range(len(frames))
        elif frame_indices is None:
            raise ValueError("update() with video_ids needs frame_indices too")
        indices = torch.as_tensor(list(frame_indices), dtype=torch.int64).reshape(-1).tolist()
        ids = list(video_ids)
        if not len(ids) == len(indices) == len(frames):
            raise ValueError(f"Expected {len(frames)} video ids and frame indices, got {len(ids)} and {len(indices)}")
        role = "real" if real else "fake"
        pixels = MF.to_uint8(frames)
        opened = {code: _Open() for code in self._open[role]}  # copies: a failed update leaves no trace
        for code, state in self._open[role].items():
            opened[code].buffer, opened[code].next = list(state.buffer), state.next
        seen = set(self._seen[role])
        clips: list[Tensor] = []
        clip_codes: list[int] = []
        counts: dict[int, int] = {}
        for row, (video, t) in enumerate(zip(ids, indices, strict=True)):
            code = video_code(video)
            if code not in opened and code in seen:
                raise ValueError(f"Video {video!r} comes back after other videos: feed each video's frames "
                                 "contiguously (in DDP, shard by video), or reset() first")  # fmt: skip
            state = opened.setdefault(code, _Open())
            if t != state.next:
                raise ValueError(f"Video {video!r}: frame {t} where frame {state.next} was expected; feed each "
                                 "video's frames from frame 0, in increasing frame_index order")  # fmt: skip
            seen.add(code)
            state.next += 1
            counts[code] = counts.get(code, 0) + 1
            if self.sampling.rule == "consecutive" or t < self.sampling.length:
                state.buffer.append(pixels[row])
            if len(state.buffer) == self.sampling.length:
                clips.append(torch.stack(state.buffer))
                clip_codes.append(code)
                state.buffer = []
        if clips:
            self._store(role, "features", self.embedder(torch.stack(clips)).double())
            self._store(role, "clip_video", torch.tensor(clip_codes))
        self._store(role, "frame_video", torch.tensor(list(counts), dtype=torch.int64))
        self._store(role, "frame_count", torch.tensor(list(counts.values()), dtype=torch.int64))
        self._open[role] = {code: state for code, state in opened.items() if code in counts}
        self._seen[role] = seen

    def _store(self, role: str, state: str, value: Tensor) -> None:
        if len(value):
            getattr(self, f"{role}_{state}").append(value.to(self.device))

    def _set(self, role: str) -> tuple[Tensor, Tensor, int, int]:
        """``(features, weights, videos, videos without a clip)`` of one set (after DDP sync)."""
        features = _cat(getattr(self, f"{role}_features"), torch.float64, self.device)
        clip_video = _cat(getattr(self, f"{role}_clip_video"), torch.int64, self.device)
        frame_video = _cat(getattr(self, f"{role}_frame_video"), torch.int64, self.device)
        frame_count = _cat(getattr(self, f"{role}_frame_count"), torch.int64, self.device)
        videos, inverse = torch.unique(frame_video, return_inverse=True)
        totals = torch.zeros(len(videos), dtype=torch.int64, device=self.device).index_add_(0, inverse, frame_count)
        if self.sampling.rule == "catv2ton":
            weights = totals[torch.searchsorted(videos, clip_video)] // self.sampling.length
        else:
            weights = torch.ones(len(clip_video), dtype=torch.int64, device=self.device)
        without_clip = int((totals < self.sampling.length).sum())
        features = features.reshape(len(clip_video), -1) if len(clip_video) else features.reshape(0, 0)
        return features, weights, len(videos), without_clip

    def compute(self) -> dict[str, Tensor]:
        """The distance and the set sizes (see the class docstring)."""
        sets = {role: self._set(role) for role in _SETS}
        small = [f"{role} {int(weights.sum())}" for role, (_, weights, _, _) in sets.items() if weights.sum() < 2]
        if small:
            raise ValueError(f"{self.preset.name}: needs at least 2 clips of {self.sampling.length} frames per set, "
                             f"have {', '.join(small)}")  # fmt: skip
        (real, real_w, real_v, real_short), (fake, fake_w, fake_v, fake_short) = sets["real"], sets["fake"]
        value = frechet_from_clip_features(real, fake, real_w, fake_w, covariance=self.covariance,
                                           method=self.fid_method)  # fmt: skip
        out = {"value": value, "n_real": real_w.sum(), "n_fake": fake_w.sum(), "real_clips": len(real),
               "fake_clips": len(fake), "dims": real.shape[1], "real_videos": real_v, "fake_videos": fake_v,
               "real_videos_without_clip": real_short, "fake_videos_without_clip": fake_short}  # fmt: skip
        return {key: torch.as_tensor(v, dtype=torch.float64) for key, v in out.items()}

    def reset(self) -> None:
        """Clear the states and the streams."""
        super().reset()
        self._clear_streams()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Not supported: one batch has no Fréchet distance."""
        raise TypeError(f"{type(self).__name__} has no batch value: call update() for each batch, then compute()")

    def summary(self) -> dict[str, Any]:
        """The value as a ``set`` summary entry (:data:`bench.metrics.specs.SUMMARIES`) with ``how``; a warning when
        the covariances are singular (no more distinct clips than feature dimensions)."""
        result = {key: float(value) for key, value in self.compute().items()}
        entry: dict[str, Any] = {"value": result.pop("value"), **{key: int(v) for key, v in result.items()}}
        distinct = min(entry["real_clips"], entry["fake_clips"])
        if distinct <= entry["dims"]:
            entry["warning"] = (f"{distinct} distinct clips <= {entry['dims']} feature dimensions: singular "
                                "covariances; biased upward, comparable only at equal set sizes")  # fmt: skip
        return {**entry, "how": self.describe()}

    def describe(self) -> dict[str, Any]:
        """How the value is computed: preset, backbone and mode, sampling, covariance, formula, weights file."""
        return {
            "metric": self.preset.name,
            "reproduces": self.preset.reproduces,
            "features": self.embedder.describe(),
            "sampling": self.sampling.describe(),
            "covariance": self.covariance,
            "formula": "|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 sqrtm(S_r S_f)) over clip features, each clip counted "
            "with its weight, float64",
            "method": self.fid_method,
            "libraries": {"numpy": library_version("numpy"), "scipy": library_version("scipy")},
            "higher_is_better": False,
        }


def video_frechet_distance(
    real: Iterable[Tensor], fake: Iterable[Tensor], preset: str | VideoFrechetPreset = "vfid_i3d", *,
    weights_dir: str | Path | None = None, embedder: ClipEmbedder | None = None, **options: Any,
) -> float:  # fmt: skip
    """The video Fréchet distance between two sets of whole videos (each float ``[T, 3, H, W]`` in [0, 1] or uint8).

    Args:
        real: The real videos.
        fake: The fake videos.
        preset: See :class:`VideoFrechetDistance`.
        weights_dir: Folder searched for the backbone's file.
        embedder: A prebuilt :class:`~bench.metrics.video_backbones.ClipEmbedder`.
        **options: Further :class:`VideoFrechetDistance` options (``mode``, ``sampling``, ``covariance``, ...).
    """
    metric = VideoFrechetDistance(preset, weights_dir=weights_dir, embedder=embedder, **options)
    for flag, videos in ((True, real), (False, fake)):
        for video in videos:
            metric.update(video, real=flag)
    return float(metric.compute()["value"])
