"""Part (f): the kernels of PF-AFN's local correlation timed against one another on the device, over the five pyramid
levels of a 256x192 input (256 channels; 128x96 down to 8x6), forward and forward plus backward, at batches 1 and
64: the 49-shift loop under autograd (the definition), the banded kernel, and on CUDA the Triton kernels. Each row
gives the median ms per pass over all five levels (``torch.utils.benchmark``, which synchronises the device), the
speed-up over the loop, and the largest difference from the loop (output, and both gradients with backward)."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import torch
from torch.utils.benchmark import Timer

from bench.gpu_check.budget import Part

__all__ = ["check_correlation"]

_LEVELS = ((128, 96), (64, 48), (32, 24), (16, 12), (8, 6))  # a 256x192 input's pyramid, finest first
_TOLERANCE = 1e-4  # fp32, unit-variance features: the kernels differ from the loop by summation order only


def _kernels(device: torch.device) -> dict[str, Callable[..., torch.Tensor]]:
    from pftryon.layers import correlation_kernel, local_correlation, local_correlation_reference

    kernels = {"loop": local_correlation_reference, "bands": partial(local_correlation, kernel="bands")}
    if correlation_kernel(torch.empty(0, device=device)) == "triton":
        kernels["triton"] = partial(local_correlation, kernel="triton")
    return kernels


def _pass(kernel: Callable[..., torch.Tensor], pairs: list[tuple[torch.Tensor, ...]], backward: bool) -> list:
    """One pass over the levels: the outputs, or the two gradients of ``sum(out * upstream)`` at each level."""
    if not backward:
        with torch.no_grad():
            return [kernel(first, second) for first, second, _ in pairs]
    return [g for first, second, up in pairs for g in torch.autograd.grad((kernel(first, second) * up).sum(),
                                                                          (first, second))]  # fmt: skip


def _inputs(batch: int, channels: int, levels: list[tuple[int, int]], device: torch.device,
            backward: bool) -> list[tuple[torch.Tensor, ...]]:  # fmt: skip
    """Per level: the two feature maps and the upstream gradient of the cost volume."""
    g = torch.Generator().manual_seed(batch)
    pairs = []
    for h, w in levels:
        first, second = (torch.randn(batch, channels, h, w, generator=g).to(device).requires_grad_(backward)
                         for _ in range(2))  # fmt: skip
        pairs.append((first, second, torch.randn(batch, 49, h, w, generator=g).to(device)))
    return pairs


def check_correlation(part: Part, device: torch.device, deadline: float, *, tiny: bool) -> None:
    """One row per kernel, batch and pass (``tiny``: 16 channels, a 64x64 input's pyramid, batches 1 and 2)."""
    channels, levels = (16, [(h // 4, w // 4) for h, w in _LEVELS[:3]]) if tiny else (256, list(_LEVELS))
    kernels = _kernels(device)
    plan = [(batch, backward) for batch in ((1, 2) if tiny else (1, 64)) for backward in (False, True)]
    for index, (batch, backward) in enumerate(plan):
        if time.perf_counter() > deadline:
            part.stop(len(plan) - index)
            return
        pairs = _inputs(batch, channels, levels, device, backward)
        expected = _pass(kernels["loop"], pairs, backward)
        loop_ms = None
        for name, kernel in kernels.items():
            errors = [(ours - theirs).abs().max().item() for ours, theirs in
                      zip(_pass(kernel, pairs, backward), expected, strict=True)]  # fmt: skip
            timer = Timer("run()", globals={"run": partial(_pass, kernel, pairs, backward)})
            ms = timer.blocked_autorange(min_run_time=0.05 if tiny else 0.3).median * 1e3
            loop_ms = loop_ms or ms
            part.rows.append({"kernel": name, "batch": batch, "pass": "forward + backward" if backward else "forward",
                              "levels": " ".join(f"{h}x{w}" for h, w in levels), "channels": channels,
                              "median_ms": ms, "speedup_vs_loop": loop_ms / ms, "max_abs_diff": max(errors),
                              "ok": max(errors) <= _TOLERANCE})  # fmt: skip
            if max(errors) > _TOLERANCE:
                part.fail(f"{name} correlation, batch {batch}: max |diff| {max(errors):.3g} > {_TOLERANCE}")
