"""Benchmark suites as declarative YAML: which methods, on which datasets, under which protocols, timed how.

A suite (``bench/suites/<name>.yaml`` or any YAML path) loads into a frozen :class:`Suite`; unknown keys anywhere are
errors, and ``include: <suite>`` merges another suite under this one's keys (lists are replaced, mappings merged).
Command-line overrides (``--root-for``, ``--checkpoints-for``, ``--only``, ``--limit``, ``--set``) give a new
:class:`Suite`; the resolved suite is written beside every result.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from bench.config_files import ConfigFolder, require
from bench.data import DATASETS
from bench.methods import list_methods, register_method
from bench.metrics.specs import list_metrics, metric_spec
from bench.precision import INFERENCE_DTYPES
from bench.protocols import EXTRA_METRICS, METRIC_NAMES, load_protocol
from pftryon.config_mapping import from_mapping
from pftryon.config_types import check_value

__all__ = [
    "DatasetSpec", "LatencySpec", "MethodSpec", "QualitativeSpec", "ReportSpec", "SUITE_DIR", "Suite", "TrainSpec",
    "TrainingSpec",
    "list_suites", "load_suite", "method_key",
]  # fmt: skip

SUITE_DIR = Path(__file__).parents[1] / "suites"
_FILES = ConfigFolder(SUITE_DIR, "suite")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_YAML_KEYS = {"class": "class_"}  # YAML keys that are not Python names -> MethodSpec fields
_ROW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PREDICTION_MODES = ("paired", "unpaired")  # MethodSpec.predictions keys
_QUALITY_METRICS = tuple(m for m in METRIC_NAMES if m not in EXTRA_METRICS)  # what protocols' sources compute


@dataclass(frozen=True)
class TrainSpec:
    """A method trained by the suite: ``recipe`` (a training recipe, :mod:`bench.train.recipe`, whose data is the
    suite's synthetic dataset) and ``run`` (its run whose final model is the method: ``tutor`` for PB-AFN,
    ``noise-<p>/<variant>`` for a PF-AFN student)."""

    recipe: str
    run: str


def method_key(name: str, dtype: str) -> str:
    """A method row's key: ``name`` in fp32, ``<name>-<dtype>`` below."""
    return name if dtype == "fp32" else f"{name}-{dtype}"


@dataclass(frozen=True)
class MethodSpec:
    """One method row: a registered name, its checkpoints folder (official files or a pftryon checkpoint) or how the
    suite trains it, an optional display ``label`` (default: the method's title), and the inference ``dtype``
    (``fp32``; opt-in ``bf16`` / ``int8``, :mod:`bench.precision`): a low-precision row is its own row, keyed
    ``<name>-<dtype>``, timed at its dtype and compared with the same method's fp32 row in the report.

    ``class_`` (YAML key ``class``): the ``module:Class`` of an adapter of your own, registered as ``name`` when the
    suite is loaded (:func:`bench.methods.register_method`; docs/adding-a-method.md).

    ``predictions``: ``{paired: DIR, unpaired: DIR}`` (either key may be left out): outputs made elsewhere (a
    paper's released images, a model run on another machine), scored from the files as a method's outputs are. Such
    a row runs nothing: its ``name`` is free (any registered method or none), it takes no checkpoints, train, class
    or dtype but fp32, and its latency cells say it was not run here."""

    name: str
    checkpoints: str | None = None
    train: TrainSpec | None = None
    label: str | None = None
    dtype: str = "fp32"
    class_: str | None = None
    predictions: dict[str, str] | None = None
    config_hints: ClassVar[dict[str, Any]] = {"class": str | None}

    def __post_init__(self) -> None:
        if self.predictions is not None:
            self._check_predictions()
            return
        names = list_methods()
        unknown = f"unknown method {self.name!r}; registered: {', '.join(names)}; or add class: module:Class"
        require(
            [
                (self.class_ is not None or self.name in names, unknown),
                (not (self.checkpoints and self.train), "give checkpoints or train, not both"),
                (self.dtype in INFERENCE_DTYPES, f"dtype must be one of {', '.join(INFERENCE_DTYPES)}"),
            ],
            f"method {self.name!r}",
        )

    def _check_predictions(self) -> None:
        modes = set(self.predictions or ())
        require(
            [
                (bool(_ROW_NAME.fullmatch(self.name)), "name: letters, digits, '.', '_' and '-'"),
                (bool(modes) and modes <= set(_PREDICTION_MODES),
                 f"predictions: give paired: DIR and/or unpaired: DIR (got {', '.join(sorted(modes)) or 'none'})"),
                (self.checkpoints is None and self.train is None and self.class_ is None,
                 "a predictions row is scored from files: give no checkpoints, train or class"),
                (self.dtype == "fp32", "a predictions row is scored from files: no dtype but fp32"),
            ],
            f"method {self.name!r}",
        )  # fmt: skip

    @property
    def key(self) -> str:
        """The row's name in tables and folders: the method's name, with ``-<dtype>`` below fp32."""
        return method_key(self.name, self.dtype)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset column: a registered loader on ``root`` (overridable with ``--root-for NAME=DIR``).

    Attributes:
        name: loader name (:data:`bench.data.DATASETS`).
        root: its folder; ``None`` for the synthetic data of ``synth``.
        synth: an ablation recipe name: the data are that recipe's synthetic data (generated, with exact ground
            truth: the suite then also scores against it), restricted to the recipe's garment categories.
        split: the split scored (``test``).
        size: ``(H, W)`` the loader resizes to; ``None``: the files' size.
        options: loader keyword arguments (e.g. ``{parse: image-parse-new}``, ``{category: dresses}``).
        label: display name (default ``name``, or ``name`` + options).
        limit: only the first ``limit`` pairs of each list.
    """

    name: str
    root: str | None = None
    synth: str | None = None
    split: str = "test"
    size: tuple[int, int] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    limit: int | None = None
    config_hints: ClassVar[dict[str, Any]] = {"options": dict[str, Any] | None}  # null: none

    def __post_init__(self) -> None:
        require(
            [
                (self.name in DATASETS, f"unknown dataset; registered: {', '.join(sorted(DATASETS))}"),
                (not (self.root and self.synth), "give root or synth, not both"),
                (self.limit is None or self.limit > 0, "limit must be positive"),
                (self.size is None or len(self.size) == 2, "size must be [H, W]"),
            ],
            f"dataset {self.name!r}",
        )

    @property
    def key(self) -> str:
        """The column's name in tables and folders."""
        return self.label or self.name


