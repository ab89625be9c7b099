"""PF-AFN training losses against direct hand computations on small tensors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pftryon.losses import (
    VGG19_FILE,
    VGG19_URL,
    VGGLoss,
    adjustable_weights,
    distillation_loss,
    feature_distillation,
    find_vgg19_weights,
    flow_distillation,
    generator_loss,
    l1,
    second_order_smoothness,
    tv_loss,
    warp_loss,
)
from pftryon.models.afwm import WarpOutput


def _perceptual_stand_in(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A cheap differentiable stand-in for the VGG loss, to check where and how it is weighted."""
    return (x - y).pow(2).mean()


def _vgg19_features() -> nn.Sequential:
    """torchvision's ``vgg19().features``, uninitialised (built on the meta device, skipping the classifier)."""
    from torchvision.models import vgg19

    with torch.device("meta"):
        features = vgg19(weights=None).features
    return features.to_empty(device="cpu")


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random VGG19 ``features.*`` state dict saved as ``vgg19-dcbb9e9d.pth`` (never downloaded)."""
    torch.manual_seed(0)
    features = _vgg19_features()
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.uniform_(layer.bias, -0.1, 0.1)
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    path = tmp_path_factory.mktemp("hub") / VGG19_FILE
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def vgg_loss(vgg_weights: tuple[Path, dict[str, torch.Tensor]]) -> VGGLoss:
    return VGGLoss(vgg_weights[0])


def test_l1_tv_and_smoothness_match_hand_computation() -> None:
    x, y = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    assert torch.allclose(l1(x, y), (x - y).abs().sum() / x.numel())

    vertical = sum(
        abs(x[b, c, i + 1, j] - x[b, c, i, j]) for b in range(2) for c in range(3) for i in range(3) for j in range(5)
    )
    horizontal = sum(
        abs(x[b, c, i, j + 1] - x[b, c, i, j]) for b in range(2) for c in range(3) for i in range(4) for j in range(4)
    )
    assert torch.allclose(tv_loss(x), vertical / (2 * 3 * 3 * 5) + horizontal / (2 * 3 * 4 * 4))

    cx, cy = torch.randn(2, 4, 3, 2), torch.randn(2, 4, 3, 2)
    expected = sum((v**2 + 1e-6) ** 0.45 for v in cx.flatten()) / cx.numel()
    expected += sum((v**2 + 1e-6) ** 0.45 for v in cy.flatten()) / cy.numel()
    assert torch.allclose(second_order_smoothness(cx, cy), expected)


def _traced(batch: int = 2, size: tuple[int, int] = (128, 64), seed: int = 0, levels: int = 5) -> WarpOutput:
    """A fake traced warp output with the per-level shapes AFWM gives for an input of ``size``."""
    g = torch.Generator().manual_seed(seed)
    sizes = [(size[0] >> (levels - 1 - n), size[1] >> (levels - 1 - n)) for n in range(levels)]
    coarse = [(h // 2, w // 2) for h, w in sizes]
    rand = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    return WarpOutput(
        warped=rand(batch, 3, *size),
        flow=rand(batch, 2, *size),
        warped_edge=rand(batch, 1, *size),
        person_features=[rand(batch, 6, h, w) for h, w in coarse],
        flows=[rand(batch, 2, h, w) for h, w in sizes],
        offsets=[rand(batch, 2, h, w) for h, w in coarse for _ in range(2)],
        warped_pyramid=[rand(batch, 3, h, w) for h, w in sizes],
        warped_edge_pyramid=[rand(batch, 1, h, w) for h, w in sizes],
        flow_curvature_x=[rand(batch, 4, h, w) for h, w in sizes],
        flow_curvature_y=[rand(batch, 4, h, w) for h, w in sizes],
    )


def test_warp_loss_matches_the_official_formula() -> None:
    out = _traced()
    target, edge = torch.randn(2, 3, 128, 64), torch.rand(2, 1, 128, 64)
    expected = torch.tensor(0.0)
    for n in range(5):
        s = 0.5 ** (4 - n)
        t = target if n == 4 else F.interpolate(target, scale_factor=s, mode="bilinear", align_corners=False)
        e = edge if n == 4 else F.interpolate(edge, scale_factor=s, mode="bilinear", align_corners=False)
        x = out.warped_pyramid[n]
        expected += (n + 1) * ((x - t).abs().mean() + 0.2 * (x - t).pow(2).mean())
        expected += (n + 1) * 2 * (out.warped_edge_pyramid[n] - e).abs().mean()
        cx, cy = out.flow_curvature_x[n], out.flow_curvature_y[n]
        expected += (n + 1) * 6 * (((cx**2 + 1e-6) ** 0.45).mean() + ((cy**2 + 1e-6) ** 0.45).mean())
    for d in out.offsets:
        expected += 0.01 * ((d[:, :, 1:] - d[:, :, :-1]).abs().mean() + (d[..., 1:] - d[..., :-1]).abs().mean())
    total, terms = warp_loss(out, target, edge, _perceptual_stand_in)
    assert torch.allclose(total, expected)
    assert set(terms) == {"warp_l1", "warp_vgg", "warp_edge", "warp_smooth", "warp_tv"}
    total_without, terms_without = warp_loss(out, target, edge)
    assert "warp_vgg" not in terms_without
    assert torch.allclose(total_without, total - terms["warp_vgg"])


def test_warp_loss_needs_a_traced_output() -> None:
    with pytest.raises(ValueError, match="trace=True"):
        warp_loss(
            WarpOutput(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4)),
            torch.zeros(1, 3, 4, 4),
            torch.zeros(1, 1, 4, 4),
        )


def test_adjustable_weights_pick_samples_where_the_tutor_warps_better() -> None:
    target = torch.zeros(3, 3, 2, 2)
    tutor = torch.tensor([0.1, 0.5, 0.3]).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    student = torch.tensor([0.2, 0.4, 0.3]).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    weights = adjustable_weights(tutor, student.requires_grad_(), target)
    assert weights.tolist() == [1.0, 0.0, 0.0]  # ties switch distillation off
    assert weights.dtype == torch.float32 and not weights.requires_grad


def test_feature_and_flow_distillation_match_hand_computation() -> None:
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(3, 4, 2, 3, generator=g), torch.randn(3, 4, 2, 3, generator=g)
    w = torch.tensor([1.0, 0.0, 1.0])
    fea = sum(((t[b] - s[b]) ** 2).sum() * w[b] for b in range(3)) / (4 * 2 * 3 * 2)
    assert torch.allclose(feature_distillation([s], [t], w)[0], fea)
    fs, ft = s[:, :2], t[:, :2]
    norms = sum(
        ((ft[b, :, i, j] - fs[b, :, i, j]) ** 2).sum().sqrt() * w[b]
        for b in range(3)
        for i in range(2)
        for j in range(3)
    )
    assert torch.allclose(flow_distillation([fs], [ft], w)[0], norms / (2 * 3 * 2))
    # No sample selected: N = 1 and the loss is 0; gradients stay finite where the flows coincide.
    none = torch.zeros(3)
    assert feature_distillation([s], [t], none)[0] == 0
    same = fs.clone().requires_grad_()
    flow_distillation([same], [fs], torch.ones(3))[0].backward()
    assert torch.isfinite(same.grad).all()


def test_distillation_loss_level_weights() -> None:
    student, tutor = _traced(seed=0), _traced(seed=1)
    w = torch.tensor([1.0, 1.0])
    fea = feature_distillation(student.person_features, tutor.person_features, w)
    flow = flow_distillation(student.flows, tutor.flows, w)
    total, terms = distillation_loss(student, tutor, w)
    expected_fea = 0.20 * fea[0] + 0.16 * fea[1] + 0.12 * fea[2] + 0.08 * fea[3] + 0.04 * fea[4]
    expected_flow = 3 * flow[2] + 4 * flow[3] + 5 * flow[4]
    assert torch.allclose(terms["distill_feature"], expected_fea)
    assert torch.allclose(terms["distill_flow"], expected_flow)
    assert torch.allclose(total, expected_fea + expected_flow)


def test_generator_loss_with_and_without_skin() -> None:
    g = torch.Generator().manual_seed(2)
    tryon, rendered, target = (torch.rand(2, 3, 4, 4, generator=g) * 2 - 1 for _ in range(3))
    mask, skin = torch.rand(2, 1, 4, 4, generator=g), (torch.rand(2, 1, 4, 4, generator=g) > 0.5).float()
    p = _perceptual_stand_in
    base = 5 * (tryon - target).abs().mean() + p(tryon, target) + 5 * (rendered - target).abs().mean()
    base += p(rendered, target) + (1 - mask).abs().mean()
    total, terms = generator_loss(tryon, rendered, mask, target, p)
    assert torch.allclose(total, base)
    total, terms = generator_loss(tryon, rendered, mask, target, p, skin=skin, skin_weights=(60.0, 4.0))
    skin_terms = 60 * (rendered * skin - target * skin).abs().mean() + 4 * p(rendered * skin, target * skin)
    assert torch.allclose(total, base + skin_terms)
    assert set(terms) == {"gen_l1", "gen_vgg", "gen_mask", "gen_skin_l1", "gen_skin_vgg"}
    _, terms = generator_loss(tryon, rendered, mask, target, None, skin=skin)
    assert set(terms) == {"gen_l1", "gen_mask", "gen_skin_l1"}


def test_vgg_loss_matches_torchvision_slices(
    vgg_loss: VGGLoss, vgg_weights: tuple[Path, dict[str, torch.Tensor]]
) -> None:
    reference = _vgg19_features()
    reference.load_state_dict({k.removeprefix("features."): v for k, v in vgg_weights[1].items()})
    x, y = torch.rand(2, 3, 64, 48) * 2 - 1, torch.rand(2, 3, 64, 48) * 2 - 1
    expected, a, b = 0.0, x, y
    slices = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
    for weight, (start, end) in zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1), slices, strict=True):
        a, b = reference[start:end](a), reference[start:end](b)
        expected += weight * (a - b).abs().mean()
    assert torch.allclose(vgg_loss(x, y), expected, rtol=1e-5)


def test_vgg_loss_is_frozen_and_passes_gradients(vgg_loss: VGGLoss) -> None:
    loss = vgg_loss.train()
    assert not loss.training and not any(p.requires_grad for p in loss.parameters())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    loss(x, torch.rand(1, 3, 32, 32)).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_vgg_max_pool_keeps_size_one_dimensions_at_16x12(vgg_loss: VGGLoss) -> None:
    loss = vgg_loss
    x = torch.rand(2, 3, 16, 12) * 2 - 1
    features = loss.features(x)
    assert [tuple(f.shape[-2:]) for f in features] == [(16, 12), (8, 6), (4, 3), (2, 1), (1, 1)]
    # relu5_1 comes from pool4 on the 2x1 map: the maximum of each column, then conv5_1 + ReLU.
    before_pool4 = loss.slices[4][:6](features[3])
    assert torch.allclose(features[4], loss.slices[4][7:](before_pool4.amax(dim=(2, 3), keepdim=True)))
    assert torch.isfinite(loss(x, torch.rand(2, 3, 16, 12))).all()
    with pytest.raises(RuntimeError):  # what today's floor-mode pooling does with pool4's 2x1 input
        F.max_pool2d(before_pool4, 2, 2)


def test_vgg_weights_lookup_and_missing_file_error(
    vgg_weights: tuple[Path, dict[str, torch.Tensor]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = vgg_weights[0]
    assert find_vgg19_weights(path) == path
    assert find_vgg19_weights(path.parent) == path
    (tmp_path / "checkpoints").mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        find_vgg19_weights()
    message = str(error.value)
    assert "\n" not in message
    for part in (VGG19_FILE, str(tmp_path / "checkpoints"), VGG19_URL, "perceptual: none"):
        assert part in message
    with pytest.raises(FileNotFoundError, match="perceptual: none"):
        VGGLoss(tmp_path / "elsewhere.pth")
    (tmp_path / "checkpoints" / VGG19_FILE).symlink_to(path)
    assert find_vgg19_weights() == tmp_path / "checkpoints" / VGG19_FILE
