"""bench.speed.metrics at 4 pairs: both sides run end to end, the table prints, and the values that must agree do.

Random weights: only the structure of the output is checked, never a timing. pytorch-fid runs with
``--dims 64`` so that its 2048-d ``scipy.linalg.sqrtm`` (10-20 s on 2 cores) stays out of the test.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bench.speed import metrics as metric_speed
from bench.speed.cli import main
from bench.speed.timing import Policy

PROCESSES = {"ours", "pytorch-fid", "fidelity --kid", "ssim-loop", "lpips-loop"}


@pytest.mark.slow
def test_tiny_run_prints_both_sides_and_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    # retries=0: under `make test` the other worker's load would make every round busy and repeat it
    result = metric_speed.bench_metrics(4, check=True, fid_dims=64, policy=Policy(retries=0))
    out = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in out, "the output must say the weights are random"
    for text in ("python -m pytorch_fid", "fidelity --input1", "structural_similarity", "lpips.LPIPS", "ours",
                 "speed-up", "KID mean", "FID, not compared", "check: SSIM, LPIPS and KID agree"):  # fmt: skip
        assert text in out, f"missing {text!r} in the printed table"
    assert set(result["seconds"]) == PROCESSES and all(t > 0 for t in result["seconds"].values())
    assert result["speedup"] > 0 and result["speedup_without_kid"] > 0 and "outside load" in out
    assert {c["metric"]: c["agree"] for c in result["checks"]} == {"ssim": True, "lpips": True, "kid": True}
    assert set(result["values"]) == {"ours", "pytorch_fid", "fidelity_kid_mean"}


def test_speed_cli_dispatches_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(metric_speed, "bench_metrics", lambda pairs, *, check, policy: calls.append((pairs, check)))
    ran = CliRunner().invoke(main, ["metrics", "--pairs", "12", "--check"])
    assert ran.exit_code == 0, ran.output
    assert calls == [(12, True)]
    refused = CliRunner().invoke(main, ["metrics", "--device", "cuda"])
    assert refused.exit_code != 0 and "CPU only" in refused.output
