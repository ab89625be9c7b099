"""The latency harness: result fields, scenarios, reports, precisions and layouts, every registered model, bad input.

CPU tests use the tiny PF-AFN/PB-AFN widths at 64x64 (the AFN models need sides divisible by 32, so 64x48 is
refused) and CP-VTON at 64x64, its smallest size (its GMM is built for the timed size; sides must divide by 64).
They time the offline scenario for as little as it allows and measure no peak (:data:`QUICK`), except where that is
what they check. CUDA checks are marked ``gpu`` and skipped without a CUDA device. The scenario machinery itself
(percentiles, stage split, cold call, offline energy) is checked on stand-in modules in ``test_latency_scenarios.py``.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import latency
from bench.latency import (
    STAGE_COLUMN,
    LatencyResult,
    Scenarios,
    build_latency_model,
    latency_models,
    latency_spec,
    latency_table,
    latency_text,
    measure_latency,
    parse_batches,
    parse_precisions,
    parse_sizes,
    peak_tflops,
    run_latency,
    write_latency_report,
)
from bench.report.latency_markdown import _number
from bench.speed.timing import CpuTimes

TINY = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}
SIZE = (64, 64)
QUICK = Scenarios(offline_s=0.0, stage_iters=1, measure_peak=False)
FAST = {"warmup": 1, "iters": 2, "scenarios": QUICK}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _config(name: str) -> dict | None:
    """Tiny widths for the AFN family and the CP-VTON family; the others run as released."""
    if name in ("cp_vton", "cp_vton_plus", "tps_only"):
        return {"width": 0.125}
    return TINY if name in ("pf_afn", "pb_afn", "wuton_student", "pf_afn_no_flow") else None


@pytest.fixture(scope="module")
def result() -> LatencyResult:
    return measure_latency("pf_afn", size=SIZE, batch=2, config=TINY, warmup=1, iters=5,
                           scenarios=Scenarios(offline_s=0.0, stage_iters=2, measure_peak=False))  # fmt: skip


def _assert_sane(r: LatencyResult, *, batch: int, iters: int) -> None:
    assert len(r.times_ms) == iters and all(t > 0 for t in r.times_ms)
    assert r.p10_ms <= r.median_ms <= r.p90_ms <= r.p99_ms
    assert min(r.times_ms) <= r.p10_ms and r.p99_ms <= max(r.times_ms)
    assert r.median_ms == pytest.approx(sorted(r.times_ms)[(iters - 1) // 2] if iters % 2 else
                                        sum(sorted(r.times_ms)[iters // 2 - 1:iters // 2 + 1]) / 2)  # fmt: skip
    assert r.median_ci_low_ms <= r.median_ms <= r.median_ci_high_ms
    assert r.mean_ms == pytest.approx(sum(r.times_ms) / iters) and r.mean_ci_low_ms <= r.mean_ms <= r.mean_ci_high_ms
    assert r.cold_ms > 0 and r.offline_calls >= 1 and r.offline_ms > 0
    assert r.images_per_s == pytest.approx(batch * 1000 / r.offline_ms)  # offline: batch / ms per call
    assert r.flops > 0
    assert r.achieved_tflops == pytest.approx(r.flops / (r.median_ms / 1e3) / 1e12)


def test_result_fields(result: LatencyResult) -> None:
    _assert_sane(result, batch=2, iters=5)
    assert (result.model, result.size, result.batch, result.dtype) == ("pf_afn", SIZE, 2, "fp32")
    assert result.config.startswith("ngf=8")
    assert not (result.compile or result.cuda_graph or result.channels_last or result.optimize)
    assert result.compile_s is None and result.max_abs_diff is None  # the fp32 eager model is the reference
    assert "threads" in result.device  # CPU model name and thread count
    # CPU: no known peak rate, so no utilisation; memory is RSS growth, never parameter bytes.
    assert result.peak_tflops is None and result.peak_fraction is None
    assert result.measured_peak_tflops is None and result.measured_peak == "not measured"
    assert result.memory_measure in ("rss_hwm_growth", "rss_sampled_growth", "unavailable")
    if result.memory_measure != "unavailable":
        assert result.peak_memory_mib is not None and result.peak_memory_mib >= 0
    # No energy counter on the CPU, and the reason is given; no CUDA settings, but the CPU clock where readable.
    assert result.energy_j_per_image is None and "CPU" in result.energy_note
    assert result.tf32 is None and result.cudnn_benchmark is None and result.driver is None


def test_stage_split_names_the_networks_and_adds_up_to_about_one_call(result: LatencyResult) -> None:
    assert list(result.stage_ms) == ["warp", "gen", "other"] and all(v >= 0 for v in result.stage_ms.values())
    # Calls of their own (with hooks): their sum is one call's time, not far from the timed ones'.
    assert 0.2 * min(result.times_ms) < sum(result.stage_ms.values()) < 5 * max(result.times_ms)
    cp = measure_latency("cp_vton", size=SIZE, config={"width": 0.125}, **FAST)
    assert list(cp.stage_ms) == ["gmm", "tom", "other"]
    no_flow = measure_latency("pf_afn_no_flow", size=SIZE, config=TINY, **FAST)
    assert list(no_flow.stage_ms) == ["gen", "other"]  # a wrapped model: found by the end of its path
    assert measure_latency("no_warp", size=SIZE, **FAST).stage_ms == {}  # no network, no split


def test_outside_load_is_read_around_the_timed_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two samples of the machine's CPU time: before the single stream and after the stage split. Over 10 s on 2 cores
    # the machine was busy 14 s, 4 of them this process's: others used 10 of 20 core-seconds.
    samples = iter([CpuTimes(wall=0.0, busy=0.0, own=0.0, cores=2), CpuTimes(wall=10.0, busy=14.0, own=4.0, cores=2)])
    monkeypatch.setattr("bench.latency.measure.read_cpu_times", lambda: next(samples))
    assert measure_latency("pf_afn", size=SIZE, config=TINY, **FAST).outside_load == pytest.approx(0.5)
    monkeypatch.setattr("bench.latency.measure.read_cpu_times", lambda: None)  # no /proc
    assert measure_latency("pf_afn", size=SIZE, config=TINY, **FAST).outside_load is None


def test_measured_peak_on_the_cpu() -> None:
    r = measure_latency("pf_afn", size=SIZE, config=TINY, warmup=0, iters=1,
                        scenarios=Scenarios(offline_s=0.0, stage_iters=0, measure_peak=True))  # fmt: skip
    assert r.measured_peak_tflops > 0 and "bench.speed.peak" in r.measured_peak
    assert r.measured_peak_fraction == pytest.approx(r.achieved_tflops / r.measured_peak_tflops)
    assert r.stage_ms == {}  # stage_iters 0: no split


def test_the_cpu_peak_is_measured_in_the_rows_precision(monkeypatch: pytest.MonkeyPatch) -> None:
    # A bf16 row read against the fp32 peak could show several hundred percent on a CPU with bf16 matrix units.
    from bench.latency import device
    from bench.speed import peak

    timed = []

    def fake_compare(candidates: dict, *, dtype: torch.dtype, **_: object) -> tuple[None, SimpleNamespace]:
        timed.append(dtype)
        return None, SimpleNamespace(gflops={torch.float32: 300.0, torch.bfloat16: 2400.0}[dtype])

    device.measured_peak.cache_clear()  # measured once per process and precision
    monkeypatch.setattr(peak, "compare_with_peak", fake_compare)
    try:
        cpu = torch.device("cpu")
        fp32, bf16, int8 = (device.measured_peak(cpu, p) for p in ("fp32", "bf16", "int8"))
    finally:
        device.measured_peak.cache_clear()  # later tests measure for real
    assert timed == [torch.float32, torch.bfloat16]  # int8 reuses the fp32 measurement
    assert (fp32.tflops, bf16.tflops, int8.tflops) == (0.3, 2.4, 0.3)
    assert bf16.how.startswith("bf16: ") and "in bf16" in bf16.how
    assert int8.how == f"{fp32.how}; int8 rows too"


def test_flops_and_params_match_direct_counts(result: LatencyResult) -> None:
    model = build_latency_model("pf_afn", SIZE, TINY)
    assert result.params == sum(p.numel() for p in model.parameters())
    inputs = latency_spec("pf_afn").make_inputs(2, SIZE)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    assert result.flops == counter.get_total_flops()


def test_deterministic_weights_and_inputs() -> None:
    first, second = build_latency_model("pf_afn", SIZE, TINY), build_latency_model("pf_afn", SIZE, TINY)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), key
    spec = latency_spec("pf_afn")
    person, cloth, edge = spec.make_inputs(3, SIZE, dtype=torch.float64)
    assert person.shape == (3, 3, *SIZE) and edge.shape == (3, 1, *SIZE) and cloth.dtype == torch.float64
    assert set(edge.unique().tolist()) <= {0.0, 1.0} and person.min() >= -1 and person.max() <= 1
    assert torch.equal(cloth, cloth * edge)  # the official preprocessing masks the garment
    assert all(torch.equal(a, b) for a, b in zip(spec.make_inputs(3, SIZE), spec.make_inputs(3, SIZE), strict=True))


@pytest.mark.parametrize("dtype", [torch.bfloat16, "bf16"])
def test_bf16_on_cpu(dtype: torch.dtype | str) -> None:
    r = measure_latency("pf_afn", size=SIZE, config=TINY, dtype=dtype, **FAST)
    assert r.dtype == "bf16"
    _assert_sane(r, batch=1, iters=2)
    assert r.max_abs_diff > 0 and 0 < r.dssim < 1 and r.quantized is None  # its error against fp32 is stated


def test_int8_quantises_the_generator_keeps_the_warp_and_states_its_error() -> None:
    r = measure_latency("pf_afn", size=SIZE, config=TINY, dtype="int8", **FAST)
    _assert_sane(r, batch=1, iters=2)
    assert r.dtype == "int8" and r.quantized.startswith("warp fp32: ") and r.quantized.endswith("gen int8")
    assert 0 < r.max_abs_diff <= 2 and 0 <= r.dssim < 1
    fp32 = measure_latency("pf_afn", size=SIZE, config=TINY, **FAST)
    assert r.flops == fp32.flops and fp32.max_abs_diff is None and fp32.dssim is None
    with pytest.raises(ValueError, match="int8 runs on the CPU only"):
        latency.measure._precision("int8", torch.device("cuda"))


def test_channels_last_and_optimize() -> None:
    r = measure_latency("pf_afn", size=SIZE, config=TINY, channels_last=True, optimize=True, **FAST)
    assert r.channels_last and r.optimize
    _assert_sane(r, batch=1, iters=2)
    # BatchNorm folding removes parameters, but the reported count is the model's as built.
    assert r.params == sum(p.numel() for p in build_latency_model("pf_afn", SIZE, TINY).parameters())


def test_compile_time_reported_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.compile itself is exercised on CUDA below; here it is stubbed to check the plumbing."""
    compiled = []

    def fake_compile(model: torch.nn.Module) -> torch.nn.Module:
        compiled.append(model)
        return model

    monkeypatch.setattr(torch, "compile", fake_compile)
    r = measure_latency("pf_afn", size=SIZE, config=TINY, compile=True, **FAST)
    assert len(compiled) == 1 and r.compile and r.compile_s is not None and r.compile_s > 0
    assert len(r.times_ms) == 2  # the compiling call is neither a warm-up nor a timed call
    assert r.max_abs_diff == 0 and r.dssim == pytest.approx(0, abs=1e-6)  # what was timed against fp32 eager


