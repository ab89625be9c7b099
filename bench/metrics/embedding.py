"""Image-embedding metrics: CLIP-image and DINOv2 feature similarity per pair, and FD-DINOv2 between image sets.

Both backbones are timm vision transformers loaded from one local file each (never downloaded):

- ``clip``: OpenAI CLIP ViT-B/32 image tower with its projection (``vit_base_patch32_clip_224.openai``, 512-d), from
  ``vit_base_patch32_clip_224.openai.bin``: the OpenCLIP state dict that timm / open_clip fetch as
  ``open_clip_pytorch_model.bin`` from the Hugging Face hub repository ``timm/vit_base_patch32_clip_224.openai``,
  copied under that name into ``--weights-dir`` or ``$TORCH_HOME/hub/checkpoints``. CLIP mean / std.
- ``dinov2``: DINOv2 ViT-L/14 (``vit_large_patch14_dinov2.lvd142m``, the CLS token after the final norm, 1024-d), from
  ``dinov2_vitl14_pretrain.pth``, the file ``torch.hub.load("facebookresearch/dinov2", "dinov2_vitl14")`` caches in
  ``$TORCH_HOME/hub/checkpoints``. ImageNet mean / std. ViT-L/14 is the backbone of FD-DINOv2 (Stein et al.,
  NeurIPS 2023, dgm-eval).

Every image is resized with bicubic interpolation (antialiased) to 224x224 (the aspect ratio is not kept; no crop)
and normalised with the model's mean / std. timm resamples DINOv2's 37x37 position embeddings to 16x16 when loading
(bicubic); dgm-eval interpolates them at run time instead, so FD-DINOv2 here is close to, not bit-identical with,
dgm-eval's.

- **feature similarity** (:func:`feature_similarity`): cosine similarity of the prediction's and the reference's
  embeddings (``clip_sim``, ``dino_sim``; higher is better, 1 for identical images).
- **FD-DINOv2**: the Fréchet distance of :func:`bench.metrics.functional.fid_from_features` on DINOv2 embeddings of
  the two image sets (``fd_dinov2``; lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.metrics import functional as MF
from bench.metrics.image import PairedImageMetric, library_version
from bench.metrics.weights import resolve_weights, weights_info

__all__ = ["EMBEDDERS", "EmbedderSpec", "FeatureSimilarity", "ImageEmbedder", "build_embedder", "feature_similarity"]


@dataclass(frozen=True)
class EmbedderSpec:
    """A timm architecture, its weights file (a key of :data:`bench.metrics.weights.WEIGHTS`) and build options."""

    arch: str
    weights: str
    kwargs: dict[str, Any] = field(default_factory=dict)


EMBEDDERS: dict[str, EmbedderSpec] = {
    "clip": EmbedderSpec("vit_base_patch32_clip_224.openai", "clip_vit_b32"),
    "dinov2": EmbedderSpec("vit_large_patch14_dinov2.lvd142m", "dinov2_vitl14", {"img_size": 224, "num_classes": 0}),
}

_SIZE = 224


class ImageEmbedder(nn.Module):
    """Float images ``[N, 3, H, W]`` in [0, 1] (or uint8) -> embeddings ``[N, D]`` float32; locked in eval mode."""

    def __init__(self, name: str, model: nn.Module, weights_path: Path) -> None:
        super().__init__()
        self.name, self.model, self.weights_path = name, model, str(weights_path)
        cfg = model.pretrained_cfg
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> ImageEmbedder:
        """Stay in eval mode whatever is asked."""
        return super().train(False)

    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        x = F.interpolate(x, size=(_SIZE, _SIZE), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        with torch.no_grad():
            return self.model((x - self.mean) / self.std)

    def describe(self) -> dict[str, Any]:
        """Backbone, preprocessing and weights file (the ``describe()`` FID-style metrics report)."""
        spec = EMBEDDERS[self.name]
        return {
            "backbone": f"timm {spec.arch}",
            "layer": "image embedding (CLIP projection)" if self.name == "clip" else "CLS token after the final norm",
            "resize": f"bicubic (antialiased) to {_SIZE}x{_SIZE}, aspect not kept, no crop",
            "normalisation": "the model's mean / std",
            "weights": weights_info(spec.weights, self.weights_path),
            "libraries": {"timm": library_version("timm"), "torch": library_version("torch")},
        }


def build_embedder(name: str, weights_dir: str | Path | None = None) -> ImageEmbedder:
    """Build ``"clip"`` or ``"dinov2"`` (:data:`EMBEDDERS`) from its local weights file through timm's loader.

    timm's ``checkpoint_filter_fn`` converts the OpenCLIP and original DINOv2 key layouts; loading is strict.

    Raises:
        ValueError: an unknown name.
        MissingWeightsError: the weights file is absent (never downloaded).
    """
    import timm

    if name not in EMBEDDERS:
        raise ValueError(f"Unknown embedder {name!r}; expected one of {sorted(EMBEDDERS)}")
    spec = EMBEDDERS[name]
    path = resolve_weights(spec.weights, weights_dir)
    model = timm.create_model(spec.arch, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **spec.kwargs)
    return ImageEmbedder(name, model, path)


def feature_similarity(preds: Tensor, target: Tensor, *, model: ImageEmbedder) -> Tensor:
    """Per-sample cosine similarity of the two images' embeddings, float64 ``[N]``."""
    MF._check_images(preds, target)
    return F.cosine_similarity(model(preds).double(), model(target).double(), dim=1)


class FeatureSimilarity(PairedImageMetric):
    """Per-sample CLIP-image or DINOv2 cosine similarity (higher is better); ``compute()`` returns ``[N]`` float64.

    Args:
        name: ``"clip"`` or ``"dinov2"``.
        weights_dir: Folder searched for the weights file before the torch hub cache.
        model: A prebuilt :class:`ImageEmbedder`.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(self, name: str = "clip", weights_dir: str | Path | None = None, model: ImageEmbedder | None = None,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.model = build_embedder(name, weights_dir) if model is None else model

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return feature_similarity(preds, target, model=self.model)

    def describe(self) -> dict[str, Any]:
        """How the similarity is computed."""
        return {"metric": f"{self.model.name}_sim", "formula": "cosine similarity of the two embeddings",
                **self.model.describe(), "higher_is_better": True}  # fmt: skip
