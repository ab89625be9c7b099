"""Tests of bench.metrics: SSIM variants against independent references, PSNR, LPIPS, FID/KID, offline weights.

No pretrained weights are needed: the LPIPS and Inception loading paths are exercised with weights files the tests
write themselves (random trunks), which is valid for code paths only, never for reported numbers.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from bench.metrics import functional as MF
from bench.metrics import weights as W
from bench.metrics.image import LPIPS, PSNR, SSIM, InceptionStats

# ---------------------------------------------------------------------------------------------------------------------
# Images


def _to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 HxWx3 arrays -> float32 [N, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255


@pytest.fixture(scope="module")
def real_pairs(viton_demo: Path) -> tuple[list[Image.Image], list[Image.Image]]:
    """The six demo person images and the person panels of PF-AFN's demo output (they differ by JPEG noise)."""
    people = [line.split()[0] for line in (viton_demo / "demo.txt").read_text().splitlines() if line.strip()]
    persons = [Image.open(viton_demo / "dataset" / "test_img" / name).convert("RGB") for name in people]
    panels = [
        Image.open(viton_demo / "results" / "demo" / "PFAFN" / f"{k}.jpg").convert("RGB").crop((0, 0, 192, 256))
        for k in range(len(people))
    ]
    assert len(persons) == 6 and persons[0].size == (192, 256)
    return persons, panels


@pytest.fixture(scope="module")
def generated_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """Random smooth images (float64, 64x48) and blurred + noisy versions of them, in [0, 1]."""
    rng = np.random.default_rng(0)
    base = scipy.ndimage.gaussian_filter(rng.random((4, 3, 64, 48)), sigma=(0, 0, 3, 3))
    base = (base - base.min()) / (base.max() - base.min())
    blurred = scipy.ndimage.gaussian_filter(base, sigma=(0, 0, 1.2, 1.2))
    noisy = np.clip(
        blurred + rng.normal(0, 0.05, base.shape) * np.array([0.0, 0.5, 1.0, 2.0])[:, None, None, None], 0, 1
    )
    return torch.from_numpy(base), torch.from_numpy(noisy)


def _real_tensors(pairs: tuple[list[Image.Image], list[Image.Image]]) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = pairs
    return _to_tensor([np.asarray(x) for x in a]), _to_tensor([np.asarray(x) for x in b])


# ---------------------------------------------------------------------------------------------------------------------
# Independent references


