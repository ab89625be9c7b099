"""The extra metrics (MS-SSIM, DISTS, garment-region SSIM / LPIPS, CLIP / DINOv2 embeddings,
precision / recall); the protocol-choice sensitivity table is tested in test_sensitivity.py.

Every weights file here is written by the test with random values: the loading path and the formulas are tested,
never the numbers a real backbone gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics import functional as MF
from bench.metrics.weights import WEIGHTS, MissingWeightsError, build_lpips


def _images(seed: int, n: int, size: tuple[int, int]) -> torch.Tensor:
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _pair(size: tuple[int, int] = (64, 48)) -> tuple[torch.Tensor, torch.Tensor]:
    target = _images(0, 2, size)
    return (0.7 * target + 0.3 * _images(1, 2, size)), target


def test_ms_ssim_equals_torchmetrics_and_refuses_small_images() -> None:
    from torchmetrics.image import MultiScaleStructuralSimilarityIndexMeasure

    from bench.metrics.perceptual import MS_SSIM_MIN_SIDE, MSSSIM, ms_ssim

    preds, target = _pair((192, 176))
    reference = MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0)
    reference.update(preds, target)
    metric = MSSSIM()
    metric.update(preds, target)
    assert metric.compute().mean().item() == pytest.approx(reference.compute().item(), abs=1e-6)  # its state is float32
    assert torch.allclose(ms_ssim(target, target), torch.ones(2, dtype=torch.float64), atol=1e-12)
    assert MS_SSIM_MIN_SIDE == 176
    with pytest.raises(ValueError, match="at least 176 px"):
        ms_ssim(*_pair((256, 175)))


@pytest.fixture(scope="module")
def dists_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random VGG16 and random alpha / beta (normalised to sum 1, as the published file is) under hub names."""
    import torchvision

    folder = tmp_path_factory.mktemp("dists") / "checkpoints"
    folder.mkdir()
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), folder / WEIGHTS["vgg"].filename)
    alpha, beta = torch.rand(1, 1475, 1, 1), torch.rand(1, 1475, 1, 1)
    total = alpha.sum() + beta.sum()
    torch.save({"alpha": alpha / total, "beta": beta / total}, folder / WEIGHTS["dists"].filename)
    return folder


def test_dists_equals_piq_loaded_through_the_hub(dists_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import piq

    from bench.metrics.perceptual import DISTS, dists

    preds, target = _pair((64, 48))
    metric = DISTS(weights_dir=dists_dir)
    metric.update(preds, target)
    ours = metric.compute()
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        dists(preds, target, weights_dir=dists_dir.parent / "nowhere")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(dists_dir.parent))  # piq's own loader, same files
    reference = piq.DISTS(reduction="none")(preds.float(), target.float()).double()
    assert torch.allclose(ours, reference, atol=1e-6)
    assert dists(target, target, model=metric.model).abs().max() < 1e-5
    assert metric.describe()["weights"]["dists"]["file"] == "dists_weights.pt"


def test_masked_ssim_and_lpips_are_means_over_the_mask(lpips_weights_dir: Path) -> None:
    import lpips as lpips_pkg

    from bench.metrics.region import GarmentRegion, masked_lpips, masked_ssim

    preds, target = _pair((64, 48))
    everything = torch.ones(2, 1, 64, 48, dtype=torch.bool)
    assert torch.allclose(masked_ssim(preds, target, everything), MF.ssim_torchmetrics(preds, target), atol=1e-12)
    half = torch.zeros_like(everything)
    half[..., :32, :] = True
    ssim_map = MF._gaussian_ssim_map(preds, target, 0.01**2, 0.03**2, pad="reflect").mean(dim=1)
    assert torch.allclose(masked_ssim(preds, target, half), ssim_map[:, :32].mean(dim=(1, 2)), atol=1e-12)

    model = build_lpips("alex", "lpips", lpips_weights_dir)
    spatial = lpips_pkg.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False, spatial=True)
    spatial.load_state_dict(model.state_dict())
    expected = spatial(2 * preds.float() - 1, 2 * target.float() - 1)[:, 0, :32].mean(dim=(1, 2)).double()
    assert torch.allclose(masked_lpips(preds, target, half, model=model), expected, atol=1e-6)
    assert model.spatial is False  # restored

    metric = GarmentRegion(weights_dir=lpips_weights_dir)
    empty = torch.zeros_like(everything)
    empty[1, :, :32] = True
    metric.update(preds, target, empty)
    out = metric.compute()
    assert torch.isnan(out["ssim_garment"][0]) and torch.isfinite(out["ssim_outside"]).all()


