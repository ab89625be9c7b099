"""``pftryon bench``: run a suite's methods over its datasets, score them under its protocols, time them, report.

For each dataset (generated when synthetic) and each method (loaded, or trained by the suite), :func:`run_suite`
predicts the paired and the unpaired list (:func:`bench.predict.predict`), scores each protocol with
:func:`bench.eval.evaluate` (and, on synthetic data, against the exact ground truth), times the method with
:mod:`bench.latency`, and assembles one tidy table with the published rows beside it. Every piece is a cell cached on
disk under ``work`` by the sha256 of its inputs (:mod:`bench.suite.cells`): a rerun recomputes nothing, a changed
checkpoint recomputes its own cells, and a killed run resumes where it stopped and ends with the same table.

A row ``{name, predictions: {paired: DIR, unpaired: DIR}}`` runs nothing: its folders (a paper's released outputs, a
model run elsewhere) are matched to each list under any name ``pftryon eval --dataset`` accepts
(:func:`bench.eval.matching.match_list`) and scored as a method's outputs are, its cells keyed by the sha256 of the
folders' files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.data.readers import InputError, file_sha256
from bench.eval import IMAGE_SUFFIXES, evaluate
from bench.eval.matching import match_list
from bench.eval.metric_groups import _DINO_SET, _INCEPTION_SET
from bench.latency.device import measured_peak
from bench.methods import MissingFieldError, TryOnMethod, create_method, method_class
from bench.metrics import resolve_weights
from bench.metrics.needs import Selection, metric_weights, missing_message, missing_weights
from bench.metrics.specs import metric_spec
from bench.metrics.weights import WEIGHTS, check_official, search_dirs
from bench.predict import predict
from bench.protocols import Protocol, load_protocol
from bench.records import SCHEMA_VERSION, RunCells, RunRecord
from bench.results import BOOTSTRAP, WEIGHTS_ABSENT, code_fingerprint, git_state, machine, run_metadata
from bench.runtime import _world, barrier, is_main_process, main_process_first
from bench.stats import Comparisons, compare
from bench.suite.cells import CELL_FORMAT, CellCache, cell_feature_sets, cell_key, feature_arrays, per_sample_values
from bench.suite.config import MethodSpec, Suite
from bench.suite.data import PreparedDataset, prepare_dataset
from bench.suite.literature import load_literature
from bench.suite.outputs import (
    TRUTH_PROTOCOL,
    TRUTH_PROTOCOL_RECORD,
    Outputs,
    eval_set,
    fake_keys,
    truth_cell,
)  # fmt: skip
from bench.suite.rows import RESULT_COLUMNS, pair_list
from bench.suite.rows import row as _row
from bench.suite.seeds import SEED_KEY, mean_per_sample, merge_seed_rows
from bench.suite.timing import Timed, device_label, latency_cells, not_timed
from bench.suite.training import TrainingJob, method_training, recipe_work, train_jobs, train_method
from bench.train.recipe import Recipe, load_recipe
from pftryon.models import CHECKPOINT_CONFIG

__all__ = ["RESULT_COLUMNS", "SuiteResult", "run_suite"]

_FID_RESAMPLES = 10  # bootstrap resamples of FID's std (bench.eval.evaluate's fid_resamples)
FROM_FILES = "predictions scored from files"  # the family of a predictions row in run.json
Progress = Callable[[str], None]


@dataclass
class SuiteResult:
    """The tidy results table, the run's provenance (``run.json``), the qualitative grid's rows and the paired
    comparisons between rows (:func:`bench.stats.compare`)."""

    results: pd.DataFrame
    run: RunRecord
    qualitative: list[dict[str, Any]] = field(default_factory=list)
    comparisons: Comparisons = field(default_factory=Comparisons)
    seeds: pd.DataFrame = field(default_factory=pd.DataFrame)  # a trained row's cells at each seed (seeds.csv)


@dataclass
class _Method:
    spec: MethodSpec
    method: TryOnMethod | None  # None: a predictions row, scored from files
    seed: int | None = None  # a trained row: the training seed of this instance (one instance per seed)
    primary: bool = True  # the instance that is timed and drawn (a trained row's first seed)
    precision: dict[str, Any] = field(default_factory=dict)  # below fp32: predict's record (error against fp32)
    given: dict[str, Outputs] = field(default_factory=dict)  # a predictions row: its matched files per dataset
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)  # a predictions row: per mode, for run.json

    @property
    def name(self) -> str:
        """The row's key (:attr:`MethodSpec.key`)."""
        return self.spec.key

    def identity(self) -> dict[str, Any]:
        if self.method is None:  # the folders' contents: a changed file recomputes
            return {"predictions": {mode: folder["fingerprint"] for mode, folder in self.folders.items()}}
        low = {} if self.spec.dtype == "fp32" else {"dtype": self.spec.dtype}  # fp32 cells keep their keys
        return {"method": self.spec.name, "config": self.method.config,
                "checkpoints": sorted(self.method.checkpoints.values()), **low}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Before any work: every dataset root and checkpoint named, every metric's weights looked up.


