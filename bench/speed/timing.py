"""Timing on a shared machine: interleaved candidates, min and median, and the load other processes put on the CPUs.

Every round runs each candidate once, in turn (A, B, A, B, ...), so that drift hits all alike. Around each round the
CPU time of the whole machine (``/proc/stat``) and of this process with its waited-for children (``/proc/self/stat``)
are read; what the machine spent beyond this process, over the round's wall time and the machine's cores, is the
round's *outside load* (0: nothing else ran; 1: other processes kept every core busy). A round above the threshold is
*busy* and is run again, up to ``retries`` more rounds; the figures come from the quiet rounds, or from all rounds
(and the comparison is marked busy) when none was quiet.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = [
    "BUSY_LOAD",
    "CPU",
    "DEFAULT_POLICY",
    "Comparison",
    "CpuTimes",
    "Policy",
    "compare",
    "cpu_model",
    "device_name",
    "outside_load",
    "read_cpu_times",
    "sync_device",
]

BUSY_LOAD = 0.25  # a round is busy when other processes used more than a quarter of the machine's CPU time
_IDLE_FIELDS = (3, 4)  # idle, iowait in the "cpu" line of /proc/stat (user nice system idle iowait irq ...)


def sync_device(device: torch.device) -> None:
    """Wait for queued work on ``device`` (CUDA); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_model() -> str:
    """The CPU model (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU name, or the CPU model and thread count, for result headers."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {torch.get_num_threads()} threads"


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative CPU seconds at one instant.

    Attributes:
        wall: a monotonic clock, seconds.
        busy: non-idle time of all CPUs together.
        own: this process's user + system time, with that of its children already waited for.
        cores: CPUs counted in ``/proc/stat``.
    """

    wall: float
    busy: float
    own: float
    cores: int


