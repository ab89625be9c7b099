"""Local correlation (cost volume) of PF-AFN, in pure PyTorch.

Definition (docs/reference/method.md §2.4, FlowNet2 style with kernel size 1 and stride 1)::

    out[b, (dy + d) * (2d + 1) + (dx + d), y, x] = mean_c first[b, c, y, x] * second[b, c, y + dy, x + dx]

for dy, dx in [-d, d] (dy is the slow index), reading zeros outside ``second``. The official layer is a
CUDA-only cupy kernel; this one runs on any device and dtype.

Implementations with the same values:

* :func:`local_correlation_reference`: the direct 49-shift loop under plain autograd (the definition,
  used by the tests and as the benchmark baseline);
* :func:`local_correlation` picks one of two kernels (:func:`correlation_kernel`):

  - ``bands`` (any device): the same sums computed channels-last (each reduction runs over contiguous
    memory), one cache-sized band of rows at a time, without an autograd graph, plus a hand-written adjoint
    that accumulates both gradients in place, band by band. Autograd through the loop allocates and scatters
    a full padded gradient per shift, which makes it several times slower in training;
  - ``triton`` (CUDA tensors, where Triton is installed): one kernel launch forward and one per gradient
    (:mod:`pftryon.layers.correlation_triton`); the banded loop would be ~100 small launches per level.

``python -m bench.speed correlation`` measures them against the loop.
"""

from __future__ import annotations

import importlib.util
import os

import torch
import torch.nn.functional as F

__all__ = ["KERNELS", "available_kernels", "correlation_kernel", "local_correlation", "local_correlation_reference"]

KERNELS = ("bands", "triton")
"""The kernels :func:`local_correlation` can run; ``PFTRYON_CORRELATION`` names one to force it."""

_TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_TRITON_INSTALLED = importlib.util.find_spec("triton") is not None


def _check(first: torch.Tensor, second: torch.Tensor) -> None:
    if first.dim() != 4 or first.shape != second.shape:
        raise ValueError(
            f"local correlation expects two [B, C, H, W] tensors of one shape, got {tuple(first.shape)} "
            f"and {tuple(second.shape)}"
        )


def local_correlation_reference(first: torch.Tensor, second: torch.Tensor, max_displacement: int = 3) -> torch.Tensor:
    """The direct definition: one shifted product per displacement, differentiated by autograd."""
    _check(first, second)
    d = max_displacement
    _, _, h, w = first.shape
    padded = F.pad(second, (d, d, d, d))
    maps = [
        (first * padded[:, :, dy : dy + h, dx : dx + w]).mean(dim=1)
        for dy in range(2 * d + 1)
        for dx in range(2 * d + 1)
    ]
    return torch.stack(maps, dim=1)


_CHUNK_BYTES = 2 << 20
"""Rows are processed in bands of about this many bytes of one feature map, so that the per-displacement product and
the slices it reads stay in cache across the 49 displacements (the whole map at once streams them from memory 49
times: ~1.7x slower forward at 128x96x256 on a 2-core EPYC)."""


