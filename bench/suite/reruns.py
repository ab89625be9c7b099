"""Whether a rerun lands inside a reference report's intervals (``make bench-rerun``).

``python -m bench.suite.reruns REFERENCE RERUN`` reads two report folders of the same suite and prints, for every
quality cell of a trained row that has a value in both, whether the rerun's value falls inside the reference's
interval, and inside the test-pair part of it alone (the mean of the seeds' bootstrap distances from their values,
from the reference's ``seeds.csv``): the second count is what the interval would cover without the seeds' spread.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

__all__ = ["landing", "main"]

_KEYS = ["method", "dataset", "protocol", "metric"]


def landing(reference: Path, rerun: Path) -> pd.DataFrame:
    """One row per trained quality cell with a value in both reports: the reference's value and interval, the
    rerun's value (``rerun``), ``inside`` (the interval) and ``inside_pairs`` (its test-pair part alone)."""
    ref = pd.read_csv(reference / "results.csv")
    new = pd.read_csv(rerun / "results.csv")
    seeds = pd.read_csv(reference / "seeds.csv")
    seeds["below"], seeds["above"] = seeds.value - seeds.ci_low, seeds.ci_high - seeds.value
    pairs = seeds.groupby(_KEYS, dropna=False)[["below", "above"]].mean().reset_index()
    cells = ref[(ref.protocol != "latency") & ref.seeds.notna() & ref.value.notna()]
    cells = cells.merge(new[new.value.notna()][[*_KEYS, "value"]].rename(columns={"value": "rerun"}), on=_KEYS)
    cells = cells.merge(pairs, on=_KEYS, how="left")
    cells["inside"] = cells.rerun.between(cells.ci_low, cells.ci_high)
    cells["inside_pairs"] = cells.rerun.between(cells.value - cells.below, cells.value + cells.above)
    return cells[[*_KEYS, "value", "ci_low", "ci_high", "rerun", "inside", "inside_pairs"]]


def main(argv: list[str]) -> int:
    """Print the counts and the cells outside; exit 2 on wrong arguments."""
    if len(argv) != 2:
        print("usage: python -m bench.suite.reruns REFERENCE_REPORT RERUN_REPORT", file=sys.stderr)
        return 2
    cells = landing(Path(argv[0]), Path(argv[1]))
    print(f"{int(cells.inside.sum())} of {len(cells)} trained cells of {argv[1]} inside the intervals of {argv[0]}; "
          f"{int(cells.inside_pairs.sum())} inside their test-pair part alone")  # fmt: skip
    outside = cells[~cells.inside]
    if len(outside):
        print(outside.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
