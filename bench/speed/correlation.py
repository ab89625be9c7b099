"""The correlation layer's kernels timed against the direct loop of 49 shifted products under autograd.

:func:`correlation_kernels` and :func:`correlation_pass` are the candidates and the timed pass that both
``python -m bench.speed correlation`` and the GPU check's part (f) (:mod:`bench.gpu_check.correlation`) run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import click
import torch

from bench.speed.peak import compare_with_peak
from bench.speed.timing import DEFAULT_POLICY, Policy
from pftryon.layers import available_kernels, correlation_kernel, local_correlation, local_correlation_reference

__all__ = ["Level", "bench_correlation", "correlation_flops", "correlation_inputs", "correlation_kernels",
           "correlation_pass"]  # fmt: skip

Level = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""One cost volume's inputs: the two feature maps and the upstream gradient of the volume."""


def correlation_kernels(device: torch.device) -> dict[str, Callable[..., torch.Tensor]]:
    """The loop (the definition, under autograd) and every kernel of :func:`~pftryon.layers.local_correlation` that
    runs on ``device``, by name."""
    kernels = {name: partial(local_correlation, kernel=name) for name in available_kernels(device)}
    return {"loop": local_correlation_reference} | kernels


def correlation_inputs(batch: int, channels: int, sizes: Sequence[tuple[int, int]], device: torch.device, *,
                       backward: bool, seed: int = 0) -> list[Level]:  # fmt: skip
    """Unit-variance feature maps of ``[batch, channels, h, w]`` per size (leaves needing gradients with
    ``backward``), each with an upstream gradient."""
    g = torch.Generator().manual_seed(seed)
    levels = []
    for h, w in sizes:
        first, second = (torch.randn(batch, channels, h, w, generator=g).to(device).requires_grad_(backward)
                         for _ in range(2))  # fmt: skip
        levels.append((first, second, torch.randn(batch, 49, h, w, generator=g).to(device)))
    return levels


def correlation_pass(kernel: Callable[..., torch.Tensor], levels: list[Level], backward: bool) -> list[torch.Tensor]:
    """One pass over ``levels``: the cost volumes, or (``backward``) the two gradients of ``sum(volume * upstream)``
    at each level."""
    if not backward:
        with torch.no_grad():
            return [kernel(first, second) for first, second, _ in levels]
    return [g for first, second, up in levels for g in torch.autograd.grad((kernel(first, second) * up).sum(),
                                                                           (first, second))]  # fmt: skip


def correlation_flops(shape: tuple[int, ...], *, backward: bool, displacements: int = 49) -> float:
    """GFLOP of the cost volume on ``[B, C, H, W]`` features: a multiply and an add per channel and displacement,
    twice that again for the two gradients (the flop counter does not see these element-wise products)."""
    batch, channels, height, width = shape
    return (3 if backward else 1) * 2 * displacements * batch * channels * height * width / 1e9


def bench_correlation(device: torch.device, repeats: int, policy: Policy = DEFAULT_POLICY) -> None:
    """The loop against :func:`~pftryon.layers.local_correlation` (its default kernel on ``device``, "ours"; where
    that is Triton, the banded kernel too)."""
    kernels = correlation_kernels(device)
    default = correlation_kernel(torch.empty(0, device=device))
    click.echo(f"\nCorrelation (49 displacements, 256 channels) vs the loop of 49 shifted products under autograd; "
               f"ours = the {default} kernel; ms min / median")  # fmt: skip
    for label, shape, backward in (
        ("forward, batch 1, 128x96", (1, 256, 128, 96), False),
        ("forward + backward, batch 4, 64x48", (4, 256, 64, 48), True),
        ("forward + backward, batch 1, 128x96", (1, 256, 128, 96), True),
    ):
        levels = correlation_inputs(shape[0], shape[1], [shape[2:]], device, backward=backward)
        candidates = {"loop": partial(correlation_pass, kernels["loop"], levels, backward),
                      "ours": partial(correlation_pass, partial(local_correlation, kernel=default), levels,
                                      backward)}  # fmt: skip
        if default != "bands":
            candidates["bands"] = partial(correlation_pass, kernels["bands"], levels, backward)
        result, peak = compare_with_peak(candidates, repeats=repeats, device=device, policy=policy)
        fraction = peak.fraction(correlation_flops(shape, backward=backward), result.min("ours"))
        click.echo(f"  {label:36s} loop {result.min('loop'):7.1f} / {result.median('loop'):7.1f} | ours "
                   f"{result.min('ours'):7.1f} / {result.median('ours'):7.1f} | "
                   f"{result.figure('loop', 'ours', fraction, peak.gflops)}")  # fmt: skip
        if "bands" in candidates:
            click.echo(f"  {'':36s} bands {result.min('bands'):6.1f} / {result.median('bands'):7.1f} | ours against "
                       f"bands: {result.figure('bands', 'ours')}")  # fmt: skip
    click.echo("  (goal >= 3x; memory-bound: element-wise products, hence the small share of peak; the gain is in the "
               "adjoint)")  # fmt: skip
