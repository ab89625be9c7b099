"""Stateful metrics (``torchmetrics.Metric``) that stream over batches and synchronise in DDP.

The paired metrics (:class:`SSIM`, :class:`PSNR`, :class:`LPIPS`) keep every per-sample value in a list state reduced
with ``"cat"`` across processes; ``compute()`` returns the per-sample tensor ``[N]`` (float64), so the runner can take
means and bootstrap confidence intervals. :class:`InceptionStats` keeps the 2048-d Inception features of the real and
fake sets and computes FID and KID from them with :mod:`bench.metrics.functional`.

Every metric has ``describe()``: a JSON-able dict of exactly how it is computed (variant, library and version, window,
padding, data range, colour handling, backbone, weights file and sha256 prefix) for the reports.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from bench.metrics import functional as MF
from bench.metrics.weights import build_imagenet_inception, build_inception, build_lpips, weights_info

__all__ = [
    "LPIPS", "MSE", "PSNR", "SSIM", "InceptionScore", "InceptionStats", "PairedImageMetric", "library_version",
]  # fmt: skip


def library_version(package: str) -> str:
    """Installed version of a distribution (``"not installed"`` if absent)."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class PairedImageMetric(Metric):
    """Base class: a per-sample score of (preds, target) image pairs, accumulated over batches.

    Subclasses implement ``_score(preds, target) -> Tensor [N]`` and ``describe()``.
    """

    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False
    values: list[Tensor]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("values", default=[], dist_reduce_fx="cat")

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Score a batch: float images ``[N, 3, H, W]`` in [0, 1]."""
        self.values.append(self._score(preds, target).detach().to(torch.float64))

    def compute(self) -> Tensor:
        """Per-sample values of everything seen so far, in input order (per process, then by rank after sync)."""
        if isinstance(self.values, list) and not self.values:  # after a DDP sync the state is one tensor
            return torch.zeros(0, dtype=torch.float64, device=self.device)
        return dim_zero_cat(self.values)

    def describe(self) -> dict[str, Any]:
        """How this metric is computed, for the reports."""
        raise NotImplementedError


_SSIM_DESCRIPTIONS: dict[str, dict[str, Any]] = {
    "pytorch_ssim": {
        "reproduces": "Po-Hsun-Su/pytorch-ssim (FS-VTON, ACGPN, SDAFN, C-VTON)",
        "implementation": "bench.metrics.functional.ssim_pytorch_ssim (own code; checked against a numpy reference)",
        "window": "gaussian 11x11, sigma 1.5",
        "padding": "zero padding of 5 px; the border windows are included in the mean",
        "constants": "C1 = 0.01**2, C2 = 0.03**2",
        "data_range": 1.0,
        "colour": "RGB in [0, 1], mean over channels",
        "reduction": "mean over the whole map and channels",
    },
    "skimage_gray": {
        "reproduces": "HR-VITON evaluate.py: skimage structural_similarity on PIL 'L' images (DCI-VTON reuses it)",
        "implementation": "bench.metrics.functional.ssim_skimage_gaussian (own code, float64, valid windows only); "
        "equals skimage structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)",
        "window": "gaussian 11x11, sigma 1.5 (skimage truncate 3.5)",
        "padding": "none: the 5-px border is excluded",
        "constants": "K1 = 0.01, K2 = 0.03 times data_range",
        "data_range": 255.0,
        "colour": "uint8 floor(255x + 0.5), then PIL convert('L'): (R*19595 + G*38470 + B*7471 + 0x8000) >> 16",
        "reduction": "mean over the valid (cropped) map",
    },
    "skimage_rgb": {
        "reproduces": "skimage structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, "
        "channel_axis=...) on RGB",
        "implementation": "bench.metrics.functional.ssim_skimage_gaussian (own code, float64, valid windows only)",
        "window": "gaussian 11x11, sigma 1.5 (skimage truncate 3.5)",
        "padding": "none: the 5-px border is excluded",
        "constants": "K1 = 0.01, K2 = 0.03 times data_range",
        "data_range": 1.0,
        "colour": "RGB in [0, 1], mean over channels",
        "reduction": "mean over the valid (cropped) map and channels",
    },
    "torchmetrics_cropped": {
        "reproduces": "torchmetrics < 1.4.2 StructuralSimilarityIndexMeasure(data_range=1.0) (LaDI-VTON pins 0.11.4; "
        "CatVTON pins none, and its published numbers predate 1.4.2)",
        "implementation": "bench.metrics.functional.ssim_torchmetrics_cropped (own code, float64; equals torchmetrics' "
        "return_full_image map cropped by 5 px, and skimage's RGB form with data range 1)",
        "window": "gaussian 11x11, sigma 1.5",
        "padding": "reflect padding of 5 px, then the map cropped by 5 px: the border is excluded",
        "constants": "K1 = 0.01, K2 = 0.03 times data_range",
        "data_range": 1.0,
        "colour": "RGB in [0, 1], mean over channels",
        "reduction": "mean over the cropped map and channels",
    },
    "torchmetrics": {
        "reproduces": "torchmetrics >= 1.4.2 StructuralSimilarityIndexMeasure(data_range=1.0)",
        "implementation": "bench.metrics.functional.ssim_torchmetrics (own code, float64; equals torchmetrics "
        "structural_similarity_index_measure(data_range=1.0, reduction='none') from 1.4.2 on)",
        "window": "gaussian 11x11, sigma 1.5",
        "padding": "reflect padding of 5 px; the border is included in the mean",
        "constants": "K1 = 0.01, K2 = 0.03 times data_range",
        "data_range": 1.0,
        "colour": "RGB in [0, 1], mean over channels",
        "reduction": "mean over the whole map and channels",
    },
}


class SSIM(PairedImageMetric):
    """Per-sample SSIM of a named variant; ``compute()`` returns ``[N]`` float64.

    Args:
        variant: ``"pytorch_ssim"`` (FS-VTON, ACGPN, SDAFN, C-VTON), ``"skimage_gray"`` (HR-VITON),
            ``"skimage_rgb"``, ``"torchmetrics_cropped"`` (torchmetrics < 1.4.2: LaDI-VTON, CatVTON) or
            ``"torchmetrics"`` (torchmetrics >= 1.4.2). See :mod:`bench.metrics.functional`.
        **kwargs: ``torchmetrics.Metric`` options (``sync_on_compute``, ``process_group``, ...).

    Example:
        >>> import torch
        >>> metric = SSIM(variant="pytorch_ssim")
        >>> metric.update(torch.full((2, 3, 32, 32), 0.5), torch.full((2, 3, 32, 32), 0.5))
        >>> metric.compute()
        tensor([1., 1.], dtype=torch.float64)
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(self, variant: str = "pytorch_ssim", **kwargs: Any) -> None:
        if variant not in MF.SSIM_VARIANTS:
            raise ValueError(f"Unknown SSIM variant {variant!r}; expected one of {MF.SSIM_VARIANTS}")
        super().__init__(**kwargs)
        self.variant = variant

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return MF.ssim(preds, target, variant=self.variant)

    def describe(self) -> dict[str, Any]:
        """How this SSIM variant is computed; for a torchmetrics form, which form the installed torchmetrics has."""
        installed = library_version("torchmetrics")
        if self.variant.startswith("torchmetrics") and installed != "not installed":
            installed_note = {"installed_torchmetrics_computes": MF.torchmetrics_ssim_variant(installed)}
        else:
            installed_note = {}
        return {
            "metric": "ssim",
            "variant": self.variant,
            **_SSIM_DESCRIPTIONS[self.variant],
            **installed_note,
            "dtype": "float64",
            "libraries": {"torch": library_version("torch"), "torchmetrics": installed},
            "higher_is_better": True,
        }


