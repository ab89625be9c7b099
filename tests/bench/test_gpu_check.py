"""The GPU check (bench.gpu_check) on the CPU: its budget, its latency plan, its arguments, a part whose package is
missing, a failed check, and the whole ``--device cpu --tiny`` run (CPU against CPU: every comparison must agree)."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.gpu_check import conformance
from bench.gpu_check.__main__ import main
from bench.gpu_check.budget import Budget
from bench.gpu_check.latency_grid import latency_plan
from bench.methods import list_methods


def test_the_budget_goes_to_the_parts_in_order_and_unused_time_moves_on() -> None:
    budget = Budget(100.0, {"a": 1.0, "b": 3.0})
    start = time.perf_counter()
    assert budget.deadline("a") - start == pytest.approx(25.0, abs=0.5)  # a quarter of what is left
    assert budget.deadline("b") - start == pytest.approx(100.0, abs=0.5)  # the last part gets all that is left
    assert Budget(-1.0, {"a": 1.0}).deadline("a") <= time.perf_counter()  # nothing left: stop at once


def test_latency_plan() -> None:
    methods = list_methods()
    cuda = latency_plan(methods, torch.device("cuda"), tiny=False, extra=False)
    eager = [c for c in cuda if c.mode == "eager"]
    assert len(eager) == len(methods) * 4 * 3 == len([c for c in cuda if c.mode == "graph"])
    assert {c.dtype for c in eager} == {"fp32", "tf32", "fp16", "bf16"} and {c.batch for c in eager} == {1, 8, 64}
    assert [(c.method, c.mode) for c in cuda[:24]] == [("pf_afn", "eager")] * 12 + [("pf_afn", "graph")] * 12
    assert cuda[0].size == (256, 192)
    # then the fast inference paths of PF-AFN and DM-VTON, in every precision at batches 1 and 64
    fast = cuda[24:40]
    assert {c.mode for c in fast} == {"fast"} and [c.method for c in fast] == ["pf_afn"] * 8 + ["dm_vton"] * 8
    assert {(c.dtype, c.batch) for c in fast} == {(d, b) for d in ("fp32", "tf32", "fp16", "bf16") for b in (1, 64)}
    assert len([c for c in cuda if c.mode == "fast"]) == 16
    compiled = [i for i, c in enumerate(cuda) if c.mode == "compile"]
    assert len(compiled) == 2 * len(methods) and all(cuda[i].batch == 1 for i in compiled)
    # PF-AFN compiled right after the four most compared methods, before the others (compiling is slow)
    assert [cuda[i].method for i in compiled[:2]] == ["pf_afn"] * 2 and compiled[0] == 4 * 24 + 16
    assert cuda[-1].mode == "compile"
    cpu = latency_plan(methods, torch.device("cpu"), tiny=True, extra=False)
    assert {c.mode for c in cpu} == {"eager", "fast"} and {(c.dtype, c.batch) for c in cpu} == {
        ("fp32", 1),
        ("fp32", 2),
    }
    assert [(c.method, c.batch) for c in cpu if c.mode == "fast"] == [("pf_afn", 1), ("dm_vton", 1)]
    tiny_cuda = latency_plan(methods, torch.device("cuda"), tiny=True, extra=False)
    assert {(c.dtype, c.batch) for c in tiny_cuda if c.mode == "eager"} == {("fp32", 1), ("fp32", 2), ("tf32", 1),
                                                                             ("fp16", 1), ("bf16", 1)}  # fmt: skip
    assert {c.method for c in cpu} == set(methods)  # every method
    extra = latency_plan(methods, torch.device("cuda"), tiny=False, extra=True)
    assert {c.size for c in extra} == {(512, 384)} and len(extra) == len(methods) * 4
    assert len(latency_plan(methods, torch.device("cpu"), tiny=True, extra=True)) == 1


def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, message in ((["--budget", "0"], "--budget must be a positive"), (["--parts", "az"], "--parts must be"),
                          (["--out", str(tmp_path / "f")], "is not a folder")):  # fmt: skip
        (tmp_path / "f").write_text("")
        with pytest.raises(SystemExit) as caught:
            main(["--out", str(tmp_path / "out"), "--device", "cpu", *args])
        assert caught.value.code == 2 and message in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / "out")])
        assert "no CUDA device" in capsys.readouterr().err


def test_a_part_whose_package_is_missing_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bench.gpu_check.predictions", None)  # as if its imports failed
    assert main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--parts", "b"]) == 0
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["parts"]["b"]["status"] == "skipped" and "missing" in run["parts"]["b"]["reason"]
    assert "(b) predictions on the device against the CPU: skipped" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_a_check_beyond_its_tolerance_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    strict = conformance.GOLDEN[3]  # CP-VTON, the cheapest to run
    # A tolerance no error can meet on the try-on (on this CPU the golden outputs may be reproduced bit for bit).
    outputs = tuple((ours, theirs, -1.0 if ours == "tryon" else tol) for ours, theirs, tol in strict.outputs)
    monkeypatch.setattr(conformance, "GOLDEN", (type(strict)(**{**strict.__dict__, "outputs": outputs}),))
    assert main(["--out", str(tmp_path), "--device", "cpu", "--tiny", "--parts", "a"]) == 1
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["parts"]["a"]["status"] == "failed" and "cp_vton tryon" in run["parts"]["a"]["reason"]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_tiny_run_on_the_cpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--out", str(out), "--device", "cpu", "--tiny", "--budget", "3600", "--work", str(tmp_path / "work")]
    assert main(args) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "gpu-check" and run["environment"]["device"]["type"] == "cpu"
    assert {name: part["status"] for name, part in run["parts"].items()} == dict.fromkeys("abcdef", "ok")
    assert run["environment"]["settings"]["tf32_matmul"] is False
    assert run["environment"]["settings"]["correlation_kernel"] == "bands"
    assert run["correlation"] == {"kernel": "bands", "preflight": "not run: Triton does not run on this device"}
    files = sorted(p.name for p in out.iterdir())
    assert files == ["a_conformance.csv", "b_predictions.csv", "c_training.csv", "d_latency.csv", "e_latency.csv",
                     "f_correlation.csv", "run.json", "summary.md"]  # fmt: skip
    # (a) the four official models within the conformance tolerances on this device
    golden = _csv(out / "a_conformance.csv")
    assert {r["model"] for r in golden} == {"pf_afn", "cp_vton", "fs_vton", "dm_vton"}
    assert all(float(r["max_abs_error"]) <= float(r["tolerance"]) for r in golden)
    # (b) every method through predict; CPU against CPU, so nothing may differ
    predicted = {r["method"]: r for r in _csv(out / "b_predictions.csv")}
    assert set(predicted) == set(list_methods())
    assert all(r["images"] == "4" and r["max_png_levels"] == "0" for r in predicted.values())
    assert predicted["pf_afn"]["max_flow_error"] == "0.0" and predicted["cp_vton"]["max_flow_error"] == "0.0"
    assert predicted["no_warp"]["max_flow_error"] == ""  # no warp, no flow
    # (c) the last stage of every trainable method (--tiny), the same loss on both sides
    stages = _csv(out / "c_training.csv")
    assert {r["stage"] for r in stages} == {"pf-e2e", "cp-tom", "cpplus-tom", "fs-e2e", "dm-e2e"}
    assert all(r["ok"] == "True" and float(r["cpu_loss"]) > 0 and r["rel_diff"] == "0.0" for r in stages)
    # (d) every method's latency rows; a low precision with its error against fp32
    rows = _csv(out / "d_latency.csv")
    assert len(rows) == 2 * len(list_methods()) + 2 and all(r["status"] == "ok" for r in rows)
    fast = [r for r in rows if r["mode"] == "fast"]  # the inference copies: their error against the model as built
    assert [r["method"] for r in fast] == ["pf_afn", "dm_vton"] and all(float(r["max_abs_diff"]) < 1e-4 for r in fast)
    assert all(float(r["median_ms"]) > 0 and float(r["images_per_s"]) > 0 and float(r["cold_ms"]) > 0 for r in rows)
    assert {r["method"] for r in rows if r["stages_ms"].startswith("warp ")} >= {"pf_afn", "fs_vton", "dm_vton"}
    assert "## (d) latency of every method: ok" in (out / "summary.md").read_text()
    # (f) the correlation kernels on this device (no Triton on the CPU), each within its tolerance of the loop
    kernels = _csv(out / "f_correlation.csv")
    assert [(r["kernel"], r["batch"], r["pass"]) for r in kernels] == [
        (k, b, p) for b in "12" for p in ("forward", "forward + backward") for k in ("loop", "bands")
    ]
    assert all(r["ok"] == "True" and float(r["median_ms"]) > 0 for r in kernels)
    assert all(
        float(r["max_abs_diff"]) == 0 and float(r["speedup_vs_loop"]) == 1 for r in kernels if r["kernel"] == "loop"
    )


def test_the_correlation_part_times_triton_and_its_launch_sweep(monkeypatch) -> None:
    """Part (f) where Triton runs (here through its interpreter, on CPU tensors): a Triton row per batch and pass
    beside the loop's and the banded kernel's, then one forward row per launch configuration, all within tolerance."""
    pytest.importorskip("triton")
    from functools import partial

    from bench.gpu_check import correlation
    from bench.gpu_check.budget import Part
    from pftryon.layers import local_correlation

    kernels = correlation.correlation_kernels(torch.device("cpu"))
    monkeypatch.setattr(correlation, "correlation_kernels",
                        lambda device: kernels | {"triton": partial(local_correlation, kernel="triton")})  # fmt: skip
    # interpreted kernels take milliseconds a program: one small level, two launches tried (one the device refuses),
    # each timed once
    monkeypatch.setattr(correlation, "_LEVELS", ((48, 40),))
    monkeypatch.setattr(correlation, "_SWEEP", (correlation._SWEEP[0], (24, 32, 4)))  # 24: not a power of two
    monkeypatch.setattr(correlation, "_time", lambda run, tiny: _timed_once(run))
    part = Part("f", "correlation")
    correlation.check_correlation(part, torch.device("cpu"), time.perf_counter() + 600, tiny=True)
    assert part.status != "failed", part.reason
    names = [r["kernel"] for r in part.rows]
    assert names[:12] == ["loop", "bands", "triton"] * 4
    sweep = [(r["kernel"], r["batch"]) for r in part.rows[12:]]
    assert sweep == [(f"triton c{c} x{x} w{w}", b) for b in (2, 1) for c, x, w in correlation._SWEEP]
    assert all(r["pass"] == "forward" for r in part.rows[12:])
    refused = [r for r in part.rows[12:] if r["kernel"] == "triton c24 x32 w4"]
    assert all(not r["ok"] and "power of 2" in r["note"] and "median_ms" not in r for r in refused)
    assert all(r["ok"] for r in part.rows[12:] if r not in refused)


def _timed_once(run) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1e3


@pytest.mark.parametrize("fault", [None, "raises", "differs"])
def test_a_failing_triton_kernel_leaves_the_run_to_the_banded_kernel(monkeypatch, fault) -> None:
    """The preflight runs Triton (here through its interpreter) against the loop; a kernel that raises (a compile
    error) or disagrees sets ``PFTRYON_CORRELATION=bands`` for the rest of the run, with the reason."""
    pytest.importorskip("triton")
    from bench.gpu_check import correlation
    from pftryon.layers import correlation_kernel, local_correlation

    def triton(first, second):
        if fault == "raises":
            raise RuntimeError("PassManager::run failed\nmore lines")
        return local_correlation(first, second, kernel="triton") * (1.01 if fault == "differs" else 1.0)

    kernels = correlation.correlation_kernels(torch.device("cpu"))
    monkeypatch.setattr(correlation, "correlation_kernels", lambda device: kernels | {"triton": triton})
    monkeypatch.setenv("PFTRYON_CORRELATION", "unset below")  # restored after the test
    monkeypatch.delenv("PFTRYON_CORRELATION")
    outcome = correlation.preflight_correlation(torch.device("cpu"))
    if fault is None:
        assert outcome["kernel"] == "triton" and outcome["preflight"].startswith("ok: ")
        assert "PFTRYON_CORRELATION" not in os.environ
        return
    reason = {"raises": "RuntimeError: PassManager::run failed", "differs": "ValueError: the forward differs from the"}
    assert outcome["kernel"] == "bands"
    assert outcome["preflight"].startswith("Triton failed, the banded kernel runs instead: " + reason[fault])
    assert correlation_kernel(torch.zeros(1, device="cpu")) == "bands" and os.environ["PFTRYON_CORRELATION"] == "bands"
    monkeypatch.setenv("PFTRYON_CORRELATION", "triton")  # set by hand: no preflight
    assert correlation.preflight_correlation(torch.device("cpu"))["preflight"] == "not run: PFTRYON_CORRELATION is set"
