"""Safety on the eval side: a killed eval resumes to identical CSVs, image modes are read faithfully, the feature
cache is keyed by content, metric weights are verified, output folders are checked and locked, latency rows are kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data.readers import InputError
from bench.eval import evaluate, match_folders
from bench.eval.decoding import _Views
from bench.eval.passes import _FeatureCache
from bench.metrics.weights import WEIGHTS, UnofficialWeightsError, check_official
from bench.output_dir import claim_output
from bench.protocols import load_protocol

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _pairs(folder: Path, n: int, size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """``n`` random prediction/reference pairs (PNG, ``size`` square) under ``folder/pred`` and ``folder/gt``."""
    rng = np.random.default_rng(seed)
    for side in ("pred", "gt"):
        (folder / side).mkdir(parents=True)
    for i in range(n):
        gt = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        noise = rng.integers(-40, 41, gt.shape)
        Image.fromarray(gt).save(folder / "gt" / f"{i:04d}.png")
        Image.fromarray(np.clip(gt + noise, 0, 255).astype(np.uint8)).save(folder / "pred" / f"{i:04d}.png")
    return folder / "pred", folder / "gt"


# One import of torch and of what eval uses for every run (tests/bench/forked_cli.py).
_KILL_SCRIPT = textwrap.dedent(
    """
    import json, os, random, sys, time
    import bench.eval, bench.protocols  # noqa: F401  (imported once, before the forks)
    from forked_cli import run

    pred, gt, base, trials, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

    def rows(out):
        path = f"{out}/.partial/rows.jsonl"
        return sum(1 for _ in open(path)) if os.path.exists(path) else -1

    def args(out, *extra):
        return ["eval", "--pred", pred, "--gt", gt, "--protocol", "pfafn", "--metrics", "ssim,psnr", "--out", out,
                "--batch-size", "1", *extra]

    start = time.perf_counter()
    assert run(args(f"{base}/reference")) == 0
    duration = time.perf_counter() - start
    rng = random.Random(0)
    done = []
    for trial in range(trials):  # the last trial at a random time, the others at a random row of the pass
        out = f"{base}/trial{trial}"
        if trial == trials - 1:
            run(args(out), kill_after=rng.uniform(0.1, 0.9) * duration)
        else:
            at = rng.randint(1, pairs - 1)
            run(args(out), kill_when=lambda: rows(out) >= at)
        done.append(rows(out))
        assert run(args(out, "--resume")) == 0, trial
    print(json.dumps({"duration": duration, "rows_before_resume": done}))
    """
)


@pytest.mark.slow
def test_a_killed_eval_resumes_to_byte_identical_csvs(tmp_path: Path) -> None:
    """SIGKILL at seeded random points (N = 5: four at a random row of the pass, one at a random time), then
    ``--resume``: the CSV equals an uninterrupted run's."""
    pred, gt = _pairs(tmp_path / "data", 120)
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{HERE}", "OMP_NUM_THREADS": "1"}
    script = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(pred), str(gt), str(tmp_path), "5", "120"],
                            cwd=REPO, capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert script.returncode == 0, script.stderr[-2000:]
    facts = json.loads(script.stdout.strip().splitlines()[-1])
    reference = (tmp_path / "reference" / "per_sample.csv").read_bytes()
    for trial in range(5):
        folder = tmp_path / f"trial{trial}"
        assert (folder / "per_sample.csv").read_bytes() == reference, (trial, facts)
        assert not (folder / ".partial").exists()
    assert any(0 < rows < 120 for rows in facts["rows_before_resume"]), facts  # some kills did land mid-pass


def test_sixteen_bit_predictions_score_as_their_eight_bit_values(tmp_path: Path) -> None:
    pred, gt = _pairs(tmp_path, 3)
    for path in pred.iterdir():
        grey = np.asarray(Image.open(path).convert("L"))
        Image.fromarray(grey.astype(np.uint16) * 257).save(path)  # I;16, full 16-bit range
        Image.fromarray(grey).convert("RGB").save(gt / path.name)
    result = evaluate(match_folders(pred, gt), load_protocol("pfafn"), metrics=("psnr",), progress=False)
    assert all(row["psnr"] == float("inf") or row["psnr"] > 60 for row in result.rows)  # identical after scaling
    warnings = " ".join(result.summary["warnings"])
    assert "16-bit scaled to 8-bit" in warnings and "greyscale expanded to RGB" in warnings


def test_the_feature_cache_is_keyed_by_content_not_name_size_or_mtime(tmp_path: Path) -> None:
    weights = tmp_path / "weights.pth"
    weights.write_bytes(b"weights")
    extractor = torch.nn.Identity()
    extractor.weights_path = str(weights)
    files = [tmp_path / f"{i}.png" for i in range(2)]
    for i, path in enumerate(files):
        path.write_bytes(bytes([i]) * 64)
    views = _Views(None)
    before = _FeatureCache(tmp_path / "cache", files, extractor, views).path
    stat = files[0].stat()
    files[0].write_bytes(b"\xff" * 64)  # same name and size
    os.utime(files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # touch -r: the old mtime
    assert _FeatureCache(tmp_path / "cache", files, extractor, views).path != before
    files[0].write_bytes(bytes([0]) * 64)
    assert _FeatureCache(tmp_path / "cache", files, extractor, views).path == before


def test_weights_are_checked_against_the_official_sha256(tmp_path: Path) -> None:
    fake = tmp_path / WEIGHTS["alex"].filename
    fake.write_bytes(b"random weights")
    with pytest.raises(UnofficialWeightsError, match="--allow-unofficial-weights"):
        check_official("alex", fake)
    assert "unofficial weights" in check_official("alex", fake, allow_unofficial=True)
    assert WEIGHTS["alex"].expected_sha256_prefix == "7be5be79"
    # torch-fidelity's and pytorch-fid's Inception share a suffix that is no sha256 prefix: not verifiable.
    assert WEIGHTS["inception"].expected_sha256_prefix == WEIGHTS["pt_inception"].expected_sha256_prefix == ""
    assert check_official("inception", fake) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_before_any_work(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot be written"), claim_output(locked / "report"):
            pass
    finally:
        locked.chmod(0o755)


def test_a_second_run_into_a_locked_out_stops(tmp_path: Path) -> None:
    with (
        claim_output(tmp_path / "out"),
        pytest.raises(InputError, match="another run is writing"),
        claim_output(tmp_path / "out"),
    ):
        pass
    with claim_output(tmp_path / "out", overwrite=True):  # released when the first run ends
        pass


def test_a_stopped_latency_run_keeps_its_finished_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.latency.run as latency  # run_latency looks _measure up there

    measured = latency._measure
    calls = []

    def stop_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return measured(*args, **kwargs)

    monkeypatch.setattr(latency, "_measure", stop_on_second)
    args = ["latency", "--model", "no_warp", "--size", "64x64", "--batch", "1,2", "--warmup", "0", "--iters", "1",
            "--out", str(tmp_path / "lat")]  # fmt: skip
    CliRunner().invoke(main, args)
    (csv,) = (tmp_path / "lat").glob("latency_*.csv")
    assert len(csv.read_text().splitlines()) == 2  # the header and the finished configuration
