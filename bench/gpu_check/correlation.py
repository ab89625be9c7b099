"""Part (f): the kernels of PF-AFN's local correlation timed against one another on the device, over the five pyramid
levels of a 256x192 input (256 channels; 128x96 down to 8x6), forward and forward plus backward, at batches 1 and
64: the 49-shift loop under autograd (the definition), the banded kernel, and on CUDA the Triton kernels. Each row
gives the median ms per pass over all five levels (``torch.utils.benchmark``, which synchronises the device), the
speed-up over the loop, and the largest difference from the loop (output, and both gradients with backward).

Then, where Triton runs, its forward at other launch configurations (channels and columns a program, warps), at
batches 64 and 1: the data to tune :data:`pftryon.layers.correlation_triton.FORWARD_BLOCKS` from."""

from __future__ import annotations

import os
import time
from functools import partial
from typing import Any

import torch
from torch.utils.benchmark import Timer

from bench.gpu_check.budget import Part
from bench.speed.correlation import Level, correlation_inputs, correlation_kernels, correlation_pass
from pftryon.layers import local_correlation_reference

__all__ = ["check_correlation", "preflight_correlation"]

_LEVELS = ((128, 96), (64, 48), (32, 24), (16, 12), (8, 6))  # a 256x192 input's pyramid, finest first
_TOLERANCE = 1e-4  # fp32, unit-variance features: the kernels differ from the loop by summation order only
_SWEEP = ((16, 32, 4), (64, 32, 4), (32, 64, 4), (32, 16, 4), (32, 32, 8), (16, 64, 4), (64, 64, 8))
"""Forward launch configurations tried beside the default: (channels, columns, warps)."""


def _time(run: Any, tiny: bool) -> float:
    """Median ms of ``run()`` (``torch.utils.benchmark`` synchronises the device around each block)."""
    return Timer("run()", globals={"run": run}).blocked_autorange(min_run_time=0.05 if tiny else 0.3).median * 1e3


def _row(part: Part, name: str, batch: int, backward: bool, levels: list[Level], ms: float, loop_ms: float,
         errors: list[float]) -> None:  # fmt: skip
    part.rows.append({"kernel": name, "batch": batch, "pass": "forward + backward" if backward else "forward",
                      "levels": " ".join(f"{lv[0].shape[2]}x{lv[0].shape[3]}" for lv in levels),
                      "channels": levels[0][0].shape[1], "median_ms": ms, "speedup_vs_loop": loop_ms / ms,
                      "max_abs_diff": max(errors), "ok": max(errors) <= _TOLERANCE})  # fmt: skip
    if max(errors) > _TOLERANCE:
        part.fail(f"{name} correlation, batch {batch}: max |diff| {max(errors):.3g} > {_TOLERANCE}")


def _differences(outputs: list[torch.Tensor], expected: list[torch.Tensor]) -> list[float]:
    return [(ours - theirs).abs().max().item() for ours, theirs in zip(outputs, expected, strict=True)]