def _numpy_pytorch_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """pytorch-ssim for one image [3, H, W]: scipy correlation with a zero-padded 11x11 Gaussian window."""
    taps = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    taps /= taps.sum()
    window = np.outer(taps, taps)

    def blur(a: np.ndarray) -> np.ndarray:
        return np.stack([scipy.ndimage.correlate(c, window, mode="constant", cval=0.0) for c in a])

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return float(np.mean(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def _skimage(x: np.ndarray, y: np.ndarray, **kwargs: object) -> float:
    return float(structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, **kwargs))


# ---------------------------------------------------------------------------------------------------------------------
# SSIM


def test_pil_luma_matches_pil_on_all_colours() -> None:
    levels = np.arange(256, dtype=np.uint8)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    rgb = np.stack([r, g, b], -1).reshape(4096, 4096, 3)
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    ours = MF.pil_luma(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()
    assert np.array_equal(ours, expected)


def test_to_uint8_roundtrips_uint8_values() -> None:
    values = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(MF.to_uint8(values.float() / 255), values)


@pytest.fixture(scope="module")
def ssim_values(real_pairs, generated_pairs) -> dict[str, dict[str, np.ndarray]]:
    """Every SSIM variant on the real and the generated pairs, computed once: {"real"/"generated": {variant: [N]}}."""
    out = {}
    for kind, (preds, target) in (("real", _real_tensors(real_pairs)), ("generated", generated_pairs)):
        out[kind] = {}
        for variant in MF.SSIM_VARIANTS:
            values = MF.ssim(preds, target, variant=variant)
            assert values.dtype == torch.float64 and values.shape == (len(preds),)
            out[kind][variant] = values.numpy()
    return out


def _pil_gray(image: torch.Tensor) -> np.ndarray:
    """A [3, H, W] float image saved as 8-bit (like a PNG) and converted by PIL to 'L'."""
    return np.asarray(Image.fromarray(MF.to_uint8(image).permute(1, 2, 0).numpy()).convert("L"))


def test_ssim_pytorch_ssim_matches_numpy_reference(real_pairs, generated_pairs, ssim_values) -> None:
    for kind, (preds, target) in (("real", _real_tensors(real_pairs)), ("generated", generated_pairs)):
        ref = [_numpy_pytorch_ssim(p.double().numpy(), t.double().numpy()) for p, t in zip(preds, target, strict=True)]
        assert np.abs(ssim_values[kind]["pytorch_ssim"] - np.array(ref)).max() < 1e-6, kind


def test_ssim_skimage_gray_matches_skimage_on_pil_grayscale(real_pairs, generated_pairs, ssim_values) -> None:
    # Real images: PIL convert('L') straight from the decoded JPEGs, as HR-VITON does with its PNGs.
    ref = [
        _skimage(np.asarray(a.convert("L")), np.asarray(b.convert("L")), data_range=255)
        for a, b in zip(*real_pairs, strict=True)
    ]
    assert np.abs(ssim_values["real"]["skimage_gray"] - np.array(ref)).max() < 1e-6
    ref = [_skimage(_pil_gray(p), _pil_gray(t), data_range=255) for p, t in zip(*generated_pairs, strict=True)]
    assert np.abs(ssim_values["generated"]["skimage_gray"] - np.array(ref)).max() < 1e-6


def test_ssim_skimage_rgb_matches_skimage(real_pairs, generated_pairs, ssim_values) -> None:
    for kind, (preds, target) in (("real", _real_tensors(real_pairs)), ("generated", generated_pairs)):
        ref = [
            _skimage(p.double().numpy(), t.double().numpy(), data_range=1.0, channel_axis=0)
            for p, t in zip(preds, target, strict=True)
        ]
        assert np.abs(ssim_values[kind]["skimage_rgb"] - np.array(ref)).max() < 1e-6, kind


def test_ssim_torchmetrics_matches_the_library(real_pairs, generated_pairs, ssim_values) -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure

    for kind, (preds, target) in (("real", _real_tensors(real_pairs)), ("generated", generated_pairs)):
        ref = structural_similarity_index_measure(preds.double(), target.double(), data_range=1.0, reduction="none")
        assert np.abs(ssim_values[kind]["torchmetrics"] - ref.numpy()).max() < 1e-12, kind


def test_ssim_torchmetrics_cropped_is_the_cropped_map(real_pairs, generated_pairs, ssim_values) -> None:
    """torchmetrics < 1.4.2 (LaDI-VTON's pinned 0.11.4): the reflect-padded SSIM map cropped by 5 px, then the mean.

    The installed torchmetrics still returns that same-size map with ``return_full_image=True``; cropping it
    reproduces the old reduction. The cropped map keeps exactly the windows inside the image: skimage's RGB form.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    for kind, (preds, target) in (("real", _real_tensors(real_pairs)), ("generated", generated_pairs)):
        _, full = structural_similarity_index_measure(preds.double(), target.double(), data_range=1.0,
                                                      reduction="none", return_full_image=True)  # fmt: skip
        assert full.shape == preds.shape
        ref = full[..., 5:-5, 5:-5].mean(dim=(1, 2, 3))
        assert np.abs(ssim_values[kind]["torchmetrics_cropped"] - ref.numpy()).max() < 1e-12, kind
        assert np.abs(ssim_values[kind]["torchmetrics_cropped"] - ssim_values[kind]["skimage_rgb"]).max() < 1e-12
        # The two torchmetrics forms differ enough to move the 4th decimal a paper reports.
        assert np.abs(ssim_values[kind]["torchmetrics_cropped"] - ssim_values[kind]["torchmetrics"]).max() > 1e-4, kind


def _numpy_torchmetrics_ssim(x: np.ndarray, y: np.ndarray, *, cropped: bool) -> float:
    """torchmetrics' SSIM of one image [3, H, W] in float64 with scipy: the images reflect-padded by 5 px (numpy
    'reflect' = scipy 'mirror', the edge pixel not repeated), an 11x11 Gaussian (sigma 1.5), the map cropped by 5 px
    before the mean (torchmetrics < 1.4.2) or not (>= 1.4.2)."""
    taps = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5**2))
    window = np.outer(taps, taps) / taps.sum() ** 2

    def blur(a: np.ndarray) -> np.ndarray:
        return np.stack([scipy.ndimage.correlate(c, window, mode="mirror") for c in a])

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float((ssim_map[:, 5:-5, 5:-5] if cropped else ssim_map).mean())


def test_torchmetrics_ssim_boundary_is_1_4_2(generated_pairs) -> None:
    """The installed torchmetrics computes the form its version maps to; the other form equals an independent float64
    reference. torchmetrics stopped cropping in 1.4.2 (released 2024-09-13, Lightning-AI/torchmetrics#2721)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    from bench.metrics.image import library_version

    assert [MF.torchmetrics_ssim_variant(v) for v in ("0.11.4", "1.4.1", "1.4.2", "1.5.0", "1.9.0")] == [
        "torchmetrics_cropped", "torchmetrics_cropped", "torchmetrics", "torchmetrics", "torchmetrics",
    ]  # fmt: skip
    installed = MF.torchmetrics_ssim_variant(library_version("torchmetrics"))
    (other,) = {"torchmetrics_cropped", "torchmetrics"} - {installed}
    preds, target = generated_pairs
    library = structural_similarity_index_measure(preds, target, data_range=1.0, reduction="none")
    assert (MF.ssim(preds, target, variant=installed) - library).abs().max() < 1e-12
    assert (MF.ssim(preds, target, variant=other) - library).abs().max() > 1e-4
    reference = [_numpy_torchmetrics_ssim(p.numpy(), t.numpy(), cropped=other == "torchmetrics_cropped")
                 for p, t in zip(preds, target, strict=True)]  # fmt: skip
    assert np.abs(MF.ssim(preds, target, variant=other).numpy() - np.array(reference)).max() < 1e-10
    described = SSIM(variant=other).describe()
    assert described["installed_torchmetrics_computes"] == installed and "1.4.2" in described["reproduces"]


def test_ssim_variants_differ(ssim_values) -> None:
    """Why the variant must be named: torchmetrics and pytorch-ssim average the padded border, skimage does not."""
    for kind in ("real", "generated"):
        values = ssim_values[kind]
        assert np.abs(values["torchmetrics"] - values["skimage_rgb"]).max() > 1e-4, kind
        assert np.abs(values["pytorch_ssim"] - values["skimage_rgb"]).max() > 1e-4, kind
        assert np.abs(values["skimage_gray"] - values["skimage_rgb"]).max() > 1e-4, kind


@pytest.mark.parametrize("variant", MF.SSIM_VARIANTS)
def test_ssim_identical_images_is_one(variant: str, generated_pairs) -> None:
    images = generated_pairs[0]
    assert torch.allclose(MF.ssim(images, images, variant=variant), torch.ones(len(images), dtype=torch.float64))


def test_image_inputs_are_validated() -> None:
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MF.ssim_pytorch_ssim(x * 2 - 1, x)
    with pytest.raises(ValueError, match="same shape"):
        MF.psnr(x, x[:1])
    with pytest.raises(ValueError, match="Unknown SSIM variant"):
        SSIM(variant="matlab")


# ---------------------------------------------------------------------------------------------------------------------
# PSNR


def test_psnr_values_and_cap(generated_pairs) -> None:
    preds, target = generated_pairs
    mse = ((preds - target) ** 2).mean(dim=(1, 2, 3))
    assert torch.allclose(MF.psnr(preds, target), 10 * torch.log10(1 / mse))
    assert torch.equal(MF.psnr(preds, preds), torch.full((len(preds),), 100.0, dtype=torch.float64))
    assert torch.equal(MF.psnr(preds, preds, cap=60.0), torch.full((len(preds),), 60.0, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------------------------------
# Streaming


@pytest.mark.parametrize(
    "make", [functools.partial(SSIM, variant=v) for v in MF.SSIM_VARIANTS] + [PSNR], ids=[*MF.SSIM_VARIANTS, "psnr"]
)
def test_streaming_equals_single_batch(make, generated_pairs) -> None:
    preds, target = generated_pairs
    whole, streamed = make(), make()
    whole.update(preds, target)
    for start, stop in ((0, 1), (1, 3), (3, 4)):
        streamed.update(preds[start:stop], target[start:stop])
    assert torch.allclose(whole.compute(), streamed.compute(), rtol=0, atol=1e-12)
    assert whole.compute().shape == (len(preds),)
    description = whole.describe()
    assert description["metric"] in ("ssim", "psnr") and "libraries" in description
    json.dumps(description)


# ---------------------------------------------------------------------------------------------------------------------
# FID / KID


def _gaussian_features(seed: int, n: int, d: int, shift: float) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return torch.from_numpy(rng.normal(size=(n, d)) @ mix + shift)


def test_fid_matches_direct_scipy_computation() -> None:
    real, fake = _gaussian_features(0, 600, 48, 0.0), _gaussian_features(1, 500, 48, 0.3)
    x, y = real.numpy(), fake.numpy()
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2))))
    assert expected > 1.0
    for method in ("sqrtm", "spectral"):
        assert MF.fid_from_features(real, fake, method=method) == pytest.approx(expected, rel=1e-8)
    # torch-fidelity's own statistics-to-metric function (eigenvalue based) agrees too.
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    tf = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    assert MF.fid_from_features(real, fake) == pytest.approx(tf["frechet_inception_distance"], rel=1e-8)
    assert abs(MF.fid_from_features(real, real, method="sqrtm")) < 1e-8