@pytest.mark.parametrize("name", latency_models())
def test_every_model_runs(name: str) -> None:
    assert SIZE[0] % latency_spec(name).multiple == 0 and SIZE[1] % latency_spec(name).multiple == 0
    r = measure_latency(name, size=SIZE, config=_config(name), warmup=0, iters=1, scenarios=QUICK)
    assert r.model == name and r.median_ms > 0
    weightless = name == "no_warp"  # the lower bound: a masked paste, no network
    assert (r.flops > 0 and r.params > 0) != weightless


def test_cp_vton_inputs_follow_its_forward() -> None:
    model = build_latency_model("cp_vton_plus", SIZE)
    agnostic, cloth, cloth_mask = latency_spec("cp_vton_plus").make_inputs(2, SIZE)
    assert (agnostic.shape[1], cloth.shape[1], cloth_mask.shape[1]) == (22, 3, 1)
    with torch.inference_mode():
        assert model(agnostic, cloth, cloth_mask)["tryon"].shape == (2, 3, *SIZE)


def test_report_files(result: LatencyResult, tmp_path) -> None:
    bf16 = measure_latency("pf_afn", size=SIZE, config=TINY, dtype="bf16", **FAST)
    csv_path, md_path = write_latency_report([result, bf16], tmp_path)
    table = pd.read_csv(csv_path)
    assert len(table) == 2 and list(table["dtype"]) == ["fp32", "bf16"]
    columns = (
        "median_ms p10_ms p90_ms p99_ms mean_ms cold_ms images_per_s offline_ms energy_note peak_memory_mib "
        "params flops achieved_tflops peak_fraction measured_peak_fraction clocks tf32 cudnn_benchmark outside_load"
    )
    for column in [*columns.split(), "stage_warp_ms", "stage_gen_ms", "stage_other_ms", "device", "torch", "cuda",
                   "date", "git_commit", "weights"]:  # fmt: skip
        assert column in table.columns, column
    assert table["weights"].str.contains("deterministic").all()
    assert table["torch"].iloc[0] == torch.__version__
    text = md_path.read_text()
    for fragment in ("Device:", result.device, f"torch {torch.__version__}", "CUDA", "dtype fp32, bf16",
                     "compile off", "CUDA graph off", "channels_last off", "warm-up 1", "timed iterations 5, 2",
                     "Date:", "git commit", "deterministic stand-ins", "## Single stream", "## Offline",
                     "## Stage split", "## Cost", "## Against fp32 eager", "| pf_afn | 64x64 | 2 | fp32 | eager |",
                     "| pf_afn | 64x64 | 1 | bf16 | eager |"):  # fmt: skip
        assert fragment in text, fragment
    median = [_number(v) for v in (result.median_ms, result.median_ci_low_ms, result.median_ci_high_ms)]
    assert f"| {median[0]} [{median[1]}, {median[2]}] |" in text  # the p50 with its interval
    against = text.split("## Against fp32 eager")[1].split("##")[0]
    assert "| bf16 |" in against and "| fp32 |" not in against  # only rows timed other than fp32 eager
    # A second report never overwrites the first.
    again = write_latency_report([result], tmp_path)
    assert again[0] != csv_path and csv_path.exists()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_table_columns(result: LatencyResult) -> None:
    table = latency_table([result])
    assert table.loc[0, "size"] == "64x64" and "times_ms" not in table.columns and "stage_ms" not in table.columns
    assert table.loc[0, "images_per_s"] == pytest.approx(result.images_per_s)
    assert table.loc[0, STAGE_COLUMN.format("warp")] == pytest.approx(result.stage_ms["warp"])
    # A model without stages leaves them empty beside one with stages.
    no_warp = measure_latency("no_warp", size=SIZE, **FAST)
    both = latency_table([no_warp, result])
    assert both[STAGE_COLUMN.format("gen")].isna().tolist() == [True, False]


