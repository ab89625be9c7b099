"""Parts (d) and (e): the latency table of every registered method (:mod:`bench.latency`: single-stream percentiles,
offline throughput, cold call, stage split, FLOPs against the measured peak, energy, settings), over precisions,
batch sizes and modes (eager, CUDA graph, ``torch.compile``), in an order that puts the most telling rows first, so
that a budget that runs out leaves the rest. A configuration that cannot run (a capture or a compile that fails)
is a row with its reason; the other rows still run."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch

from bench.gpu_check.budget import Part

__all__ = ["Config", "check_latency", "latency_plan"]

_FIRST = ("pf_afn", "fs_vton", "dm_vton", "cp_vton")  # the methods compared most often: their rows first
_FAST = ("pf_afn", "dm_vton")  # the inference paths made fast for a GPU: timed in the ``fast`` mode too


@dataclass(frozen=True)
class Config:
    """One row to time: method, size, batch, precision, mode (``eager``, ``graph``, ``compile``, or ``fast``: the
    inference copy of :func:`pftryon.models.optimize_for_inference` (BatchNorm folded), channels-last, as a CUDA graph
    on CUDA)."""

    method: str
    size: tuple[int, int]
    batch: int
    dtype: str
    mode: str


def _ordered(methods: list[str]) -> list[str]:
    return [m for m in _FIRST if m in methods] + [m for m in methods if m not in _FIRST]


def latency_plan(methods: list[str], device: torch.device, *, tiny: bool, extra: bool) -> list[Config]:
    """The rows of part (d) (``extra`` false) or part (e) (``extra`` true), in the order they run.

    (d) on CUDA: every method at 256x192 in fp32, TF32, fp16 and bf16 at batches 1, 8 and 64, eager and as a CUDA graph,
    ``torch.compile`` at batch 1 in fp32 and bf16, and PF-AFN and DM-VTON in the ``fast`` mode at batches 1 and 64 in
    every precision. Compiling takes the longest, so the order is: PF-AFN eager then as graphs, PF-AFN and DM-VTON fast,
    FS-VTON, DM-VTON and CP-VTON eager then as graphs, PF-AFN compiled, the other methods eager then as graphs, the
    other compiled rows. (e) on CUDA: the VITON-HD size 512x384, eager, fp32 and bf16 at batches 1 and 8. ``tiny`` (a
    smoke test): 64x64, fp32 at batches 1 and 2, the other precisions at batch 1, fast at batch 1; (e) the first method
    at 128x128, fp32, batch 1. On the CPU: fp32, eager and fast (bf16 convolutions have no fast kernel on some CPUs).
    """
    ordered = _ordered(methods)
    if extra:
        if tiny:
            return [Config(ordered[0], (128, 128), 1, "fp32", "eager")]
        return [Config(m, (512, 384), b, d, "eager") for m in ordered for d in ("fp32", "bf16") for b in (1, 8)]
    cuda = device.type == "cuda"
    size = (64, 64) if tiny else (256, 192)
    dtypes = ("fp32", "tf32", "fp16", "bf16") if cuda else ("fp32",)
    batches = (1, 2) if tiny else (1, 8, 64)
    modes = ("eager", "graph") if cuda else ("eager",)

    def timed(names: list[str]) -> list[Config]:
        return [Config(m, size, b, d, mode) for m in names for mode in modes for d in dtypes for b in batches
                if not tiny or d == "fp32" or b == 1]  # fmt: skip

    def compiled(names: list[str]) -> list[Config]:
        return [Config(m, size, 1, d, "compile") for m in names for d in ("fp32", "bf16")] if cuda else []

    fast = [
        Config(m, size, b, d, "fast")
        for m in _FAST
        if m in methods
        for d in dtypes
        for b in ((1,) if tiny else (1, 64))
    ]
    first, rest = [m for m in ordered if m in _FIRST], [m for m in ordered if m not in _FIRST]
    return timed(first[:1]) + fast + timed(first[1:]) + compiled(first[:1]) + timed(rest) + compiled(first[1:] + rest)


def _row(config: Config, result: Any) -> dict[str, Any]:
    from bench.latency import latency_table

    row = {k: v for k, v in latency_table([result]).iloc[0].to_dict().items() if k not in ("model", "size", "dtype")}
    stages = "; ".join(f"{name} {ms:.3f}" for name, ms in result.stage_ms.items())
    return _base(config) | {"status": "ok", "stages_ms": stages} | row


def _base(config: Config) -> dict[str, Any]:
    return {"method": config.method, "size": f"{config.size[0]}x{config.size[1]}", "batch": config.batch,
            "dtype": config.dtype, "mode": config.mode}  # fmt: skip


def check_latency(part: Part, device: torch.device, plan: list[Config], deadline: float, *, tiny: bool) -> None:
    """Time every row of ``plan`` until ``deadline``; one row each in ``part`` (``tiny``: the narrow widths of
    :func:`~bench.gpu_check.tiny.tiny_config`, few calls)."""
    from bench.gpu_check.tiny import tiny_config
    from bench.latency import Scenarios, build_latency_model, measure_built

    if tiny:
        counts, scenarios = {"warmup": 1, "iters": 3}, Scenarios(offline_s=0.0, stage_iters=1, measure_peak=False)
    else:
        counts, scenarios = {"warmup": 3, "iters": 20}, Scenarios(offline_s=0.2, stage_iters=3, measure_peak=True)
    built: tuple[str, tuple[int, int], torch.nn.Module, torch.nn.Module] | None = None  # the model and a pristine copy
    for index, config in enumerate(plan):
        if time.perf_counter() > deadline:
            part.stop(len(plan) - index)
            return
        try:
            widths = tiny_config(config.method) if tiny else None
            if built is None or built[:2] != (config.method, config.size):
                built = None
                pristine = build_latency_model(config.method, config.size, widths)
                built = (config.method, config.size, copy.deepcopy(pristine), pristine)
            fast = config.mode == "fast"  # optimize works on a copy: the built model stays as it was
            graph = config.mode == "graph" or (fast and device.type == "cuda")
            result = measure_built(config.method, built[2], size=config.size, batch=config.batch, dtype=config.dtype,
                                   device=device, compile=config.mode == "compile", cuda_graph=graph,
                                   channels_last=fast, optimize=fast, config=widths, scenarios=scenarios,
                                   pristine=built[3], **counts)  # fmt: skip
            part.rows.append(_row(config, result))
        except Exception as err:  # a capture or compile that fails is a finding; the other rows still run
            part.rows.append(
                _base(config) | {"status": "failed", "note": f"{type(err).__name__}: {err}".splitlines()[0]}
            )
            part.fail(f"{config.method} {config.dtype} batch {config.batch} {config.mode} did not run")
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
