"""The clip embedders of the video Fréchet distances (VFID, FVD): presets, preprocessing, weights, train/eval mode.

A :class:`VideoFrechetPreset` names everything that moves a published number: the backbone and its weights file, the
clip length and sampling rule, the preprocessing chain, the covariance estimator. The presets reproduce:

- ``vfid_i3d`` / ``vfid_resnext``: CatV2TON ``eval_video_metrics.py`` -> ``modules/fid_metrics/vfid.py`` (the VFID
  of VVT tables since CatV2TON and Magic-TryOn, whose issue #8 names that script): I3D (``i3d.pt``) or 3D
  ResNeXt-101 (``resnext-101.pth``), both from the Hugging Face repository ``zhengchong/VFID``, in eval mode; clips
  of 10 frames; every frame as its ``VideoDataset`` reads it (OpenCV, so **BGR** channel order, never converted),
  ``ToTensor`` then ``Resize((224, 224))`` (bilinear, antialiased as torchvision >= 0.17 does on tensors; the
  aspect ratio is not kept), scaled to [-1, 1]; Fréchet distance with unbiased covariances (``np.cov``).
- ``fvd`` / ``fvd_i3d``: cd-fvd ``cdfvd.fvd.cdfvd`` as CatV2TON calls it (``'videomae'``, the ViT-g/14 SSv2 checkpoint)
  or with its I3D (TATS ``i3d_pretrained_400.pt``, the original FVD's logits): 16-frame clips; each frame scaled so
  its shorter side is 256 (bilinear, antialiased, the other side ``ceil``-ed), centre-cropped to 256x256, truncated
  to 8 bits (``.byte()``), resized to 224x224 (bilinear, not antialiased); VideoMAE sees [0, 1] without
  normalisation, I3D [-1, 1]; Fréchet distance with population covariances (cd-fvd's ``FeatureStats``).

``mode`` is explicit and recorded: ``"eval"`` (what both official scripts do) or ``"train"``, where every BatchNorm
normalises with the statistics of the clip being embedded (a batch of one clip; running statistics are left as
loaded and no dropout runs). Codebases that forget ``.eval()`` (Free-Form-Video-Inpainting issue #42: its paper's
VFID is reproduced only in training mode) normalise over their own batches of clips, so their values also depend
on batch size and order, which no deterministic rule reproduces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.metrics.i3d import InceptionI3D
from bench.metrics.image import library_version
from bench.metrics.resnext3d import resnext101_3d
from bench.metrics.videomae import VIT_GIANT, VideoMAEConfig, VideoMAEEncoder
from bench.metrics.weights import (
    WEIGHTS,
    UnofficialWeightsError,
    file_sha256,
    reading_weights,
    resolve_weights,
    weights_info,
)

__all__ = ["MODES", "PRESETS", "ClipEmbedder", "VideoFrechetPreset", "video_preset"]

Mode = Literal["eval", "train"]
MODES: tuple[str, ...] = ("eval", "train")
Sampling = Literal["catv2ton", "consecutive"]
Covariance = Literal["unbiased", "population"]


@dataclass(frozen=True)
class VideoFrechetPreset:
    """One video Fréchet distance as a published script computes it.

    Attributes:
        name: the metric's name (``vfid_i3d``, ``vfid_resnext``, ``fvd``, ``fvd_i3d``).
        backbone: its weights file's key in :data:`~bench.metrics.weights.WEIGHTS` (also names the architecture).
        clip_length: frames per clip.
        sampling: which clips of a video are embedded (:class:`bench.metrics.video_fid.ClipSampling`).
        preprocess: ``"catv2ton"`` (224x224 resize of each frame) or ``"cdfvd"`` (short side 256, centre crop,
            8-bit truncation, 224x224).
        bgr: feed the channels in BGR order (CatV2TON reads frames with OpenCV and never converts them).
        covariance: ``"unbiased"`` (``np.cov``) or ``"population"`` (divided by N, cd-fvd).
        reproduces: the script and the choices it follows, in words (recorded with every value).
    """

    name: str
    backbone: str
    clip_length: int
    sampling: Sampling
    preprocess: Literal["catv2ton", "cdfvd"]
    bgr: bool
    covariance: Covariance
    reproduces: str


_CATV2TON = ("CatV2TON eval_video_metrics.py / modules/fid_metrics/vfid.py (VFID of VVT tables): {net}, eval mode, "
             "10-frame clips, frames in BGR order (OpenCV, unconverted), torchvision Resize((224, 224)) on [0, 1] "
             "tensors (bilinear, antialiased), scaled to [-1, 1]; np.cov covariances, scipy sqrtm")  # fmt: skip
_CDFVD = ("cd-fvd 0.1.1 cdfvd.fvd.cdfvd('{model}') (as CatV2TON's compute_fvd calls it for FVD): 16-frame clips, short "
          "side to 256 (bilinear, antialiased), centre crop 256, 8-bit truncation, 224x224 (bilinear), {range}; "
          "population covariances, scipy sqrtm")  # fmt: skip

PRESETS: dict[str, VideoFrechetPreset] = {
    p.name: p
    for p in (
        VideoFrechetPreset("vfid_i3d", "i3d_vfid", 10, "catv2ton", "catv2ton", True, "unbiased",
                           _CATV2TON.format(net="I3D (i3d.pt) Mixed_5c pooled, time-averaged, 1024-d")),
        VideoFrechetPreset("vfid_resnext", "resnext101_vfid", 10, "catv2ton", "catv2ton", True, "unbiased",
                           _CATV2TON.format(net="3D ResNeXt-101 (resnext-101.pth) pooled, 2048-d")),
        VideoFrechetPreset("fvd", "videomae_vitg", 16, "consecutive", "cdfvd", False, "population",
                           _CDFVD.format(model="videomae", range="[0, 1] unnormalised, ViT-g/14 mean-pooled 1408-d")),
        VideoFrechetPreset("fvd_i3d", "i3d_fvd", 16, "consecutive", "cdfvd", False, "population",
                           _CDFVD.format(model="i3d", range="[-1, 1], I3D logits time-averaged, 400-d")),
    )
}  # fmt: skip
"""The presets by metric name."""


def video_preset(name: str | VideoFrechetPreset) -> VideoFrechetPreset:
    """A preset by name (or the preset itself).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if isinstance(name, VideoFrechetPreset):
        return name
    if name not in PRESETS:
        raise ValueError(f"Unknown video Fréchet distance {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


# ---------------------------------------------------------------------------------------------------------------------
# Preprocessing: uint8 clips [K, L, 3, H, W] (RGB) -> model input [K, 3, L, 224, 224].


def _resize(frames: Tensor, size: tuple[int, int], antialias: bool) -> Tensor:
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=antialias)


