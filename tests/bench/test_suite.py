"""`pftryon bench`: declarative suites, one runner with cached cells, resumable after SIGKILL."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

from baselines.cp_vton import CPVTON
from bench.cli import main
from bench.data.readers import InputError
from bench.data.synthetic import synthesize
from bench.records import SCHEMA_VERSION, RunRecord
from bench.report.tables import prepare
from bench.results import RESULT_COLUMNS, code_fingerprint
from bench.suite import list_suites, load_suite, run_suite, write_suite_report
from bench.suite.literature import list_literature, load_literature
from bench.suite.runner import _published_rows
from pftryon import PBAFN, PFAFN
from pftryon.models import OFFICIAL_GEN_FILE, OFFICIAL_WARP_FILE, init_deterministic_

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
    "report": {"lead": ["ssim_truth", "flow_epe"], "caveats": ["smoke-sized: nothing measured"]},
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
        prepare(pd.DataFrame(_published_rows((name,)), columns=RESULT_COLUMNS))  # one cell per row (resolutions)
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
    bad.write_text(yaml.safe_dump({**SUITE, "report": {"lead": ["ms_per_image"]}}))
    with pytest.raises(ValueError, match="report: lead: quality metrics among ssim"):  # a speed metric cannot lead
        load_suite(str(bad))
    assert suite.report.lead == ("ssim_truth", "flow_epe") and suite.to_dict()["report"]["caveats"]
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
    (pfafn,) = [e for e in first.run["evaluations"] if e["method"] == "pf_afn" and e["protocol"] == "pfafn"]
    assert pfafn["matching"]["listed"] == pfafn["matching"]["matched"] == 4
    assert pfafn["matching"]["scored_fraction"] == 1.0 and pfafn["resize"]
    _check_pair_lists(table, Path(first.run["datasets"]["synthetic-viton"]["root"]))
    _check_provenance(first.run, Path(first.run["datasets"]["synthetic-viton"]["root"]))
    assert all(Path(row["truth"]).is_file() for row in first.qualitative)  # the true try-on of each grid pair
    paths = write_suite_report(first, tmp_path / "report")
    assert {p.name for p in paths} >= {"results.csv", "run.json", "table.md", "index.html", "qualitative.png"}
    page = (tmp_path / "report" / "index.html").read_text()
    assert "flow end-point error" in page and "smoke-sized: nothing measured" in page

    again = run_suite(suite, work=tmp_path / "work")
    assert again.run["cells"]["computed"] == 0
    pd.testing.assert_frame_equal(first.results, again.results)


def _check_pair_lists(table: pd.DataFrame, root: Path) -> None:
    """Every quality row names the list it was scored on, ``<file>:<sha256>`` of that file's bytes in the data."""
    quality = table[(table.source == "measured") & (table.protocol != "latency")]
    named = {p: p.split(":")[0] for p in set(quality.pairs)}
    assert set(named.values()) == {"test_pairs.txt", "test_pairs_same.txt"}, named
    for label, name in named.items():
        assert label == f"{name}:{hashlib.sha256((root / name).read_bytes()).hexdigest()[:8]}"
    by_metric = quality.groupby("metric").pairs.agg(set)
    assert by_metric["ssim"] == {p for p, n in named.items() if n == "test_pairs_same.txt"}  # the paired list
    assert by_metric["fid"] == by_metric["ssim_truth"] == {p for p, n in named.items() if n == "test_pairs.txt"}
    assert (table[table.protocol == "latency"].pairs == "").all()


def _check_provenance(run: dict, root: Path) -> None:
    """run.json says how to rerun and check the numbers: command, recipe and its hash, seeds, machine, bootstrap, the
    code's fingerprint, the exact-truth protocol."""
    meta = run["metadata"]
    assert meta["command"] == sys.argv and meta["git_clean"] in (True, False, None)
    assert meta["recipes"]["smoke"]["contents"]["name"] == "smoke"
    assert root.parent.name == f"smoke-{meta['recipes']['smoke']['sha256'][:12]}"  # the recipe's work folder
    assert meta["seeds"]["smoke data"] == meta["recipes"]["smoke"]["contents"]["data"]["seed"]
    assert meta["seeds"]["qualitative pairs"] == SUITE["qualitative"]["seed"] and meta["seeds"]["bootstrap"] == 0
    assert meta["machine"]["cores"] == os.cpu_count() and meta["machine"]["torch"] == torch.__version__
    assert meta["bootstrap"] == {"resamples": 10_000, "confidence": 0.95, "seed": 0, "method": "percentile",
                                 "fid_resamples": 10}  # fmt: skip
    assert meta["code_fingerprint"] == code_fingerprint()
    assert meta["weights_fetch"].startswith("pftryon weights fetch ")  # the suite file is not a shipped one
    assert "end-point error" in run["protocols"]["exact-truth"]["description"]


