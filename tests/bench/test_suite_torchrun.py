"""``pftryon bench`` under ``torchrun`` with 2 CPU processes (gloo): the same quality results as one process, one
report written by rank 0, latency measured by rank 0 alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_suite import SUITE  # tests/bench/test_suite.py


def _bench(suite: Path, work: Path, out: Path, processes: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command = [*(launcher if processes > 1 else [sys.executable]), "-m", "bench.cli", "bench", "--suite", str(suite),
               "--work", str(work), "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


def _first_failure(stderr: str) -> str:
    """What a failed torchrun said, most telling first: rank 0's lines and the error lines (the tail of torchrun's own
    report names only the rank that failed), then the tail."""
    telling = [line for line in stderr.splitlines() if "[rank0]" in line or "error" in line.lower()]
    return "\n".join(telling)[:3000] + "\n...\n" + stderr[-1500:]


@pytest.mark.slow
def test_two_processes_write_the_results_of_one(tiny_pfafn: Path, tmp_path: Path) -> None:
    """Predictions and scoring sharded over two gloo processes give the quality rows of one process to the last
    digit; a trained row trains with DDP over both; the report is written once (rank 0), with every latency row
    measured there."""
    trained = {"name": "pb_afn", "train": {"recipe": "smoke", "run": "tutor"}}  # with DDP: its own float path
    suite = {**SUITE, "methods": [{"name": "pf_afn", "checkpoints": str(tiny_pfafn)}, {"name": "no_warp"}, trained],
             "literature": [], "protocols": ["pfafn"],
             "latency": {"devices": ["cpu"], "batches": [1], "dtypes": ["fp32"], "warmup": 0, "iters": 2}}  # fmt: skip
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    one = _bench(tmp_path / "suite.yaml", tmp_path / "w1", tmp_path / "r1", 1)
    assert one.returncode == 0, one.stderr[-3000:]
    two = _bench(tmp_path / "suite.yaml", tmp_path / "w2", tmp_path / "r2", 2)
    assert two.returncode == 0, _first_failure(two.stderr)
    assert two.stdout.count("wrote ") == one.stdout.count("wrote ") > 0  # rank 0 alone writes and prints the report
    first, second = (pd.read_csv(tmp_path / r / "results.csv") for r in ("r1", "r2"))
    quality = [f[(f.protocol != "latency") & (f.method != "pb_afn")].reset_index(drop=True) for f in (first, second)]
    pd.testing.assert_frame_equal(quality[0], quality[1])
    ssim = second[(second.method == "pb_afn") & (second.metric == "ssim_truth")].value
    assert len(ssim) == 1 and 0 < ssim.iloc[0] < 1  # trained over the two processes, then scored
    runs = [json.loads((tmp_path / r / "run.json").read_text()) for r in ("r1", "r2")]
    assert [r["metadata"]["processes"] for r in runs] == [1, 2]
    assert [r["methods"]["pb_afn"]["training"][0]["processes"] for r in runs] == [1, 2]  # DDP over both
    latency = [frame[frame.protocol == "latency"][["method", "metric", "device"]] for frame in (first, second)]
    pd.testing.assert_frame_equal(latency[0].reset_index(drop=True), latency[1].reset_index(drop=True))
    compared = [pd.read_csv(tmp_path / r / "comparisons.csv") for r in ("r1", "r2")]
    untrained = [c[(c.method_a != "pb_afn") & (c.method_b != "pb_afn")].reset_index(drop=True) for c in compared]
    assert len(untrained[0]) > 0
    pd.testing.assert_frame_equal(untrained[0], untrained[1])