def _missing_inputs(suite: Suite) -> list[str]:
    problems = []
    for spec in suite.datasets:
        if spec.synth is None and (spec.root is None or not Path(spec.root).is_dir()):
            where = spec.root or "no root given"
            problems.append(f"dataset {spec.key}: folder not found ({where}); give it with --root-for {spec.name}=DIR")
    for spec in suite.methods:
        if spec.predictions is not None:
            problems += [f"method {spec.name}: {mode} predictions folder not found ({folder})"
                         for mode, folder in spec.predictions.items() if not Path(folder).is_dir()]  # fmt: skip
            continue
        card = method_class(spec.name).card
        if spec.train is not None or not card.official_files:
            continue
        folder = Path(spec.checkpoints) if spec.checkpoints else None
        if folder is None:
            problems.append(f"method {spec.name}: no checkpoints; give --checkpoints-for {spec.name}=DIR holding "
                            f"{', '.join(card.official_files)} ({card.weights_source})")  # fmt: skip
            continue
        absent = [f for f in card.official_files if not (folder / f).is_file()]
        if absent and not (folder / CHECKPOINT_CONFIG).is_file():
            problems.append(f"method {spec.name}: {folder / absent[0]} not found (expected {', '.join(absent)} or a "
                            f"pftryon checkpoint; {card.weights_source})")  # fmt: skip
    return list(dict.fromkeys(problems))  # a method at two precisions is named once


def _without_missing(suite: Suite, problems: list[str]) -> Suite:
    bad = {p.split(":")[0] for p in problems}
    data = suite.to_dict()
    data["methods"] = [m for m in data["methods"] if f"method {m['name']}" not in bad]
    data["datasets"] = [d for d in data["datasets"] if f"dataset {d['label'] or d['name']}" not in bad]
    if not data["methods"] or not data["datasets"]:
        raise InputError(f"suite {suite.name}: nothing left to run once the missing inputs are skipped")
    return Suite.from_dict(data, where=f"suite {suite.name}")


def _check_weights(suite: Suite, weights_dir: Path | None, allow: bool, report: Progress) -> None:
    """Before any work: one line naming every absent weights file of the suite (its metrics become n/a cells), and
    a file that is present but not the official one stops the run unless ``allow`` (then each cell's summary warns)."""
    selection = Selection.of_suite(suite)
    needs = selection.needs()
    missing = missing_weights(needs, weights_dir)
    if missing:
        report(f"{missing_message(missing, weights_dir, selection)}; their metrics become n/a cells")
    for name in needs if not allow else ():
        if name not in missing:
            check_official(name, resolve_weights(name, weights_dir))


def _absent_weights(protocol: Protocol, metrics: tuple[str, ...], weights_dir: Path | None) -> dict[str, str]:
    """``{metric: why it cannot be computed}`` for the protocol's metrics whose weights files are absent."""
    absent = {}
    for metric in metrics:
        missing = missing_weights(metric_weights(metric, protocol), weights_dir)
        if missing:
            absent[metric] = (f"{WEIGHTS_ABSENT}: {WEIGHTS[missing[0]].filename} (not in "
                              f"{', '.join(map(str, search_dirs(weights_dir)))}; see --weights-dir)")  # fmt: skip
    return absent


# ---------------------------------------------------------------------------------------------------------------------
# Cells.