def test_fid_spectral_with_fewer_samples_than_dimensions() -> None:
    """The sample-space path (N < D, singular covariances, as with 2,032 images and 2,048-d features)."""
    real, fake = _gaussian_features(2, 30, 64, 0.0), _gaussian_features(3, 40, 64, 0.5)
    expected = MF.fid_from_features(real, fake, method="sqrtm")
    assert MF.fid_from_features(real, fake, method="spectral") == pytest.approx(expected, rel=1e-6)
    assert abs(MF.fid_from_features(real, real, method="spectral")) < 1e-8
    with pytest.raises(ValueError, match="Unknown FID method"):
        MF.fid_from_features(real, fake, method="eig")  # type: ignore[arg-type]


def test_kid_matches_torch_fidelity() -> None:
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    real, fake = _gaussian_features(0, 300, 32, 0.0), _gaussian_features(1, 250, 32, 0.2)
    kwargs = {"subsets": 20, "subset_size": 100, "seed": 7}
    mean, std = MF.kid_from_features(real, fake, **kwargs)
    ref = kid_features_to_metric(fake, real, kid_subsets=20, kid_subset_size=100, rng_seed=7, verbose=False)
    assert mean == pytest.approx(ref[KEY_METRIC_KID_MEAN], rel=1e-10)
    assert std == pytest.approx(ref[KEY_METRIC_KID_STD], rel=1e-10)
    assert mean > 0
    with pytest.raises(ValueError, match="subset_size"):
        MF.kid_from_features(real, fake, subset_size=1000)


