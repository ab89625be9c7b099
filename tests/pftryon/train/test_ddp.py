"""DDP through torchrun (gloo, CPU): two ranks of batch B train like one process of batch 2B."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from toy_training import run

from pftryon.train.trainer import STATE_FILE, latest_checkpoint

SCRIPT = Path(__file__).with_name("toy_training.py")
# No BatchNorm (its statistics couple the samples of a batch) and no dropout (its masks are drawn per rank).
OPTIONS = {"batchnorm": False, "dropout": 0.0, "phases": True}


@pytest.mark.slow
def test_two_ranks_match_one_process_with_the_global_batch(tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(SCRIPT)]
    options = ["--batch-size", "2", "--no-batchnorm", "--dropout", "0", "--phases"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.Popen([*command, str(tmp_path / "ddp"), *options], env=env)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run(tmp_path / "single", batch_size=4, stage_options=OPTIONS)
    finally:
        torch.set_num_threads(threads)
    assert ddp.wait(timeout=300) == 0

    for name in ("net", "head"):
        ours = load_file(tmp_path / "ddp/final" / name / "model.safetensors")
        reference = load_file(tmp_path / "single/final" / name / "model.safetensors")
        for key, value in reference.items():
            torch.testing.assert_close(ours[key], value, rtol=1e-6, atol=1e-7, msg=f"{name}.{key}")
    logs = [[json.loads(line) for line in (tmp_path / run_name / "log.jsonl").open()] for run_name in ("ddp", "single")]
    assert [r["step"] for r in logs[0]] == list(range(1, 7)), "rank 0 alone logs, once per step"
    for ours, reference in zip(*logs, strict=True):
        assert ours["lr"] == reference["lr"]
        assert ours["loss"] == pytest.approx(reference["loss"], rel=1e-5)
    state = torch.load(latest_checkpoint(tmp_path / "ddp") / STATE_FILE, weights_only=True)
    assert state["world_size"] == 2 and len(state["rng"]) == 2
