"""`pftryon latency` end to end: table on stdout, timestamped CSV + Markdown, one-line errors."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from bench.cli import main


def test_latency_command_writes_a_self_describing_report(tmp_path):
    # no_warp: bf16 convolutions have no fast kernel on some CPUs (PF-AFN's take ~20 s there); test_latency times it
    args = ["latency", "--model", "no_warp", "--size", "64x64", "--batch", "1", "--dtype", "fp32,bf16",
            "--warmup", "0", "--iters", "2", "--out", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    csv = next(tmp_path.glob("latency_*.csv"))
    table = pd.read_csv(csv)
    assert list(table["dtype"]) == ["fp32", "bf16"] and (table["median_ms"] > 0).all()
    assert {"torch", "git_commit", "weights", "p99_ms", "cold_ms", "measured_peak"} <= set(table.columns)
    assert (table["p99_ms"] >= table["median_ms"]).all() and (table["images_per_s"] > 0).all()
    markdown = csv.with_suffix(".md").read_text()
    assert "Device:" in markdown and "deterministic stand-ins" in markdown and "| no_warp |" in markdown
    assert "## Single stream" in markdown and "## Offline" in markdown
    assert str(csv) in result.stdout and "p99" in result.stdout and "cold" in result.stdout


def test_latency_command_rejects_bad_input_in_one_line():
    runner = CliRunner()
    unknown = runner.invoke(main, ["latency", "--model", "pfafn"])
    assert unknown.exit_code == 2 and "Did you mean: pf_afn" in unknown.stderr and "Traceback" not in unknown.output
    bad_size = runner.invoke(main, ["latency", "--model", "pf_afn", "--size", "250x190"])
    assert bad_size.exit_code == 2 and len(bad_size.stderr.strip().splitlines()) == 1
