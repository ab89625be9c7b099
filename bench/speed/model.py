"""PF-AFN inference (straightforward against fast path) and the correlation layer (loop against ours)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import click
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.speed.breakdown import profile_forward
from bench.speed.peak import compare_with_peak
from bench.speed.timing import DEFAULT_POLICY, Policy
from pftryon import PFAFN
from pftryon.layers import correlation_kernel, local_correlation, local_correlation_reference
from pftryon.models import init_deterministic_, optimize_for_inference

__all__ = ["bench_correlation", "bench_model", "correlation_flops"]


def bench_model(device: torch.device, repeats: int, policy: Policy = DEFAULT_POLICY) -> None:
    """PF-AFN at 256x192, batch 1; fails if the fast path's outputs leave the conformance tolerances."""
    model = PFAFN()
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    model = model.eval().to(device)
    fast = optimize_for_inference(model)
    g = torch.Generator().manual_seed(0)
    edge = (torch.rand(1, 1, 256, 192, generator=g) > 0.5).float().to(device)
    person = (torch.rand(1, 3, 256, 192, generator=g) * 2 - 1).to(device)
    cloth = (torch.rand(1, 3, 256, 192, generator=g) * 2 - 1).to(device) * edge

    def straightforward() -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return model(person, cloth, edge)

    def fastest() -> dict[str, torch.Tensor]:
        with torch.inference_mode():
            return fast(person, cloth, edge)

    with FlopCounterMode(display=False) as counter:
        reference = straightforward()
    gflop = counter.get_total_flops() / 1e9
    candidate = fastest()
    flow_error = (candidate["flow"] - reference["flow"]).abs().max().item()
    image_error = (candidate["tryon"] - reference["tryon"]).abs().max().item()
    if flow_error > 1e-4 or image_error > 1e-3:
        raise click.ClickException(f"fast path differs: flow {flow_error:.2e} (tol 1e-4), try-on {image_error:.2e}")
    result, peak = compare_with_peak({"straightforward": straightforward, "fast": fastest}, repeats=repeats,
                                     device=device, policy=policy)  # fmt: skip
    click.echo(f"\nPF-AFN inference, 256x192, batch 1 (warp + generator + composition), {gflop:.1f} GFLOP per "
               "pair (torch.utils.flop_counter, convolutions and matmuls); ms min / median, share of peak at the "
               f"min; {peak.describe()}")  # fmt: skip
    for name, label in (("straightforward", "straightforward (eval, no_grad, NCHW)"),
                        ("fast", "fast (BN folded, channels-last, inference_mode)")):  # fmt: skip
        best = result.min(name)
        click.echo(f"  {label:48s} {best:8.1f} / {result.median(name):8.1f} ms  "
                   f"{gflop / best * 1e3:5.0f} GFLOP/s, {peak.fraction(gflop, best):4.0%} of peak")  # fmt: skip
    click.echo(f"  {result.figure('straightforward', 'fast', peak.fraction(gflop, result.min('fast')))} "
               f"(goal: 1.5x or more); max |diff|: flow {flow_error:.1e}, try-on {image_error:.1e}")  # fmt: skip
    if device.type == "cpu":
        for line in profile_forward(fastest, gflop).describe(result.min("fast"), peak):
            click.echo(f"  fast path {line}")


def correlation_flops(shape: tuple[int, ...], *, backward: bool, displacements: int = 49) -> float:
    """GFLOP of the cost volume on ``[B, C, H, W]`` features: a multiply and an add per channel and displacement,
    twice that again for the two gradients (the flop counter does not see these element-wise products)."""
    batch, channels, height, width = shape
    return (3 if backward else 1) * 2 * displacements * batch * channels * height * width / 1e9


def bench_correlation(device: torch.device, repeats: int, policy: Policy = DEFAULT_POLICY) -> None:
    """The 49 shifted products under autograd against :func:`~pftryon.layers.local_correlation` (its default kernel
    on ``device``; where that is Triton, the banded kernel too)."""
    kernel = correlation_kernel(torch.empty(0, device=device))
    click.echo(f"\nCorrelation (49 displacements, 256 channels) vs the loop of 49 shifted products under autograd; "
               f"ours = the {kernel} kernel; ms min / median")  # fmt: skip
    for label, shape, backward in (
        ("forward, batch 1, 128x96", (1, 256, 128, 96), False),
        ("forward + backward, batch 4, 64x48", (4, 256, 64, 48), True),
        ("forward + backward, batch 1, 128x96", (1, 256, 128, 96), True),
    ):
        g = torch.Generator().manual_seed(0)
        first = torch.randn(shape, generator=g).to(device).requires_grad_(backward)
        second = torch.randn(shape, generator=g).to(device).requires_grad_(backward)
        upstream = torch.randn(shape[0], 49, *shape[2:], generator=g).to(device)

        def run(fn: Callable[..., torch.Tensor], first=first, second=second, upstream=upstream, backward=backward):
            if not backward:
                with torch.no_grad():
                    return fn(first, second)
            return torch.autograd.grad((fn(first, second) * upstream).sum(), (first, second))

        candidates = {"loop": lambda: run(local_correlation_reference), "ours": lambda: run(local_correlation)}
        if kernel != "bands":
            candidates["bands"] = lambda: run(partial(local_correlation, kernel="bands"))
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