def _catv2ton_input(clips: Tensor, bgr: bool) -> Tensor:
    frames = clips.flatten(0, 1).float() / 255
    if bgr:
        frames = frames.flip(1)
    frames = _resize(frames, (224, 224), antialias=True) * 2 - 1
    return frames.view(*clips.shape[:2], 3, 224, 224).transpose(1, 2)


def _cdfvd_input(clips: Tensor, bgr: bool, signed: bool) -> Tensor:
    frames = clips.flatten(0, 1).float() / 255
    if bgr:
        frames = frames.flip(1)
    height, width = frames.shape[-2:]
    scale = 256 / min(height, width)
    size = (256, math.ceil(width * scale)) if height < width else (math.ceil(height * scale), 256)
    frames = _resize(frames, size, antialias=True)
    top, left = (size[0] - 256) // 2, (size[1] - 256) // 2
    frames = (frames[..., top : top + 256, left : left + 256] * 255).to(torch.uint8).float()  # truncates, as .byte()
    if signed:  # cd-fvd's preprocess_i3d: resize the 0..255 values, then 2x / 255 - 1
        frames = 2 * _resize(frames, (224, 224), antialias=False) / 255 - 1
    else:  # preprocess_videomae: x / 255, then resize
        frames = _resize(frames / 255, (224, 224), antialias=False)
    return frames.view(*clips.shape[:2], 3, 224, 224).transpose(1, 2)


