"""The suite's latency rows (bench.suite.timing): every time per image, the names the report and the plots read
(``ms_per_image``, ``ms_p10``, ``ms_p90``, ``ms_p99``, ``ms_cold``, ``images_per_s``, ``ms_stage_<stage>``), notes that
say how each was measured, and a metric the registry does not know kept in the notes only."""

from __future__ import annotations

import pytest

from bench.metrics import specs
from bench.suite.config import LatencySpec
from bench.suite.timing import Timed, _latency_rows

# What a latency cell holds (a LatencyResult as a dict), for batch 4: times per call (one batch).
TIMED = {
    "median_ms": 40.0, "p10_ms": 36.0, "p90_ms": 48.0, "p99_ms": 60.0, "median_ci_low_ms": 38.0,
    "median_ci_high_ms": 44.0, "mean_ms": 42.0, "mean_ci_low_ms": 40.0, "mean_ci_high_ms": 45.0, "cold_ms": 400.0,
    "images_per_s": 125.0, "offline_ms": 32.0, "offline_calls": 50, "stage_ms": {"warp": 24.0, "gen": 12.0,
    "other": 4.0}, "flops": 8e9, "params": 1_500_000, "peak_memory_mib": 30.0, "memory_measure": "rss_hwm_growth",
    "achieved_tflops": 0.2, "measured_peak_fraction": 0.25, "measured_peak": "fp32: sgemm", "peak_fraction": None,
    "energy_j_per_image": None, "energy_note": "not measured on the CPU", "compile": False, "cuda_graph": False,
    "channels_last": False, "optimize": False, "driver": None, "clocks": "2600 MHz", "cudnn": None, "tf32": None,
    "cudnn_benchmark": None, "outside_load": 0.4, "torch": "2.x",
}  # fmt: skip


def _rows(batch: int = 4, timed: dict | None = None) -> dict[str, dict]:
    spec = LatencySpec(iters=20, warmup=3)
    rows = _latency_rows(Timed("pf_afn", "pf_afn", {}), (256, 192), batch, "fp32", "cpu (x)", timed or TIMED, spec)
    return {row["metric"]: row for row in rows}


def test_every_time_is_per_image_and_says_how_it_was_measured() -> None:
    rows = _rows()
    expected = {"ms_per_image": 10.0, "ms_p10": 9.0, "ms_p90": 12.0, "ms_p99": 15.0, "ms_cold": 100.0,
                "ms_stage_warp": 6.0, "ms_stage_gen": 3.0, "ms_stage_other": 1.0, "images_per_s": 125.0,
                "gflops": 2.0, "params_m": 1.5, "peak_mem_mb": 30.0}  # fmt: skip
    assert {metric: row["value"] for metric, row in rows.items()} == pytest.approx(expected)
    p50 = rows["ms_per_image"]
    assert (p50["ci_low"], p50["ci_high"], p50["n"]) == (9.5, 11.0, 20)  # the median's interval, per image
    assert rows["ms_p10"]["value"] <= p50["value"] <= rows["ms_p90"]["value"]  # whiskers around the p50
    assert all(row["batch"] == 4 and row["protocol"] == "latency" and row["dtype"] == "fp32" for row in rows.values())
    for metric, words in (("ms_per_image", "p50 of 20 single-stream queries of batch 4 after 3 warm-up"),
                          ("ms_p90", "p90 of the same 20 single-stream queries"),
                          ("ms_cold", "first call of a freshly built model"),
                          ("images_per_s", "offline: 50 calls of batch 4"), ("ms_stage_warp", "hooks around warp"),
                          ("gflops", "25.0% of the measured peak")):  # fmt: skip
        assert words in rows[metric]["note"], (metric, rows[metric]["note"])
    assert "energy not measured: not measured on the CPU" in rows["images_per_s"]["note"]
    assert "eager; torch 2.x; clocks 2600 MHz; other processes used 40% of the CPUs while timing" in p50["note"]
    unknown = _rows(timed={**TIMED, "outside_load": None})["ms_per_image"]["note"]  # no /proc
    assert "other processes" not in unknown


def test_a_metric_the_registry_does_not_know_stays_in_the_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ms_p10", "ms_p90", "ms_p99", "ms_cold", "ms_stage_warp", "ms_stage_gen", "ms_stage_other"):
        monkeypatch.delitem(specs._SPECS, name, raising=False)
    rows = _rows()
    assert set(rows) == {"ms_per_image", "images_per_s", "gflops", "params_m", "peak_mem_mb"}
    note = rows["ms_per_image"]["note"]
    assert "p10 9.00, p90 12.00, p99 15.00" in note and "cold 100.00 ms" in note
    assert "stages (eager) warp 6.00, gen 3.00, other 1.00 ms" in note
