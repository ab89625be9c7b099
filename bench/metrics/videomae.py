"""VideoMAE v2 ViT (Wang et al. CVPR 2023) as a clip encoder: the backbone of content-debiased FVD.

cd-fvd (songweige/content-debiased-fvd, ``cdfvd/third_party/VideoMAEv2/``) builds ``vit_giant_patch14_224`` with
``num_classes=174, all_frames=16, tubelet_size=2, use_mean_pooling=True`` and loads
``vit_g_hybrid_pt_1200e_ssv2_ft.pth`` (ViT-g/14, pre-trained on the hybrid set, fine-tuned on Something-Something v2)
strictly; its FVD feature is ``forward_features``: the LayerNorm (``fc_norm``) of the mean of the patch tokens
(1408-d). The layout here keeps that checkpoint's state-dict keys: ``patch_embed.proj`` (a 2x14x14 tubelet
convolution), ``blocks.<i>.{norm1, attn.{qkv, q_bias, v_bias, proj}, norm2, mlp.{fc1, fc2}}``, ``fc_norm`` and
``head``. Positions are the fixed sine-cosine table (not in the checkpoint). Written from the papers' architecture
and that layout; no code is taken from either repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["VIT_GIANT", "VideoMAEConfig", "VideoMAEEncoder", "sinusoid_positions"]


@dataclass(frozen=True)
class VideoMAEConfig:
    """The shape of a VideoMAE ViT: patch and tubelet size, width, depth, heads, MLP width, classes, frames, size."""

    patch: int = 14
    tubelet: int = 2
    dim: int = 1408
    depth: int = 40
    heads: int = 16
    mlp_dim: int = 6144  # int(1408 * 48 / 11)
    num_classes: int = 174
    frames: int = 16
    size: int = 224

    @property
    def tokens(self) -> int:
        """Patch tokens of one clip: ``(frames / tubelet) * (size / patch)^2``."""
        return (self.frames // self.tubelet) * (self.size // self.patch) ** 2


VIT_GIANT = VideoMAEConfig()
"""ViT-g/14, 16 frames at 224x224, Something-Something v2 head: ``vit_g_hybrid_pt_1200e_ssv2_ft.pth``."""


def sinusoid_positions(tokens: int, dim: int) -> Tensor:
    """The fixed position table ``[tokens, dim]``: channel ``j`` of position ``p`` is ``sin`` (even ``j``) or
    ``cos`` (odd ``j``) of ``p / 10000^(2 floor(j / 2) / dim)``, computed in float64, returned as float32."""
    position = torch.arange(tokens, dtype=torch.float64)[:, None]
    exponent = 2 * torch.div(torch.arange(dim), 2, rounding_mode="floor").to(torch.float64) / dim
    angle = position / torch.pow(10000.0, exponent)[None, :]
    table = torch.where(torch.arange(dim) % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()


class _Attention(nn.Module):
    """Multi-head self-attention; the QKV projection has a query and a value bias but no key bias."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        batch, tokens, dim = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        q, k, v = F.linear(x, self.qkv.weight, bias).view(batch, tokens, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head dim)) v
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6), no layer scale."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _TubeletEmbed(nn.Module):
    def __init__(self, config: VideoMAEConfig) -> None:
        super().__init__()
        kernel = (config.tubelet, config.patch, config.patch)
        self.proj = nn.Conv3d(3, config.dim, kernel, stride=kernel)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class VideoMAEEncoder(nn.Module):
    """VideoMAE v2 ViT with mean pooling: clips ``[B, 3, frames, size, size]`` (cd-fvd feeds [0, 1], unnormalised)
    to :meth:`forward_features` ``[B, dim]``.

    Args:
        config: The architecture (:data:`VIT_GIANT` for the published FVD checkpoint).
    """

    def __init__(self, config: VideoMAEConfig = VIT_GIANT) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = _TubeletEmbed(config)
        self.register_buffer("positions", sinusoid_positions(config.tokens, config.dim), persistent=False)
        self.blocks = nn.ModuleList(_Block(config.dim, config.heads, config.mlp_dim) for _ in range(config.depth))
        self.fc_norm = nn.LayerNorm(config.dim, eps=1e-6)
        self.head = nn.Linear(config.dim, config.num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The mean of the patch tokens after the last block, layer-normalised: ``[B, dim]``."""
        expected = (3, self.config.frames, self.config.size, self.config.size)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"Expected clips [B, {', '.join(map(str, expected))}], got {tuple(x.shape)}")
        x = self.patch_embed(x) + self.positions.to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.fc_norm(x.mean(dim=1))

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``[B, num_classes]``."""
        return self.head(self.forward_features(x))
