"""The time budget of a GPU check and what each part reports."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget", "Part"]


class Budget:
    """``total_s`` seconds from now, shared by the parts in order: a part gets the time left times its weight over
    the weights of the parts still to run, so what one part leaves unused goes to the next."""

    def __init__(self, total_s: float, weights: dict[str, float]) -> None:
        self.start = time.perf_counter()
        self.total_s = total_s
        self.weights = dict(weights)

    def left(self) -> float:
        """Seconds left of the whole budget."""
        return self.total_s - (time.perf_counter() - self.start)

    def deadline(self, part: str) -> float:
        """The ``time.perf_counter()`` value by which ``part`` should stop (its weights no longer count after it)."""
        names = list(self.weights)
        rest = sum(self.weights[n] for n in names[names.index(part) :])
        share = self.left() * self.weights[part] / rest if rest else 0.0
        return time.perf_counter() + max(0.0, share)


@dataclass
class Part:
    """One part's outcome: ``status`` ``ok`` (everything checked passed), ``failed`` (a check failed or an item
    raised), ``stopped`` (the time budget ran out before every item), ``skipped`` (could not run: ``reason``)."""

    name: str
    title: str
    status: str = "ok"
    reason: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def fail(self, reason: str) -> None:
        """Mark the part failed (the first reason is kept)."""
        if self.status != "failed":
            self.status, self.reason = "failed", reason

    def stop(self, left: int) -> None:
        """Mark the part stopped by the budget with ``left`` items not run (a failure stays a failure)."""
        if self.status == "ok":
            self.status, self.reason = "stopped", f"time budget: {left} item(s) not run"
