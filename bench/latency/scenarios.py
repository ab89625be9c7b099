"""How one configuration is timed, in the scenarios inference benchmarks use (MLPerf LoadGen's *single-stream* and
*offline*, plus a *cold* first call), the stage split, the CUDA graph of a model, and the statistics of the times.

* :func:`single_stream`: one query at a time from an idle device: each call starts after the previous one has
  finished (``torch.cuda.synchronize``), timed with CUDA events (CPU: ``time.perf_counter``). Its percentiles are
  the latency a user sees.
* :func:`offline`: back-to-back calls, the device synchronised only at block ends (``torch.utils.benchmark.Timer``
  ``blocked_autorange``, whose timer synchronises): the throughput of a full queue. Where a callback reads an
  energy counter, the energy of the measured blocks after the first is divided over their calls.
* :func:`cold_call`: the first call of a freshly built model, lazy set-up included.
* :class:`StageTimer`: the time of named submodules inside one call, from hooks around them (CUDA events or the
  CPU clock), the rest of the call as ``other``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from bench.results import bootstrap_ci

__all__ = ["OTHER_STAGE", "Offline", "StageTimer", "TimeSummary", "cold_call", "cuda_graph", "offline",
           "single_stream", "stage_modules", "summarise"]  # fmt: skip

OTHER_STAGE = "other"
"""The stage split's name for the time outside every named stage (composition, resizing, glue)."""

Runner = Callable[..., object]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def single_stream(runner: Runner, inputs: Sequence[torch.Tensor], iters: int, device: torch.device) -> list[float]:
    """``iters`` queries, each from an idle device; the time of each in milliseconds."""
    if device.type == "cuda":
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
        for start, end in events:
            torch.cuda.synchronize(device)
            start.record()
            runner(*inputs)
            end.record()
        torch.cuda.synchronize(device)
        return [start.elapsed_time(end) for start, end in events]
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        runner(*inputs)
        times.append((time.perf_counter() - start) * 1e3)
    return times


@dataclass(frozen=True)
class Offline:
    """Back-to-back calls: ``ms_per_call`` (median over blocks), ``calls`` in the measured blocks, and the energy of
    the blocks after the first (``energy_j``, ``energy_calls``, ``energy_s``; ``None`` without a counter)."""

    ms_per_call: float
    calls: int
    blocks: int
    energy_j: float | None
    energy_calls: int
    energy_s: float


def offline(runner: Runner, inputs: Sequence[torch.Tensor], min_run_s: float,
            energy_mj: Callable[[], int | None] | None = None) -> Offline:  # fmt: skip
    """Calls back to back for at least ``min_run_s`` seconds (``torch.utils.benchmark``'s ``blocked_autorange``, on
    this process's threads); ``energy_mj`` reads an energy counter (millijoules) after each measured block."""
    from torch.utils.benchmark import Timer

    readings: list[tuple[int | None, int, float]] = []

    def after_block(number: int, seconds: float) -> None:
        readings.append((energy_mj() if energy_mj else None, number, seconds))

    timer = Timer("runner(*inputs)", globals={"runner": runner, "inputs": inputs}, num_threads=torch.get_num_threads())
    measurement = timer.blocked_autorange(callback=after_block, min_run_time=min_run_s)
    energy_j, energy_calls, energy_s = None, sum(n for _, n, _ in readings[1:]), sum(s for _, _, s in readings[1:])
    first, last = readings[0][0], readings[-1][0]
    if first is not None and last is not None and energy_calls:
        energy_j = (last - first) / 1e3
    return Offline(measurement.median * 1e3, measurement.number_per_run * len(measurement.times),
                   len(measurement.times), energy_j, energy_calls, energy_s)  # fmt: skip


def cold_call(model: nn.Module, inputs: Sequence[torch.Tensor], device: torch.device) -> float:
    """Milliseconds of the first call of ``model``, built just before: synchronised wall time, so lazy set-up in the
    modules, allocator growth, library handles and kernel choices for new shapes all count."""
    _sync(device)
    start = time.perf_counter()
    model(*inputs)
    _sync(device)
    return (time.perf_counter() - start) * 1e3


