"""What a trained row's training was, as the quality tables show it: steps, seeds and convergence
(``run.json``'s ``methods[<row>]["training"]``, one record per seed, :func:`bench.suite.training.method_training`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["training_text"]


def training_text(run: Mapping[str, Any], method: str) -> str:
    """``"140 steps × 3 seeds; converged 2/3"`` for a row the suite trained; ``""`` for any other row. A seed whose
    training is too short to judge counts as undecided."""
    card = (run.get("methods") or {}).get(method) or {}
    records = card.get("training") or []
    if not records:
        return ""
    steps = "/".join(str(s) for s in sorted({r["steps"] for r in records}))
    flags = [r.get("converged") for r in records]
    undecided = sum(f is None for f in flags)
    seeds = f"{len(records)} seeds" if len(records) > 1 else f"seed {records[0]['seed']}"
    text = f"{steps} steps × {seeds}; converged {sum(f is True for f in flags)}/{len(records)}"
    return text + (f" ({undecided} undecided)" if undecided else "")