@dataclass(frozen=True)
class LatencySpec:
    """How every method is timed (:mod:`bench.latency`); ``sizes`` ``None`` = each dataset's evaluation size."""

    devices: tuple[Literal["cpu", "cuda"], ...] = ("cpu",)
    sizes: tuple[tuple[int, int], ...] | None = None
    batches: tuple[int, ...] = (1,)
    dtypes: tuple[str, ...] = ("fp32",)
    warmup: int = 3
    iters: int = 10
    compile: bool = False

    def __post_init__(self) -> None:
        require(
            [
                (set(self.devices) <= {"cpu", "cuda"}, "devices: cpu and/or cuda"),
                (all(b > 0 for b in self.batches) and self.iters > 0 and self.warmup >= 0, "bad counts"),
            ],
            "latency",
        )


@dataclass(frozen=True)
class QualitativeSpec:
    """The qualitative grid: ``pairs`` unpaired pairs drawn with ``seed`` from the first dataset."""

    pairs: int = 4
    seed: int = 0


@dataclass(frozen=True)
class TrainingSpec:
    """How the suite trains its trained rows.

    Attributes:
        seeds: training seeds; every trained row is trained once per seed (same data) and reported as the mean over
            the seeds, its interval widened by their spread. Empty: the recipe's own seed, once.
        workers: seeds trained side by side in that many processes (the machine's threads shared between them);
            1 trains them one after another in this process.
    """

    seeds: tuple[int, ...] = ()
    workers: int = 1

    def __post_init__(self) -> None:
        require(
            [
                (len(set(self.seeds)) == len(self.seeds), "seeds: each once"),
                (all(s >= 0 for s in self.seeds), "seeds: non-negative integers"),
                (self.workers >= 1, "workers: at least 1"),
            ],
            "training",
        )


@dataclass(frozen=True)
class ReportSpec:
    """What the suite's report leads with and explains (:mod:`bench.report`).

    Attributes:
        lead: the metrics that separate the methods: their columns come first in the quality table (in this order,
            under each protocol that has them) and their bar charts are shown first.
        quality_speed: the quality metric(s) of the quality-speed plot, one panel each; empty: ``lead``, else SSIM.
        caveats: sentences for the report's "How to read it" (what the numbers do not say).
    """

    lead: tuple[str, ...] = ()
    quality_speed: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        quality = [name for name in list_metrics() if not metric_spec(name).speed]
        require(
            [
                (set(self.lead) <= set(quality), f"lead: quality metrics among {', '.join(quality)}"),
                (set(self.quality_speed) <= set(quality), f"quality_speed: quality metrics among {', '.join(quality)}"),
            ],
            "report",
        )


