"""`pftryon bench`: declarative suites, one runner with cached cells, resumable after SIGKILL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bench.data.readers import InputError
from bench.suite import list_suites, load_suite, run_suite, write_suite_report
from bench.suite.literature import list_literature, load_literature

SUITE = {
    "name": "tiny",
    "description": "smoke-sized: every stage of the runner in seconds, measuring nothing",
    "methods": [
        {"name": "pf_afn", "train": {"recipe": "smoke", "run": "noise-0.5/tt-adjustable"}},
        {"name": "pb_afn", "train": {"recipe": "smoke", "run": "tutor"}},
        {"name": "no_warp"},
    ],
    "datasets": [
        {"name": "viton", "synth": "smoke", "label": "synthetic-viton", "options": {"parse": "image-parse-new"}}
    ],
    "protocols": ["pfafn", "hrviton"],
    "latency": {"devices": ["cpu", "cuda"], "batches": [1], "dtypes": ["fp32"], "warmup": 0, "iters": 1},
    "literature": ["pfafn-table1"],
    "qualitative": {"pairs": 2, "seed": 0},
}


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    return path


def test_every_shipped_suite_and_literature_file_loads():
    assert {"synthetic", "pfafn-table1", "viton-hd", "dresscode", "mpv", "vvt", "quality-speed"} <= set(list_suites())
    for name in list_suites():
        suite = load_suite(name)
        assert suite.methods and suite.datasets and suite.protocols, name
    for name in list_literature():
        rows = load_literature(name)
        assert rows and all(r.source and r.dataset and r.protocol for r in rows), name
    quality_speed = load_suite("quality-speed")
    assert quality_speed.methods == load_suite("pfafn-table1").methods  # include merges the parent's keys
    assert {d for sweep in quality_speed.latency for d in sweep.devices} == {"cpu", "cuda"}


def test_unknown_keys_and_bad_overrides_are_errors(suite_file, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**SUITE, "methods": [{"name": "pf_afn", "checkpoint": "x"}]}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['checkpoint'\]"):
        load_suite(str(bad))
    suite = load_suite(str(suite_file))
    with pytest.raises(ValueError, match="--root-for mpv: no such dataset"):
        suite.override(roots={"mpv": "/data"})
    with pytest.raises(ValueError, match="--only method=cp_vton: cp_vton not in suite"):
        suite.override(only={"method": ["cp_vton"]})
    with pytest.raises(ValueError, match="--set latency.nope: no such setting"):
        suite.override(settings={"latency.nope": 1})
    assert suite.override(only={"method": ["no_warp"]}, limit=2).datasets[0].limit == 2


def test_missing_roots_and_checkpoints_are_named_before_any_work(tmp_path):
    suite = load_suite("pfafn-table1")
    with pytest.raises(InputError) as caught:
        run_suite(suite, work=tmp_path)
    message = str(caught.value)
    assert "dataset viton: folder not found" in message and "--root-for viton=DIR" in message
    assert "method pf_afn: no checkpoints; give --checkpoints-for pf_afn=DIR holding warp_model_final.pth" in message
    assert not any(tmp_path.iterdir()), "nothing may be written before the inputs are there"


def test_run_report_and_rerun_from_the_cache(suite_file, tmp_path):
    suite = load_suite(str(suite_file))
    first = run_suite(suite, work=tmp_path / "work")
    table = first.results
    measured = table[table.source == "measured"]
    assert set(measured.method) == {"pf_afn", "pb_afn", "no_warp"}
    for metric in ("ssim", "psnr", "ssim_truth", "psnr_truth", "ms_per_image", "gflops"):
        assert measured[measured.metric == metric].value.notna().sum() >= 3, metric
    assert measured[measured.metric == "flow_epe"].method.tolist() == ["pf_afn", "pb_afn"]
    hrviton = measured[(measured.protocol == "hrviton") & (measured.metric == "ssim")]
    assert hrviton.value.isna().all() and hrviton.note.str.contains("refused by the protocol").all()  # 64x64
    lpips = measured[measured.metric == "lpips"]
    assert lpips.value.isna().all() and lpips.note.str.contains("weights absent: alexnet-owt-7be5be79.pth").all()
    cuda = measured[measured.device == "cuda"]
    assert len(cuda) == 3 and cuda.note.str.contains("no CUDA device").all()
    published = table[table.source == "published"]
    assert len(published) == len(load_literature("pfafn-table1")) and published.citation.str.len().gt(0).all()
    assert any("DensePose derived from the parse" in w for w in first.run["warnings"])
    assert first.run["cells"]["computed"] > 0 and len(first.qualitative) == 2
    paths = write_suite_report(first, tmp_path / "report")
    assert {p.name for p in paths} >= {"results.csv", "run.json", "table.md", "index.html", "qualitative.png"}

    again = run_suite(suite, work=tmp_path / "work")
    assert again.run["cells"]["computed"] == 0
    pd.testing.assert_frame_equal(first.results, again.results)


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_same_results(tiny_pfafn, tmp_path):
    """A run killed at random points resumes and ends with the results of an uninterrupted run, and an earlier
    report in another folder is untouched (no training and no latency here: training has its own kill test, and
    timings differ between runs by nature)."""
    suite = {**SUITE, "methods": [{"name": "pf_afn", "checkpoints": str(tiny_pfafn)}, {"name": "no_warp"}],
             "latency": []}  # fmt: skip
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    command = [sys.executable, "-m", "bench.cli", "bench", "--suite", str(tmp_path / "suite.yaml")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    start = time.perf_counter()
    subprocess.run([*command, "--work", str(tmp_path / "w0"), "--out", str(tmp_path / "r0")], env=env, check=True,
                   capture_output=True)  # fmt: skip
    duration = time.perf_counter() - start
    reference = (tmp_path / "r0" / "results.csv").read_bytes()
    rng = random.Random(0)
    for trial in range(3):
        work, out = tmp_path / f"w{trial + 1}", tmp_path / f"r{trial + 1}"
        args = [*command, "--work", str(work), "--out", str(out)]
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 0.9) * duration)
        process.send_signal(signal.SIGKILL)
        process.wait()
        subprocess.run(args, env=env, check=True, capture_output=True)
        assert (out / "results.csv").read_bytes() == reference, f"trial {trial}"
    assert (tmp_path / "r0" / "results.csv").read_bytes() == reference, "an earlier report was changed"
