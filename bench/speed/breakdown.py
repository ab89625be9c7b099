"""Where a forward pass spends its time: convolutions against everything else, read against the measured peak.

The targets, per forward: the convolutions at >= 85% of the fp32 peak, and the whole forward within 1.25x of
the *convolution bound* (every FLOP at the peak, nothing else costing time). The split comes from one profiled call
(``torch.profiler``, self time per operator); the forward's time is the benchmark's fastest unprofiled one, so the
profiler's own overhead only shifts the split, not the total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch.profiler import ProfilerActivity, profile

from bench.speed.peak import Peak

__all__ = ["Breakdown", "profile_forward"]

CONV_GOAL, BOUND_GOAL = 0.85, 1.25


def _is_convolution(name: str) -> bool:
    return name.startswith("aten::") and "conv" in name


@dataclass(frozen=True)
class Breakdown:
    """``conv_share`` of the forward's operator time in convolutions, ``others`` the largest other operators
    (name, share), ``gflop`` the convolutions' work (the flop counter counts nothing else in PF-AFN)."""

    conv_share: float
    others: tuple[tuple[str, float], ...]
    gflop: float

    def conv_fraction(self, forward_ms: float, peak: Peak) -> float:
        """The convolutions' share of the peak, their time being ``conv_share`` of ``forward_ms``."""
        return peak.fraction(self.gflop, self.conv_share * forward_ms)

    def bound_ratio(self, forward_ms: float, peak: Peak) -> float:
        """``forward_ms`` over the convolution bound (all the work at the peak)."""
        return forward_ms / (self.gflop / peak.gflops * 1e3)

    def describe(self, forward_ms: float, peak: Peak) -> list[str]:
        """Two lines: the convolutions against the peak, the forward against the bound, each with its goal."""
        conv, ratio = self.conv_fraction(forward_ms, peak), self.bound_ratio(forward_ms, peak)
        others = ", ".join(f"{name} {share:.1%}" for name, share in self.others)
        return [
            f"convolutions: {self.conv_share:.1%} of the forward, {conv:.0%} of peak (goal >= {CONV_GOAL:.0%}: "
            f"{'met' if conv >= CONV_GOAL else 'not met'})",
            f"forward {forward_ms:.1f} ms = {ratio:.2f}x the convolution bound {forward_ms / ratio:.1f} ms (goal <= "
            f"{BOUND_GOAL}x: {'met' if ratio <= BOUND_GOAL else 'not met'}); largest others: {others}",
        ]


def profile_forward(forward: Callable[[], object], gflop: float, top: int = 4) -> Breakdown:
    """Profile one call of ``forward`` (after one warm-up call) on the CPU and split its operator time."""
    forward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        forward()
    times = {event.key: event.self_cpu_time_total for event in prof.key_averages()}
    total = sum(times.values())
    conv = sum(t for name, t in times.items() if _is_convolution(name))
    others = sorted(((n, t / total) for n, t in times.items() if not _is_convolution(n)), key=lambda x: -x[1])
    return Breakdown(conv / total, tuple(others[:top]), gflop)