# ---------------------------------------------------------------------------------------------------------------------
# Weights


def test_missing_weights_fail_fast_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    for name, spec in W.WEIGHTS.items():
        start = time.perf_counter()
        with pytest.raises(W.MissingWeightsError) as info:
            W.resolve_weights(name, tmp_path / "mine")
        assert time.perf_counter() - start < 1.0
        message = str(info.value)
        assert "\n" not in message
        assert spec.filename in message and spec.url in message
        assert str(tmp_path / "mine") in message and str(tmp_path / "torch_home" / "hub" / "checkpoints") in message
    assert isinstance(info.value, ValueError)
    start = time.perf_counter()
    with pytest.raises(W.MissingWeightsError):
        W.build_inception(tmp_path / "mine")
    with pytest.raises(W.MissingWeightsError):
        W.build_lpips("vgg", "torchmetrics", tmp_path / "mine")
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match="Unknown weights name"):
        W.resolve_weights("resnet", tmp_path)


def test_weights_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = tmp_path / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    (hub / W.WEIGHTS["alex"].filename).write_bytes(b"hub")
    assert W.resolve_weights("alex") == hub / W.WEIGHTS["alex"].filename
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / W.WEIGHTS["alex"].filename).write_bytes(b"mine")
    assert W.resolve_weights("alex", mine) == mine / W.WEIGHTS["alex"].filename