def _bands(first_hwc: torch.Tensor) -> list[tuple[int, int]]:
    """Row ranges ``[y0, y1)`` of about :data:`_CHUNK_BYTES` each."""
    b, h, w, c = first_hwc.shape
    rows = max(1, _CHUNK_BYTES // (b * w * c * first_hwc.element_size()))
    return [(y0, min(h, y0 + rows)) for y0 in range(0, h, rows)]


class _LocalCorrelation(torch.autograd.Function):
    """Forward and adjoint computed channels-last (every reduction over contiguous memory), one band of rows at a
    time (:data:`_CHUNK_BYTES`)."""

    @staticmethod
    def forward(ctx, first: torch.Tensor, second: torch.Tensor, d: int) -> torch.Tensor:  # type: ignore[override]
        b, c, h, w = first.shape
        k = 2 * d + 1
        first_hwc = first.permute(0, 2, 3, 1).contiguous()
        padded = F.pad(second.permute(0, 2, 3, 1), (0, 0, d, d, d, d))
        bands = _bands(first_hwc)
        product = first_hwc.new_empty(b, bands[0][1], w, c)  # reused: no allocation per displacement
        out = first.new_empty(b, k * k, h, w)
        for y0, y1 in bands:
            band, scratch = first_hwc[:, y0:y1], product[:, : y1 - y0]
            for dy in range(k):
                for dx in range(k):
                    torch.mul(band, padded[:, y0 + dy : y1 + dy, dx : dx + w], out=scratch)
                    torch.sum(scratch, dim=-1, out=out[:, dy * k + dx, y0:y1])
        out.div_(c)
        ctx.save_for_backward(first_hwc, padded)
        ctx.d = d
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        first_hwc, padded = ctx.saved_tensors
        d = ctx.d
        _, h, w, c = first_hwc.shape
        k = 2 * d + 1
        grad = (grad / c).permute(0, 2, 3, 1)
        grad_first = torch.zeros_like(first_hwc) if ctx.needs_input_grad[0] else None
        grad_padded = torch.zeros_like(padded) if ctx.needs_input_grad[1] else None
        for y0, y1 in _bands(first_hwc):
            for dy in range(k):
                for dx in range(k):
                    g = grad[:, y0:y1, :, dy * k + dx : dy * k + dx + 1]
                    shifted = (slice(None), slice(y0 + dy, y1 + dy), slice(dx, dx + w))
                    if grad_first is not None:
                        grad_first[:, y0:y1].addcmul_(g, padded[shifted])
                    if grad_padded is not None:
                        grad_padded[shifted].addcmul_(g, first_hwc[:, y0:y1])
        grad_first = grad_first.permute(0, 3, 1, 2) if grad_first is not None else None
        grad_second = grad_padded[:, d : d + h, d : d + w].permute(0, 3, 1, 2) if grad_padded is not None else None
        return grad_first, grad_second, None


def available_kernels(device: torch.device | str) -> tuple[str, ...]:
    """The kernels that run on ``device``: ``bands`` anywhere, ``triton`` too on CUDA where Triton is installed."""
    return KERNELS if _TRITON_INSTALLED and torch.device(device).type == "cuda" else ("bands",)


def _known(kernel: str, named_by: str) -> str:
    if kernel not in KERNELS:
        raise ValueError(f"{named_by}{kernel!r}: expected one of {', '.join(KERNELS)}")
    return kernel


def correlation_kernel(tensor: torch.Tensor) -> str:
    """The kernel :func:`local_correlation` runs on ``tensor``: the one ``PFTRYON_CORRELATION`` names if set, else
    ``triton`` for a CUDA tensor of float32, float16 or bfloat16 where Triton is installed, else ``bands``."""
    forced = os.environ.get("PFTRYON_CORRELATION", "")
    if forced:
        return _known(forced, "PFTRYON_CORRELATION=")
    return "triton" if "triton" in available_kernels(tensor.device) and tensor.dtype in _TRITON_DTYPES else "bands"


def local_correlation(
    first: torch.Tensor, second: torch.Tensor, max_displacement: int = 3, *, kernel: str | None = None
) -> torch.Tensor:
    """Cost volume ``[B, (2d+1)^2, H, W]`` of ``first`` against ``second`` shifted by up to ``d`` pixels, computed by
    ``kernel`` (one of :data:`KERNELS`; default :func:`correlation_kernel`)."""
    _check(first, second)
    kernel = _known(kernel, "correlation kernel ") if kernel else correlation_kernel(first)
    if kernel == "triton":
        from pftryon.layers.correlation_triton import TritonLocalCorrelation

        return TritonLocalCorrelation.apply(first, second, max_displacement)
    return _LocalCorrelation.apply(first, second, max_displacement)
