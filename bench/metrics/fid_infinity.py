"""FID at small sample sizes: FID against a fixed reference set for many prediction subsets, FID-infinity, and the
warning a table gives when a set-level metric rests on few images.

FID is biased upward by a term that shrinks as ``1/N`` with the number ``N`` of generated images, and whose size
depends on the generator (Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find them",
CVPR 2020), so two methods scored on the same few images can swap ranks at another ``N``. FID-infinity
(:func:`fid_infinity`) computes FID on random subsets of several sizes, fits ``FID_N = FID_inf + slope / N`` by least
squares and reports the intercept at ``1/N = 0``; the reference set stays whole, as in the authors' code. KID's
estimator is unbiased at every ``N`` (Binkowski et al. 2018), so only its spread grows at small ``N``.

:class:`ReferenceFID` is the FID of :func:`bench.metrics.functional.fid_from_features` (unbiased covariances, the
exact spectral trace) with the reference side computed once, so that each further prediction set (a subset, a
bootstrap resample given as counts) costs one Gram matrix of its distinct rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

__all__ = ["FID_MIN_IMAGES", "FidFit", "ReferenceFID", "fid_infinity", "fit_fid_infinity", "set_size_warning"]

FID_MIN_IMAGES = 10_000
"""Below this many images per set a FID is flagged: the FID authors' advice (TTUR README, Heusel et al. 2017: "We
recommend using a minimum sample size of 10,000 to calculate the FID otherwise the true FID of the generator is
underestimated"); Chong & Forsyth (2020) measure a method-dependent bias even at 50,000."""

_BIASED = {"fid", "fd_dinov2"}  # Fréchet distances: biased in 1/N; KID is unbiased, FID-infinity removes the 1/N term


def _features(features: Any, name: str) -> np.ndarray:
    """Features ``[N, D]`` (numpy or torch) as float64 numpy, at least two rows."""
    if hasattr(features, "detach"):
        features = features.detach().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"Expected {name} features [N, D] with N >= 2, got shape {x.shape}")
    return x


class ReferenceFID:
    """FID of prediction sets against one reference set whose statistics are computed once.

    ``FID = |mu_r - mu_f|^2 + Tr(S_r) + Tr(S_f) - 2 Tr((R S_f R)^(1/2))`` with ``R = S_r^(1/2)``, which equals
    ``Tr(sqrtm(S_r S_f))``; ``S_f`` of a set given by per-row counts is the unbiased covariance of the multiset, so
    the value equals :func:`~bench.metrics.functional.fid_from_features` on the rows repeated by their counts.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> reference = ReferenceFID(rng.normal(size=(500, 8)))
        >>> fake = reference.projected(rng.normal(size=(400, 8)))
        >>> round(fake(), 3) == round(fake(np.ones(400)), 3)
        True
    """

    def __init__(self, real: Any) -> None:
        x = _features(real, "real")
        self.n, self.dim = x.shape
        self.mean = x.mean(axis=0)
        sigma = np.cov(x, rowvar=False)
        self.trace = float(np.trace(sigma))
        w, v = np.linalg.eigh(sigma)
        self.root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    def projected(self, fake: Any) -> _Projected:
        """``fake`` prepared for many FIDs against this reference (its rows times ``S_r^(1/2)``, once)."""
        x = _features(fake, "fake")
        if x.shape[1] != self.dim:
            raise ValueError(f"Feature dimensions differ: real {self.dim}, fake {x.shape[1]}")
        return _Projected(self, x, x @ self.root)

    def __call__(self, fake: Any) -> float:
        """The FID of the whole set ``fake``."""
        return self.projected(fake)()


@dataclass(frozen=True)
class _Projected:
    reference: ReferenceFID
    x: np.ndarray
    y: np.ndarray  # x @ reference.root

    def __len__(self) -> int:
        return len(self.x)

    def __call__(self, counts: np.ndarray | None = None) -> float:
        """FID of the multiset holding row ``i`` ``counts[i]`` times (``None``: every row once)."""
        ref = self.reference
        if counts is None:
            counts = np.ones(len(self.x))
        rows = np.flatnonzero(counts)
        w = np.asarray(counts, dtype=np.float64)[rows]
        total = w.sum()
        if total < 2:
            raise ValueError(f"FID needs at least 2 predictions, got {total:g}")
        mean = w @ self.x[rows] / total
        centred = self.x[rows] - mean
        trace = float(w @ np.einsum("ij,ij->i", centred, centred)) / (total - 1)
        z = np.sqrt(w / (total - 1))[:, None] * (self.y[rows] - mean @ ref.root)
        gram = z @ z.T if len(z) <= z.shape[1] else z.T @ z
        cross = float(np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0, None)).sum())
        diff = ref.mean - mean
        return float(diff @ diff + ref.trace + trace - 2 * cross)


@dataclass(frozen=True)
class FidFit:
    """The least-squares line ``FID_N = intercept + slope / N`` and the standard error of its intercept."""

    intercept: float
    slope: float
    intercept_se: float


