"""bench.speed width: the FLOP goal of the width knob, and the benchmark's structure (never a timing)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.speed import width
from bench.speed.cli import main
from bench.speed.timing import Policy
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
    results = bench_width(1, Policy(retries=0), sizes=((64, 64),))
    out = capsys.readouterr().out
    for text in ("Warp FLOPs", "official heads", "scaled heads", "goal <= 1/20", "64x64", "of peak (", "GFLOP/s)",
                 "outside load"):  # fmt: skip
        assert text in out, f"missing {text!r}"
    assert results["flops_ratio"] <= 1 / 20 < results["flops_ratio_old_heads"]
    assert results["64x64_min"] > 0 and results["64x64_median"] > 0 and results["64x64_peak_fraction"] > 0


def test_speed_cli_dispatches_width(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(width, "bench_width", lambda *args: calls.append(args))
    ran = CliRunner().invoke(main, ["width", "--repeats", "3", "--busy-load", "0.5", "--retries", "2"])
    assert ran.exit_code == 0, ran.output
    assert calls == [(3, Policy(0.5, 2))]
    refused = CliRunner().invoke(main, ["width", "--device", "cuda"])
    assert refused.exit_code != 0 and "CPU only" in refused.output


def test_breakdown_splits_convolutions_from_the_rest_and_reads_them_against_the_peak() -> None:
    import torch

    from bench.speed.breakdown import profile_forward
    from bench.speed.peak import Peak
    from bench.speed.timing import Comparison

    conv = torch.nn.Conv2d(16, 16, 3, padding=1)
    image = torch.randn(1, 16, 64, 64)

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return torch.nn.functional.grid_sample(conv(image), torch.zeros(1, 64, 64, 2), align_corners=True)

    split = profile_forward(forward, gflop=2.0)
    assert 0 < split.conv_share < 1 and "aten::grid_sampler_2d" in dict(split.others)
    assert all("conv" not in name for name, _ in split.others)
    peak = Peak(100.0, 200.0, Comparison({}))  # 200 GFLOP/s: 2 GFLOP take 10 ms at the peak
    assert split.bound_ratio(12.5, peak) == pytest.approx(1.25)
    assert split.conv_fraction(10.0, peak) == pytest.approx(1 / split.conv_share)
    lines = split.describe(12.5, peak)
    assert "goal <= 1.25x: met" in lines[1] and "of peak (goal >= 85%" in lines[0]