@dataclass(frozen=True)
class Suite:
    """A benchmark table: methods x datasets x protocols (+ latency), and the published rows shown beside it.

    Attributes:
        name: the suite's name; names the default report folder ``reports/<name>``.
        description: one paragraph for the report.
        methods: the rows.
        datasets: the columns.
        protocols: evaluation protocols (:mod:`bench.protocols`: shipped names or YAML paths).
        metrics: quality metrics computed where the protocol defines them; a metric whose weights are absent becomes
            a cell saying which file is missing.
        latency: timing sweeps (each a :class:`LatencySpec`; a single mapping in YAML is one sweep); empty: none.
        literature: published-results files (``bench/literature/<name>.yaml``) whose rows are shown.
        qualitative: the qualitative grid, or ``None``.
        report: what the report leads with and explains (:class:`ReportSpec`).
        training: seeds and parallel workers of the trained rows (:class:`TrainingSpec`).
        batch_size: prediction and evaluation batch size.
        version: bump when a change can move a number.
    """

    name: str
    description: str
    methods: tuple[MethodSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    protocols: tuple[str, ...]
    metrics: tuple[str, ...] = _QUALITY_METRICS
    latency: tuple[LatencySpec, ...] = (LatencySpec(),)
    literature: tuple[str, ...] = ()
    qualitative: QualitativeSpec | None = field(default_factory=QualitativeSpec)
    report: ReportSpec = field(default_factory=ReportSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    batch_size: int = 8
    version: int = 1
    # One sweep may be written as a single mapping; null: no timing.
    config_hints: ClassVar[dict[str, Any]] = {"latency": LatencySpec | tuple[LatencySpec, ...] | None}

    def __post_init__(self) -> None:
        names = [m.key for m in self.methods]
        for protocol in self.protocols:
            try:
                load_protocol(protocol)
            except ValueError as err:
                raise ValueError(f"suite {self.name!r}: protocols: {err}") from None
        require(
            [
                (bool(_NAME.fullmatch(self.name)), "name: lower-case letters, digits, '-' and '_'"),
                (bool(names) and len(set(names)) == len(names), "methods: at least one, each once"),
                (bool(self.datasets), "datasets: at least one"),
                (len({d.key for d in self.datasets}) == len(self.datasets), "datasets: labels must be unique"),
                (bool(self.protocols), "protocols: at least one (a shipped name or a protocol YAML path)"),
                (set(self.metrics) <= set(_QUALITY_METRICS), f"metrics must be among {_QUALITY_METRICS}"),
                (self.batch_size > 0, "batch_size must be positive"),
            ],
            f"suite {self.name!r}",
        )

    @classmethod
    def from_dict(cls, data: Any, where: str = "suite") -> Suite:
        """Build from plain data (a parsed YAML mapping); unknown keys and wrongly typed values anywhere are errors."""
        check_value(data, cls, where)

        def methods(value: Any) -> tuple[MethodSpec, ...]:
            def one(i: int, v: Any) -> MethodSpec:
                row = f"{where}: methods[{i}]"
                train = lambda t: t and from_mapping(TrainSpec, t, f"{row}.train")  # noqa: E731
                v = {_YAML_KEYS.get(k, k): x for k, x in v.items()} if isinstance(v, dict) else v
                spec = from_mapping(MethodSpec, v, row, train=train)
                if spec.class_ is not None:
                    try:
                        register_method(spec.name, spec.class_, source=f"suite {where}")
                    except ValueError as err:
                        raise ValueError(f"{row}: {err}") from None
                return spec

            return tuple(one(i, v) for i, v in enumerate(value or ()))

        def datasets(value: Any) -> tuple[DatasetSpec, ...]:
            def one(i: int, v: Any) -> DatasetSpec:
                return from_mapping(DatasetSpec, v, f"{where}: datasets[{i}]", options=lambda o: dict(o or {}),
                                    size=lambda s: None if s is None else tuple(s))  # fmt: skip

            return tuple(one(i, v) for i, v in enumerate(value or ()))

        def latency(value: Any) -> tuple[LatencySpec, ...]:
            sweeps = [] if value is None else [value] if isinstance(value, dict) else value
            sizes = lambda s: None if s is None else tuple(tuple(x) for x in s)  # noqa: E731
            return tuple(
                from_mapping(LatencySpec, v, f"{where}: latency[{i}]", sizes=sizes) for i, v in enumerate(sweeps)
            )

        def qualitative(value: Any) -> QualitativeSpec | None:
            return None if value is None else from_mapping(QualitativeSpec, value, f"{where}: qualitative")

        def report(value: Any) -> ReportSpec:
            return from_mapping(ReportSpec, value or {}, f"{where}: report")

        def training(value: Any) -> TrainingSpec:
            return from_mapping(TrainingSpec, value or {}, f"{where}: training", seeds=lambda v: tuple(v or ()))

        return from_mapping(cls, data, where, methods=methods, datasets=datasets, latency=latency,
                            qualitative=qualitative, report=report, training=training)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) for results files, with the YAML's keys (``from_dict`` reads it back)."""
        data = json.loads(json.dumps(dataclasses.asdict(self)))
        for row in data["methods"]:
            if (target := row.pop("class_")) is not None:
                row["class"] = target
            if row["predictions"] is None:  # only rows scored from files have the key
                del row["predictions"]
        return data

    def override(
        self,
        *,
        roots: dict[str, str] | None = None,
        checkpoints: dict[str, str] | None = None,
        only: dict[str, list[str]] | None = None,
        limit: int | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Suite:
        """A copy with command-line overrides applied (see ``pftryon bench --help``).

        Raises:
            ValueError: an override names a dataset or method that is not in the suite, or an unknown setting.
        """
        data = self.to_dict()
        for key, path in (roots or {}).items():
            hits = [d for d in data["datasets"] if key in (d["name"], d["label"])]
            if not hits:
                raise ValueError(f"--root-for {key}: no such dataset in suite {self.name} ({self._dataset_keys()})")
            for d in hits:
                d.update(root=path, synth=None)
        for name, path in (checkpoints or {}).items():
            hits = [m for m in data["methods"] if m["name"] == name and not m.get("predictions")]  # not from files
            if not hits:
                raise ValueError(f"--checkpoints-for {name}: no such method in suite {self.name}")
            for hit in hits:  # every precision of the method
                hit.update(checkpoints=path, train=None)
        for kind, names in (only or {}).items():
            if kind not in ("method", "dataset", "protocol"):
                raise ValueError(f"--only {kind}=...: expected method=, dataset= or protocol=")
            keys = [method_key(m["name"], m["dtype"]) for m in data["methods"]]
            present = {"method": keys, "protocol": data["protocols"],
                       "dataset": [d["label"] or d["name"] for d in data["datasets"]]}[kind]  # fmt: skip
            unknown = sorted(set(names) - set(present) - {d["name"] for d in data["datasets"]} -
                             {m["name"] for m in data["methods"]})  # fmt: skip
            if unknown:
                raise ValueError(f"--only {kind}={','.join(names)}: {', '.join(unknown)} not in suite {self.name} "
                                 f"({', '.join(present)})")  # fmt: skip
            if kind == "method":  # a name keeps all its precisions; a key (pf_afn-int8) that row alone
                data["methods"] = [m for m, key in zip(data["methods"], keys, strict=True)
                                   if m["name"] in names or key in names]  # fmt: skip
            elif kind == "dataset":
                data["datasets"] = [d for d in data["datasets"] if d["name"] in names or d["label"] in names]
            else:
                data["protocols"] = [p for p in data["protocols"] if p in names]
        if limit is not None:
            for d in data["datasets"]:
                d["limit"] = limit
        for dotted, value in (settings or {}).items():
            _set(data, dotted, value)
        return Suite.from_dict(data, where=f"suite {self.name} (with overrides)")

    def _dataset_keys(self) -> str:
        return ", ".join(d.key for d in self.datasets)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``--set latency.iters=5``: set a key of the suite's plain data (the key must exist); a key under a list of
    mappings is set in each (``latency``: every sweep)."""
    *path, last = dotted.split(".")
    nodes: list[Any] = [data]
    for part in path:
        nodes = [n[part] for n in nodes if isinstance(n, dict) and n.get(part) is not None]
        nodes = [item for n in nodes for item in (n if isinstance(n, list) else [n])]
    if not nodes or not all(isinstance(n, dict) and last in n for n in nodes):
        raise ValueError(f"--set {dotted}: no such setting")
    for node in nodes:
        node[last] = value


def load_suite(name: str) -> Suite:
    """A shipped suite by name (``synthetic``) or any suite YAML by path, with its ``include`` chain."""
    return Suite.from_dict(_FILES.load(name, schema=Suite), where=str(_FILES.path(name)))


def list_suites() -> list[str]:
    """Names of the shipped suites."""
    return _FILES.names()