def _read_text(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def read_cpu_times(
    read: Callable[[str], str] = _read_text,
    clock: Callable[[], float] = time.perf_counter,
    ticks_per_s: int | None = None,
) -> CpuTimes | None:
    """Sample :class:`CpuTimes` from ``/proc`` (``read(path)`` returns a file's text); ``None`` without ``/proc``."""
    try:
        stat, own_stat = read("/proc/stat"), read("/proc/self/stat")
    except OSError:
        return None
    ticks = ticks_per_s or os.sysconf("SC_CLK_TCK")
    lines = stat.splitlines()
    total = [int(v) for v in lines[0].split()[1:]]
    busy = sum(v for i, v in enumerate(total[:8]) if i not in _IDLE_FIELDS)  # guest time is already in user
    cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
    fields = own_stat.rsplit(")", 1)[1].split()  # from field 3 (state): the command name may hold spaces
    own = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime (fields 14-17)
    return CpuTimes(clock(), busy / ticks, own / ticks, max(cores, 1))


def outside_load(before: CpuTimes | None, after: CpuTimes | None) -> float | None:
    """CPU time other processes used between two samples, as a fraction of the machine's capacity (0 to 1).

    ``(Δbusy - Δown) / (Δwall * cores)``, clipped to [0, 1]; the counters tick every 1/100 s per CPU, so intervals
    much shorter than that give coarse values. ``None`` when a sample is missing.
    """
    if before is None or after is None or after.wall <= before.wall:
        return None
    other = (after.busy - before.busy) - (after.own - before.own)
    return min(1.0, max(0.0, other / ((after.wall - before.wall) * after.cores)))


@dataclass(frozen=True)
class Policy:
    """When a round counts as busy, and how many extra rounds busy ones may cost."""

    threshold: float = BUSY_LOAD
    retries: int = 3


DEFAULT_POLICY = Policy()
CPU = torch.device("cpu")


@dataclass
class Comparison:
    """Interleaved wall times (ms) of named candidates, one entry per round, and each round's outside load.

    Attributes:
        times: ``{name: [ms per round]}``.
        loads: outside load of each round (``None`` where ``/proc`` is unreadable).
        threshold: the load above which a round is busy.
    """

    times: dict[str, list[float]]
    loads: list[float | None] = field(default_factory=list)
    threshold: float = BUSY_LOAD

    def _busy(self, load: float | None) -> bool:
        return load is not None and load > self.threshold

    @property
    def busy_rounds(self) -> int:
        """Rounds run while the outside load was above the threshold."""
        return sum(self._busy(load) for load in self.loads)

    @property
    def busy(self) -> bool:
        """No round was quiet: every figure comes from a busy machine."""
        return bool(self.loads) and self.busy_rounds == len(self.loads)

    def _used(self) -> list[int]:
        quiet = [i for i, load in enumerate(self.loads) if not self._busy(load)]
        return quiet or list(range(len(self.loads)))

    def min(self, name: str) -> float:
        """Fastest time of ``name`` in the rounds used (quiet ones if any)."""
        return min(self.times[name][i] for i in self._used())

    def median(self, name: str) -> float:
        """Median time of ``name`` in the rounds used."""
        return statistics.median(self.times[name][i] for i in self._used())

    def ratio(self, slow: str, fast: str) -> tuple[float, float]:
        """``slow / fast`` of the minima and of the medians."""
        return self.min(slow) / self.min(fast), self.median(slow) / self.median(fast)

    @property
    def load(self) -> float | None:
        """Median outside load of the rounds used (``None`` without ``/proc``)."""
        known = [self.loads[i] for i in self._used() if self.loads[i] is not None]
        return statistics.median(known) if known else None

    def describe_load(self) -> str:
        """``outside load 0.03`` plus how many rounds were busy; ``BUSY`` when none was quiet."""
        if self.load is None:
            return "outside load unknown (no /proc)"
        text = f"outside load {self.load:.2f}"
        if self.busy_rounds:
            text += f" ({self.busy_rounds} of {len(self.loads)} rounds busy, > {self.threshold:.2f}"
            text += "; BUSY: no quiet round, figures not comparable)" if self.busy else ", repeated)"
        return text

    def figure(self, slow: str, fast: str, fraction: float | None = None, peak_gflops: float | None = None) -> str:
        """``speed-up 1.10x / 1.08x (min / median); 65% of peak (72 GFLOP/s); outside load 0.02``."""
        best, median = self.ratio(slow, fast)
        share = "" if fraction is None else f"; {fraction:.{0 if fraction >= 0.1 else 1}%} of peak"
        if fraction is not None and peak_gflops is not None:
            share += f" ({peak_gflops:.0f} GFLOP/s)"
        return f"speed-up {best:.2f}x / {median:.2f}x (min / median){share}; {self.describe_load()}"


def compare(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int,
    warmup: int = 2,
    device: torch.device = CPU,
    policy: Policy = DEFAULT_POLICY,
    sample: Callable[[], CpuTimes | None] = read_cpu_times,
) -> Comparison:
    """Run the candidates interleaved until ``repeats`` quiet rounds, or ``repeats + policy.retries`` rounds in all.

    Args:
        candidates: ``{name: function}``, each timed as one call.
        repeats: Quiet rounds wanted.
        warmup: Untimed rounds first.
        device: Synchronised around each call (CUDA).
        policy: The outside load above which a round is busy, and the extra rounds allowed for busy ones.
        sample: Reads the CPU counters (tests pass a fake).
    """
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    result = Comparison({name: [] for name in candidates}, threshold=policy.threshold)
    while len(result.loads) - result.busy_rounds < repeats and len(result.loads) < repeats + policy.retries:
        before = sample()
        for name, fn in candidates.items():
            sync_device(device)
            start = time.perf_counter()
            fn()
            sync_device(device)
            result.times[name].append((time.perf_counter() - start) * 1e3)
        result.loads.append(outside_load(before, sample()))
    return result
