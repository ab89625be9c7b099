"""Speed benchmarks printed by ``make bench-speed``; every figure is measured in the run that prints it.

Each figure is a ratio of two candidates timed interleaved (A, B, A, B, ...), given as min and median, beside the
share of this machine's fp32 peak timed in the same rounds (:mod:`bench.speed.peak`; where FLOPs are counted) and
the *outside load*: the CPU time other processes used during the measurement (:mod:`bench.speed.timing`). A round
taken while that load exceeds ``--busy-load`` is run again (``--retries``); a figure with no quiet round is marked
``BUSY``.

* ``model``: PF-AFN inference at 256x192, batch 1: the straightforward path (eval mode, ``no_grad``, NCHW) against
  the fast path (:func:`pftryon.models.optimize_for_inference`); fails if their outputs differ beyond the
  conformance tolerances. On CPU, the fast path's time split (:mod:`bench.speed.breakdown`): the convolutions' share
  of peak and the forward against the convolution bound.
* ``correlation``: the correlation layer against the direct loop of 49 shifted products under autograd.
* ``synth``: rendering and writing 1,000 synthetic pairs at 256x192 in the VITON layout (goal: < 60 s).
* ``cache``: one pass over a dataset from its Arrow cache against decoding its JPEG/PNG/JSON files again.
* ``startup``: ``pftryon --help`` and an argument error in fresh processes (goal: < 0.5 s).
* ``metrics`` (minutes, not in ``all``): our SSIM + LPIPS + FID + KID pass against the usual toolchain
  (:mod:`bench.speed.metrics`); ``--pairs N``, ``--check`` fails if the values disagree.
* ``width`` (CPU, in ``all`` on the CPU): ``width`` 0.125 with the warp's flow heads scaled against kept
  (:mod:`bench.speed.width`).

Timing needs no trained weights; the deterministic conformance weights are used.

Usage: ``python -m bench.speed {all,model,correlation,synth,cache,startup,metrics,width} [--repeats N]
[--busy-load F] [--retries K] [--device cpu|cuda]``. Importing this package imports no torch (the metric workers run
as ``python -m bench.speed.metrics``); the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BUSY_LOAD", "Comparison", "Policy", "compare", "compare_with_peak", "cpu_model", "device_name", "outside_load",
    "read_cpu_times", "sync_device",
]  # fmt: skip

_HOMES = {name: "bench.speed.timing" for name in __all__} | {"compare_with_peak": "bench.speed.peak"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'bench.speed' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