def cuda_graph(model: nn.Module, inputs: Sequence[torch.Tensor], device: torch.device) -> Runner:
    """``model`` on ``inputs`` captured as a CUDA graph (after three calls on a side stream, as the CUDA-graph
    documentation asks); the returned function replays it and returns the captured outputs (overwritten by every
    replay)."""
    stream = torch.cuda.Stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(stream):
        for _ in range(3):
            model(*inputs)
    torch.cuda.current_stream(device).wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = model(*inputs)

    def replay(*_: torch.Tensor) -> object:
        graph.replay()
        return outputs

    return replay


def stage_modules(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    """``{name: submodule}`` for each of ``names`` found in ``model``: the submodule of that path, else the shallowest
    one whose path ends in ``.name`` (a wrapped model); names not found are left out."""
    found = {}
    paths = dict(model.named_modules())
    for name in names:
        if name in paths:
            found[name] = paths[name]
            continue
        nested = sorted((p for p in paths if p.endswith(f".{name}")), key=lambda p: p.count("."))
        if nested:
            found[name] = paths[nested[0]]
    return found


class StageTimer:
    """Time named submodules inside calls of a model: ``with StageTimer(stages, device) as timer: timer.call(fn)``
    returns ``{stage: ms}`` of that call, each stage summed over its invocations, and :data:`OTHER_STAGE` the rest.

    CUDA: events recorded in forward pre- and post-hooks on the current stream (read after one synchronisation per
    call); CPU: ``time.perf_counter``. The hooks cost a little time themselves, so the split comes from calls of its
    own, never from the timed ones.
    """

    def __init__(self, stages: dict[str, nn.Module], device: torch.device) -> None:
        self.stages, self.device = stages, device
        self._marks: dict[str, list[tuple[object, object]]] = {}
        self._open: dict[str, list[object]] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _mark(self) -> object:
        if self.device.type == "cuda":
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _elapsed(self, start: object, end: object) -> float:
        if self.device.type == "cuda":
            return start.elapsed_time(end)  # type: ignore[attr-defined]
        return (end - start) * 1e3  # type: ignore[operator]

    def __enter__(self) -> StageTimer:
        for name, module in self.stages.items():
            self._handles.append(module.register_forward_pre_hook(functools.partial(self._begin, name)))
            self._handles.append(module.register_forward_hook(functools.partial(self._end, name)))
        return self

    def _begin(self, name: str, *_: object) -> None:
        self._open[name].append(self._mark())

    def _end(self, name: str, *_: object) -> None:
        self._marks[name].append((self._open[name].pop(), self._mark()))

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def call(self, fn: Callable[[], object]) -> dict[str, float]:
        """Run ``fn`` once; the milliseconds of each stage in it and of the rest."""
        self._marks = {name: [] for name in self.stages}
        self._open = {name: [] for name in self.stages}
        _sync(self.device)
        start = self._mark()
        fn()
        end = self._mark()
        _sync(self.device)
        split = {name: sum(self._elapsed(a, b) for a, b in marks) for name, marks in self._marks.items()}
        split[OTHER_STAGE] = max(0.0, self._elapsed(start, end) - sum(split.values()))
        return split


@dataclass(frozen=True)
class TimeSummary:
    """Percentiles (linear interpolation), the mean with its 95% percentile-bootstrap interval and the median's
    bootstrap interval, of times in milliseconds."""

    p10: float
    p50: float
    p90: float
    p99: float
    mean: float
    mean_ci: tuple[float, float]
    median_ci: tuple[float, float]


def summarise(times: Sequence[float], *, seed: int = 0) -> TimeSummary:
    """:class:`TimeSummary` of ``times`` (one time gives zero-width intervals)."""
    from scipy.stats import bootstrap

    data = np.asarray(times, dtype=np.float64)
    p10, p50, p90, p99 = (float(v) for v in np.percentile(data, [10, 50, 90, 99]))
    mean, low, high = bootstrap_ci(data, seed=seed)
    median_ci = (p50, p50)
    if data.size > 1 and np.ptp(data) > 0:
        interval = bootstrap((data,), np.median, method="percentile", n_resamples=2000, random_state=seed)
        median_ci = (float(interval.confidence_interval.low), float(interval.confidence_interval.high))
    return TimeSummary(p10, p50, p90, p99, mean, (low, high), median_ci)
