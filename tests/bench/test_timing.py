"""bench.speed.timing: the outside-load accounting from a fake /proc, and busy rounds repeated (no timing asserted)."""

from __future__ import annotations

import pytest

from bench.speed.timing import Comparison, CpuTimes, Policy, compare, outside_load, read_cpu_times

# 2 CPUs; "cpu" line: user nice system idle iowait irq softirq steal guest guest_nice (ticks of 1/100 s).
_STAT = "cpu  {user} 0 {system} {idle} 7 1 1 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\ncpu1 1 0 0 0 0 0 0 0 0 0\nintr 5\n"
# /proc/self/stat: pid (comm with spaces) state ... utime stime cutime cstime are fields 14-17.
_SELF = "4242 (python -m x) R 1 2 3 4 5 6 7 8 9 10 {utime} {stime} {cutime} {cstime} 20 0 1 0\n"


def _reader(user: int, system: int, utime: int, cutime: int) -> object:
    files = {"/proc/stat": _STAT.format(user=user, system=system, idle=999),
             "/proc/self/stat": _SELF.format(utime=utime, stime=0, cutime=cutime, cstime=0)}  # fmt: skip
    return files.__getitem__


def test_reads_machine_busy_time_own_time_with_children_and_cores() -> None:
    times = read_cpu_times(_reader(300, 100, 50, 25), clock=lambda: 7.0, ticks_per_s=100)
    assert times == CpuTimes(wall=7.0, busy=(300 + 100 + 1 + 1) / 100, own=0.75, cores=2)


def test_outside_load_is_other_processes_cpu_time_over_wall_time_and_cores() -> None:
    before = read_cpu_times(_reader(1000, 0, 100, 0), clock=lambda: 10.0, ticks_per_s=100)
    # 2 s of wall on 2 cores (400 ticks of capacity): the machine ran 300 ticks, we ran 80 and a child 20.
    after = read_cpu_times(_reader(1300, 0, 180, 20), clock=lambda: 12.0, ticks_per_s=100)
    assert outside_load(before, after) == pytest.approx(200 / 400)
    quiet = read_cpu_times(_reader(1100, 0, 200, 0), clock=lambda: 12.0, ticks_per_s=100)
    assert outside_load(before, quiet) == 0.0  # our own time is never counted as outside (clipped at 0)
    assert outside_load(None, after) is None and outside_load(after, before) is None


def test_no_proc_gives_no_sample() -> None:
    def missing(path: str) -> str:
        raise FileNotFoundError(path)

    assert read_cpu_times(missing) is None


def _fake_samples(loads: list[float]) -> object:
    """A sampler whose consecutive (before, after) pairs give the given outside loads on one core."""
    samples, wall, busy = [], 0.0, 0.0
    for load in loads:
        samples.append(CpuTimes(wall, busy, 0.0, 1))
        wall, busy = wall + 1.0, busy + load
        samples.append(CpuTimes(wall, busy, 0.0, 1))
    return iter(samples).__next__


def test_busy_rounds_are_repeated_and_left_out_of_the_figures() -> None:
    ticks = iter(range(100))
    candidates = {"a": lambda: next(ticks), "b": lambda: next(ticks)}
    result = compare(candidates, repeats=2, warmup=0, policy=Policy(0.25, 3), sample=_fake_samples([0.1, 0.9, 0.0]))
    assert result.loads == [0.1, 0.9, 0.0] and result.busy_rounds == 1 and not result.busy
    assert len(result.times["a"]) == 3
    result.times = {"a": [10.0, 1.0, 20.0], "b": [5.0, 100.0, 5.0]}  # the busy round's values are never used
    assert result.ratio("a", "b") == (2.0, 3.0)
    assert result.load == pytest.approx(0.05) and "1 of 3 rounds busy" in result.describe_load()


def test_a_machine_busy_in_every_round_stops_after_the_retries_and_says_so() -> None:
    result = compare({"a": lambda: None}, repeats=2, warmup=0, policy=Policy(0.25, 1), sample=_fake_samples([0.5] * 3))
    assert len(result.loads) == 3 and result.busy and "BUSY" in result.describe_load()
    assert "BUSY" in Comparison({"a": [1.0], "b": [1.0]}, [0.9]).figure("a", "b", 0.5)