_KILL_SCRIPT = """
import random, sys, time
import bench.eval, bench.methods, bench.predict, bench.suite.runner  # noqa: F401  (imported before the forks)
from forked_cli import run

suite, base = sys.argv[1], sys.argv[2]

def args(trial, *extra):
    return ["bench", "--suite", suite, "--work", f"{base}/w{trial}", "--out", f"{base}/r{trial}", *extra]

start = time.perf_counter()
assert run(args(0)) == 0
duration = time.perf_counter() - start
rng = random.Random(0)
for trial in range(1, 6):
    run(args(trial), kill_after=rng.uniform(0.3, 0.9) * duration)
    assert run(args(trial, "--resume")) == 0, trial
"""


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_same_results(tiny_pfafn, tmp_path):
    """A run killed at 5 seeded random points resumes and ends with the results of an uninterrupted run, and an earlier
    report in another folder is untouched (no training and no latency here: training has its own kill test, and
    timings differ between runs by nature)."""
    suite = {**SUITE, "methods": [{"name": "pf_afn", "checkpoints": str(tiny_pfafn)}, {"name": "no_warp"}],
             "latency": []}  # fmt: skip
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": f"{here.parents[1]}{os.pathsep}{here}"}
    script = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, str(tmp_path / "suite.yaml"), str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert script.returncode == 0, script.stderr[-2000:]
    reference = (tmp_path / "r0" / "results.csv").read_bytes()
    for trial in range(1, 6):
        assert (tmp_path / f"r{trial}" / "results.csv").read_bytes() == reference, f"trial {trial}"
    assert (tmp_path / "r0" / "results.csv").read_bytes() == reference, "an earlier report was changed"


def _official_files(folder: Path, model: torch.nn.Module, parts: tuple[str, str], names: tuple[str, str]) -> Path:
    """Write ``model``'s two parts with deterministic weights as the official files (the conformance rule)."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, name in zip(parts, names, strict=True):
        init_deterministic_(getattr(model, part))
        torch.save(getattr(model, part).state_dict(), folder / name)
    return folder


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Official-format checkpoint folders (deterministic weights) of PF-AFN, PB-AFN, CP-VTON and CP-VTON+."""
    root = tmp_path_factory.mktemp("official")
    return {
        "pf_afn": _official_files(root / "pf_afn", PFAFN(), ("warp", "gen"), (OFFICIAL_WARP_FILE, OFFICIAL_GEN_FILE)),
        "pb_afn": _official_files(root / "pb_afn", PBAFN(), ("warp", "gen"),
                                  ("PBAFN_warp_epoch_101.pth", "PBAFN_gen_epoch_101.pth")),
        "cp_vton": _official_files(root / "cp_vton", CPVTON(), ("gmm", "tom"), ("gmm_final.pth", "tom_final.pth")),
        "cp_vton_plus": _official_files(root / "cp_vton_plus", CPVTON(plus=True), ("gmm", "tom"),
                                        ("gmm_final.pth", "tom_final.pth")),
    }  # fmt: skip


def _checkpoint_args(official: dict[str, Path]) -> list[str]:
    return [arg for name, folder in official.items() for arg in ("--checkpoints-for", f"{name}={folder}")]


@pytest.mark.slow
def test_pfafn_table1_on_a_synthetic_viton_tree(official, tmp_path):
    synthesize("viton", tmp_path / "viton", n=8, size=(256, 192), seed=0, test_fraction=0.25, progress=False)
    root = f"viton={tmp_path / 'viton'}"
    only = "method=cp_vton,cp_vton_plus,pb_afn,no_warp"  # pf_afn on official-format files: the real-fixture test
    args = ["bench", "--suite", "pfafn-table1", "--root-for", root, *_checkpoint_args(official), "--only", only,
            "--set", "latency=[]", "--limit", "1", "--work", str(tmp_path / "work"),
            "--out", str(tmp_path / "report")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "report" / "results.csv")
    ssim = table[(table.source == "measured") & (table.metric == "ssim")]
    assert sorted(ssim.method) == ["cp_vton", "cp_vton_plus", "no_warp", "pb_afn"]
    assert ssim.value.between(0, 1).all() and (ssim.n == 1).all()  # --limit 1 of the 2 test pairs
    run = json.loads((tmp_path / "report" / "run.json").read_text())
    assert (run["kind"], run["schema_version"]) == ("suite-run", SCHEMA_VERSION)
    assert set(run) == RunRecord.__required_keys__
    assert {Path(p).name for p in run["methods"]["cp_vton"]["checkpoints"]} == {"gmm_final.pth", "tom_final.pth"}
    assert "<table" in (tmp_path / "report" / "index.html").read_text()


