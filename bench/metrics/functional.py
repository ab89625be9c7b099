"""Stateless metric functions: per-sample SSIM variants, PSNR, LPIPS, and FID/KID over precomputed features.

Image inputs are float tensors ``[N, 3, H, W]`` in [0, 1] with the same shape; every image metric returns per-sample
values ``[N]`` as float64, so callers can bootstrap confidence intervals. The SSIM variants differ numerically (up to
~1e-2), which is why each is named after the codebase it reproduces:

- :func:`ssim_pytorch_ssim`: Po-Hsun-Su's ``pytorch-ssim`` (FS-VTON, ACGPN, SDAFN, C-VTON): 11x11 Gaussian window,
  sigma 1.5, depthwise convolution with zero padding 5, constants for data range 1, mean over the whole map.
- :func:`ssim_skimage_gaussian`: HR-VITON's ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``, on PIL-'L' grayscale with data range 255 (or RGB).
- :func:`ssim_torchmetrics_cropped`: torchmetrics' defaults with data range 1 as torchmetrics < 1.4.2 computes them
  (LaDI-VTON pins 0.11.4; CatVTON's published numbers predate 1.4.2): the reflect-padded map cropped by 5 px, which
  is exactly skimage's RGB form with data range 1.
- :func:`ssim_torchmetrics`: the same as torchmetrics >= 1.4.2 computes it, whose mean includes the 5-pixel border
  computed on reflect-padded images.

:func:`torchmetrics_ssim_variant` says which of the two a torchmetrics version computes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn

__all__ = [
    "SSIM_VARIANTS",
    "TORCHMETRICS_UNCROPPED_SSIM_SINCE",
    "fid_from_features",
    "inception_score_from_probs",
    "kid_from_features",
    "lpips",
    "mse",
    "pil_luma",
    "precision_recall_from_features",
    "psnr",
    "ssim",
    "ssim_pytorch_ssim",
    "ssim_skimage_gaussian",
    "ssim_torchmetrics",
    "ssim_torchmetrics_cropped",
    "to_uint8",
    "torchmetrics_ssim_variant",
]

_logger = logging.getLogger(__name__)

SSIM_VARIANTS = ("pytorch_ssim", "skimage_gray", "skimage_rgb", "torchmetrics_cropped", "torchmetrics")
# The first torchmetrics release whose SSIM averages the whole reflect-padded map (Lightning-AI/torchmetrics#2721,
# released in 1.4.2 on 2024-09-13); earlier releases crop the map by the padding before the mean.
TORCHMETRICS_UNCROPPED_SSIM_SINCE = "1.4.2"


def _check_images(preds: Tensor, target: Tensor) -> None:
    """Validate a pair of image batches: float ``[N, 3, H, W]``, same shape, values in [0, 1]."""
    if not (isinstance(preds, Tensor) and isinstance(target, Tensor)):
        raise TypeError(f"Expected two tensors, got {type(preds).__name__} and {type(target).__name__}")
    if preds.shape != target.shape or preds.ndim != 4 or preds.shape[1] != 3:
        raise ValueError(
            f"Expected preds and target of the same shape [N, 3, H, W], got {tuple(preds.shape)} and "
            f"{tuple(target.shape)}"
        )
    if not (preds.is_floating_point() and target.is_floating_point()):
        raise TypeError(f"Expected float images in [0, 1], got dtypes {preds.dtype} and {target.dtype}")
    for name, x in (("preds", preds), ("target", target)):
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(
                f"Expected {name} in [0, 1], got values in [{x.min().item():.4g}, {x.max().item():.4g}]; "
                "convert [-1, 1] outputs with (x + 1) / 2"
            )


def to_uint8(images: Tensor) -> Tensor:
    """Quantise [0, 1] images to uint8 as ``torchvision.utils.save_image`` does: ``floor(255 * x + 0.5)``.

    uint8 input is returned unchanged.
    """
    if images.dtype == torch.uint8:
        return images
    return torch.floor(images.double() * 255 + 0.5).clamp_(0, 255).to(torch.uint8)


def pil_luma(images: Tensor) -> Tensor:
    """RGB uint8 ``[N, 3, H, W]`` to grayscale uint8 ``[N, 1, H, W]`` exactly as PIL's ``convert("L")``.

    ITU-R 601-2 luma (L = R * 299/1000 + G * 587/1000 + B * 114/1000) in PIL's 16-bit fixed point with round-half-up:
    ``(R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16``. This equals PIL on all 2^24 colours; plain rounding of the
    decimal formula differs on 9,112 of them.
    """
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"Expected uint8 images [N, 3, H, W], got {images.dtype} {tuple(images.shape)}")
    x = images.to(torch.int32)
    luma = (x[:, 0] * 19595 + x[:, 1] * 38470 + x[:, 2] * 7471 + 0x8000) >> 16
    return luma.unsqueeze(1).to(torch.uint8)


def _gaussian_window(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Normalised 1-D Gaussian of ``size`` taps centred on ``size // 2``."""
    x = torch.arange(size, dtype=dtype, device=device) - size // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def _blur_valid(t: Tensor, g: Tensor) -> Tensor:
    """Valid (unpadded) separable convolution with the 1-D kernel ``g`` along H, then W, as sums of shifted slices.

    Equal to a depthwise 2-D convolution with ``outer(g, g)`` up to float rounding, and far faster on CPU in float64,
    where convolutions have no optimised kernels.
    """
    k = g.numel()
    height, width = t.shape[-2] - k + 1, t.shape[-1] - k + 1
    rows = torch.zeros(*t.shape[:-2], height, t.shape[-1], dtype=t.dtype, device=t.device)
    for i in range(k):
        rows.add_(t[..., i : i + height, :], alpha=float(g[i]))
    out = torch.zeros(*t.shape[:-2], height, width, dtype=t.dtype, device=t.device)
    for i in range(k):
        out.add_(rows[..., i : i + width], alpha=float(g[i]))
    return out


def _gaussian_ssim_map(x: Tensor, y: Tensor, c1: float, c2: float, *, pad: str | None) -> Tensor:
    """SSIM map with an 11x11 Gaussian window (sigma 1.5), population statistics, in float64.

    ``pad``: ``"constant"`` (zeros; pytorch-ssim) or ``"reflect"`` (torchmetrics) pads the images by 5 first, giving a
    same-size map; ``None`` keeps only the windows inside the image (skimage's crop of its border).
    """
    x, y = x.double(), y.double()
    if pad is not None:
        x, y = F.pad(x, (5, 5, 5, 5), mode=pad), F.pad(y, (5, 5, 5, 5), mode=pad)
    g = _gaussian_window(11, 1.5, torch.float64, x.device)
    mu_x, mu_y, xx, yy, xy = _blur_valid(torch.stack([x, y, x * x, y * y, x * y]), g)
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim_pytorch_ssim(preds: Tensor, target: Tensor) -> Tensor:
    """SSIM as Po-Hsun-Su's ``pytorch-ssim`` computes it (FS-VTON, ACGPN, SDAFN, C-VTON).

    11x11 Gaussian window (sigma 1.5), depthwise convolution with zero padding 5 (so the border windows see zeros),
    ``C1 = 0.01**2``, ``C2 = 0.03**2`` (data range 1), SSIM map averaged over channels, height and width. Computed in
    float64. No library implements this variant, hence this small implementation.

    Args:
        preds: Float images ``[N, 3, H, W]`` in [0, 1].
        target: Float images of the same shape.

    Returns:
        Per-sample SSIM ``[N]`` (float64).
    """
    _check_images(preds, target)
    return _gaussian_ssim_map(preds, target, 0.01**2, 0.03**2, pad="constant").mean(dim=(1, 2, 3))


def ssim_skimage_gaussian(preds: Tensor, target: Tensor, *, grayscale: bool) -> Tensor:
    """SSIM as HR-VITON computes it: skimage ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``.

    skimage filters with an 11-tap Gaussian (truncate 3.5) and discards the 5-pixel border where the window leaves the
    image, so its mean is over the windows inside the image: computed here directly, in float64 (skimage's own
    per-image loop is the reference in the tests, agreeing to ~1e-13).

    - ``grayscale=True`` (HR-VITON): images are quantised to uint8 (``floor(255 * x + 0.5)``), converted to grayscale
      exactly as PIL ``convert("L")`` (:func:`pil_luma`), and scored on [0, 255] with ``data_range=255``.
    - ``grayscale=False``: RGB as given, ``data_range=1``, mean over channels (skimage ``channel_axis``).

    Args:
        preds: Float images ``[N, 3, H, W]`` in [0, 1].
        target: Float images of the same shape.
        grayscale: Convert to PIL luma first (HR-VITON's protocol).

    Returns:
        Per-sample SSIM ``[N]`` (float64).
    """
    _check_images(preds, target)
    if min(preds.shape[-2:]) < 11:
        raise ValueError(f"Images must be at least 11x11 for an 11x11 window, got {tuple(preds.shape[-2:])}")
    if grayscale:
        x, y, data_range = pil_luma(to_uint8(preds)), pil_luma(to_uint8(target)), 255.0
    else:
        x, y, data_range = preds, target, 1.0
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return _gaussian_ssim_map(x, y, c1, c2, pad=None).mean(dim=(1, 2, 3))


def ssim_torchmetrics_cropped(preds: Tensor, target: Tensor) -> Tensor:
    """torchmetrics' SSIM defaults with ``data_range=1.0`` as torchmetrics < 1.4.2 computes them (LaDI-VTON, CatVTON).

    Gaussian 11, sigma 1.5, RGB; the images are reflect-padded by 5 px, the SSIM map computed, and the map cropped by
    5 px on every side before the mean (``ssim_idx_full_image[..., 5:-5, 5:-5]``). That keeps exactly the windows
    inside the image, so the value is skimage's RGB form with data range 1 (:func:`ssim_skimage_gaussian` with
    ``grayscale=False``), which computes it. Float64.

    Returns:
        Per-sample SSIM ``[N]`` (float64).
    """
    return ssim_skimage_gaussian(preds, target, grayscale=False)


def ssim_torchmetrics(preds: Tensor, target: Tensor) -> Tensor:
    """torchmetrics' SSIM defaults with ``data_range=1.0`` as torchmetrics >= 1.4.2 computes them: Gaussian 11,
    sigma 1.5, RGB.

    torchmetrics 1.4.2+ reflect-pads the images by 5 pixels and averages the whole same-size map, so its value differs
    from the cropped form (:func:`ssim_torchmetrics_cropped`) by up to ~1e-3. Computed here in float64 with the same
    padding, window and constants (equal to ``torchmetrics.functional.structural_similarity_index_measure`` on float64
    inputs to ~1e-13 in the tests, and ~20x faster on CPU).

    Returns:
        Per-sample SSIM ``[N]`` (float64).
    """
    _check_images(preds, target)
    return _gaussian_ssim_map(preds, target, 0.01**2, 0.03**2, pad="reflect").mean(dim=(1, 2, 3))


def ssim(preds: Tensor, target: Tensor, *, variant: str) -> Tensor:
    """Per-sample SSIM for a named variant (one of :data:`SSIM_VARIANTS`)."""
    if variant == "pytorch_ssim":
        return ssim_pytorch_ssim(preds, target)
    if variant == "skimage_gray":
        return ssim_skimage_gaussian(preds, target, grayscale=True)
    if variant == "skimage_rgb":
        return ssim_skimage_gaussian(preds, target, grayscale=False)
    if variant == "torchmetrics_cropped":
        return ssim_torchmetrics_cropped(preds, target)
    if variant == "torchmetrics":
        return ssim_torchmetrics(preds, target)
    raise ValueError(f"Unknown SSIM variant {variant!r}; expected one of {SSIM_VARIANTS}")


def torchmetrics_ssim_variant(version: str) -> str:
    """The SSIM variant a torchmetrics release (``"0.11.4"``, ``"1.9.0"``) computes with its default SSIM and
    ``data_range=1.0``: ``"torchmetrics_cropped"`` before 1.4.2, ``"torchmetrics"`` from 1.4.2 on."""
    from packaging.version import Version

    return "torchmetrics" if Version(version) >= Version(TORCHMETRICS_UNCROPPED_SSIM_SINCE) else "torchmetrics_cropped"


def mse(preds: Tensor, target: Tensor) -> Tensor:
    """Per-sample mean squared error over channels and pixels of [0, 1] images (HR-VITON's
    ``F.mse_loss(ToTensor(gt), ToTensor(pred))``, per image), in float64.

    Returns:
        Per-sample MSE ``[N]`` (float64).
    """
    _check_images(preds, target)
    return (preds.double() - target.double()).square().mean(dim=(1, 2, 3))


def psnr(preds: Tensor, target: Tensor, *, data_range: float = 1.0, cap: float = 100.0) -> Tensor:
    """Per-sample PSNR in dB: ``min(10 * log10(data_range**2 / MSE), cap)``, MSE over channels and pixels.

    Identical images (MSE 0, PSNR infinite) give ``cap`` (100 dB by default), so means and bootstrap intervals stay
    finite. Computed in float64 with torchmetrics' ``peak_signal_noise_ratio``.

    Returns:
        Per-sample PSNR ``[N]`` (float64).
    """
    from torchmetrics.functional.image import peak_signal_noise_ratio

    _check_images(preds, target)
    values = peak_signal_noise_ratio(
        preds.double(), target.double(), data_range=data_range, reduction="none", dim=(1, 2, 3)
    )
    return torch.nan_to_num(values, posinf=cap).clamp(max=cap)


def lpips(
    preds: Tensor,
    target: Tensor,
    *,
    net: Literal["alex", "vgg", "squeeze"] = "alex",
    backend: Literal["lpips", "torchmetrics"] = "lpips",
    model: nn.Module | None = None,
    weights_dir: str | Path | None = None,
) -> Tensor:
    """Per-sample LPIPS v0.1 (lower is more similar).

    Args:
        preds: Float images ``[N, 3, H, W]`` in [0, 1].
        target: Float images of the same shape.
        net: Trunk: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        backend: ``"lpips"`` (the ``lpips`` package, fed ``2x - 1``) or ``"torchmetrics"`` (its ``_LPIPS`` with
            ``normalize=True``). Same architecture and weights: the values agree.
        model: A model from :func:`bench.metrics.weights.build_lpips` (built here from local files if omitted; pass it
            when calling repeatedly). Must match ``net`` and ``backend``.
        weights_dir: Where to look for the trunk weights when ``model`` is omitted.

    Returns:
        Per-sample LPIPS ``[N]`` (float64), computed in the model's dtype.
    """
    from bench.metrics.weights import LPIPS_BACKENDS, build_lpips

    _check_images(preds, target)
    if backend not in LPIPS_BACKENDS:
        raise ValueError(f"Unknown LPIPS backend {backend!r}; expected one of {LPIPS_BACKENDS}")
    if model is None:
        model = build_lpips(net, backend, weights_dir).to(preds.device)
    if getattr(model, "pnet_type", net) != net:
        raise ValueError(f"LPIPS model has trunk {model.pnet_type!r} but net={net!r} was requested")
    is_lpips_pkg = type(model).__module__.startswith("lpips")
    if is_lpips_pkg != (backend == "lpips"):
        raise ValueError(f"LPIPS model {type(model).__module__}.{type(model).__name__} is not a {backend!r} model")
    dtype = next(model.parameters()).dtype
    x, y = preds.to(dtype), target.to(dtype)
    with torch.no_grad():
        out = model(2 * x - 1, 2 * y - 1) if backend == "lpips" else model(x, y, normalize=True)
    return out.reshape(preds.shape[0]).double()


def _as_features(features: Tensor, name: str) -> np.ndarray:
    x = features.detach().cpu().double().numpy()
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"Expected {name} features [N, D] with N >= 2, got shape {tuple(x.shape)}")
    return x