def test_console_summary(result: LatencyResult) -> None:
    text = latency_text([result])
    assert text.startswith("pf_afn 64x64 batch 2 fp32 eager on ")
    for fragment in (f"p50 {result.median_ms:.2f} ms", f"p99 {result.p99_ms:.2f}", "offline: ",
                     f"{result.images_per_s:.1f} images/s", f"cold: {result.cold_ms:.2f} ms",
                     f"warp {result.stage_ms['warp']:.2f}", "GFLOP per call"):  # fmt: skip
        assert fragment in text, fragment
    quiet, busy = (latency_text([dataclasses.replace(result, outside_load=load)]) for load in (0.1, 0.6))
    assert "BUSY" not in quiet
    assert "BUSY: other processes used 60% of the CPUs while this was timed" in busy


def test_run_latency_grid(tmp_path) -> None:
    results = run_latency("pf_afn", "64x64", "1,2", "fp32,bf16", config=TINY, warmup=0, iters=1, scenarios=QUICK,
                          out_dir=tmp_path, progress=False)  # fmt: skip
    assert [(r.batch, r.dtype) for r in results] == [(1, "fp32"), (1, "bf16"), (2, "fp32"), (2, "bf16")]
    assert len(list(tmp_path.glob("latency_*.csv"))) == 1 and len(list(tmp_path.glob("latency_*.md"))) == 1


