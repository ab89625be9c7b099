"""The fp32 peak that speed figures are read against, timed in the same rounds as the figure itself.

An estimate from below: the best rate of a 2048x2048 fp32 matrix product and of a 3x3, 256-channel convolution
(channels-last, the layout oneDNN runs fastest), with this process's thread count. On a quiet 2-core Zen 4 the
convolution reaches ~96% of a hand-written FMA loop's rate, so fractions of this peak read as fractions of
what the cores can do.

Shared virtual machines slow down for seconds to minutes at a time (other tenants on the host; nothing in ``/proc``
shows it): a peak timed once before a benchmark then reads a later figure at 70% or 110% of "peak". So
:func:`compare_with_peak` runs the two peak workloads in every round of the figure's own comparison, interleaved
with its candidates, and the figure's share of peak comes from those rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.speed.timing import CPU, DEFAULT_POLICY, Comparison, Policy, compare

__all__ = ["PEAK_CONV", "PEAK_MATMUL", "Peak", "compare_with_peak"]

PEAK_MATMUL, PEAK_CONV = "peak: sgemm 2048^2", "peak: 3x3 convolution 256 ch"
_N = 2048
_CONV_SHAPE = (1, 256, 64, 48)
_GFLOP = {PEAK_MATMUL: 2 * _N**3 / 1e9, PEAK_CONV: 2 * 9 * 256 * 256 * 64 * 48 / 1e9}


@dataclass(frozen=True)
class Peak:
    """Measured fp32 rates in GFLOP/s: the best of the matrix product and the convolution is the peak."""

    matmul_gflops: float
    conv_gflops: float
    timing: Comparison

    @classmethod
    def from_comparison(cls, timing: Comparison) -> Peak:
        """The rates of the peak workloads' fastest rounds in ``timing``."""
        return cls(*(_GFLOP[name] / timing.min(name) * 1e3 for name in (PEAK_MATMUL, PEAK_CONV)), timing)

    @property
    def gflops(self) -> float:
        """The peak estimate."""
        return max(self.matmul_gflops, self.conv_gflops)

    def fraction(self, gflop: float, ms: float) -> float:
        """The share of the peak that ``gflop`` of work in ``ms`` milliseconds sustains."""
        return gflop / ms * 1e3 / self.gflops

    def describe(self) -> str:
        """One line: the peak and its two workloads' rates."""
        return (f"fp32 peak {self.gflops:.0f} GFLOP/s in the same rounds (best of sgemm 2048^2 "
                f"{self.matmul_gflops:.0f}, 3x3 convolution 256 ch {self.conv_gflops:.0f})")  # fmt: skip


def _workloads(device: torch.device, dtype: torch.dtype) -> dict[str, Callable[[], object]]:
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(_N, _N, generator=g).to(device, dtype) for _ in range(2))
    image = torch.randn(_CONV_SHAPE, generator=g).to(device, dtype).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device, dtype).to(memory_format=torch.channels_last)

    def matmul() -> torch.Tensor:
        return a @ b

    def convolution() -> torch.Tensor:
        with torch.inference_mode():
            return conv(image)

    return {PEAK_MATMUL: matmul, PEAK_CONV: convolution}


def compare_with_peak(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 2,
    device: torch.device = CPU,
    policy: Policy = DEFAULT_POLICY,
    dtype: torch.dtype = torch.float32,
) -> tuple[Comparison, Peak]:
    """:func:`~bench.speed.timing.compare` of ``candidates`` with the peak workloads in every round, and the peak
    from those rounds (the workloads in ``dtype``: fp32 unless another precision's peak is wanted)."""
    timing = compare({**candidates, **_workloads(device, dtype)}, repeats=repeats, warmup=warmup, device=device,
                     policy=policy)  # fmt: skip
    return timing, Peak.from_comparison(timing)
