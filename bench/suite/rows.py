"""The suite's tidy result rows: their columns, once, and a row with defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.results import RESULT_COLUMNS

__all__ = ["RESULT_COLUMNS", "row"]


def row(**values: Any) -> dict[str, Any]:
    """A result row: every column present, measured, numbers NaN unless given."""
    out = dict.fromkeys(RESULT_COLUMNS, "")
    out.update(value=np.nan, ci_low=np.nan, ci_high=np.nan, n=np.nan, batch=np.nan, source="measured")
    out.update(values)
    return out
