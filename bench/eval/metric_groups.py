"""The metrics ``pftryon eval`` computes, grouped by what feeds them: which images a run reads, which pass scores
them."""

from __future__ import annotations

from bench.metrics.region import REGION_METRICS
from bench.metrics.specs import list_metrics, metric_spec

__all__: list[str] = []

# Metrics by what feeds them (MetricSpec.fed_by): one value per pair, per video transition, or from two feature sets.
_PAIRED = tuple(list_metrics(fed_by="pairs"))
_TEMPORAL = tuple(list_metrics(fed_by="videos"))
_INCEPTION_SET = tuple(list_metrics(fed_by="fid_features"))  # the protocol's FID features
_DINO_SET = tuple(list_metrics(fed_by="dino_features"))
_VIDEO_SETS = tuple(list_metrics(fed_by="video_features"))  # clip features of whole videos
# Per-pair metrics fed by the two images alone (no parse, no embedder, one value per pair): with the FID feature
# set's, what bench.eval.TensorScorer computes from images held in memory.
_IMAGES_ONLY = tuple(m for m in _PAIRED if m not in REGION_METRICS and metric_spec(m).summary == "per_sample"
                     and metric_spec(m).embedder is None)  # fmt: skip
