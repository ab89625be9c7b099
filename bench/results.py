"""What every results file carries beside its numbers: where and how they were made, and their uncertainty."""

from __future__ import annotations

import datetime
import hashlib
import os
import subprocess
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BOOTSTRAP",
    "Bootstrap",
    "CODE_SCOPE",
    "INTEGER_COLUMNS",
    "RESULT_COLUMNS",
    "WEIGHTS_ABSENT",
    "bootstrap_ci",
    "code_fingerprint",
    "git_commit",
    "git_state",
    "machine",
    "run_metadata",
]

RESULT_COLUMNS = (
    "method", "dataset", "split", "protocol", "metric", "value", "ci_low", "ci_high", "n", "seeds", "pairs",
    "source", "device", "dtype", "batch", "note", "citation",
)  # fmt: skip
"""The columns of a suite's tidy results table (``results.csv``), in order: one row per number. ``pairs`` names the
pair list a quality row was scored on and the start of its sha256 (``test_pairs.txt:3f2a1c9d``); ``seeds`` the number of
training seeds a trained row's value is the mean of (its interval includes their spread, :mod:`bench.suite.seeds`),
empty for a row nothing was trained for."""
INTEGER_COLUMNS = ("n", "seeds", "batch")
"""Columns that hold whole numbers (or nothing): written as integers."""
WEIGHTS_ABSENT = "weights absent"
"""How a result row's note starts when the metric's weights file is absent (the report gathers those columns)."""


@dataclass(frozen=True)
class Bootstrap:
    """How a per-sample confidence interval is bootstrapped: percentile intervals over ``resamples`` resamples."""

    resamples: int = 10_000
    confidence: float = 0.95
    seed: int = 0
    method: str = "percentile"


BOOTSTRAP = Bootstrap()
"""The bootstrap of every per-sample confidence interval (:func:`bootstrap_ci`'s defaults)."""
CODE_SCOPE = (("bench", "pftryon", "baselines"), (".py", ".yaml"), ("pyproject.toml",))
"""What :func:`code_fingerprint` hashes: the ``.py`` and ``.yaml`` files under these folders, and these files."""

_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("pftryon", "torch", "torchvision", "torchmetrics", "torch-fidelity", "lpips", "numpy", "pillow")
# /proc/cpuinfo flags -> the widest vector instruction set they show, widest first.
_ISA_LEVELS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2"), ("asimd", "NEON"))


def git_state() -> tuple[str | None, bool | None]:
    """HEAD of the checkout this code runs from and whether its tracked files are unchanged (``None``: no git).

    The committed reports (``reports/``) are left out: a run rewriting its own report folder does not make the code
    that produced it any less clean."""
    try:
        run = partial(subprocess.run, cwd=_ROOT, capture_output=True, text=True, check=True, timeout=10)
        head = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports"]).stdout
        dirty = dirty.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return head, not dirty


def git_commit() -> str | None:
    """HEAD of the checkout this code runs from, marked when tracked files have uncommitted changes."""
    head, clean = git_state()
    if head is None:
        return None
    return head if clean else f"{head} (with uncommitted changes)"


def run_metadata() -> dict[str, Any]:
    """Date (UTC), commit and library versions, for the header of any results file."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit() or "unknown (not a git checkout)",
        "versions": versions,
    }


def _cpu_flags(cpuinfo: str) -> set[str]:
    line = next((line for line in cpuinfo.splitlines() if line.startswith(("flags", "Features"))), "")
    return set(line.partition(":")[2].split())


def machine(cpuinfo: str | None = None) -> dict[str, Any]:
    """Where the numbers were made: CPU model, its widest vector instruction set (from the ``/proc/cpuinfo`` flags;
    ``None`` where there is no such file), the instruction set torch dispatches to, cores, threads, GPU, and the
    torch / CUDA / cuDNN versions.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (default: read it).
    """
    import torch

    from bench.speed.timing import cpu_model

    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    flags = _cpu_flags(cpuinfo)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "isa": next((level for flag, level in _ISA_LEVELS if flag in flags), None),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "gpus": torch.cuda.device_count() if gpu else 0,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }


def code_fingerprint(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A sha256 over the source files that produce the numbers (:data:`CODE_SCOPE`), from their contents: each file's
    path (relative to ``root``) and sha256, in path order. Equal fingerprints mean the same code, whatever git says.

    Args:
        root: the checkout (default: the one this code runs from).

    Returns:
        ``{"sha256": ..., "files": count, "scope": what was hashed}``.
    """
    base = Path(root) if root is not None else _ROOT
    folders, suffixes, files = CODE_SCOPE
    paths = [p for folder in folders for p in (base / folder).rglob("*") if p.suffix in suffixes and p.is_file()]
    paths += [base / name for name in files if (base / name).is_file()]
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(base).as_posix()):
        digest.update(
            f"{path.relative_to(base).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode()
        )
    scope = f"{', '.join(f'{f}/' for f in folders)} ({', '.join(suffixes)}); {', '.join(files)}"
    return {"sha256": digest.hexdigest(), "files": len(paths), "scope": scope}


def bootstrap_ci(
    values: np.ndarray | list[float],
    *,
    confidence: float = BOOTSTRAP.confidence,
    resamples: int = BOOTSTRAP.resamples,
    seed: int = BOOTSTRAP.seed,
) -> tuple[float, float, float]:
    """Mean of per-sample ``values`` and its percentile-bootstrap confidence interval ``(mean, low, high)``.

    Deterministic for a given ``seed``; one value gives a zero-width interval.
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    if data.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(data.mean()), float(low), float(high)
