"""Training losses of PF-AFN and its PB-AFN tutor (docs/reference/method.md §2.8, §3.2, §4).

Every loss is computed in float32, also when the networks run under autocast. Loss functions that
combine several terms return ``(total, terms)``: the scalar to minimise and each weighted term by name, as
the training stages log them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pftryon.models._checkpoint import load_state_dict_checked, read_state_dict
from pftryon.models.afwm import WarpOutput

__all__ = [
    "VGG19_FILE",
    "VGG19_URL",
    "VGGLoss",
    "adjustable_weights",
    "distillation_loss",
    "feature_distillation",
    "find_vgg19_weights",
    "flow_distillation",
    "generator_loss",
    "l1",
    "second_order_smoothness",
    "tv_loss",
    "warp_loss",
]

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# Ends of the five slices of vgg19.features (relu1_1 ... relu5_1) and their weights.
_VGG_SLICE_ENDS = (2, 7, 12, 21, 30)
_VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, in float32."""
    return F.l1_loss(x.float(), y.float())


def find_vgg19_weights(path: str | os.PathLike[str] | None = None) -> Path:
    """Locate ``vgg19-dcbb9e9d.pth``: ``path`` (a file, or a folder holding it), else the torch hub cache.

    Nothing is downloaded.

    Raises:
        FileNotFoundError: one line naming the file, where it looked, the download URL and the alternative.
    """
    if path is None:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    else:
        candidate = Path(path)
        if candidate.is_dir():
            candidate = candidate / VGG19_FILE
    if not candidate.is_file():
        raise FileNotFoundError(
            f"VGG19 weights {VGG19_FILE} not found at {candidate}; download {VGG19_URL} there (or pass its path "
            "as vgg_weights), or train with `perceptual: none` to skip the VGG19 loss terms"
        )
    return candidate


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 stride-2 max-pool in floor mode, except that a dimension of size 1 stays 1 (PyTorch <= 1.1)."""
    kernel = tuple(1 if size == 1 else 2 for size in x.shape[-2:])
    return F.max_pool2d(x, kernel, kernel)


class _MaxPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _max_pool(x)


class VGGLoss(nn.Module):
    """The official perceptual loss: ``sum_i w_i * L1(phi_i(x), phi_i(y))`` over VGG19 relu1_1 ... relu5_1.

    The network is torchvision's ``vgg19().features`` with weights from ``vgg19-dcbb9e9d.pth`` (see
    :func:`find_vgg19_weights`), frozen and always in eval mode. Inputs are the raw [-1, 1] images (no
    ImageNet normalisation), weights ``w = (1/32, 1/16, 1/8, 1/4, 1)``, and the target's features are
    detached. The max-pools follow the rule of PyTorch 1.1, under which the official training ran on 16x12
    images: a dimension of size 1 pools to size 1 (the maximum over the valid part) instead of raising.

    Args:
        weights_path: ``vgg19-dcbb9e9d.pth`` or a folder holding it; default the torch hub cache.
    """

    def __init__(self, weights_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        from torchvision.models import vgg19

        path = find_vgg19_weights(weights_path)
        state = {k.removeprefix("features."): v for k, v in read_state_dict(path).items() if k.startswith("features.")}
        with torch.device("meta"):  # skip initialising the unused 120 M-parameter classifier
            features = vgg19(weights=None).features
        features = features.to_empty(device="cpu")
        load_state_dict_checked(features, state, source=f"{path} (features.*)")
        for i, layer in enumerate(features):
            if isinstance(layer, nn.MaxPool2d):
                features[i] = _MaxPool()
        starts = (0, *_VGG_SLICE_ENDS[:-1])
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(starts, _VGG_SLICE_ENDS, strict=True))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGLoss:
        """Stay in eval mode whatever is asked."""
        return super().train(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five slice outputs (relu1_1 ... relu5_1) of ``x``, in float32."""
        out = []
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            for block in self.slices:
                x = block(x)
                out.append(x)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            targets = self.features(y)
        terms = [w * F.l1_loss(a, b) for w, a, b in zip(_VGG_WEIGHTS, self.features(x), targets, strict=True)]
        return torch.stack(terms).sum()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """First-order total variation: mean |vertical difference| + mean |horizontal difference|."""
    x = x.float()
    return (x[:, :, 1:] - x[:, :, :-1]).abs().mean() + (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean()


def second_order_smoothness(
    curvature_x: torch.Tensor, curvature_y: torch.Tensor, epsilon: float = 1e-3, exponent: float = 0.45
) -> torch.Tensor:
    """Generalised Charbonnier penalty ``mean((d^2 + eps^2)^0.45)`` of a flow's second differences, x plus y.

    Args:
        curvature_x: second differences of the flow's x channel ``[B, 4, h-2, w-2]``
            (:attr:`~pftryon.models.afwm.WarpOutput.flow_curvature_x`).
        curvature_y: the same for the y channel.
    """
    return sum(((c.float() ** 2 + epsilon**2) ** exponent).mean() for c in (curvature_x, curvature_y))


def _resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x if scale == 1.0 else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def warp_loss(
    out: WarpOutput, target: torch.Tensor, target_edge: torch.Tensor, perceptual: VGGLoss | None = None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The multi-scale warp loss ``L_warp`` of all four official scripts (§4.1).

    For level ``n = 0..4`` (coarse to fine) the targets are bilinearly resized by ``0.5^(4-n)`` and the level
    adds ``(n+1) * (L1 + 0.2 VGG + 2 L1(edge) + 6 L_sec)``; then ``0.01 * sum(TV)`` over the 10 offset maps.

    Args:
        out: a traced :class:`~pftryon.models.afwm.WarpOutput` (``trace=True``).
        target: the garment region of the target person ``[B, 3, H, W]`` (0 elsewhere).
        target_edge: its mask ``[B, 1, H, W]``.
        perceptual: the VGG loss, or ``None`` to leave the VGG term out.

    Returns:
        ``(total, terms)`` with terms ``warp_l1``, ``warp_vgg`` (with a perceptual loss), ``warp_edge``,
        ``warp_smooth`` and ``warp_tv``.
    """
    if out.warped_pyramid is None:
        raise ValueError("warp_loss needs a traced WarpOutput (call the warp module with trace=True)")
    levels = len(out.warped_pyramid)
    terms: dict[str, torch.Tensor] = {}

    def add(name: str, value: torch.Tensor) -> None:
        terms[name] = terms[name] + value if name in terms else value

    for n, (warped, edge, cx, cy) in enumerate(
        zip(out.warped_pyramid, out.warped_edge_pyramid, out.flow_curvature_x, out.flow_curvature_y, strict=True)
    ):
        scale, k = 0.5 ** (levels - 1 - n), n + 1
        level_target = _resize(target, scale)
        add("warp_l1", k * l1(warped, level_target))
        if perceptual is not None:
            add("warp_vgg", k * 0.2 * perceptual(warped, level_target))
        add("warp_edge", k * 2 * l1(edge, _resize(target_edge, scale)))
        add("warp_smooth", k * 6 * second_order_smoothness(cx, cy))
    terms["warp_tv"] = 0.01 * sum(tv_loss(offset) for offset in out.offsets)
    return sum(terms.values()), terms


def adjustable_weights(tutor_warped: torch.Tensor, student_warped: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The adjustable-distillation rule (§4.5): ``w[b] = 1`` where the tutor's warp is closer to the target.

    ``e[b] = mean |warped[b] - target[b]|`` for tutor and student (full resolution, detached);
    ``w[b] = float(e_tutor[b] < e_student[b])``. Returns ``[B]`` float32.
    """
    with torch.no_grad():
        error_tutor = (tutor_warped.float() - target.float()).abs().flatten(1).mean(1)
        error_student = (student_warped.float() - target.float()).abs().flatten(1).mean(1)
        return (error_tutor < error_student).float()


def _weighted_mean(per_sample: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum_b per_sample[b] * w[b] / N`` with ``N`` the number of positive weights (at least 1)."""
    count = (weights > 0).sum().clamp(min=1)
    return (per_sample * weights.to(per_sample)).sum() / count


def feature_distillation(
    student: Sequence[torch.Tensor], tutor: Sequence[torch.Tensor], weights: torch.Tensor
) -> list[torch.Tensor]:
    """Per level: ``sum (tutor - student)^2 * w[b] / (C h w N)`` over person-branch FPN features (§4.5).

    The official code divides by 256, its FPN width; ``C`` is the actual width, equal at width 1.
    """
    return [
        _weighted_mean((t.detach().float() - s.float()).pow(2).mean(dim=(1, 2, 3)), weights)
        for s, t in zip(student, tutor, strict=True)
    ]


def flow_distillation(
    student: Sequence[torch.Tensor], tutor: Sequence[torch.Tensor], weights: torch.Tensor
) -> list[torch.Tensor]:
    """Per level: ``sum_{b,h,w} ||tutor - student||_2 (over x, y) * w[b] / (h w N)`` (§4.5)."""
    return [
        _weighted_mean(torch.linalg.vector_norm(t.detach().float() - s.float(), dim=1).mean(dim=(1, 2)), weights)
        for s, t in zip(student, tutor, strict=True)
    ]


# The feature branches distillation_loss can compare, and the name of each one's term.
_FEATURE_TERMS = {
    "person": ("person_features", "distill_feature"),
    "cloth": ("cloth_features", "distill_cloth_feature"),
}


def distillation_loss(
    student: WarpOutput, tutor: WarpOutput, weights: torch.Tensor, *, features: Sequence[str] = ("person",)
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Feature and flow distillation of ``L_warp_PF`` (§4.5), both traced warp outputs.

    ``sum_n (5-n) 0.04 Lfea[n] + sum_{n>=2} (n+1) Lflow[n]``; terms ``distill_feature`` and ``distill_flow``.
    ``weights`` ``[B]``: :func:`adjustable_weights`, or ones for fixed distillation.

    ``features`` names the FPN branches whose features are distilled, each with the same weights: ``person``
    (PF-AFN, FS-VTON: term ``distill_feature``) and ``cloth`` (DM-VTON's ``train_pf_warp.py`` also distils the
    garment branch, ``warp_fea_all``: term ``distill_cloth_feature``); ``()`` distils the flows only.
    """
    if student.flows is None or tutor.flows is None:
        raise ValueError("distillation_loss needs traced WarpOutputs (trace=True)")
    terms = {}
    for branch in features:
        field, term = _FEATURE_TERMS[branch]
        ours, theirs = getattr(student, field), getattr(tutor, field)
        levels = len(ours)
        losses = feature_distillation(ours, theirs, weights)
        terms[term] = sum((levels - n) * 0.04 * loss for n, loss in enumerate(losses))
    flows = flow_distillation(student.flows, tutor.flows, weights)
    terms["distill_flow"] = sum((n + 1) * loss for n, loss in enumerate(flows) if n >= 2)
    return sum(terms.values()), terms


def generator_loss(
    tryon: torch.Tensor,
    rendered: torch.Tensor,
    mask: torch.Tensor,
    target: torch.Tensor,
    perceptual: VGGLoss | None = None,
    skin: torch.Tensor | None = None,
    skin_weights: tuple[float, float] = (30.0, 2.0),
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The end-to-end generator loss (§4.3; with ``skin``, the student's loss of §4.7).

    ``5 L1(tryon) + VGG(tryon) + 5 L1(rendered) + VGG(rendered) + mean|1 - mask|``, all against ``target``;
    with a skin mask also ``l1 * L1(rendered*skin, target*skin) + l2 * VGG(rendered*skin, target*skin)``
    where ``(l1, l2) = skin_weights``.

    Returns:
        ``(total, terms)`` with terms ``gen_l1``, ``gen_vgg``, ``gen_mask``, ``gen_skin_l1``, ``gen_skin_vgg``
        (VGG terms only with a perceptual loss, skin terms only with ``skin``).
    """
    terms = {"gen_l1": 5 * l1(tryon, target) + 5 * l1(rendered, target)}
    if perceptual is not None:
        terms["gen_vgg"] = perceptual(tryon, target) + perceptual(rendered, target)
    terms["gen_mask"] = (1 - mask.float()).abs().mean()
    if skin is not None:
        skin_rendered, skin_target = rendered * skin, target * skin
        terms["gen_skin_l1"] = skin_weights[0] * l1(skin_rendered, skin_target)
        if perceptual is not None:
            terms["gen_skin_vgg"] = skin_weights[1] * perceptual(skin_rendered, skin_target)
    return sum(terms.values()), terms