def _list_of(metric: str) -> str:
    """The pair list whose outputs a metric reads: the feature-set metrics (FID, KID, ...) and the exact truth the
    unpaired list's, every other one the paired list's."""
    return "unpaired" if metric in (*_INCEPTION_SET, *_DINO_SET) or metric_spec(metric).fed_by == "truth" else "paired"


def _cell_row(ctx: _Context, method: _Method, dataset: PreparedDataset, protocol: str, metric: str,
              **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A quality row of ``method`` on ``dataset``, naming the pair list the metric reads (:func:`pair_list`)."""
    return _row(method=method.name, dataset=dataset.key, split=dataset.spec.split, protocol=protocol, metric=metric,
                dtype=method.spec.dtype, pairs=ctx.pair_lists[dataset.key][_list_of(metric)], **fields)  # fmt: skip


def _quality_rows(ctx: _Context, method: _Method, dataset: PreparedDataset, protocol: str,
                  metrics: dict[str, Any]) -> list[dict]:  # fmt: skip
    """One result row per summary entry, read as its metric's spec says (:meth:`MetricSpec.result_row`)."""
    return [_cell_row(ctx, method, dataset, protocol, metric, **metric_spec(metric).result_row(entry))
            for metric, entry in metrics.items()]  # fmt: skip


def _seeded(method: _Method, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A trained row's cells marked with its seed, to be merged over the seeds (:func:`merge_seed_rows`)."""
    return rows if method.spec.train is None else [{**r, SEED_KEY: method.seed} for r in rows]


# ---------------------------------------------------------------------------------------------------------------------
# The run.


def _from_files(spec: MethodSpec, datasets: list[PreparedDataset], progress: Progress) -> _Method:
    """A predictions row: each folder fingerprinted (sha256 over its images' and flows' names and bytes) and matched
    to every dataset's list of its mode; a listed pair without a file stops the run, naming the first ones."""
    folders, given = {}, {dataset.key: Outputs({}, {}) for dataset in datasets}
    for mode, folder in (spec.predictions or {}).items():
        root = Path(folder)
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (*IMAGE_SUFFIXES, ".npy"))
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n".encode())
        images = sum(p.suffix.lower() != ".npy" for p in files)
        folders[mode] = {"folder": str(root), "fingerprint": digest.hexdigest(), "files": images}
        for dataset in datasets:
            pair_list = f"{dataset.spec.name} {dataset.spec.split} {mode} list"
            try:
                listed = match_list(root, dataset.loaders[mode], pair_list)
            except InputError as err:  # the suite scores whole lists: no allow_partial here
                why = str(err).split("; pass allow_partial")[0]
                raise InputError(f"method {spec.key} on {dataset.key}: {why}") from None
            given[dataset.key].files[mode] = {key: pred for key, pred, _ in listed.rows}
            given[dataset.key].matching[mode] = listed.matching
        progress(f"method {spec.key}: {mode} predictions from {root} ({images} images)")
    return _Method(spec, None, given=given, folders=folders)


def _jobs(suite: Suite, spec: MethodSpec) -> list[TrainingJob]:
    """A trained row's training, once per seed of the suite (the recipe's own seed when it names none)."""
    assert spec.train is not None
    return [TrainingJob(spec.train.recipe, spec.train.run, seed) for seed in suite.training.seeds or (None,)]


def _load_methods(suite: Suite, work: Path, device: str, progress: Progress) -> list[_Method]:
    """Every row that runs a model; a trained row gives one instance per training seed, all trained first."""
    trained = [spec for spec in suite.methods if spec.train is not None and spec.predictions is None]
    jobs = list(dict.fromkeys(job for spec in trained for job in _jobs(suite, spec)))
    train_jobs(sorted(jobs, key=lambda j: -1 if j.seed is None else j.seed), work, device, suite.training.workers,
               progress)  # fmt: skip
    methods = []
    for spec in suite.methods:
        if spec.predictions is not None:
            continue  # matched before any training (_from_files)
        if spec.train is None:
            methods.append(_Method(spec, create_method(spec.name, spec.checkpoints)))
        for number, job in enumerate(_jobs(suite, spec) if spec.train is not None else ()):
            folder = train_method(job, work, device, progress)  # trained above: found finished
            methods.append(_Method(spec, create_method(spec.name, folder), seed=job.seed, primary=number == 0))
        progress(f"method {spec.key}: {', '.join(methods[-1].method.checkpoints) or 'no weights'}")
    return methods


def _prepare_datasets(suite: Suite, work: Path, progress: Progress) -> list[PreparedDataset]:
    prepared = []
    for spec in suite.datasets:
        recipe = load_recipe(spec.synth) if spec.synth else None
        root = recipe_work(recipe, work) / "data" if recipe is not None else Path(spec.root or "")
        prepared.append(prepare_dataset(spec, root, recipe, progress))
        progress(f"dataset {spec.key}: {root} ({', '.join(f'{m} {len(d)}' for m, d in prepared[-1].loaders.items())})")
    return prepared


def _predictions(method: _Method, dataset: PreparedDataset, work: Path, suite: Suite, device: str,
                 notes: list[str]) -> Outputs:  # fmt: skip
    """The row's outputs on ``dataset``: a predictions row's matched files, else the method's predictions of both
    lists into ``work`` (finished ones reused)."""
    if method.method is None:
        return method.given[dataset.key]
    identity = json.dumps({**method.identity(), "data": dataset.fingerprints, "format": CELL_FORMAT}, sort_keys=True)
    folder = work / "predictions" / dataset.key / f"{method.name}-{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    out = {}
    for mode, loader in dataset.loaders.items():
        result = predict(method.method, loader, folder / mode, batch_size=suite.batch_size, device=device,
                         save_flow=dataset.truth is not None and mode == "unpaired",
                         fingerprint=dataset.fingerprints[mode], dtype=method.spec.dtype)  # fmt: skip
        notes += [n for n in result.manifest["notes"] if n not in notes]
        if method.spec.dtype != "fp32":
            method.precision[f"{dataset.key} {mode}"] = result.manifest["precision"]
        out[mode] = folder / mode
    barrier()  # under torchrun each process wrote its shard: all are on disk before any process reads another's
    return Outputs.written(dataset, out)


def _qualitative(suite: Suite, dataset: PreparedDataset, outputs: dict[str, Outputs],
                 failed: dict[str, str]) -> list[dict[str, Any]]:  # fmt: skip
    """The grid's unpaired pairs: person, garment, the true try-on (synthetic data; else ``None``), each method's
    output, and ``failed``: the methods that could not run on the dataset, with why."""
    if suite.qualitative is None:
        return []
    entries = dataset.loaders["unpaired"].entries
    rng = np.random.default_rng(suite.qualitative.seed)
    chosen = sorted(rng.choice(len(entries), size=min(suite.qualitative.pairs, len(entries)), replace=False))
    rows = []
    for index in chosen:
        entry = entries[int(index)]
        name = f"{entry.person_id}__{entry.cloth_id}"
        predictions = {m: o.files["unpaired"][name] for m, o in outputs.items() if "unpaired" in o.files}
        truth = dataset.truth / "tryon" / f"{name}.png" if dataset.truth is not None else None
        rows.append({"pair": name, "person": entry.files["person"], "garment": entry.files["cloth"], "truth": truth,
                     "outputs": predictions, "failed": dict(failed)})  # fmt: skip
    return rows


@dataclass
class _Context:
    suite: Suite
    work: Path
    device: str
    weights: Path | None
    cells: CellCache
    report: Progress
    notes: list[str]
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # per cell: what was matched and resized
    pair_lists: dict[str, dict[str, str]] = field(default_factory=dict)  # per dataset and mode: pair_list()
    allow_unofficial_weights: bool = False
    # per dataset and (row, protocol): the per-sample values of each of the row's seeds
    scores: dict[str, dict[tuple[str, str], list[Any]]] = field(default_factory=dict)
    sets: dict[str, dict[tuple[str, str], Any]] = field(default_factory=dict)  # per dataset: FID / KID features

    def add_scores(self, dataset: PreparedDataset, method: _Method, protocol: str, per_sample: Any) -> None:
        """Keep one seed's per-sample values of ``method`` under ``protocol`` for the paired comparisons."""
        self.scores.setdefault(dataset.key, {}).setdefault((method.name, protocol), []).append(per_sample)


def _score(ctx: _Context, method: _Method, dataset: PreparedDataset, outputs: Outputs,
           protocol: Protocol, metrics: tuple[str, ...], key: str) -> dict[str, Any]:  # fmt: skip
    """One eval cell; the FID / KID features are kept beside it (:meth:`CellCache.save_arrays`) for comparisons."""
    ctx.report(f"{method.name} on {dataset.key}: scoring under {protocol.name} ({', '.join(metrics)})")
    scored = eval_set(dataset, outputs)
    result = evaluate(scored, protocol, metrics=metrics,
                      weights_dir=ctx.weights, batch_size=ctx.suite.batch_size, device=ctx.device,
                      feature_cache=ctx.work / "features", progress=False, seed=BOOTSTRAP.seed,
                      fid_resamples=_FID_RESAMPLES,
                      allow_unofficial_weights=ctx.allow_unofficial_weights)  # fmt: skip
    if result.features:
        real_keys = [os.path.relpath(path, dataset.root) for path in scored.real]
        ctx.cells.save_arrays(key, feature_arrays(result.features, real_keys=real_keys,
                                                  fake_keys=fake_keys(dataset, outputs)))  # fmt: skip
    inputs = result.summary["inputs"]
    return {"metrics": result.summary["metrics"], "warnings": result.summary.get("warnings", []),
            "matching": inputs.get("matching"), "resize": inputs.get("resize"),
            "per_sample": per_sample_values(result.rows, metrics)}  # fmt: skip


def _without_outputs(metrics: tuple[str, ...], outputs: Outputs) -> dict[str, str]:
    """``{metric: why}`` for the metrics a row without one list's outputs cannot have: the feature-set metrics
    (FID, KID, ...) read the unpaired list's outputs, every other one the paired list's."""
    return {m: f"no {_list_of(m)} predictions given" for m in metrics if _list_of(m) not in outputs.files}


def _quality(ctx: _Context, method: _Method, dataset: PreparedDataset, outputs: Outputs,
             protocols: dict[str, Protocol]) -> list[dict[str, Any]]:  # fmt: skip
    """Every protocol's cell (and the ground-truth cell on synthetic data) of one method on one dataset."""
    rows = []
    for name, protocol in protocols.items():
        wanted = tuple(m for m in ctx.suite.metrics if m in protocol.metrics)
        absent = _absent_weights(protocol, wanted, ctx.weights) | _without_outputs(wanted, outputs)
        computable = tuple(m for m in wanted if m not in absent)
        cell = {"metrics": {}, "warnings": []}
        if computable:
            key = cell_key("eval", **method.identity(), data=dataset.fingerprints, protocol=protocol.to_dict(),
                           metrics=computable)  # fmt: skip
            compute = functools.partial(_score, ctx, method, dataset, outputs, protocol, computable, key)
            try:
                cell = ctx.cells.get_or_compute(key, compute, require=("per_sample",))
            except InputError as err:  # e.g. a resolution the protocol's source does not support
                why = str(err).replace(str(ctx.work), "<work>")  # the table stays the same wherever --work is
                absent |= dict.fromkeys(computable, f"refused by the protocol: {why}")
        rows += _quality_rows(ctx, method, dataset, name, cell["metrics"])
        ctx.add_scores(dataset, method, name, cell.get("per_sample", {}))
        if method.primary and computable and (sets := cell_feature_sets(ctx.cells.load_arrays(key), computable,
                                                                        kid_scale=protocol.kid.scale)):  # fmt: skip
            ctx.sets.setdefault(dataset.key, {})[method.name, name] = sets
        ctx.notes += [n for w in cell["warnings"] if (n := f"{method.name} on {dataset.key} under {name}: {w}")
                      not in ctx.notes]  # fmt: skip
        if method.primary and (cell.get("matching") or cell.get("resize")):
            ctx.evaluations.append({"method": method.name, "dataset": dataset.key, "protocol": name,
                                    "matching": cell.get("matching"), "resize": cell.get("resize")})  # fmt: skip
        rows += [_cell_row(ctx, method, dataset, name, m, note=why) for m, why in absent.items()]
    if dataset.truth is not None and "unpaired" not in outputs.files:
        rows += [_cell_row(ctx, method, dataset, TRUTH_PROTOCOL, m, note="no unpaired predictions given")
                 for m in ("ssim_truth", "psnr_truth")]  # fmt: skip
    elif dataset.truth is not None:
        key = cell_key("truth", **method.identity(), data=dataset.fingerprints)
        compute = functools.partial(truth_cell, dataset, outputs.files["unpaired"], ctx.suite.batch_size, ctx.device)
        truth = dict(ctx.cells.get_or_compute(key, compute, require=("per_sample",)))
        ctx.add_scores(dataset, method, TRUTH_PROTOCOL, truth.pop("per_sample"))
        rows += _quality_rows(ctx, method, dataset, TRUTH_PROTOCOL, truth)
    return _seeded(method, rows)


_SET_RESAMPLES = 50  # bootstrap resamples of each FID / KID comparison (each costs one metric per row)


def _comparisons(ctx: _Context, datasets: list[PreparedDataset]) -> Comparisons:
    """Every two rows of a dataset compared on each metric they share, one Holm family per dataset's table; with
    several datasets the ``protocol`` column reads ``<dataset> <protocol>``."""
    out = Comparisons()
    for dataset in datasets:
        prefix = "" if len(datasets) == 1 else f"{dataset.key} "
        scores = {(m, prefix + p): mean_per_sample(v) for (m, p), v in ctx.scores.get(dataset.key, {}).items()}
        sets = {(m, prefix + p): v for (m, p), v in ctx.sets.get(dataset.key, {}).items()}
        part = compare(scores, sets, resamples=BOOTSTRAP.resamples, confidence=BOOTSTRAP.confidence,
                       seed=BOOTSTRAP.seed, set_resamples=_SET_RESAMPLES, progress=ctx.report)  # fmt: skip
        out.rows += part.rows
        out.unmatched += part.unmatched
        out.notes += part.notes
    return out


def _unavailable(ctx: _Context, method: _Method, dataset: PreparedDataset, protocols: dict[str, Protocol],
                 why: str) -> list[dict[str, Any]]:  # fmt: skip
    """One empty cell with ``why`` per metric the method would have had on the dataset."""
    rows = [_cell_row(ctx, method, dataset, name, m, note=why)
            for name, protocol in protocols.items() for m in ctx.suite.metrics if m in protocol.metrics]  # fmt: skip
    if dataset.truth is not None:
        rows += [_cell_row(ctx, method, dataset, TRUTH_PROTOCOL, m, note=why) for m in ("ssim_truth", "psnr_truth")]
    return _seeded(method, rows)


def _published_rows(names: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of the suite's published-results files; a table printed at several resolutions gives a row per
    resolution (its citation names it)."""
    rows = []
    for name in names:
        for p in load_literature(name):
            batch = np.nan if p.batch is None else p.batch
            citation = f"{p.source}, at {p.resolution}" if p.resolution else p.source
            rows.append(_row(method=p.method, dataset=p.dataset, split="test", protocol=p.protocol, metric=p.metric,
                             value=p.value, source="published", device=p.device, dtype=p.dtype, batch=batch,
                             note=p.resolution, citation=citation))  # fmt: skip
    return rows


def _recipe_sha256(recipe: Recipe) -> str:
    """The sha256 of a recipe's resolved contents (its first 12 hex digits name its work folder)."""
    return hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()


def _provenance(suite: Suite, weights: Path | None) -> dict[str, Any]:
    """What ``run.json``'s metadata adds to :func:`bench.results.run_metadata`: whether the tree was clean, the command
    line, the machine and its CPU's measured fp32 peak (beside which the wall time reads), the processes (``torchrun``
    world size), the code fingerprint, the
    bootstrap, every training recipe's contents and hash, the seeds and the command that fetches the suite's metric
    weights."""
    names = [d.synth for d in suite.datasets if d.synth] + [m.train.recipe for m in suite.methods if m.train]
    recipes = {name: load_recipe(name) for name in dict.fromkeys(names)}
    seeds = {"bootstrap": BOOTSTRAP.seed}
    if suite.qualitative is not None:
        seeds["qualitative pairs"] = suite.qualitative.seed
    for name, recipe in recipes.items():
        seeds |= {f"{name} data": recipe.data.seed, f"{name} training": list(suite.training.seeds) or recipe.seed}
    return {
        "git_clean": git_state()[1],
        "command": list(sys.argv),
        "machine": machine(),
        "cpu_fp32_peak_gflops": round(measured_peak(torch.device("cpu"), "fp32").tflops * 1e3, 1),
        "processes": _world()[1],
        "code_fingerprint": code_fingerprint(),
        "bootstrap": {**dataclasses.asdict(BOOTSTRAP), "fid_resamples": _FID_RESAMPLES},
        "recipes": {name: {"sha256": _recipe_sha256(r), "contents": r.to_dict()} for name, r in recipes.items()},
        "seeds": seeds,
        "weights_fetch": Selection.of_suite(suite).command(weights),
    }


def _run_record(suite: Suite, protocols: dict[str, Protocol], methods: list[_Method],
                datasets: list[PreparedDataset], skipped: list[str], ctx: _Context,
                timings: dict[str, float]) -> RunRecord:  # fmt: skip
    def card(m: _Method) -> dict[str, Any]:
        if m.method is None:
            return {"title": m.spec.label or m.spec.name, "family": FROM_FILES, "predictions": m.folders}
        c = m.method.card
        title = m.spec.label or c.title
        low = {} if m.spec.dtype == "fp32" else {"method": m.spec.name, "dtype": m.spec.dtype,
                                                 "precision": m.precision}  # fmt: skip
        return {"title": title if m.spec.dtype == "fp32" else f"{title} ({m.spec.dtype})", "family": c.family,
                "citation": c.citation, "inputs": list(c.inputs),
                "parser_free": c.parser_free, "config": m.method.config, "checkpoints": m.method.checkpoints,
                "trained_by_suite": dataclasses.asdict(m.spec.train) if m.spec.train else None,
                **({"training": [method_training(job, ctx.work) for job in _jobs(suite, m.spec)]}
                   if m.spec.train else {}), **low}  # fmt: skip

    return RunRecord(
        schema_version=SCHEMA_VERSION,
        kind="suite-run",
        suite=suite.to_dict(),
        protocols={name: protocol.to_dict() for name, protocol in protocols.items()}
        | ({TRUTH_PROTOCOL: TRUTH_PROTOCOL_RECORD} if any(d.truth is not None for d in datasets) else {}),
        methods={m.name: card(m) for m in methods if m.primary},
        datasets={d.key: d.describe() | {"pair_lists": ctx.pair_lists[d.key]} for d in datasets},
        skipped=skipped,
        warnings=ctx.notes,
        evaluations=ctx.evaluations,
        cells=RunCells(reused=ctx.cells.hits, computed=ctx.cells.misses),
        metadata={**run_metadata(), "device": device_label(ctx.device), **_provenance(suite, ctx.weights)},
        timings=timings,
    )


def run_suite(
    suite: Suite,
    *,
    work: str | os.PathLike[str],
    device: str = "cpu",
    weights_dir: str | os.PathLike[str] | None = None,
    skip_missing: bool = False,
    allow_unofficial_weights: bool = False,
    fetch_weights: bool = False,
    progress: Progress = lambda message: None,
) -> SuiteResult:
    """Run ``suite`` (see the module docstring); data, trained models, predictions and cells live under ``work``.
    ``allow_unofficial_weights``: score with metric weights that are not the official files (see
    :func:`bench.eval.evaluate`); ``fetch_weights``: first download the suite's missing weights files
    (:func:`bench.metrics.fetch.fetch_or_raise`). Absent weights files are named in one progress line; their metrics
    become n/a cells.

    Raises:
        InputError: a dataset root, checkpoint or predictions folder is missing (all of them named, before any
            work) unless ``skip_missing``, which runs the rest and lists what was skipped; a predictions folder has
            no file for a listed pair (before any method is trained or run).
        FetchError: ``fetch_weights`` and a file could not be fetched.
    """
    start = time.perf_counter()

    def report(message: str) -> None:
        progress(f"[{time.perf_counter() - start:7.1f} s] {message}")

    skipped = _missing_inputs(suite)
    if skipped and not skip_missing:
        raise InputError("; ".join(skipped) + " (or --skip-missing to run the rest)")
    specs = suite.methods
    if skipped:
        suite = _without_missing(suite, skipped)
    skipped_methods = [s for s in specs if s.key not in {m.key for m in suite.methods}]
    work = Path(work)
    ctx = _Context(suite, work, device, Path(weights_dir) if weights_dir else None, CellCache(work / "cells"),
                   report, [], allow_unofficial_weights=allow_unofficial_weights)  # fmt: skip
    protocols = {protocol.name: protocol for protocol in map(load_protocol, suite.protocols)}
    if fetch_weights:
        from bench.metrics.fetch import fetch_or_raise

        for line in fetch_or_raise(Selection.of_suite(suite), ctx.weights):
            report(f"fetched {line}")
    _check_weights(suite, ctx.weights, allow_unofficial_weights, report)
    with main_process_first():  # rank 0 writes the synthetic data, the others find it
        datasets = _prepare_datasets(suite, work, report)
    ctx.pair_lists = {d.key: {mode: pair_list(d.root, loader.entries, f"{d.key} {mode} list")
                              for mode, loader in d.loaders.items()} for d in datasets}  # fmt: skip
    given = {s.key: _from_files(s, datasets, report) for s in suite.methods if s.predictions is not None}
    loaded: dict[str, list[_Method]] = {}
    prepared = time.perf_counter()
    for instance in _load_methods(suite, work, device, report):
        loaded.setdefault(instance.name, []).append(instance)  # a trained row: one instance per seed
    methods = [m for s in suite.methods for m in ([given[s.key]] if s.key in given else loaded[s.key])]
    timings = {"setup_s": round(prepared - start, 1), "training_s": round(time.perf_counter() - prepared, 1)}
    rows, outputs, failed = [], {}, {}
    for dataset in datasets:
        ctx.notes += dataset.notes
        for method in methods:
            report(f"{method.name} on {dataset.key}: {'scored from files' if method.method is None else 'predicting'}")
            try:
                scored = _predictions(method, dataset, work, suite, device, ctx.notes)
            except MissingFieldError as err:
                ctx.notes += [str(err)] if str(err) not in ctx.notes else []
                failed.setdefault(dataset.key, {})[method.name] = f"cannot run: {err}"
                rows += _unavailable(ctx, method, dataset, protocols, f"cannot run: {err}")
                continue
            if method.primary:
                outputs.setdefault(dataset.key, {})[method.name] = scored
            rows += _quality(ctx, method, dataset, scored, protocols)
    timings["quality_s"] = round(time.perf_counter() - start - timings["setup_s"] - timings["training_s"], 1)
    native = list(dict.fromkeys(tuple(d.loaders["paired"][0]["person"].shape[-2:]) for d in datasets))
    rows, per_seed = merge_seed_rows(rows)
    timed = [Timed.of(m.spec, m.method.config) for m in methods if m.method is not None and m.primary]
    timed += [Timed.of(s, {}) for s in skipped_methods if s.predictions is None]
    timed = timed if is_main_process() else []  # under torchrun rank 0 times alone; the others wait
    from_files: list[dict[str, Any]] = []
    for sweep in suite.latency:
        sizes = [tuple(s) for s in sweep.sizes] if sweep.sizes else native
        for method in timed:
            rows += latency_cells(method, sizes, sweep, ctx.cells, report)
        from_files += [not_timed(name, sweep) for name in given]
    rows += list({(r["method"], r["device"], r["dtype"], r["batch"]): r for r in from_files}.values())  # one a cell
    rows += _published_rows(suite.literature)
    comparisons = _comparisons(ctx, datasets) if is_main_process() else Comparisons()
    barrier()
    timings["total_s"] = round(time.perf_counter() - start, 1)
    run = _run_record(suite, protocols, methods, datasets, skipped, ctx, timings)
    first = datasets[0].key
    qualitative = _qualitative(suite, datasets[0], outputs.get(first, {}), failed.get(first, {}))
    return SuiteResult(pd.DataFrame(rows, columns=RESULT_COLUMNS), run, qualitative, comparisons,
                       pd.DataFrame(per_seed, columns=[*RESULT_COLUMNS, "seed"]))  # fmt: skip
