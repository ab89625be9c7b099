"""A disk cache of benchmark cells: each finished piece of work as a JSON file named by the sha256 of its inputs.

A cell's key spells out everything its numbers depend on (checkpoint sha256s, the data's content fingerprint, the
method and protocol configurations and versions, the code's cell format), so a rerun recomputes nothing, a changed
checkpoint recomputes only its cells, and a cell is written atomically, so a killed run leaves whole cells only.

An evaluation cell also keeps what paired comparisons between rows need (:mod:`bench.stats`): its per-sample values
by sample key in the JSON (:func:`per_sample_values`), and its feature sets (FID, KID, FD-DINOv2) with their sample
keys in ``<key>.npz`` beside it (:meth:`CellCache.save_arrays`, :func:`feature_arrays`, :func:`cell_feature_sets`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pftryon.models import atomic_write

__all__ = [
    "CELL_FORMAT", "EXTRACTORS", "CellCache", "cell_feature_sets", "cell_key", "feature_arrays", "per_sample_values",
]  # fmt: skip

CELL_FORMAT = 3  # 2: evaluation cells keep the matching and resize records; 3: a TPS warp's grid saved as its flow
"""The cells' (and the suite's prediction folders') format: part of every key, so a bump recomputes them."""
EXTRACTORS = {"fid_features": "inception", "dino_features": "dinov2"}
"""The feature sets of a cell by what feeds a metric (:attr:`MetricSpec.fed_by`): their names in ``<key>.npz``."""


def cell_key(kind: str, **inputs: Any) -> str:
    """``<kind>-<sha256 of the JSON of inputs>`` (keys sorted; the cell format version included)."""
    text = json.dumps({"kind": kind, "format": CELL_FORMAT, **inputs}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()}"


class CellCache:
    """Cells under ``root`` (``<key>.json``, and ``<key>.npz`` for a cell's arrays); :meth:`get_or_compute` is the
    one way in.

    Attributes:
        hits, misses: counts of this run (the report says how much was reused).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], Any], *, require: Collection[str] = ()) -> Any:
        """The cell ``key``: read back when present, else ``compute()`` (JSON-ready) written atomically first.

        Args:
            key: the cell's key (:func:`cell_key`).
            compute: makes the cell's value.
            require: fields a cached value (a mapping) must hold; a cell written before they were kept (e.g. without
                ``per_sample``) is computed again and replaced.
        """
        path = self.root / f"{key}.json"
        if path.is_file():
            value = json.loads(path.read_text())["value"]
            if not require or (isinstance(value, dict) and all(field in value for field in require)):
                self.hits += 1
                return value
        value = compute()
        atomic_write(path, json.dumps({"key": key, "value": value}, indent=1, default=str) + "\n")
        self.misses += 1
        return json.loads(json.dumps(value, default=str))

    def save_arrays(self, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Write ``arrays`` as ``<key>.npz`` atomically (call it inside the cell's ``compute``, before the JSON is
        written, so that a cell on disk has its arrays)."""
        buffer = io.BytesIO()
        np.savez(buffer, **{name: np.asarray(a) for name, a in arrays.items()})
        path = self.root / f"{key}.npz"
        atomic_write(path, buffer.getvalue())
        return path

    def load_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays of cell ``key``, or ``None`` when it has none."""
        path = self.root / f"{key}.npz"
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}


def per_sample_values(rows: Iterable[Mapping[str, Any]], metrics: Iterable[str]) -> dict[str, dict[str, float]]:
    """``{metric: {sample key: value}}`` from evaluation rows (``bench.eval.evaluate``'s ``rows``: a ``key`` and one
    column per per-sample metric); a sample without a finite value for a metric is left out of that metric."""
    rows = list(rows)
    out: dict[str, dict[str, float]] = {}
    for metric in metrics:
        values = {str(r["key"]): float(r[metric]) for r in rows if r.get(metric) is not None}
        out[metric] = {k: v for k, v in values.items() if math.isfinite(v)}
    return {m: v for m, v in out.items() if v}


def _compact(features: Any) -> np.ndarray:
    """Features as numpy, in float32 when that loses nothing (network outputs are float32)."""
    x = np.asarray(features.detach().cpu().numpy() if hasattr(features, "detach") else features)
    low = x.astype(np.float32)
    return low if np.array_equal(low, x) else x


def feature_arrays(features: Mapping[str, Mapping[str, Any]], *, real_keys: Sequence[str],
                   fake_keys: Sequence[str]) -> dict[str, np.ndarray]:  # fmt: skip
    """The arrays :meth:`CellCache.save_arrays` keeps of a cell's feature sets.

    Args:
        features: ``{extractor: {"real": [N, D], "fake": [M, D]}}`` (extractors as :data:`EXTRACTORS` names them),
            rows in the order of ``real_keys`` and ``fake_keys``.
        real_keys: one key per reference image (e.g. its file name).
        fake_keys: one sample key per prediction (the ``<person>__<cloth>`` of its pair).
    """
    out = {"real_keys": np.asarray(list(real_keys), dtype=str), "fake_keys": np.asarray(list(fake_keys), dtype=str)}
    for name, sets in features.items():
        for role, keys in (("real", real_keys), ("fake", fake_keys)):
            array = _compact(sets[role])
            if len(array) != len(keys):
                raise ValueError(f"{name} {role} features: {len(array)} rows for {len(keys)} keys")
            out[f"{name}.{role}"] = array
    return out


def cell_feature_sets(arrays: Mapping[str, np.ndarray] | None, metrics: Iterable[str], *,
                      kid_scale: float = 1.0) -> dict[str, Any]:  # fmt: skip
    """``{metric: FeatureSet}`` for the set-level ``metrics`` whose features ``arrays`` (:func:`feature_arrays`)
    hold, the input :func:`bench.stats.compare` takes; KID carries ``kid_scale`` (the protocol's ``kid.scale``)."""
    from bench.metrics.specs import metric_spec
    from bench.stats import FeatureSet

    if not arrays:
        return {}
    real_keys, fake_keys = arrays["real_keys"].tolist(), arrays["fake_keys"].tolist()
    out = {}
    for metric in metrics:
        name = EXTRACTORS.get(metric_spec(metric).fed_by)
        if name is not None and f"{name}.fake" in arrays:
            out[metric] = FeatureSet(arrays[f"{name}.real"], arrays[f"{name}.fake"], real_keys, fake_keys,
                                     kid_scale if metric == "kid" else 1.0)  # fmt: skip
    return out