def _trace_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr(sqrtm(sigma1 @ sigma2))`` with pytorch-fid's recipe around ``scipy.linalg.sqrtm``.

    If the root is not finite, the diagonals are offset by 1e-6; the imaginary part (numerical noise for products of
    PSD matrices) is dropped, with a warning when it is large.
    """
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6
        _logger.warning("FID: sqrtm produced non-finite values; adding %g to the covariance diagonals", eps)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > 1e-3:
            _logger.warning("FID: sqrtm has an imaginary diagonal component up to %.3g; using the real part", imag)
        covmean = covmean.real
    return float(np.trace(covmean))


def _trace_sqrt_spectral(x: np.ndarray, y: np.ndarray, sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``Tr(sqrtm(sigma1 @ sigma2))`` as the sum of square roots of the eigenvalues of ``sigma1 @ sigma2``.

    Those eigenvalues are real and non-negative; they are computed from symmetric problems only:

    - fewer samples than dimensions: they are the squared singular values of ``Xc @ Yc.T / sqrt((n - 1)(m - 1))``
      (centred features), an ``n x m`` matrix;
    - otherwise: the eigenvalues of ``A @ sigma2 @ A`` with ``A = sigma1^(1/2)`` (``eigh``).
    """
    n, m, d = len(x), len(y), x.shape[1]
    if min(n, m) < d:
        cross = (x - x.mean(0)) @ (y - y.mean(0)).T / np.sqrt((n - 1) * (m - 1))
        return float(np.linalg.svd(cross, compute_uv=False).sum())
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root @ sigma2 @ root)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def fid_from_features(real: Tensor, fake: Tensor, *, method: Literal["sqrtm", "spectral"] = "sqrtm") -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    ``FID = |mu_r - mu_f|^2 + Tr(S_r) + Tr(S_f) - 2 Tr(sqrtm(S_r S_f))`` with unbiased covariances
    (``np.cov(rowvar=False)``), in float64.

    Args:
        real: Features ``[N, D]`` (e.g. Inception pool3, D = 2048).
        fake: Features ``[M, D]``.
        method: ``"sqrtm"``: ``scipy.linalg.sqrtm`` as pytorch-fid (10-45 s at D = 2048 on 2 CPU cores).
            ``"spectral"``: the same trace from symmetric eigen/singular value problems (exact, no complex round-off;
            about 2 s at D = 2048, well under a second when N, M << D); agrees with ``"sqrtm"`` and with
            torch-fidelity's eigenvalue formula to ~1e-8 relative.

    Returns:
        The FID as a Python float.
    """
    x, y = _as_features(real, "real"), _as_features(fake, "fake")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Feature dimensions differ: real {tuple(x.shape)}, fake {tuple(y.shape)}")
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    sigma1, sigma2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    if method == "sqrtm":
        tr_covmean = _trace_sqrtm(sigma1, sigma2)
    elif method == "spectral":
        tr_covmean = _trace_sqrt_spectral(x, y, sigma1, sigma2)
    else:
        raise ValueError(f"Unknown FID method {method!r}; expected 'sqrtm' or 'spectral'")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def inception_score_from_probs(probs: Tensor, *, splits: int = 1) -> tuple[float, float]:
    """Inception Score from class probabilities ``[N, C]``, as HR-VITON's ``evaluate.py`` (and the original code):
    per split of ``N // splits`` rows, ``exp(mean_i KL(p_i || mean_j p_j))``; the mean and std over splits.

    Returns:
        ``(mean, std)`` as Python floats (std 0 for one split).
    """
    p = probs.detach().cpu().double().numpy()
    if p.ndim != 2 or len(p) < splits or splits < 1:
        raise ValueError(f"Expected probabilities [N, C] with N >= splits >= 1, got {tuple(p.shape)}, splits={splits}")
    scores = []
    for k in range(splits):
        part = p[k * (len(p) // splits) : (k + 1) * (len(p) // splits)]
        part = part / part.sum(axis=1, keepdims=True)
        marginal = part.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            kl = np.where(part > 0, part * np.log(part / marginal), 0.0).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def _polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    return (a @ b.T * gamma + coef0) ** degree


def _mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """Unbiased MMD^2: within-set kernel means without the diagonal, cross-set mean over all pairs."""
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kid_from_features(
    real: Tensor,
    fake: Tensor,
    *,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 2020,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> tuple[float, float]:
    """Kernel Inception Distance with torch-fidelity's definition and subset sampling.

    Polynomial kernel ``k(x, y) = (x . y / D + 1)^3``; for each of ``subsets`` draws (without replacement) of
    ``subset_size`` features per set, the unbiased MMD^2 estimate; returns the mean and the (population) standard
    deviation over subsets. Subsets are drawn with ``numpy.random.RandomState(seed)``, first from ``fake`` then from
    ``real`` in each round, as torch-fidelity does with ``input1`` = generated and ``input2`` = real images, so the
    result equals ``torch_fidelity`` KID on the same features (seed 2020 is torch-fidelity's default).

    Args:
        real: Features ``[N, D]``.
        fake: Features ``[M, D]``.
        subsets: Number of subsets.
        subset_size: Features per subset; must not exceed N or M.
        seed: Seed of the subset sampler.
        degree: Polynomial degree.
        gamma: Kernel scale (``1 / D`` if None).
        coef0: Kernel offset.

    Returns:
        ``(mean, std)`` over subsets, as Python floats (raw scale; papers often report x100 or x1000).
    """
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"Expected features [N, D] and [M, D], got {tuple(real.shape)} and {tuple(fake.shape)}")
    x = fake.detach().cpu().double().numpy()
    y = real.detach().cpu().double().numpy()
    if subset_size > min(len(x), len(y)) or subset_size < 2:
        raise ValueError(
            f"KID subset_size={subset_size} needs 2 <= subset_size <= the size of each set "
            f"(real {len(y)}, fake {len(x)}); pass a smaller subset_size"
        )
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        a = x[rng.choice(len(x), subset_size, replace=False)]
        b = y[rng.choice(len(y), subset_size, replace=False)]
        values[i] = _mmd2_unbiased(
            _polynomial_kernel(a, a, degree, gamma, coef0),
            _polynomial_kernel(a, b, degree, gamma, coef0),
            _polynomial_kernel(b, b, degree, gamma, coef0),
        )
    return float(values.mean()), float(values.std())


def precision_recall_from_features(real: Tensor, fake: Tensor, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with torch-fidelity's ``prc`` implementation.

    Each set's manifold is the union of balls around its features with radius the distance to the ``k``-th nearest
    other member of that set (Euclidean). Precision: the fraction of ``fake`` features inside the real manifold;
    recall: the fraction of ``real`` features inside the fake manifold (a point on a ball's boundary is inside).

    Args:
        real: Features ``[N, D]`` of the reference images (N > k).
        fake: Features ``[M, D]`` of the predictions (M > k).
        k: Neighbourhood size (torch-fidelity's and the paper's default 3).

    Returns:
        ``(precision, recall)`` as Python floats in [0, 1].
    """
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"Expected features [N, D] and [M, D], got {tuple(real.shape)} and {tuple(fake.shape)}")
    if min(len(real), len(fake)) <= k:
        raise ValueError(f"Precision/recall with k={k} needs more than {k} features per set, got real {len(real)}, "
                         f"fake {len(fake)}")  # fmt: skip
    precision, recall = calculate_precision_recall_full(fake.double().cpu(), real.double().cpu(), k)
    return float(precision), float(recall)
