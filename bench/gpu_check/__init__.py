"""A check of the project on a GPU machine, in one call and within a time budget (``make gpu-check``).

``python -m bench.gpu_check --out DIR [--device cuda|cpu] [--tiny] [--budget SECONDS] [--parts abcdef]`` first runs
the Triton correlation once against its definition (where Triton runs; if it fails to compile or disagrees, the run
goes on with the banded kernel and ``run.json`` says why), then, in order, with fp32 TF32 off unless a row says
otherwise:

* (a) :mod:`~bench.gpu_check.conformance`: the golden vectors of PF-AFN, CP-VTON, FS-VTON and DM-VTON
  (``tests/conformance``) reproduced on the device, max errors against the tests' tolerances;
* (b) :mod:`~bench.gpu_check.predictions`: ``predict`` on the device against ``predict`` on the CPU for every
  registered method on a small synthetic set (max PNG and flow differences);
* (c) :mod:`~bench.gpu_check.training`: one training step of every trainable stage on the device against the CPU
  (finite loss, same loss before and after one Adam step);
* (d) :mod:`~bench.gpu_check.latency_grid`: the latency table of every method (fp32, TF32, fp16, bf16; batches 1, 8,
  64; eager, CUDA graph, ``torch.compile``; PF-AFN's and DM-VTON's fast path), each row that is not fp32 eager with
  its error against it;
* (e) if time remains: the same at the VITON-HD size (512x384);
* (f) :mod:`~bench.gpu_check.correlation`: the kernels of PF-AFN's local correlation (the 49-shift loop, the banded
  kernel, Triton on CUDA) timed against one another over a 256x192 input's pyramid, with their differences, and
  the Triton forward at other launch configurations.

``--tiny`` is a smoke test: 64x64 inputs, the narrow widths of :mod:`~bench.gpu_check.tiny` (the golden vectors
keep the released models), batches 1 and 2, few calls, the last training stage of each method only. The budget
(default 330 s) is shared by the parts in order (:class:`~bench.gpu_check.budget.Budget`); a part that runs out of
time stops between items and says how many it left. The folder gets ``run.json`` (device, versions, settings, each
part's status), ``summary.md`` and one CSV per part; scratch files (the synthetic set, predictions, checkpoints) go
to ``--work`` (a temporary folder by default). Exit status 1 when a check failed, 2 on bad arguments.

Dependencies: torch, numpy and pillow for (a); the project's own (PyYAML, scipy, pandas, tqdm, safetensors) for the
rest, imported by each part, which is skipped with a one-line reason when one is missing; ``pynvml``
(nvidia-ml-py) for the driver, clocks and energy, left out with a reason when absent. On the GPU machine, without
installing anything: ``PYTHONPATH=. python -m bench.gpu_check --out DIR``.
"""

from __future__ import annotations

__all__: list[str] = []