class PSNR(PairedImageMetric):
    """Per-sample PSNR (dB); identical images give ``cap``. ``compute()`` returns ``[N]`` float64.

    Args:
        data_range: Range of the image values (1.0 for [0, 1]).
        cap: Value for identical images (and upper bound), so means stay finite.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    higher_is_better: ClassVar[bool] = True

    def __init__(self, data_range: float = 1.0, cap: float = 100.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_range = float(data_range)
        self.cap = float(cap)

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return MF.psnr(preds, target, data_range=self.data_range, cap=self.cap)

    def describe(self) -> dict[str, Any]:
        """How PSNR is computed."""
        return {
            "metric": "psnr",
            "implementation": "torchmetrics peak_signal_noise_ratio(reduction='none', dim=(1, 2, 3))",
            "formula": "min(10 * log10(data_range**2 / MSE), cap); MSE over channels and pixels of each image",
            "data_range": self.data_range,
            "cap_db": self.cap,
            "colour": "RGB in [0, 1]",
            "dtype": "float64",
            "libraries": {"torchmetrics": library_version("torchmetrics")},
            "higher_is_better": True,
        }


class MSE(PairedImageMetric):
    """Per-sample mean squared error of [0, 1] RGB images (lower is better); ``compute()`` returns ``[N]`` float64.

    HR-VITON's ``evaluate.py`` reports it (``F.mse_loss`` of the ``ToTensor`` images, averaged over images).
    """

    higher_is_better: ClassVar[bool] = False

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return MF.mse(preds, target)

    def describe(self) -> dict[str, Any]:
        """How MSE is computed."""
        return {
            "metric": "mse",
            "reproduces": "HR-VITON evaluate.py: F.mse_loss(ToTensor(gt), ToTensor(pred)), averaged over images",
            "implementation": "bench.metrics.functional.mse: mean of squared differences over channels and pixels",
            "colour": "RGB in [0, 1]",
            "dtype": "float64",
            "higher_is_better": False,
        }


class LPIPS(PairedImageMetric):
    """Per-sample LPIPS v0.1 (lower is better); ``compute()`` returns ``[N]`` float64.

    The model is built from local files (:func:`bench.metrics.weights.build_lpips`) unless given.

    Args:
        net: Trunk: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        backend: ``"lpips"`` (the ``lpips`` package) or ``"torchmetrics"``.
        weights_dir: Folder searched for the trunk weights before the torch hub cache.
        model: A prebuilt model (from ``build_lpips``) to use instead.
        **kwargs: ``torchmetrics.Metric`` options.
    """

    higher_is_better: ClassVar[bool] = False

    def __init__(
        self,
        net: Literal["alex", "vgg", "squeeze"] = "alex",
        backend: Literal["lpips", "torchmetrics"] = "lpips",
        weights_dir: str | Path | None = None,
        model: nn.Module | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.net_name = net
        self.backend = backend
        self.model = model if model is not None else build_lpips(net, backend, weights_dir)

    def _score(self, preds: Tensor, target: Tensor) -> Tensor:
        return MF.lpips(preds, target, net=self.net_name, backend=self.backend, model=self.model)

    def describe(self) -> dict[str, Any]:
        """How LPIPS is computed, with the trunk weights file and its sha256 prefix."""
        path = getattr(self.model, "weights_path", None)
        library = "lpips" if self.backend == "lpips" else "torchmetrics"
        return {
            "metric": "lpips",
            "version": "v0.1 (linear heads shipped with the package)",
            "backend": self.backend,
            "implementation": "lpips.LPIPS(pretrained=True, pnet_rand=True) fed 2x - 1"
            if self.backend == "lpips"
            else "torchmetrics _NoTrainLpips(pretrained=True, pnet_rand=True) with normalize=True",
            "backbone": self.net_name,
            "weights": weights_info(self.net_name, path) if path else {"file": None, "note": "custom model"},
            "resize": "none (scored at the input resolution)",
            "colour": "RGB in [0, 1], mapped to [-1, 1]",
            "reduction": "spatial mean of the summed layer distances, per image",
            "libraries": {library: library_version(library), "torchvision": library_version("torchvision")},
            "higher_is_better": False,
        }


class InceptionScore(Metric):
    """Inception Score of the predictions as HR-VITON's ``evaluate.py`` computes it.

    Each image (float [0, 1], quantised to uint8 as a saved PNG) is resized with PIL bilinear to 299x299
    (torchvision ``Resize((299, 299))`` on PIL images), mapped to [-1, 1] and classified by torchvision's ImageNet
    Inception v3 (``transform_input=False``); ``compute()`` returns the softmax probabilities ``[N, 1000]`` (float64,
    in input order) and :meth:`score` the mean and std over ``splits`` (HR-VITON: 1).

    Args:
        weights_dir: Folder searched for ``inception_v3_google-0cc3c7bd.pth`` before the torch hub cache.
        splits: Number of splits (HR-VITON: 1).
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = True
    full_state_update: ClassVar[bool] = False
    probs: list[Tensor]

    def __init__(self, weights_dir: str | Path | None = None, splits: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = build_imagenet_inception(weights_dir)
        self.splits = splits
        self.add_state("probs", default=[], dist_reduce_fx="cat")

    def update(self, preds: Tensor) -> None:
        """Classify a batch of float images ``[N, 3, H, W]`` in [0, 1]."""
        import numpy as np
        from PIL import Image

        images = MF.to_uint8(preds).cpu().permute(0, 2, 3, 1).numpy()
        resized = [np.asarray(Image.fromarray(a).resize((299, 299), Image.Resampling.BILINEAR)) for a in images]
        x = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
        device = next(self.model.parameters()).device
        with torch.no_grad():
            self.probs.append(torch.softmax(self.model(x.to(device)), dim=1).double())

    def compute(self) -> Tensor:
        """The class probabilities ``[N, 1000]`` of everything seen, in input order."""
        return dim_zero_cat(self.probs)

    def score(self) -> tuple[float, float]:
        """``(mean, std)`` of the Inception Score over the splits."""
        return MF.inception_score_from_probs(self.compute(), splits=self.splits)

    def describe(self) -> dict[str, Any]:
        """How the Inception Score is computed."""
        return {
            "metric": "is",
            "reproduces": "HR-VITON evaluate.py: inception_v3(pretrained=True, transform_input=False), "
            "Resize((299, 299)) + ToTensor + Normalize(0.5, 0.5) on PIL images, softmax, splits=1",
            "backbone": "torchvision Inception v3, ImageNet (IMAGENET1K_V1)",
            "weights": weights_info("inception_imagenet", self.model.weights_path),
            "resize": "PIL bilinear to 299x299 of the uint8 image",
            "formula": "exp(mean_i KL(p(y|x_i) || p(y))) per split; mean and std over splits",
            "splits": self.splits,
            "libraries": {"torchvision": library_version("torchvision"), "torch": library_version("torch")},
            "higher_is_better": True,
        }


class InceptionStats(Metric):
    """Inception pool3 features of a real and a fake set, with FID and KID computed from them.

    ``update(images, real=True/False)`` (or ``update(features=..., real=...)`` for cached features) takes float images
    in [0, 1] (quantised as ``floor(255x + 0.5)``, like a saved
    PNG) or uint8 images ``[N, 3, H, W]``. The backbone is torch-fidelity's ``inception-v3-compat`` via torchmetrics'
    ``NoTrainInceptionV3(antialias=False)``, which equals torch-fidelity's features.

    ``compute()`` returns ``{"fid", "kid_mean", "kid_std", "n_real", "n_fake"}`` (float64 tensors; KID on the raw
    scale, without the x100 / x1000 some papers apply; KID omitted when ``kid=False``).

    Args:
        weights_dir: Folder searched for ``weights-inception-2015-12-05-6726825d.pth`` before the torch hub cache.
        extractor: A prebuilt feature extractor (uint8 ``[N, 3, H, W]`` -> ``[N, D]``) to use instead, e.g. from
            :func:`bench.metrics.fid_backends.build_feature_extractor`; its ``describe()``, if any, is reported.
        fid_method: ``"sqrtm"`` (scipy, as pytorch-fid) or ``"spectral"`` (same value to ~1e-8 relative, ~10x faster;
            see :func:`bench.metrics.functional.fid_from_features`).
        kid: Compute KID too.
        kid_subsets: KID subsets (torch-fidelity default 100).
        kid_subset_size: KID subset size (torch-fidelity default 1000; must not exceed either set).
        kid_seed: KID subset sampler seed (torch-fidelity default 2020).
        reset_real_features: If False, ``reset()`` keeps the real features (score several methods against one set).
        **kwargs: ``torchmetrics.Metric`` options.
    """

    is_differentiable: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False
    real_features: list[Tensor]
    fake_features: list[Tensor]

    def __init__(
        self,
        weights_dir: str | Path | None = None,
        extractor: nn.Module | None = None,
        fid_method: Literal["sqrtm", "spectral"] = "sqrtm",
        kid: bool = True,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        kid_seed: int = 2020,
        reset_real_features: bool = True,
        **kwargs: Any,
    ) -> None:
        if fid_method not in ("sqrtm", "spectral"):
            raise ValueError(f"Unknown fid_method {fid_method!r}; expected 'sqrtm' or 'spectral'")
        super().__init__(**kwargs)
        self.extractor = extractor if extractor is not None else build_inception(weights_dir)
        self.fid_method = fid_method
        self.kid = kid
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.kid_seed = kid_seed
        self.reset_real_features = reset_real_features
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")

    def update(self, images: Tensor | None = None, real: bool | None = None, *, features: Tensor | None = None) -> None:
        """Add a batch to the real (``real=True``) or fake set: ``images`` to embed, or precomputed ``features``.

        Args:
            images: Float images ``[N, 3, H, W]`` in [0, 1] or uint8 images.
            real: Which set the batch belongs to (required).
            features: Precomputed features ``[N, D]`` (e.g. cached reference features) instead of ``images``.
        """
        if real is None or (images is None) == (features is None):
            raise ValueError("InceptionStats.update needs real=True/False and exactly one of images or features")
        if features is None:
            features = self._extract(images)
        elif features.ndim != 2:
            raise ValueError(f"Expected features [N, D], got {tuple(features.shape)}")
        (self.real_features if real else self.fake_features).append(features.detach().to(torch.float64))

    def _extract(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Expected images [N, 3, H, W], got {tuple(images.shape)}")
        if images.is_floating_point() and images.numel() and (images.min() < 0 or images.max() > 1):
            raise ValueError("Expected float images in [0, 1] (or uint8); convert [-1, 1] outputs with (x + 1) / 2")
        if not images.is_floating_point() and images.dtype != torch.uint8:
            raise TypeError(f"Expected float images in [0, 1] or uint8, got {images.dtype}")
        with torch.no_grad():
            return self.extractor(MF.to_uint8(images))

    def features(self, *, real: bool) -> Tensor:
        """All features of one set so far, ``[N, D]`` float64 (unsynchronised, this process only)."""
        states = self.real_features if real else self.fake_features
        if not states:
            return torch.zeros(0, 0, dtype=torch.float64, device=self.device)
        return dim_zero_cat(states)

    def compute(self) -> dict[str, Tensor]:
        """FID and KID between the real and fake features (after DDP sync)."""
        if any(isinstance(state, list) and not state for state in (self.real_features, self.fake_features)):
            raise ValueError(
                "InceptionStats.compute needs features of both sets: call update(..., real=True) and "
                "update(..., real=False) first"
            )
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        out = {
            "fid": torch.tensor(MF.fid_from_features(real, fake, method=self.fid_method), dtype=torch.float64),
            "n_real": torch.tensor(len(real)),
            "n_fake": torch.tensor(len(fake)),
        }
        if self.kid:
            mean, std = MF.kid_from_features(
                real, fake, subsets=self.kid_subsets, subset_size=self.kid_subset_size, seed=self.kid_seed
            )
            out["kid_mean"] = torch.tensor(mean, dtype=torch.float64)
            out["kid_std"] = torch.tensor(std, dtype=torch.float64)
        return out

    def reset(self) -> None:
        """Clear the fake features (and the real ones unless ``reset_real_features=False``)."""
        if self.reset_real_features:
            super().reset()
            return
        kept = list(self.real_features)
        super().reset()
        self.real_features = kept

    def describe(self) -> dict[str, Any]:
        """How FID and KID are computed: backbone, layer, resize, weights file and its sha256 prefix, estimators.

        An extractor with its own ``describe()`` (e.g. clean-fid's) supplies the feature part, ``libraries`` included.
        """
        path = getattr(self.extractor, "weights_path", None)
        own = getattr(self.extractor, "describe", None)
        if callable(own):
            features = dict(own())
        else:
            features = {
                "backbone": "inception-v3-compat (torch-fidelity's TF-ported FID Inception) via torchmetrics "
                "NoTrainInceptionV3(antialias=False)"
                if path
                else f"custom extractor {type(self.extractor).__name__}",
                "layer": "2048 (pool3)",
                "input": "uint8; float [0, 1] quantised as floor(255x + 0.5)",
                "resize": "TF1-style bilinear to 299x299 (antialias=False), equal to torch-fidelity",
                "weights": weights_info("inception", path) if path else {"file": None, "note": "custom extractor"},
                "libraries": {
                    "torchmetrics": library_version("torchmetrics"),
                    "torch-fidelity": library_version("torch-fidelity"),
                },
            }
        feature_libraries = features.pop("libraries", {})
        return {
            "metric": "fid_kid",
            **features,
            "fid": {
                "formula": "|mu_r - mu_f|^2 + Tr(S_r + S_f - 2 sqrtm(S_r S_f)), unbiased covariances, float64",
                "method": "scipy.linalg.sqrtm (pytorch-fid recipe)"
                if self.fid_method == "sqrtm"
                else "spectral: sum of sqrt eigenvalues of S_r S_f from symmetric eigen/singular value problems",
            },
            "kid": {
                "kernel": "polynomial (x.y / D + 1)^3",
                "estimator": "unbiased MMD^2, mean and std over subsets (torch-fidelity definition)",
                "subsets": self.kid_subsets,
                "subset_size": self.kid_subset_size,
                "seed": self.kid_seed,
                "scale": "raw (not x100 / x1000)",
            }
            if self.kid
            else None,
            "libraries": {**feature_libraries, "scipy": library_version("scipy"), "numpy": library_version("numpy")},
            "higher_is_better": False,
        }
