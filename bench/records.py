"""The typed shape of every JSON record the harness writes: a suite's ``run.json``, ``predict.json``, eval's
``summary.json`` and the ablation's ``ablation.json`` (``results.csv``'s columns are
:data:`bench.results.RESULT_COLUMNS`).

Each record states its ``kind`` and ``schema_version`` at the top level, so a reader can tell what it holds and
whether it understands it; :func:`read_record` checks both when a record is read back. A record written before
these two keys existed reads as version 0 of the kind asked for. Any change to a record's keys bumps
:data:`SCHEMA_VERSION`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from bench.errors import InputError

__all__ = [
    "SCHEMA_VERSION",
    "AblationRecord",
    "EvalSummary",
    "PredictIdentity",
    "PredictRecord",
    "RecordKind",
    "RunCells",
    "RunRecord",
    "TryonRecord",
    "check_record",
    "read_record",
]

SCHEMA_VERSION = 1
"""The version every record is written at; readers accept it and anything older (a record without one is 0)."""

RecordKind = Literal["suite-run", "predict", "eval-summary", "tryon", "ablation"]


class RunCells(TypedDict):
    """How many (method, dataset, protocol) cells a suite run reused from its cache and computed."""

    reused: int
    computed: int


class RunRecord(TypedDict):
    """A suite's ``run.json`` (:func:`bench.suite.runner.run_suite`): what ran, on what, with which code."""

    schema_version: int
    kind: Literal["suite-run"]
    suite: dict[str, Any]
    protocols: dict[str, dict[str, Any]]
    methods: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]]
    skipped: list[str]
    warnings: list[str]
    evaluations: list[dict[str, Any]]
    cells: RunCells
    metadata: dict[str, Any]
    timings: dict[str, float]


class PredictIdentity(TypedDict):
    """What must match for a folder's predictions to be reused (``predict.json``'s ``identity``)."""

    method: str
    config: dict[str, Any]
    checkpoint_sha256: list[str]
    dataset_sha256: str
    size: list[int] | None
    pairs_sha256: str
    dtype: str


class PredictRecord(TypedDict):
    """``predict.json`` (:func:`bench.predict.predict`): the outputs' identity and provenance, plus
    :func:`bench.results.run_metadata`'s ``date``, ``git_commit`` and ``versions``."""

    schema_version: int
    kind: Literal["predict"]
    identity: PredictIdentity
    method: dict[str, Any]
    dataset: dict[str, Any]
    pairs: list[str]
    duplicates_in_list: int
    limit: int | None
    notes: list[str]
    precision: dict[str, Any]
    resize: str
    output: str
    date: str
    git_commit: str
    versions: dict[str, str | None]


class EvalSummary(TypedDict):
    """Eval's ``summary.json`` (:func:`bench.eval.evaluate`): per-metric values and CIs, inputs and provenance."""

    schema_version: int
    kind: Literal["eval-summary"]
    protocol: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    inputs: dict[str, Any]
    warnings: list[str]
    run: dict[str, Any]


class TryonRecord(TypedDict):
    """``tryon.json`` (:func:`bench.tryon.run_tryon`): the checkpoint files (name -> sha256) and output kind that a
    folder's try-ons were made with, and the reading notes (:func:`bench.images.note_lines`) of the inputs of the pair
    list last run into it."""

    schema_version: int
    kind: Literal["tryon"]
    checkpoint_sha256: dict[str, str]
    triptych: bool
    image_notes: list[str]


class AblationRecord(TypedDict):
    """``ablation.json`` (:func:`bench.ablate.run_ablation`): one ``table`` entry per model (means with CIs, FID, its
    runs and their training time), the SSIM ``orderings``, ``metric_notes`` (metrics left out and why), ``scoring``
    (the protocol and how each metric was computed), each training run's convergence (``runs``), the recipe, the
    data, and provenance. A version-0 record (written before records had a version) has no ``scoring``."""

    schema_version: int
    kind: Literal["ablation"]
    recipe: dict[str, Any]
    data: dict[str, Any]
    train_pairs: int
    test_pairs: int
    table: list[dict[str, Any]]
    orderings: list[dict[str, Any]]
    metric_notes: dict[str, str]
    scoring: dict[str, Any]
    runs: list[dict[str, Any]]
    timing: dict[str, float]
    machine: dict[str, Any]
    device: str
    metadata: dict[str, Any]


def read_record(path: str | os.PathLike[str], kind: RecordKind) -> dict[str, Any]:
    """The JSON record at ``path``, checked by :func:`check_record` to be a ``kind`` record this code reads.

    Raises:
        InputError: the file is unreadable or not JSON, or :func:`check_record` refuses it (one line naming the file).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: unreadable record ({err})") from None
    return check_record(data, kind, path)


def check_record(data: Any, kind: RecordKind, path: str | os.PathLike[str]) -> dict[str, Any]:
    """``data`` (the parsed JSON of ``path``) if it is a ``kind`` record of a version this code reads.

    A record without ``schema_version`` (written before records had one) is accepted as version 0 of ``kind`` and
    returned unchanged.

    Raises:
        InputError: ``data`` is not a JSON object, or is another kind or a newer version (one line naming ``path``).
    """
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a {kind} record (a JSON {type(data).__name__}, not an object)")
    version = data.get("schema_version", 0)
    found = data.get("kind", kind if "schema_version" not in data else None)
    if found != kind:
        raise InputError(f"{path}: a {found!r} record, not a {kind!r} one")
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= SCHEMA_VERSION:
        raise InputError(
            f"{path}: {kind} record of schema_version {version!r}; this pftryon reads versions up to "
            f"{SCHEMA_VERSION} (upgrade pftryon)"
        )
    return cast(dict[str, Any], data)