def test_weight_urls_match_the_libraries() -> None:
    import torchvision
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert W.WEIGHTS["inception"].url == URL_INCEPTION_V3
    assert W.WEIGHTS["alex"].url == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    assert W.WEIGHTS["vgg"].url == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    assert W.WEIGHTS["squeeze"].url == torchvision.models.SqueezeNet1_1_Weights.IMAGENET1K_V1.url
    assert W.WEIGHTS["inception_imagenet"].url == torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url
    import timm
    from piq.perceptual import DISTS

    assert W.WEIGHTS["dists"].url == DISTS._weights_url
    for name, arch in (("dinov2_vitl14", "vit_large_patch14_dinov2.lvd142m"),
                       ("dinov2_vits14", "vit_small_patch14_dinov2.lvd142m")):  # fmt: skip
        assert W.WEIGHTS[name].url == timm.models.get_pretrained_cfg(arch).url
    renamed = {"clip_vit_b32": "open_clip_pytorch_model.bin"}  # the hub's generic name, saved under a specific one
    for name, spec in W.WEIGHTS.items():
        assert spec.url.endswith("/" + renamed.get(name, spec.filename))


# ---------------------------------------------------------------------------------------------------------------------
# LPIPS (random trunk written by the test: code path only)


@pytest.mark.parametrize("net", ["alex", "squeeze"])
def test_lpips_backends_load_trunk_and_agree(net: str, lpips_weights_dir: Path, real_pairs) -> None:
    saved = torch.load(lpips_weights_dir / W.WEIGHTS[net].filename, weights_only=True)
    preds, target = _real_tensors(real_pairs)
    preds, target = preds[:2], target[:2]
    values = {}
    for backend in ("lpips", "torchmetrics"):
        model = W.build_lpips(net, backend, lpips_weights_dir)
        first_conv = next(p for name, p in model.net.named_parameters() if name.endswith("0.weight"))
        assert torch.equal(first_conv, saved["features.0.weight"])
        assert not model.training and not any(p.requires_grad for p in model.parameters())
        values[backend] = MF.lpips(preds, target, net=net, backend=backend, model=model)
        assert values[backend].shape == (2,) and values[backend].dtype == torch.float64
        assert (values[backend] > 0).all()
        same = MF.lpips(preds, preds, net=net, backend=backend, model=model)
        assert torch.equal(same, torch.zeros(2, dtype=torch.float64))
    assert torch.allclose(values["lpips"], values["torchmetrics"], rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="not a 'torchmetrics' model"):
        MF.lpips(preds, target, net=net, backend="torchmetrics", model=W.build_lpips(net, "lpips", lpips_weights_dir))


def test_lpips_metric_streams_and_describes(lpips_weights_dir: Path, generated_pairs) -> None:
    preds, target = (x.float() for x in generated_pairs)
    whole = LPIPS(net="alex", backend="lpips", weights_dir=lpips_weights_dir)
    streamed = LPIPS(net="alex", backend="lpips", model=whole.model)
    whole.update(preds, target)
    streamed.update(preds[:1], target[:1])
    streamed.update(preds[1:], target[1:])
    assert torch.allclose(whole.compute(), streamed.compute(), rtol=1e-6, atol=1e-8)
    info = whole.describe()
    json.dumps(info)
    assert info["backbone"] == "alex" and info["weights"]["file"] == W.WEIGHTS["alex"].filename
    assert len(info["weights"]["sha256_prefix"]) == 12 and info["weights"]["sha256_matches_name"] is False


# ---------------------------------------------------------------------------------------------------------------------
# Inception (random He-initialised weights written by the test: code path only)


