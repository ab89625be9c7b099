"""The fp32 peak that speed figures are read against, measured on the machine that prints them.

An estimate from below: the best rate of a 2048x2048 fp32 matrix product and of a 3x3, 256-channel convolution
(channels-last, the layout oneDNN runs fastest), with this process's thread count. On a quiet 2-core Zen 4 the
convolution reaches ~96% of a hand-written FMA loop's rate (issue 14), so fractions of this peak read as fractions of
what the cores can do.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.speed.timing import CPU, DEFAULT_POLICY, Comparison, Policy, compare

__all__ = ["Peak", "measure_peak"]


@dataclass(frozen=True)
class Peak:
    """Measured fp32 rates in GFLOP/s: the best of the matrix product and the convolution is the peak."""

    matmul_gflops: float
    conv_gflops: float
    timing: Comparison

    @property
    def gflops(self) -> float:
        """The peak estimate."""
        return max(self.matmul_gflops, self.conv_gflops)

    def fraction(self, gflop: float, ms: float) -> float:
        """The share of the peak that ``gflop`` of work in ``ms`` milliseconds sustains."""
        return gflop / ms * 1e3 / self.gflops

    def describe(self) -> str:
        """One line for benchmark headers."""
        return (f"measured fp32 peak {self.gflops:.0f} GFLOP/s (best of sgemm 2048^2 {self.matmul_gflops:.0f}, 3x3 "
                f"convolution 256 ch {self.conv_gflops:.0f}; {self.timing.describe_load()})")  # fmt: skip


def measure_peak(device: torch.device = CPU, repeats: int = 5, policy: Policy = DEFAULT_POLICY) -> Peak:
    """Time the matrix product and the convolution interleaved; rates from their fastest runs."""
    g = torch.Generator().manual_seed(0)
    n = 2048
    a, b = (torch.randn(n, n, generator=g).to(device) for _ in range(2))
    image = torch.randn(1, 256, 64, 48, generator=g).to(device).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device).to(memory_format=torch.channels_last)
    conv_gflop = 2 * 9 * 256 * 256 * 64 * 48 / 1e9
    with torch.inference_mode():
        timing = compare({"matmul": lambda: a @ b, "conv": lambda: conv(image)}, repeats=repeats, device=device,
                         policy=policy)  # fmt: skip
    return Peak(2 * n**3 / 1e9 / timing.min("matmul") * 1e3, conv_gflop / timing.min("conv") * 1e3, timing)
