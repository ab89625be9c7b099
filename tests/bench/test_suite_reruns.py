"""``bench.suite.reruns``: a rerun's values against a reference report's intervals and their test-pair part."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results import RESULT_COLUMNS
from bench.suite.reruns import landing, main


def _report(folder: Path, rows: list[dict], seeds: list[dict] | None = None) -> Path:
    folder.mkdir()
    pd.DataFrame(rows, columns=RESULT_COLUMNS).to_csv(folder / "results.csv", index=False)
    if seeds is not None:
        pd.DataFrame(seeds, columns=[*RESULT_COLUMNS, "seed"]).to_csv(folder / "seeds.csv", index=False)
    return folder


def _row(method: str, metric: str, value: float, low: float = float("nan"), high: float = float("nan"),
         seeds: float = float("nan"), protocol: str = "pfafn") -> dict:  # fmt: skip
    return {"method": method, "dataset": "d", "protocol": protocol, "metric": metric, "value": value, "ci_low": low,
            "ci_high": high, "seeds": seeds}  # fmt: skip


def test_cells_are_counted_inside_the_interval_and_inside_its_test_pair_part(tmp_path: Path, capsys) -> None:
    # a: mean 1.0, interval [0.5, 1.5], the seeds' own bootstrap half-widths 0.1 -> test-pair part [0.9, 1.1]
    reference = _report(tmp_path / "ref", [
        _row("a", "ssim", 1.0, 0.5, 1.5, seeds=2), _row("b", "ssim", 2.0, 1.9, 2.1, seeds=2),
        _row("c", "ssim", 3.0, 2.0, 4.0), _row("a", "ms", 5.0, protocol="latency"), _row("a", "fid", float("nan"),
                                                                                        seeds=2)],
        seeds=[{**_row("a", "ssim", 0.8, 0.7, 0.9), "seed": 0}, {**_row("a", "ssim", 1.2, 1.1, 1.3), "seed": 1},
               {**_row("b", "ssim", 2.0, 1.95, 2.05), "seed": 0}, {**_row("b", "ssim", 2.0, 1.95, 2.05), "seed": 1}],
    )  # fmt: skip
    rerun = _report(tmp_path / "new", [_row("a", "ssim", 1.3), _row("b", "ssim", 2.5), _row("c", "ssim", 9.0),
                                       _row("a", "ms", 50.0, protocol="latency"), _row("a", "fid", 7.0)])  # fmt: skip
    cells = landing(reference, rerun).set_index("method")
    assert list(cells.index) == ["a", "b"]  # trained quality cells with a value in both reports
    assert cells.loc["a", "inside"] and not cells.loc["a", "inside_pairs"]  # 1.3 in [0.5, 1.5], not in [0.9, 1.1]
    assert not cells.loc["b", "inside"] and not cells.loc["b", "inside_pairs"]
    assert main([str(reference), str(rerun)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 of 2 trained cells") and "1 of 2" in out and "0 inside their test-pair part" in out
    assert main([str(reference)]) == 2