# ---------------------------------------------------------------------------------------------------------------------
# Backbones: architecture, checkpoint unpacking, feature.


def _state_dict(checkpoint: Any, keys: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """The state dict inside a checkpoint (under the first of ``keys`` present), ``module.`` prefixes removed."""
    for key in keys:
        if isinstance(checkpoint, dict) and key in checkpoint:
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict):
        raise ValueError(f"expected a state dict, got {type(checkpoint).__name__}")
    return {k.removeprefix("module."): v for k, v in checkpoint.items()}


@dataclass(frozen=True)
class _Backbone:
    build: Callable[[int, VideoMAEConfig], nn.Module]
    unpack: tuple[str, ...]
    embed: Callable[[nn.Module, Tensor], Tensor]
    describe: str


_BACKBONES: dict[str, _Backbone] = {
    "i3d_vfid": _Backbone(
        lambda length, _: InceptionI3D(400, bn_eps=1e-3, pool_frames=1), (),
        lambda model, x: model.forward_features(x).mean(dim=(2, 3, 4)),
        "InceptionI3D (pytorch-i3d layout, BatchNorm eps 1e-3): Mixed_5c, avg pool (1, 7, 7), mean over time, 1024-d",
    ),
    "resnext101_vfid": _Backbone(
        lambda length, _: resnext101_3d(sample_duration=length), ("state_dict",),
        lambda model, x: model(x),
        "3D ResNeXt-101 32 groups (3D-ResNets-PyTorch layout, shortcut B): layer4 average-pooled, 2048-d",
    ),
    "videomae_vitg": _Backbone(
        lambda length, config: VideoMAEEncoder(config), ("model", "module"),
        lambda model, x: model.forward_features(x),
        "VideoMAE v2 ViT (tubelet 2, patch 14): fc_norm of the mean patch token",
    ),
    "i3d_fvd": _Backbone(
        lambda length, _: InceptionI3D(400, bn_eps=1e-5, pool_frames=2), (),
        lambda model, x: model(x),
        "InceptionI3D (TATS / cd-fvd layout, BatchNorm eps 1e-5): logits after avg pool (2, 7, 7), mean over time, "
        "400-d",
    ),
}  # fmt: skip


def _checked_weights(name: str, weights_dir: str | Path | None, allow_unofficial: bool) -> tuple[Path, str | None]:
    """The resolved file and, for a file whose sha256 differs from the pinned one, the warning (or an error)."""
    path = resolve_weights(name, weights_dir)
    spec = WEIGHTS[name]
    expected = spec.sha256 or spec.expected_sha256_prefix
    sha = file_sha256(path)
    if not expected or sha.startswith(expected):
        return path, None
    message = f"{path}: sha256 {sha[:12]}... is not the pinned {expected[:12]}... of {spec.filename} ({spec.url})"
    if not allow_unofficial:
        raise UnofficialWeightsError(f"{message}; restore the official file or pass --allow-unofficial-weights")
    return path, f"{message}: scores computed with unofficial weights"


