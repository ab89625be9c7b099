"""PF-AFN inference: the straightforward path against the fast path."""

from __future__ import annotations

import click
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.speed.breakdown import profile_forward
from bench.speed.peak import compare_with_peak
from bench.speed.timing import DEFAULT_POLICY, Policy
from pftryon import PFAFN
from pftryon.models import init_deterministic_, optimize_for_inference

__all__ = ["bench_model"]


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