def check_correlation(part: Part, device: torch.device, deadline: float, *, tiny: bool) -> None:
    """One row per kernel, batch and pass, then the Triton forward's launch sweep (``tiny``: 16 channels, a 32x24
    input's pyramid, batches 1 and 2)."""
    channels, sizes = (16, [(h // 8, w // 8) for h, w in _LEVELS[:3]]) if tiny else (256, list(_LEVELS))
    batches = (1, 2) if tiny else (1, 64)
    kernels = correlation_kernels(device)
    plan = [(batch, backward) for batch in batches for backward in (False, True)]
    for index, (batch, backward) in enumerate(plan):
        if time.perf_counter() > deadline:
            part.stop(len(plan) - index)
            return
        levels = correlation_inputs(batch, channels, sizes, device, backward=backward, seed=batch)
        expected = correlation_pass(kernels["loop"], levels, backward)
        loop_ms = None
        for name, kernel in kernels.items():
            errors = _differences(correlation_pass(kernel, levels, backward), expected)
            ms = _time(partial(correlation_pass, kernel, levels, backward), tiny)
            loop_ms = loop_ms or ms
            _row(part, name, batch, backward, levels, ms, loop_ms, errors)
    if "triton" in kernels:
        _sweep_forward(part, batches[::-1], channels, sizes, device, deadline, tiny=tiny)


def _sweep_forward(part: Part, batches: tuple[int, ...], channels: int, sizes: list[tuple[int, int]],
                   device: torch.device, deadline: float, *, tiny: bool) -> None:  # fmt: skip
    """The Triton forward at each launch of :data:`_SWEEP`, a row each (kernel ``triton c32 x32 w4``), the speed-up
    still over the loop; a launch that cannot run is a row with the reason."""
    from pftryon.layers.correlation_triton import Blocks, cost_volume

    plan = [(batch, Blocks(*launch)) for batch in batches for launch in _SWEEP]
    for index, (batch, blocks) in enumerate(plan):
        if time.perf_counter() > deadline:
            part.stop(len(plan) - index)
            return
        loop_ms = next(r["median_ms"] for r in part.rows
                       if r["kernel"] == "loop" and r["batch"] == batch and r["pass"] == "forward")  # fmt: skip
        levels = correlation_inputs(batch, channels, sizes, device, backward=False, seed=batch)
        kernel = partial(cost_volume, d=3, blocks=blocks)
        name = f"triton c{blocks.channels} x{blocks.columns} w{blocks.warps}"
        try:
            outputs = correlation_pass(kernel, levels, False)
        except Exception as err:  # a launch the device cannot take (registers, shared memory) is a finding, not a fault
            part.rows.append({"kernel": name, "batch": batch, "pass": "forward", "ok": False,
                              "note": f"{type(err).__name__}: {err}".splitlines()[0]})  # fmt: skip
            continue
        errors = _differences(outputs, correlation_pass(local_correlation_reference, levels, False))
        _row(part, name, batch, False, levels, _time(partial(correlation_pass, kernel, levels, False), tiny), loop_ms,
             errors)  # fmt: skip


def preflight_correlation(device: torch.device) -> dict[str, str]:
    """Before the parts: Triton's correlation run once on ``device`` (fp32 forward and both gradients against the loop,
    at sizes that leave remainders in every block; a bf16 forward). If it fails to compile or disagrees, the rest of
    the run uses the banded kernel (``PFTRYON_CORRELATION=bands``), so that one broken kernel costs the run its Triton
    rows rather than every row of the methods that correlate (part (f) still tries Triton and shows the failure).
    Returns the kernel in force and the preflight's outcome."""
    kernels = correlation_kernels(device)
    if "triton" not in kernels:
        return {"kernel": "bands", "preflight": "not run: Triton does not run on this device"}
    if os.environ.get("PFTRYON_CORRELATION"):
        return {"kernel": os.environ["PFTRYON_CORRELATION"], "preflight": "not run: PFTRYON_CORRELATION is set"}
    try:
        for backward in (False, True):
            levels = correlation_inputs(2, 40, [(9, 37)], device, backward=backward)
            errors = _differences(correlation_pass(kernels["triton"], levels, backward),
                                  correlation_pass(kernels["loop"], levels, backward))  # fmt: skip
            if max(errors) > _TOLERANCE:
                raise ValueError(f"the {'gradients differ' if backward else 'forward differs'} from the loop by "
                                 f"{max(errors):.3g}")  # fmt: skip
        first, second, _ = levels[0]
        with torch.no_grad():
            volume = kernels["triton"](first.bfloat16(), second.bfloat16())
        if volume.dtype != torch.bfloat16 or not volume.isfinite().all():
            raise ValueError(f"the bf16 forward gave {volume.dtype} with non-finite values")
    except Exception as err:  # compile errors included: the run goes on with the banded kernel
        os.environ["PFTRYON_CORRELATION"] = "bands"
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        return {"kernel": "bands", "preflight": f"Triton failed, the banded kernel runs instead: {reason}"}
    return {"kernel": "triton", "preflight": f"ok: fp32 forward and gradients within {_TOLERANCE} of the loop, bf16 "
                                             "forward finite"}  # fmt: skip