def test_inception_fid_kid_from_written_weights(inception_weights_dir: Path, real_pairs) -> None:
    images = _real_tensors(real_pairs)[0][:4]
    metric = InceptionStats(
        weights_dir=inception_weights_dir, fid_method="spectral", kid_subsets=5, kid_subset_size=4,
        reset_real_features=False,
    )  # fmt: skip
    metric.update(images, real=True)
    metric.update(images[:1], real=False)
    metric.update(images[1:], real=False)
    real, fake = metric.features(real=True), metric.features(real=False)
    assert real.shape == (4, 2048) and real.std() > 1e-3, "features vanished: weights not He-initialised?"
    assert torch.allclose(real, fake, rtol=1e-4, atol=1e-5)  # batch-size independence
    same = metric.compute()
    scale = float(real.var(dim=0).sum())
    assert abs(float(same["fid"])) < 1e-4 * scale
    assert int(same["n_real"]) == 4 and int(same["n_fake"]) == 4

    metric.reset()  # keeps the real features
    metric.update((images * 0.6 + 0.3).clamp(0, 1), real=False)
    shifted = metric.compute()
    assert int(shifted["n_real"]) == 4
    assert float(shifted["fid"]) > 0.1 * scale
    assert float(shifted["kid_mean"]) > float(same["kid_mean"])

    info = metric.describe()
    json.dumps(info)
    assert info["layer"].startswith("2048") and info["weights"]["file"] == W.WEIGHTS["inception"].filename
    assert info["weights"]["sha256_matches_name"] is False


def test_inception_extractor_equals_torch_fidelity(inception_weights_dir: Path, real_pairs) -> None:
    """build_inception (torchmetrics, antialias=False) gives torch-fidelity's own features from the same file."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = MF.to_uint8(_real_tensors(real_pairs)[0][:2])
    path = W.resolve_weights("inception", inception_weights_dir)
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
    with torch.no_grad():
        ours = W.build_inception(inception_weights_dir)(images)
        (theirs,) = reference(images)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_inception_stats_reset_and_precomputed_features() -> None:
    images = torch.rand(5, 3, 8, 8)
    for keep_real in (False, True):
        metric = InceptionStats(extractor=_MeanColour(), kid=False, reset_real_features=not keep_real)
        metric.update(images, real=True)
        metric.update(torch.rand(4, 3, 8, 8), real=False)
        metric.reset()
        assert metric.features(real=True).shape == ((5, 3) if keep_real else (0, 0))
        assert metric.features(real=False).numel() == 0
    metric.update(features=torch.rand(4, 3, dtype=torch.float64), real=False)
    result = metric.compute()
    assert "kid_mean" not in result and result["fid"].dtype == torch.float64
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metric.update(images * 2 - 1, real=False)
    with pytest.raises(ValueError, match="exactly one of"):
        metric.update(images)


class _MeanColour(torch.nn.Module):
    """A toy extractor: the mean colour of a uint8 image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.uint8
        return x.float().mean(dim=(2, 3))


def test_mse_is_hr_vitons_per_image_mse_loss(generated_pairs) -> None:
    from torch.nn import functional as F

    from bench.metrics import MSE

    preds, target = generated_pairs
    expected = torch.stack([F.mse_loss(p.double(), t.double()) for p, t in zip(preds, target, strict=True)])
    assert torch.allclose(MF.mse(preds, target), expected, rtol=1e-12)
    metric = MSE()
    metric.update(preds, target)
    assert torch.allclose(metric.compute(), expected) and metric.describe()["higher_is_better"] is False
    assert MF.mse(target, target).abs().max() == 0


def test_inception_score_is_the_original_formula() -> None:
    from scipy.stats import entropy

    probs = torch.softmax(torch.randn(12, 10, generator=torch.Generator().manual_seed(0)) * 3, dim=1).double()
    for splits in (1, 3):
        scores = []
        for k in range(splits):  # HR-VITON's (and the original IS code's) loop
            part = probs.numpy()[k * (12 // splits) : (k + 1) * (12 // splits)]
            py = np.mean(part, axis=0)
            scores.append(np.exp(np.mean([entropy(pyx, py) for pyx in part])))
        mean, std = MF.inception_score_from_probs(probs, splits=splits)
        assert mean == pytest.approx(np.mean(scores), rel=1e-12) and std == pytest.approx(np.std(scores), abs=1e-12)
    assert MF.inception_score_from_probs(torch.eye(10)[:1].expand(5, 10).double()) == pytest.approx((1.0, 0.0))