@pytest.mark.slow
def test_pfafn_table1_on_the_real_fixture_pairs(official, viton_demo: Path, tmp_path: Path) -> None:
    """PF-AFN's own demo layout: parser-free methods run, parser-based ones are cells saying why they cannot."""
    suite = {"include": "pfafn-table1", "name": "pfafn-demo", "latency": [],
             "datasets": [{"name": "viton-pfafn", "root": str(viton_demo / "dataset"),
                           "options": {"pairs_file": str(viton_demo / "demo.txt")}}]}  # fmt: skip
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(suite))
    only = "method=pf_afn,pb_afn,cp_vton,no_warp"
    args = ["bench", "--suite", str(tmp_path / "demo.yaml"), *_checkpoint_args(official), "--only", only,
            "--limit", "2", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "r")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "r" / "results.csv")
    ssim = table[(table.source == "measured") & (table.metric == "ssim")].set_index("method")
    assert ssim.loc["pf_afn", "n"] == 2 and 0 < ssim.loc["pf_afn", "value"] < 1  # --limit 2 of the 6 pairs
    for parser_based in ("pb_afn", "cp_vton"):
        assert np.isnan(ssim.loc[parser_based, "value"])
        assert "needs the sample field 'parse', which dataset viton-pfafn" in ssim.loc[parser_based, "note"]
    warnings = json.loads((tmp_path / "r" / "run.json").read_text())["warnings"]
    assert any("2 of 2 pairs of the paired list put another garment on the person" in w for w in warnings)


def test_a_low_precision_row_is_its_own_row_timed_at_its_dtype_and_compared_with_fp32(tiny_pfafn, tmp_path):
    suite = {**SUITE, "methods": [{"name": "pf_afn", "checkpoints": "elsewhere"},
                                  {"name": "pf_afn", "checkpoints": "elsewhere", "dtype": "int8"}],
             "protocols": ["pfafn"], "literature": [], "qualitative": None,
             "latency": {"devices": ["cpu"], "batches": [1], "dtypes": ["fp32"], "warmup": 0, "iters": 1}}  # fmt: skip
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    loaded = load_suite(str(tmp_path / "suite.yaml")).override(checkpoints={"pf_afn": str(tiny_pfafn)})
    assert [m.checkpoints for m in loaded.methods] == [str(tiny_pfafn)] * 2  # every precision of the method
    assert [m.key for m in loaded.override(only={"method": ["pf_afn-int8"]}).methods] == ["pf_afn-int8"]
    result = run_suite(loaded, work=tmp_path / "work")
    table = result.results[result.results.source == "measured"]
    ssim = table[table.metric == "ssim"].set_index("method")
    assert ssim.loc["pf_afn", "dtype"] == "fp32" and ssim.loc["pf_afn-int8", "dtype"] == "int8"
    timed = table[table.metric == "ms_per_image"].set_index("method")
    assert timed.loc["pf_afn", "dtype"] == "fp32" and timed.loc["pf_afn-int8", "dtype"] == "int8"
    record = result.run["methods"]["pf_afn-int8"]
    assert record["method"] == "pf_afn" and record["dtype"] == "int8"
    error = record["precision"]["synthetic-viton paired"]["error_vs_fp32"]
    assert error["max_abs_diff"] > 0 and record["precision"]["synthetic-viton paired"]["modules"]["gen"] == "int8"
    paths = write_suite_report(result, tmp_path / "report")
    page = (tmp_path / "report" / "table.md").read_text()
    delta = ssim.loc["pf_afn-int8", "value"] - ssim.loc["pf_afn", "value"]
    section = page.split("## Low precision against fp32")[1].split("## Latency")[0]
    assert "| PF-AFN (int8) |" in section and f"{delta:+.4f}" in section, section
    assert "Low precision against fp32" in (tmp_path / "report" / "index.html").read_text() and paths
    again = run_suite(loaded, work=tmp_path / "work")
    assert (
        again.run["cells"]["computed"] == 0 and again.run["methods"]["pf_afn-int8"]["precision"] == record["precision"]
    )


def test_pair_list_names_the_list_file_and_its_sha256(tmp_path):
    from bench.data.base import Entry
    from bench.suite.rows import pair_list

    rows = [("000001_0.jpg", "000002_1.jpg"), ("000003_0.jpg", "000001_1.jpg"), ("000002_0.jpg", "000003_1.jpg")]
    listed = "".join(f"{p} {c}\n" for p, c in rows).encode()
    (tmp_path / "test_pairs.txt").write_bytes(listed)
    (tmp_path / "train_pairs.txt").write_bytes(b"000009_0.jpg 000009_1.jpg\n")
    entries = [Entry(p, c, {"person": tmp_path / "test_img" / p, "cloth": tmp_path / "test_clothes" / c})
               for p, c in rows]  # fmt: skip
    assert pair_list(tmp_path, entries, "viton unpaired") == f"test_pairs.txt:{hashlib.sha256(listed).hexdigest()[:8]}"
    first = "".join(f"{p} {c}\n" for p, c in rows[:2]).encode()
    assert pair_list(tmp_path, entries[:2], "x") == f"test_pairs.txt[:2]:{hashlib.sha256(first).hexdigest()[:8]}"
    derived = entries[::-1]  # rows of no list file (a list the loader derives)
    text = "".join(f"{p} {c}\n" for p, c in rows[::-1]).encode()
    assert (
        pair_list(tmp_path, derived, "viton paired list") == f"viton paired list:{hashlib.sha256(text).hexdigest()[:8]}"
    )