def fit_fid_infinity(sizes: Any, fids: Any) -> FidFit:
    """Fit ``fids = intercept + slope / sizes`` (ordinary least squares in ``1/N``, :func:`scipy.stats.linregress`).

    Args:
        sizes: the set size ``N`` of each FID (one entry per FID; repeated sizes are separate points).
        fids: the FIDs.

    Returns:
        The fit; its intercept is FID-infinity.
    """
    n, fid = np.asarray(sizes, dtype=np.float64), np.asarray(fids, dtype=np.float64)
    if n.shape != fid.shape or n.ndim != 1 or len(np.unique(n)) < 2 or (n <= 0).any():
        raise ValueError(f"Expected as many FIDs as sizes, at two or more distinct positive sizes; got {n} and {fid}")
    fit = stats.linregress(1.0 / n, fid)
    return FidFit(float(fit.intercept), float(fit.slope), float(fit.intercept_stderr))


def fid_infinity(
    real: Any, fake: Any, *, points: int = 5, draws: int = 5, min_fraction: float = 0.2, seed: int = 0
) -> dict[str, Any]:
    """FID-infinity of ``fake`` against ``real`` (Chong & Forsyth 2020), as a ``set`` summary entry.

    FID is computed on ``draws`` random subsets (without replacement) of each of ``points`` sizes evenly spaced from
    ``min_fraction`` of the prediction set to all of it (one FID at the full size), against the whole reference set;
    the line ``FID_N = FID_inf + slope / N`` is fitted through every point (:func:`fit_fid_infinity`). The authors use
    15 sizes from 5,000 to 50,000 images, one draw each; sizes are here relative because try-on test sets hold about
    2,000 images.

    Args:
        real: reference features ``[N, D]`` (the same Inception features as FID).
        fake: prediction features ``[M, D]``.
        points: number of subset sizes (>= 2).
        draws: random subsets per size below the full set.
        min_fraction: the smallest size as a fraction of ``M`` (at least 2 images).
        seed: seed of the subset draws.

    Returns:
        ``value`` (the intercept), ``intercept_se`` (its standard error from the fit), ``slope``, ``fid`` (the plain
        FID of the whole set), ``sizes``, ``mean_fid_at_sizes``, ``draws``, ``n_real``, ``n_fake``, ``method``, and a
        ``warning`` when the smallest size is below the feature dimension.
    """
    if points < 2 or draws < 1 or not 0 < min_fraction < 1:
        raise ValueError(f"fid_infinity needs points >= 2, draws >= 1, 0 < min_fraction < 1; got {points}, {draws}, "
                         f"{min_fraction}")  # fmt: skip
    reference = ReferenceFID(real)
    projected = reference.projected(fake)
    m = len(projected)
    sizes = np.unique(np.linspace(max(2, round(min_fraction * m)), m, points).round().astype(int))
    if len(sizes) < 2:
        raise ValueError(f"fid_infinity: {m} predictions give fewer than two distinct subset sizes")
    rng = np.random.default_rng(seed)
    at, fids = [], []
    for size in sizes:
        for _ in range(draws if size < m else 1):
            counts = np.zeros(m)
            counts[rng.choice(m, size, replace=False)] = 1
            at.append(size)
            fids.append(projected(counts))
    fit = fit_fid_infinity(at, fids)
    by_size = {int(s): float(np.mean([f for a, f in zip(at, fids, strict=True) if a == s])) for s in sizes}
    out: dict[str, Any] = {
        "value": fit.intercept, "intercept_se": fit.intercept_se, "slope": fit.slope, "fid": by_size[m],
        "sizes": [int(s) for s in sizes], "mean_fid_at_sizes": list(by_size.values()), "draws": draws,
        "n_real": reference.n, "n_fake": m,
        "method": (f"FID-infinity (Chong & Forsyth 2020): FID on {draws} random subsets of each of {len(sizes)} sizes "
                   f"from {sizes[0]} to {m} predictions against all {reference.n} references, least-squares line in "
                   f"1/N, intercept at 1/N = 0"),
    }  # fmt: skip
    if sizes[0] < reference.dim:
        out["warning"] = (
            f"FID-infinity fitted on subsets of {sizes[0]}-{m} images, fewer than the {reference.dim} feature "
            "dimensions (the authors fit 5,000-50,000): the 1/N law is asymptotic, so read it as a bias-reduced "
            "estimate, compared between methods at equal n"
        )
    return out


def set_size_warning(metric: str, n: int | None) -> str | None:
    """The warning a table shows under a set-level metric computed from ``n`` images, or ``None`` when none is due.

    FID (and FD-DINOv2, the same formula) is flagged below :data:`FID_MIN_IMAGES`; KID, whose estimator is unbiased,
    and FID-infinity, which removes the 1/N term, are not.
    """
    if metric not in _BIASED or n is None or n >= FID_MIN_IMAGES:
        return None
    return (
        f"{metric.upper() if metric == 'fid' else 'FD-DINOv2'} from {n:,} images, below the {FID_MIN_IMAGES:,} the FID "
        "authors recommend: FID is biased upward by a term that shrinks as 1/n and differs between methods, so "
        "compare only at equal n, and see KID (unbiased) or fid_inf (FID extrapolated to infinite n)"
    )
