"""Score a folder of try-on images under a named protocol: per-sample values, summaries with CIs, provenance.

The runner behind ``pftryon eval``. It matches predictions to references (a dataset's protocol lists, or a folder of
references by file stem), decodes every file once (bytes hashed for the image-set fingerprints on the way), derives
the views a protocol needs (evaluation resolution with the protocol's resize filter; LPIPS' own resize), feeds every
metric from them in batches, and returns per-sample rows plus a summary that carries the resolved protocol, how each
metric was computed, the image-set fingerprints and the run metadata.

Under ``torchrun`` every process takes a contiguous block of each list (no padding), the metric states are
gathered in rank order, which is the input order, and feature sets are reordered by their global index before KID
draws its subsets: the summary equals the single-process one.

One job per module, in the order a run uses them:

- :mod:`~bench.eval.matching`: which prediction is scored against which reference, and the counts.
- :mod:`~bench.eval.metric_groups`: the metrics by what feeds them.
- :mod:`~bench.eval.resolution`: the protocols' size and resize rules, decided from the file headers.
- :mod:`~bench.eval.decoding`: every file decoded once into the views the metrics see.
- :mod:`~bench.eval.passes`: the weights check and the metric pass (per-pair metrics, feature sets, digests).
- :mod:`~bench.eval.journal`: the per-sample rows on disk, so a stopped run resumes (``--resume``).
- :mod:`~bench.eval.summary`: per-metric summaries with CIs, FID / KID, per-video rows, warnings.
- :mod:`~bench.eval.runner`: :func:`evaluate` and :func:`run_eval` (``pftryon eval``).
- :mod:`~bench.eval.sensitivity`: the ``--protocol all`` table of how much each protocol choice moves the numbers.

The Markdown pages (``summary.md``, ``protocols.md``, ``sensitivity.md``) are written by
:mod:`bench.report.eval_markdown`; the distributed helpers live in :mod:`bench.runtime`.
"""

from __future__ import annotations

from bench.eval.journal import RESUMABLE, Journal
from bench.eval.matching import IMAGE_SUFFIXES, EvalSet, match_dataset, match_folders, matching_record
from bench.eval.runner import evaluate, run_eval, write_results
from bench.eval.sensitivity import SENSITIVITY_COLUMNS, sensitivity
from bench.eval.summary import EvalResult

__all__ = [
    "IMAGE_SUFFIXES", "RESUMABLE", "SENSITIVITY_COLUMNS", "EvalResult", "EvalSet", "Journal", "evaluate",
    "match_dataset", "match_folders", "matching_record", "run_eval", "sensitivity", "write_results",
]  # fmt: skip
