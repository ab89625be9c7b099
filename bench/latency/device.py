"""Facts about where latency is measured: the device asked for, NVIDIA's datasheet peak rates, and the environment
(device, library versions, settings, date, commit) a report states."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from bench.data.readers import InputError
from bench.latency.models import WEIGHTS_NOTE
from bench.results import run_metadata

if TYPE_CHECKING:
    from bench.latency.measure import LatencyResult

__all__ = ["PEAK_TFLOPS", "peak_tflops"]


def _resolve_device(device: torch.device | str) -> torch.device:
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}") from None
    if target.type not in ("cpu", "cuda"):
        raise InputError(f"device must be 'cpu' or 'cuda' (or 'cuda:N'), got {device!r}")
    if target.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {str(device)!r}: no CUDA device is available here; use device='cpu'")
        index = torch.cuda.current_device() if target.index is None else target.index
        if index >= torch.cuda.device_count():
            raise InputError(f"device {str(device)!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        target = torch.device("cuda", index)
    return target


# Dense peak TFLOP/s (no 2:4 structured sparsity: half the starred datasheet figures) at boost clock, from
# NVIDIA's product datasheets (H100, H200, A100, L4, T4, V100) and the Ada architecture whitepaper (RTX 4090, FP32
# accumulate). "fp32" is the non-tensor-core FP32 rate, the ceiling of fp32 with TF32 off; "tf32", "bf16" and
# "fp16" are tensor-core rates. None: the GPU has no such tensor-core mode. Patterns are matched in order
# (case-insensitive) against torch.cuda.get_device_name, so the more specific ones come first.
PEAK_TFLOPS: tuple[tuple[str, str, dict[str, float | None]], ...] = (
    (r"H100.*PCIe", "H100 PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    (r"H100.*NVL", "H100 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H100", "H100 SXM", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}),
    (r"H200.*NVL", "H200 NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}),
    (r"H200", "H200 SXM", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}),
    (r"A100", "A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    (r"\bL4\b", "L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    (r"\bT4\b", "T4", {"fp32": 8.1, "tf32": None, "bf16": None, "fp16": 65.0}),
    (r"RTX 4090", "RTX 4090", {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2}),
    (r"V100S", "V100S PCIe", {"fp32": 16.4, "tf32": None, "bf16": None, "fp16": 130.0}),
    (r"V100.*PCIe", "V100 PCIe", {"fp32": 14.0, "tf32": None, "bf16": None, "fp16": 112.0}),
    (r"V100", "V100 SXM2", {"fp32": 15.7, "tf32": None, "bf16": None, "fp16": 125.0}),
)


def peak_tflops(device_name: str, precision: str) -> float | None:
    """Dense peak TFLOP/s of a GPU (by its ``torch.cuda.get_device_name``) for ``precision``; ``None`` if unknown."""
    for pattern, _, peaks in PEAK_TFLOPS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return peaks.get(precision)
    return None


def _environment(results: Sequence[LatencyResult]) -> dict[str, str]:
    def values(field: str) -> str:
        labels = (
            ("on" if v else "off") if isinstance(v, bool) else str(v) for v in (getattr(r, field) for r in results)
        )
        seen = list(dict.fromkeys(labels))
        return ", ".join(seen)

    meta = run_metadata()
    cuda = torch.version.cuda or "none"
    if all(r.memory_measure != "cuda_max_allocated" for r in results):
        cuda += " (torch build; not used by these CPU runs)"
    elif torch.backends.cudnn.is_available():
        cuda += f", cuDNN {torch.backends.cudnn.version()}"
    return {
        "device": values("device"),
        "torch": torch.__version__,
        "cuda": cuda,
        "dtype": values("dtype"),
        "compile": values("compile"),
        "channels_last": values("channels_last"),
        "optimize": values("optimize"),
        "warmup": values("warmup"),
        "iters": values("iters"),
        "date": meta["date"],
        "git_commit": meta["git_commit"],
        "weights": WEIGHTS_NOTE,
    }
