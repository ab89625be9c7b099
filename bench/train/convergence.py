"""A training run's convergence by the suite's criterion: its summary record and loss curve, read from the run's log
(shared by `pftryon ablate` and the suite's trained rows)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bench.train.runs import Run

__all__ = ["CONVERGENCE_TOLERANCE", "MIN_CONVERGENCE_STEPS", "convergence", "run_record"]

# A run counts as converged when its mean loss fell by less than this over the last quarter of its steps.
CONVERGENCE_TOLERANCE = 0.05
MIN_CONVERGENCE_STEPS = 40

# Log fields that are not loss terms.
_NOT_TERMS = ("step", "epoch", "lr", "loss", "distill_weight", "images_per_s")


def run_record(run: Run, trained: dict[str, Any]) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray]]:
    """A run's summary (config, steps, time, convergence, mean distillation weight) and its loss curve."""
    log = [json.loads(line) for line in (run.folder / "log.jsonl").read_text().splitlines() if line.strip()]
    steps, losses = (np.array([r[key] for r in log]) for key in ("step", "loss"))
    weights = [r["distill_weight"] for r in log if "distill_weight" in r]
    terms = [k for k, v in log[0].items() if k not in _NOT_TERMS and isinstance(v, float) and all(k in r for r in log)]
    record = {
        "key": run.key,
        "folder": str(run.folder),
        "stage": run.config.stage,
        "config": trained["config"],
        "steps": trained["steps"],
        "wall_time_s": trained["wall_time_s"],
        "final_losses": trained["final_losses"],
        "distill_weight_mean": float(np.mean(weights)) if weights else None,
        **convergence(losses),
        "term_falls": {k: f for k in terms if np.isfinite(f := _last_quarter_fall(np.array([r[k] for r in log])))},
    }
    return record, (steps, losses)


def _last_quarter_fall(values: np.ndarray) -> float:
    """Relative fall of the mean from the third to the last quarter (NaN with fewer than 2 values or a zero mean)."""
    quarter = max(1, len(values) // 4)
    third, last = values[-2 * quarter : -quarter], values[-quarter:]
    if not len(third) or third.mean() == 0:
        return float("nan")
    return float((third.mean() - last.mean()) / abs(third.mean()))


def convergence(losses: np.ndarray) -> dict[str, float | bool | None]:
    """Early and final loss (means of the first and last tenth of the logged steps) and the relative fall of
    the mean loss from the third to the last quarter. Converged: that fall is below
    :data:`CONVERGENCE_TOLERANCE`; ``None`` (undecided) with fewer than :data:`MIN_CONVERGENCE_STEPS` steps."""
    tenth, fall = max(1, len(losses) // 10), _last_quarter_fall(losses)
    return {
        "early_loss": float(losses[:tenth].mean()),
        "final_loss": float(losses[-tenth:].mean()),
        "last_quarter_fall": fall,
        "converged": bool(fall < CONVERGENCE_TOLERANCE) if len(losses) >= MIN_CONVERGENCE_STEPS else None,
    }
