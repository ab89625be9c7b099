"""Inference latency of the try-on models: single-stream percentiles, offline throughput, cold start, stage split,
peak memory, FLOPs against measured and datasheet peaks, energy, and the settings each number was measured under.

What is timed: one forward call of the model on inputs already on the device, under ``torch.inference_mode()``.
No data loading, no preprocessing (no human parser, DensePose or pose estimator), no host-device copies, no
saving. The weights are deterministic stand-ins (:func:`pftryon.models.init_deterministic_` on each submodule
that the official code ships as one file): latency does not depend on weight values, and nothing measured here is
a quality figure. Every try-on method, built-in or your own (by name or ``module:Class``), is timed through its
adapter: ``TryOnMethod.build_for_timing`` (its weight-free model, or its architecture built from the configuration
with deterministic weights) on ``TryOnMethod.example_inputs``.

How it is timed, and what the columns mean (a *call* is one forward of one batch; times are ms per call):

* Scenarios, after MLPerf LoadGen's: *single stream* is ``iters`` queries after ``warmup`` untimed calls, each
  from an idle device (the previous call finished: ``torch.cuda.synchronize``), the latency a user sees;
  ``median_ms`` (p50), ``p10_ms``, ``p90_ms``, ``p99_ms`` (linear-interpolated percentiles), ``mean_ms``, and 95%
  percentile-bootstrap intervals of the median and the mean (``*_ci_low_ms``, ``*_ci_high_ms``). *Offline* is calls
  back to back for at least ``Scenarios.offline_s`` seconds, the device synchronised only at block ends
  (``torch.utils.benchmark.Timer.blocked_autorange``): ``images_per_s = batch / offline_ms``, the median per-call
  time over the blocks. *Cold* (``cold_ms``) is the first call of a freshly built model, before anything else ran
  at this configuration: lazy set-up in the modules, allocator growth, library handles and kernel choices for new
  shapes (the first configuration of a process also pays its start-up: CUDA context, libraries).
* Stage split (``stage_ms``): ``Scenarios.stage_iters`` eager calls with forward hooks around each network of the
  pipeline (:attr:`LatencySpec.stages`: ``warp`` and ``gen`` for the flow methods, ``gmm`` and ``tom`` for CP-VTON),
  median ms per call of each, ``other`` the rest (composition, resizing, glue). Calls of their own, never the timed
  ones (hooks cost time); eager even when ``compile`` or ``cuda_graph`` is timed.
* CUDA: each query is bracketed by a pair of ``torch.cuda.Event(enable_timing=True)`` after a synchronisation, so
  that calls never overlap: the time of one request from an idle GPU, CPU launch overhead included. TF32 is off for
  fp32 (``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``; the ``tf32`` precision
  turns both on); the flags are restored afterwards. ``cudnn.benchmark`` is left as found and recorded. Peak memory
  is ``torch.cuda.max_memory_allocated`` after ``torch.cuda.reset_peak_memory_stats`` just before the timed calls:
  weights, inputs and activations, as the caching allocator hands them out (``memory_measure``
  ``cuda_max_allocated``). ``cuda_graph`` times replays of the model captured as a CUDA graph (after three calls on
  a side stream; autocast's weight cache off), its capture reported as ``compile_s``.
* CPU: ``time.perf_counter`` around each call. Peak memory is the growth of the resident set (RSS) during the
  timed calls over a baseline taken before the warm-up, with the model and inputs loaded and after one forward
  call (the FLOP count below, which also pays the one-off lazy initialisation: library code paged in, thread
  pools) and after ``torch.compile``'s first call; freed heap is handed back to the OS (glibc ``malloc_trim``)
  before the baseline, so that earlier calls' leftovers do not hide this one's. The peak is Linux's ``VmHWM``
  after resetting it through ``/proc/self/clear_refs`` (``rss_hwm_growth``) or, where that is refused,
  ``/proc/self/statm`` sampled every millisecond by a thread (``rss_sampled_growth``, which can miss
  sub-millisecond peaks); ``None`` without ``/proc``. Activations, workspaces and what the allocator keeps
  count; the weights do not. Never parameter bytes (the DM-VTON "memory" mistake,
  docs/reference/published-results.md §2).
* ``bf16``/``fp16`` run under ``torch.autocast(device_type, dtype)``: convolutions and matmuls in half precision, the
  ops autocast keeps in fp32 (normalisation, ``grid_sample`` and the like) in fp32. ``int8`` (CPU only) times a
  statically quantised copy (:func:`bench.precision.quantize_int8`, calibrated on three other random batches): the
  submodules FX can trace in int8, the rest in fp32, as ``quantized`` says (PF-AFN: the generator; its warp stays fp32).
  Every row that times something other than the fp32 eager model (another precision, ``compile``, a CUDA graph, the
  ``optimize`` copy) states its error against the fp32 eager model as built on the same inputs: ``max_abs_diff``
  (largest absolute difference of the try-on, [-1, 1] units) and ``dssim`` (``1 - SSIM`` between the two try-ons), see
  :func:`bench.precision.tryon_error`. The inputs are random, so these are a model's sensitivity, not a quality figure.
* ``channels_last`` converts the model and the 4-D inputs to ``torch.channels_last``; ``optimize`` times
  :func:`pftryon.models.optimize_for_inference` (BatchNorm folded).
* ``compile`` wraps the model with ``torch.compile`` (default mode), after ``torch._dynamo.reset()`` so that every
  compiled configuration compiles from scratch. The first call, which compiles, is timed on its own and reported as
  ``compile_s``; it is neither a warm-up nor a timed call.
* ``flops``: one untimed forward of the eager model under ``torch.utils.flop_counter.FlopCounterMode`` (same
  precision and inputs). It counts convolutions and matmuls (2 FLOPs per multiply-add), not element-wise ops or
  ``grid_sample``. ``achieved_tflops = flops / median``. ``measured_peak_fraction`` divides it by the peak measured
  on this device in the row's precision (:func:`~bench.latency.device.measured_peak`: on the CPU
  :mod:`bench.speed.peak`'s workloads, int8 rows against fp32; on a GPU the fastest of five 8192^3 matrix products),
  ``peak_fraction`` by the device's dense datasheet peak for the precision (:data:`PEAK_TFLOPS`; ``None`` on CPUs
  and unknown GPUs). Under autocast part of the work stays in fp32, so the fraction against the half-precision peak
  understates how busy the fp32 units are.
* ``energy_j_per_image`` (CUDA, with ``pynvml``): NVML's board energy counter read after each offline block, the
  energy of the blocks after the first over their images; idle power is included. ``None`` elsewhere, with
  ``energy_note`` saying why.
* Every row records where it ran: ``device``, ``driver`` and ``clocks`` (NVML; the CPU's clock from ``/proc/cpuinfo``),
  ``cudnn``, ``tf32``, ``cudnn_benchmark``, ``correlation`` (the kernel of the local correlation in PF-AFN, PB-AFN and
  DM-VTON: ``bands`` on the CPU, ``triton`` on CUDA); the report adds torch and CUDA versions, date and commit.
* ``outside_load``: how busy other processes kept the machine while this configuration was timed (single stream,
  offline and stage split): their CPU time over the wall time and all cores, from ``/proc``
  (:func:`bench.speed.outside_load`; 0: nothing else ran, 1: every core busy; ``None`` without ``/proc``). Above
  :data:`bench.speed.BUSY_LOAD` the console marks the row BUSY: its absolute times are inflated, and parts timed in
  separate calls (the stage split against the p50) may not add up.
* ``params``: parameters of the model as built, before BatchNorm folding.

Usage: :func:`measure_latency` for one point, :func:`run_latency` for a grid (the ``pftryon latency`` command),
:func:`latency_table`, :func:`latency_text` and :func:`write_latency_report` for the CSV, console and Markdown
reports.

Modules: :mod:`~bench.latency.models` (what is timed: each method's adapter, :func:`latency_spec`, building),
:mod:`~bench.latency.device` (the device, datasheet and measured peaks, NVML, settings, versions),
:mod:`~bench.latency.memory` (peak memory on the CPU), :mod:`~bench.latency.scenarios` (single stream, offline, cold,
stage split, CUDA graphs, statistics), :mod:`~bench.latency.measure` (one configuration) and
:mod:`~bench.latency.run` (a grid and its CSV); the Markdown file is written by :mod:`bench.report.latency_markdown`.
"""

from __future__ import annotations

from bench.latency.device import PEAK_TFLOPS, measured_peak, peak_tflops
from bench.latency.measure import (
    DEFAULT_SCENARIOS,
    PRECISIONS,
    LatencyResult,
    Scenarios,
    measure_built,
    measure_latency,
)
from bench.latency.models import LatencySpec, build_latency_model, latency_models, latency_spec
from bench.latency.run import (
    STAGE_COLUMN,
    LatencyReport,
    latency_table,
    latency_text,
    parse_batches,
    parse_precisions,
    parse_sizes,
    run_latency,
    write_latency_report,
)

__all__ = [
    "DEFAULT_SCENARIOS",
    "PEAK_TFLOPS",
    "PRECISIONS",
    "STAGE_COLUMN",
    "LatencyResult",
    "LatencySpec",
    "Scenarios",
    "build_latency_model",
    "latency_models",
    "latency_spec",
    "latency_table",
    "latency_text",
    "measure_built",
    "measure_latency",
    "measured_peak",
    "parse_batches",
    "parse_precisions",
    "parse_sizes",
    "peak_tflops",
    "run_latency",
    "write_latency_report",
    "LatencyReport",
]