class ClipEmbedder(nn.Module):
    """A preset's backbone on uint8 RGB clips ``[K, L, 3, H, W]`` -> float32 features ``[K, D]``, with no gradients.

    The mode is fixed at construction: calling ``train()`` / ``eval()`` on a parent module does not change it.

    Args:
        preset: a preset name or :class:`VideoFrechetPreset`.
        weights_dir: folder searched before the torch hub cache for the backbone's file.
        mode: ``"eval"`` (running BatchNorm statistics) or ``"train"`` (each clip's own statistics).
        batch_size: clips per forward pass in eval mode (values do not depend on it).
        allow_unofficial_weights: embed with a file whose sha256 differs from the pinned one (recorded as a warning).
        videomae_config: the VideoMAE architecture (:data:`~bench.metrics.videomae.VIT_GIANT` for the published file).

    Raises:
        MissingWeightsError: the backbone's file is in none of the folders (one line: file, folders, URL, fetch
            command).
        UnofficialWeightsError: its sha256 is not the pinned one, or it does not load into the architecture.
    """

    def __init__(self, preset: str | VideoFrechetPreset = "vfid_i3d", weights_dir: str | Path | None = None,
                 mode: Mode = "eval", batch_size: int = 4, allow_unofficial_weights: bool = False,
                 videomae_config: VideoMAEConfig = VIT_GIANT) -> None:  # fmt: skip
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__()
        self.preset = video_preset(preset)
        backbone = _BACKBONES[self.preset.backbone]
        path, self.weights_warning = _checked_weights(self.preset.backbone, weights_dir, allow_unofficial_weights)
        self.net = backbone.build(self.preset.clip_length, videomae_config)
        with reading_weights(path):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            self.net.load_state_dict(_state_dict(checkpoint, backbone.unpack), strict=True)
        self.net.requires_grad_(False)
        self.mode, self.batch_size, self.weights_path = mode, batch_size, str(path)
        self._embed, self._backbone_text = backbone.embed, backbone.describe
        self.videomae_config = videomae_config if self.preset.backbone == "videomae_vitg" else None
        self.train(False)

    def train(self, mode: bool = True) -> ClipEmbedder:
        """Keep the constructed mode: eval everywhere, BatchNorm in batch-statistics mode for ``mode="train"``."""
        super().train(False)
        if getattr(self, "mode", "eval") == "train":
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.momentum = 0.0  # normalise with the batch's statistics, leave the running ones as loaded
                    module.train(True)
        return self

    def model_input(self, clips: Tensor) -> Tensor:
        """The preset's preprocessing of uint8 clips ``[K, L, 3, H, W]``: ``[K, 3, L, 224, 224]`` float32."""
        if clips.dtype != torch.uint8 or clips.ndim != 5 or clips.shape[2] != 3:
            raise ValueError(f"Expected uint8 clips [K, L, 3, H, W], got {clips.dtype} {tuple(clips.shape)}")
        if self.preset.preprocess == "catv2ton":
            return _catv2ton_input(clips, self.preset.bgr)
        return _cdfvd_input(clips, self.preset.bgr, signed=self.preset.backbone == "i3d_fvd")

    def forward(self, clips: Tensor) -> Tensor:
        """Features ``[K, D]`` (float32) of uint8 clips ``[K, L, 3, H, W]``."""
        step = 1 if self.mode == "train" else self.batch_size
        with torch.no_grad():
            parts = [self._embed(self.net, self.model_input(clips[i : i + step])) for i in range(0, len(clips), step)]
        return torch.cat(parts).float()

    def describe(self) -> dict[str, Any]:
        """What the features are: backbone, mode, preprocessing, weights file (sha256 prefix, pinned or not)."""
        spec = WEIGHTS[self.preset.backbone]
        info = weights_info(self.preset.backbone, self.weights_path)
        sha = file_sha256(self.weights_path)
        info |= {"sha256_pinned": spec.sha256, "sha256_matches_pin": bool(spec.sha256) and sha == spec.sha256}
        out = {
            "backbone": self._backbone_text,
            "mode": self.mode,
            "mode_meaning": "BatchNorm with running statistics (as loaded)" if self.mode == "eval" else
            "BatchNorm with each clip's own statistics (a batch of one clip); no dropout",
            "preprocess": self.preset.preprocess,
            "channels": "BGR" if self.preset.bgr else "RGB",
            "weights": info,
            "libraries": {"torch": library_version("torch")},
        }  # fmt: skip
        if self.videomae_config is not None:
            out["architecture"] = asdict(self.videomae_config)
        if self.weights_warning:
            out["warning"] = self.weights_warning
        return out
