"""The timing scenarios of bench.latency on stand-in modules whose times and costs are known: percentiles and
bootstrap intervals against numpy, the stage split and the cold call against modules that sleep known times, and
the offline energy against a counter that counts the calls."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from torch import nn

from bench.latency.scenarios import OTHER_STAGE, StageTimer, cold_call, offline, stage_modules, summarise

CPU = torch.device("cpu")


class _Sleep(nn.Module):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return x


class _Pipeline(nn.Module):
    """``warp`` sleeps 30 ms, ``gen`` twice 10 ms, and 5 ms pass outside both."""

    def __init__(self) -> None:
        super().__init__()
        self.warp, self.gen = _Sleep(0.03), _Sleep(0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.005)
        return self.gen(self.gen(self.warp(x)))


def test_percentiles_and_intervals_against_numpy() -> None:
    times = list(np.random.default_rng(0).gamma(4.0, 2.0, size=40))
    summary = summarise(times)
    for name, q in (("p10", 10), ("p50", 50), ("p90", 90), ("p99", 99)):
        assert getattr(summary, name) == pytest.approx(np.percentile(times, q))
    assert summary.mean == pytest.approx(np.mean(times))
    assert summary.mean_ci[0] < summary.mean < summary.mean_ci[1]
    assert summary.median_ci[0] < summary.p50 < summary.median_ci[1]
    # The standard error of the mean of 40 draws: the 95% interval spans roughly 4 of them.
    width = summary.mean_ci[1] - summary.mean_ci[0]
    assert 2 < width / (np.std(times) / np.sqrt(len(times))) < 6
    one = summarise([3.0])
    assert one.p10 == one.p99 == 3.0 and one.mean_ci == one.median_ci == (3.0, 3.0)


def test_stage_split_against_known_sleeps() -> None:
    model = _Pipeline()
    with StageTimer(stage_modules(model, ["warp", "gen", "tom"]), CPU) as timer:
        split = timer.call(lambda: model(torch.zeros(1)))
    assert list(split) == ["warp", "gen", OTHER_STAGE]  # a name the model lacks is left out
    assert split["warp"] >= 30 and split["gen"] >= 20  # gen's two invocations add up
    assert 5 <= split[OTHER_STAGE] < split["warp"]
    assert not model.warp._forward_hooks and not model.warp._forward_pre_hooks  # hooks removed afterwards


def test_stage_modules_of_a_wrapped_model() -> None:
    wrapped = nn.Sequential(_Pipeline())
    found = stage_modules(wrapped, ["warp", "gen"])
    assert found["warp"] is wrapped[0].warp and found["gen"] is wrapped[0].gen


class _LazyGrid(nn.Module):
    """Builds a buffer on its first call (50 ms), as modules that cache a sampling grid do."""

    def __init__(self) -> None:
        super().__init__()
        self.grid: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grid is None:
            time.sleep(0.05)
            self.grid = torch.ones_like(x)
        return x * self.grid


def test_the_cold_call_pays_the_lazy_set_up() -> None:
    model = _LazyGrid()
    assert cold_call(model, (torch.zeros(2),), CPU) >= 50
    start = time.perf_counter()
    model(torch.zeros(2))
    assert (time.perf_counter() - start) * 1e3 < 50  # warm: the grid exists


def test_offline_energy_is_the_measured_blocks_after_the_first() -> None:
    calls = []
    runner = lambda x: calls.append(1)  # noqa: E731
    result = offline(runner, (torch.zeros(1),), 0.05, energy_mj=lambda: 7 * len(calls))  # 7 mJ a call
    assert result.calls >= 1 and result.ms_per_call > 0
    if result.blocks > 1:
        assert result.energy_j == pytest.approx(7e-3 * result.energy_calls)
        assert result.energy_calls == result.calls * (result.blocks - 1) // result.blocks
    else:
        assert result.energy_j is None
    assert offline(runner, (torch.zeros(1),), 0.0).energy_j is None  # no counter