def test_run_latency_validates_the_whole_grid_first(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_timing(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may be timed before the grid is validated")

    monkeypatch.setattr(latency.run, "_measure", no_timing)  # where run_latency looks it up
    with pytest.raises(ValueError, match="divisible by 32"):
        run_latency(["pf_afn"], [(64, 64), (64, 48)], [1], ["fp32"], config=TINY, progress=False)
    with pytest.raises(ValueError, match="Unknown dtype"):
        run_latency(["pf_afn"], [(64, 64)], [1], ["fp32", "int4"], config=TINY, progress=False)


# --- bad input ---------------------------------------------------------------------------------------------------


def test_unknown_model_lists_the_names() -> None:
    with pytest.raises(ValueError, match="Unknown model 'pfafn'") as info:
        measure_latency("pfafn")
    for name in latency_models():
        assert name in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_cuda_without_cuda() -> None:
    with pytest.raises(ValueError, match="no CUDA device is available") as info:
        measure_latency("pf_afn", size=SIZE, config=TINY, device="cuda")
    assert "\n" not in str(info.value)


def test_bad_device_dtype_and_counts() -> None:
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        measure_latency("pf_afn", size=SIZE, config=TINY, device="mps")
    with pytest.raises(ValueError, match="Unknown dtype 'int4'"):
        measure_latency("pf_afn", size=SIZE, config=TINY, dtype="int4")
    with pytest.raises(ValueError, match="tf32 needs a CUDA device"):
        measure_latency("pf_afn", size=SIZE, config=TINY, dtype="tf32")
    with pytest.raises(ValueError, match="batch must be an integer >= 1"):
        measure_latency("pf_afn", size=SIZE, config=TINY, batch=0)
    with pytest.raises(ValueError, match="iters must be an integer >= 1"):
        measure_latency("pf_afn", size=SIZE, config=TINY, iters=0)
    with pytest.raises(ValueError, match="cuda_graph needs a CUDA device"):
        measure_latency("pf_afn", size=SIZE, config=TINY, cuda_graph=True)
    with pytest.raises(ValueError, match="offline_s must be >= 0"):
        Scenarios(offline_s=-1)


BAD_SIZES = [
    ("pf_afn", (64, 48), 32),
    ("pb_afn", (100, 64), 32),
    ("cp_vton", (64, 48), 32),
    ("cp_vton", (256, 200), 32),
]


@pytest.mark.parametrize(("name", "size", "multiple"), BAD_SIZES)
def test_size_constraint(name: str, size: tuple[int, int], multiple: int) -> None:
    with pytest.raises(ValueError, match=f"{name} needs height and width divisible by {multiple}, got"):
        measure_latency(name, size=size, config=_config(name))


def test_parsers() -> None:
    assert parse_sizes("256x192, 512X384") == [(256, 192), (512, 384)]
    assert parse_batches("1,8,32") == [1, 8, 32]
    assert parse_precisions("fp32,BF16,float16") == ["fp32", "bf16", "fp16"]
    for bad, parser in (("256*192", parse_sizes), ("0x64", parse_sizes), ("1,x", parse_batches),
                        ("0", parse_batches), ("fp8", parse_precisions), ("", parse_sizes)):  # fmt: skip
        with pytest.raises(ValueError):
            parser(bad)


def test_peak_table() -> None:
    assert peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.5
    assert peak_tflops("NVIDIA H100 PCIe", "tf32") == 378.0
    assert peak_tflops("NVIDIA H100 NVL", "fp32") == 60.0
    assert peak_tflops("NVIDIA H200", "bf16") == 989.5
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "tf32") == 156.0
    assert peak_tflops("NVIDIA L4", "bf16") == 121.0
    assert peak_tflops("NVIDIA L40S", "bf16") is None  # not L4
    assert peak_tflops("Tesla T4", "fp16") == 65.0 and peak_tflops("Tesla T4", "bf16") is None
    assert peak_tflops("NVIDIA GeForce RTX 4090", "fp32") == 82.6
    assert peak_tflops("Tesla V100-PCIE-32GB", "fp16") == 112.0
    assert peak_tflops("Tesla V100-SXM2-16GB", "fp32") == 15.7
    assert peak_tflops("AMD EPYC, 2 threads", "fp32") is None


# --- CUDA ----------------------------------------------------------------------------------------------------------


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_cuda_measurement(dtype: str) -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    r = measure_latency("pf_afn", size=(256, 192), batch=2, dtype=dtype, device="cuda", config=TINY, warmup=1,
                        iters=2, scenarios=Scenarios(offline_s=0.3, stage_iters=2, measure_peak=True))  # fmt: skip
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before  # restored
    _assert_sane(r, batch=2, iters=2)
    assert r.device == torch.cuda.get_device_name()
    assert r.memory_measure == "cuda_max_allocated"
    # The allocator peak holds the weights, the inputs and the activations: more than the weights alone.
    assert r.peak_memory_mib is not None and r.peak_memory_mib * 2**20 > 4 * r.params
    if r.peak_tflops is not None:
        assert r.peak_fraction == pytest.approx(r.achieved_tflops / r.peak_tflops)
    assert r.measured_peak_tflops > 0 and "8192^3" in r.measured_peak
    assert r.tf32 == "matmul off, cuDNN off" and r.cudnn is not None
    assert list(r.stage_ms) == ["warp", "gen", "other"]
    assert r.energy_note and (r.energy_j_per_image is None or r.energy_j_per_image > 0)


@pytest.mark.gpu
@needs_cuda
def test_cuda_compile_and_channels_last() -> None:
    r = measure_latency("pf_afn", size=SIZE, device="cuda", config=TINY, compile=True, channels_last=True, **FAST)
    assert r.compile_s is not None and r.compile_s > 0
    _assert_sane(r, batch=1, iters=2)


@pytest.mark.gpu
@needs_cuda
def test_cuda_graph_replays_what_the_model_computes() -> None:
    r = measure_latency("pf_afn", size=SIZE, device="cuda", config=TINY, cuda_graph=True, **FAST)
    assert r.cuda_graph and r.compile_s > 0
    _assert_sane(r, batch=1, iters=2)
    assert r.max_abs_diff < 1e-4  # the replayed try-on against the eager fp32 one
