"""bench.speed width: the FLOP goal of the width knob, and the benchmark's structure (never a timing)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.speed import cli, width
from bench.speed.cli import main
from bench.speed.peak import Peak
from bench.speed.timing import Comparison, Policy
from bench.speed.width import bench_width, warp_flops

SIZE = (32, 32)  # every layer's FLOPs scale with H * W, so the ratios are those of any size


pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_width_one_eighth_warp_costs_at_most_a_twentieth_of_the_full_one() -> None:
    full, full_heads = warp_flops(1.0, size=SIZE)
    scaled, _ = warp_flops(0.125, size=SIZE)
    official_heads, heads = warp_flops(0.125, scale_flow_heads=False, size=SIZE)
    assert scaled <= full / 20, f"width 0.125 warp costs 1/{full / scaled:.1f} of the full warp"
    assert official_heads > full / 20 and heads > 0.8 * official_heads  # the issue: the heads kept most of the work
    assert 0 < full_heads < full


@pytest.mark.slow
def test_bench_width_prints_flops_and_step_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    # retries=0: under `make test` the other worker's load would make every round busy and repeat it
    results = bench_width(1, Peak(100.0, 100.0, Comparison({})), Policy(retries=0), sizes=((64, 64),))
    out = capsys.readouterr().out
    for text in ("Warp FLOPs", "official heads", "scaled heads", "goal <= 1/20", "64x64", "of peak", "outside load"):
        assert text in out, f"missing {text!r}"
    assert results["flops_ratio"] <= 1 / 20 < results["flops_ratio_old_heads"]
    assert results["64x64_min"] > 0 and results["64x64_median"] > 0 and results["64x64_peak_fraction"] > 0


def test_speed_cli_dispatches_width(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    peak = Peak(100.0, 100.0, Comparison({}))
    monkeypatch.setattr(cli, "measure_peak", lambda device, policy: peak)
    monkeypatch.setattr(width, "bench_width", lambda *args: calls.append(args))
    ran = CliRunner().invoke(main, ["width", "--repeats", "3", "--busy-load", "0.5", "--retries", "2"])
    assert ran.exit_code == 0, ran.output
    assert calls == [(3, peak, Policy(0.5, 2))]
    refused = CliRunner().invoke(main, ["width", "--device", "cuda"])
    assert refused.exit_code != 0 and "CPU only" in refused.output