def test_garment_mask_follows_the_category() -> None:
    from bench.data.schema import LABEL_SETS
    from bench.metrics.region import garment_mask

    names = LABEL_SETS["atr18"].names
    parse = torch.tensor([[names.index("upper_clothes"), names.index("pants"), names.index("dress")]])
    assert garment_mask(parse, "atr18", "upper_body").tolist() == [[True, False, False]]
    assert garment_mask(parse, "atr18", "lower_body").tolist() == [[False, True, False]]
    assert garment_mask(parse, "atr18", "dresses").tolist() == [[False, False, True]]
    assert garment_mask(parse, "atr18").tolist() == [[True, False, False]]
    with pytest.raises(ValueError, match="Unknown category"):
        garment_mask(parse, "atr18", "hats")


def test_precision_recall_equals_a_brute_force_reference() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(40, 5)), rng.normal(0.5, 1.2, size=(30, 5))

    def inside(points: np.ndarray, manifold: np.ndarray, k: int = 3) -> float:
        radii = [np.sort(np.linalg.norm(manifold - m, axis=1))[k] for m in manifold]  # k-th other member
        return float(
            np.mean([any(np.linalg.norm(p - m) <= r for m, r in zip(manifold, radii, strict=True)) for p in points])
        )

    precision, recall = MF.precision_recall_from_features(torch.from_numpy(real), torch.from_numpy(fake))
    assert precision == pytest.approx(inside(fake, real)) and recall == pytest.approx(inside(real, fake))
    assert 0 < precision < 1 and 0 < recall < 1
    with pytest.raises(ValueError, match="more than 3"):
        MF.precision_recall_from_features(torch.zeros(3, 2), torch.zeros(5, 2))


@pytest.fixture()
def tiny_embedders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One-block versions of the CLIP and DINOv2 architectures, random weights saved under the real file names."""
    import timm

    from bench.metrics import embedding as E

    for name, arch, kwargs in (
        ("clip", "vit_base_patch32_clip_224.openai", {"depth": 1}),
        ("dinov2", "vit_small_patch14_dinov2.lvd142m", {"depth": 1, "num_classes": 0}),
    ):
        spec = E.EMBEDDERS[name]
        monkeypatch.setitem(E.EMBEDDERS, name, E.EmbedderSpec(arch, spec.weights, {**spec.kwargs, **kwargs}))
        model = timm.create_model(arch, pretrained=False, **kwargs)
        torch.save(model.state_dict(), tmp_path / WEIGHTS[spec.weights].filename)
    return tmp_path


def test_embedding_similarity_through_the_local_loader(tiny_embedders: Path) -> None:
    from bench.metrics.embedding import FeatureSimilarity, build_embedder

    preds, target = _pair((64, 48))
    for name, dim in (("clip", 512), ("dinov2", 384)):
        model = build_embedder(name, tiny_embedders)
        assert model(preds).shape == (2, dim)
        metric = FeatureSimilarity(name, model=model)
        metric.update(target, target)
        assert torch.allclose(metric.compute(), torch.ones(2, dtype=torch.float64), atol=1e-6)
        assert metric.describe()["weights"]["sha256_matches_name"] is False  # test weights are never "real"
    with pytest.raises(MissingWeightsError, match="dinov2_vitl14_pretrain.pth"):
        build_embedder("dinov2", tiny_embedders / "nowhere")
