"""``pftryon bench``: run a suite's methods over its datasets, score them under its protocols, time them, report.

For each dataset (generated when synthetic) and each method (loaded, or trained by the suite), :func:`run_suite`
predicts the paired and the unpaired list (:func:`bench.predict.predict`), scores each protocol with
:func:`bench.eval.evaluate` (and, on synthetic data, against the exact ground truth), times the method with
:mod:`bench.latency`, and assembles one tidy table with the published rows beside it. Every piece is a cell cached on
disk under ``work`` by the sha256 of its inputs (:mod:`bench.suite.cells`): a rerun recomputes nothing, a changed
checkpoint recomputes its own cells, and a killed run resumes where it stopped and ends with the same table.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.ablate.recipe import load_recipe
from bench.data.readers import InputError
from bench.eval import EvalSet, evaluate, matching_record
from bench.methods import MissingFieldError, TryOnMethod, create_method, method_class
from bench.metrics import resolve_weights
from bench.metrics.needs import Selection, metric_weights, missing_message, missing_weights
from bench.metrics.weights import WEIGHTS, check_official, search_dirs
from bench.predict import predict
from bench.protocols import Protocol, load_protocol
from bench.results import bootstrap_ci, run_metadata
from bench.suite.cells import CellCache, cell_key
from bench.suite.config import LatencySpec, MethodSpec, Suite
from bench.suite.data import PreparedDataset, prepare_dataset
from bench.suite.literature import load_literature
from bench.suite.training import recipe_work, train_method
from pftryon.models import CHECKPOINT_CONFIG

__all__ = ["RESULT_COLUMNS", "SuiteResult", "run_suite"]

RESULT_COLUMNS = [
    "method", "dataset", "split", "protocol", "metric", "value", "ci_low", "ci_high", "n", "source", "device", "dtype",
    "batch", "note", "citation",
]  # fmt: skip
TRUTH_PROTOCOL = "exact-truth"
Progress = Callable[[str], None]


@dataclass
class SuiteResult:
    """The tidy results table, the run's provenance (``run.json``) and the qualitative grid's rows."""

    results: pd.DataFrame
    run: dict[str, Any]
    qualitative: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Method:
    spec: MethodSpec
    method: TryOnMethod
    precision: dict[str, Any] = field(default_factory=dict)  # below fp32: predict's record (error against fp32)

    @property
    def name(self) -> str:
        """The row's key (:attr:`MethodSpec.key`)."""
        return self.spec.key

    def identity(self) -> dict[str, Any]:
        low = {} if self.spec.dtype == "fp32" else {"dtype": self.spec.dtype}  # fp32 cells keep their keys
        return {"method": self.spec.name, "config": self.method.config,
                "checkpoints": sorted(self.method.checkpoints.values()), **low}  # fmt: skip


@dataclass(frozen=True)
class _Timed:
    """What latency needs of a method: its row's key, :data:`bench.latency.LATENCY_MODELS` key, architecture config
    (timing uses deterministic stand-in weights, so a method is timed even when its checkpoints are absent) and the
    dtypes it is timed at (a low-precision row: its own only; else the sweep's)."""

    name: str
    latency_model: str
    config: dict[str, Any]
    dtypes: tuple[str, ...] | None = None

    @classmethod
    def of(cls, spec: MethodSpec, config: dict[str, Any]) -> _Timed:
        """The row ``spec`` timed with architecture ``config``."""
        own = None if spec.dtype == "fp32" else (spec.dtype,)
        return cls(spec.key, method_class(spec.name).card.latency_model, config, own)


def _row(**values: Any) -> dict[str, Any]:
    row = dict.fromkeys(RESULT_COLUMNS, "")
    row.update(value=np.nan, ci_low=np.nan, ci_high=np.nan, n=np.nan, batch=np.nan, source="measured")
    row.update(values)
    return row


# ---------------------------------------------------------------------------------------------------------------------
# Before any work: every dataset root and checkpoint named, every metric's weights looked up.


def _missing_inputs(suite: Suite) -> list[str]:
    problems = []
    for spec in suite.datasets:
        if spec.synth is None and (spec.root is None or not Path(spec.root).is_dir()):
            where = spec.root or "no root given"
            problems.append(f"dataset {spec.key}: folder not found ({where}); give it with --root-for {spec.name}=DIR")
    for spec in suite.methods:
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
            absent[metric] = (f"weights absent: {WEIGHTS[missing[0]].filename} (not in "
                              f"{', '.join(map(str, search_dirs(weights_dir)))}; see --weights-dir)")  # fmt: skip
    return absent


# ---------------------------------------------------------------------------------------------------------------------
# Cells.


def _eval_set(dataset: PreparedDataset, paired: Path, unpaired: Path) -> EvalSet:
    """The paired list's predictions against the person images; the unpaired list's predictions for FID/KID. A line
    repeated in a list is scored once (``pftryon predict`` wrote it once), and the matching record counts it."""
    entries = dataset.loaders["paired"].entries
    unique: dict[str, Any] = {}
    repeated = []
    for line, entry in enumerate(entries):
        name = f"{entry.person_id}__{entry.cloth_id}"
        if name in unique:
            repeated.append(f"line {line + 1}: {entry.person_id} / {entry.cloth_id}")
        unique.setdefault(name, entry)
    pairs = [(name, paired / f"{name}.png", e.files["person"]) for name, e in unique.items()]
    fake = list(
        dict.fromkeys(unpaired / f"{e.person_id}__{e.cloth_id}.png" for e in dataset.loaders["unpaired"].entries)
    )
    real = list(dict.fromkeys(ref for _, _, ref in pairs))
    videos = None
    if "video_id" in entries[0].extra:  # VVT: frames of a video consecutive and in order, for the temporal metrics
        videos = [(e.extra["video_id"], e.extra["frame_index"]) for e in unique.values()]
    pair_list = f"{dataset.spec.name} {dataset.spec.split} paired list"
    matching = matching_record(pair_list, len(pairs), len(real), len(pairs), len(pairs), [], [], False,
                               repeated=repeated)  # fmt: skip
    description = {
        "mode": "suite", "dataset": dataset.spec.name, "root": str(dataset.root), "split": dataset.spec.split,
        "paired_list": f"{len(pairs)} pairs", "fid_fake_set": f"{len(fake)} unpaired predictions",
        "fid_real_set": f"{len(real)} test person images", "matched_by": "<person>__<cloth> names written by predict",
    }  # fmt: skip
    return EvalSet(pairs, fake, real, description, videos, matching)


def _truth_cell(dataset: PreparedDataset, unpaired: Path, batch_size: int, device: str) -> dict[str, Any]:
    """Unpaired predictions against the exact synthetic try-on (SSIM in the pytorch-ssim form, PSNR) and flows."""
    from bench.ablate.scoring import flow_epe

    assert dataset.truth is not None
    names = [f"{e.person_id}__{e.cloth_id}" for e in dataset.loaders["unpaired"].entries]
    pairs = [(n, unpaired / f"{n}.png", dataset.truth / "tryon" / f"{n}.png") for n in names]
    protocol = load_protocol("pfafn")  # pytorch-ssim at the predictions' own size, nothing resized
    description = {"mode": "synthetic ground truth", "truth": str(dataset.truth / "tryon")}
    result = evaluate(EvalSet(pairs, [], [], description), protocol, metrics=("ssim", "psnr"), batch_size=batch_size,
                      device=device, progress=False)  # fmt: skip
    cell = {f"{k}_truth": v for k, v in result.summary["metrics"].items()}
    flows = [unpaired / f"{n}.npy" for n in names]
    if all(f.is_file() for f in flows):
        epe = [float(flow_epe(torch.from_numpy(np.load(f))[None], _true_flow(dataset.truth, n))[0])
               for f, n in zip(flows, names, strict=True)]  # fmt: skip
        mean, low, high = bootstrap_ci(epe)
        cell["flow_epe"] = {"mean": mean, "ci95": [low, high], "n": len(epe),
                            "how": {"unit": "pixels, mean over the true garment region"}}  # fmt: skip
    return cell


def _true_flow(truth: Path, name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(truth / "flow" / f"{name}.npy").astype(np.float32)).permute(2, 0, 1)[None]


def _device_label(device: str) -> str:
    """``cpu (<model>, N threads)`` or ``cuda (<GPU name>)``: how latency cells name their device."""
    from bench.speed import device_name

    return f"{device} ({device_name(torch.device(device))})"


def _latency_rows(method: _Timed, size: tuple[int, int], batch: int, dtype: str, label: str,
                  timed: dict[str, Any], spec: LatencySpec) -> list[dict[str, Any]]:  # fmt: skip
    common = {"method": method.name, "protocol": "latency", "device": label, "dtype": dtype, "batch": batch,
              "note": f"{size[0]}x{size[1]}; median of {spec.iters} calls after {spec.warmup} warm-up "
              f"(p10 {timed['p10_ms']:.2f} ms, p90 {timed['p90_ms']:.2f} ms per batch)"}  # fmt: skip
    memory = timed["peak_memory_mib"]
    return [
        _row(**common, metric="ms_per_image", value=timed["median_ms"] / batch),
        _row(**common, metric="images_per_s", value=timed["images_per_s"]),
        _row(**common, metric="gflops", value=timed["flops"] / batch / 1e9),
        _row(**common, metric="params_m", value=timed["params"] / 1e6),
        _row(**common, metric="peak_mem_mb", value=np.nan if memory is None else memory),
    ]


def _measure(method: _Timed, point: dict[str, Any], device: str, progress: Progress) -> dict[str, Any]:
    from bench.latency import measure_latency

    size, batch, dtype = point["size"], point["batch"], point["dtype"]
    progress(f"latency {method.name} {device} {size[0]}x{size[1]} batch {batch} {dtype}")
    result = measure_latency(point["model"], size=tuple(size), batch=batch, dtype=dtype, device=device,
                             config=method.config, warmup=point["warmup"], iters=point["iters"],
                             compile=point["compile"])  # fmt: skip
    return {k: v for k, v in dataclasses.asdict(result).items() if k != "times_ms"}


def _latency_cells(method: _Timed, sizes: list[tuple[int, int]], spec: LatencySpec, cells: CellCache,
                   progress: Progress) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for device in spec.devices:
        if device == "cuda" and not torch.cuda.is_available():
            rows.append(_row(method=method.name, protocol="latency", metric="ms_per_image", device="cuda",
                             note="no CUDA device on this machine: GPU latency not measured"))  # fmt: skip
            continue
        label = _device_label(device)
        for size, batch, dtype in itertools.product(sizes, spec.batches, method.dtypes or spec.dtypes):
            point = {"model": method.latency_model, "config": method.config, "size": list(size),
                     "batch": batch, "dtype": dtype, "device": label, "torch": torch.__version__,
                     "warmup": spec.warmup, "iters": spec.iters, "compile": spec.compile}  # fmt: skip
            try:
                timed = cells.get_or_compute(cell_key("latency", **point),
                                             functools.partial(_measure, method, point, device, progress))  # fmt: skip
            except ValueError as err:  # a size or precision this model or device does not take
                note = f"{size[0]}x{size[1]}: not measured: {err}"
                rows.append(_row(method=method.name, protocol="latency", metric="ms_per_image", device=label,
                                 dtype=dtype, batch=batch, note=note))  # fmt: skip
                continue
            rows += _latency_rows(method, size, batch, dtype, label, timed, spec)
    return rows


def _quality_rows(method: _Method, dataset: PreparedDataset, protocol: str, metrics: dict[str, Any]) -> list[dict]:
    rows = []
    for metric, entry in metrics.items():
        base = {"method": method.name, "dataset": dataset.key, "split": dataset.spec.split, "protocol": protocol,
                "metric": metric, "dtype": method.spec.dtype}  # fmt: skip
        if "absent" in entry:
            rows.append(_row(**base, note=entry["absent"]))
        elif metric.startswith("fid") or metric == "fd_dinov2":
            std = entry.get("bootstrap_std")
            note = "" if std is None else f"bootstrap std {std:.3f}"
            rows.append(_row(**base, value=entry["value"], n=entry.get("n_fake"),
                             note="; ".join(filter(None, [note, entry.get("warning", "")]))))  # fmt: skip
        elif metric == "is":
            rows.append(_row(**base, value=entry["value"], n=entry.get("n"),
                             note=f"std {entry['std']:.4g} over {entry['splits']} split(s)"))  # fmt: skip
        elif metric.startswith("kid"):
            spread = f"std {entry['std']:.4g} over {entry['subsets']} subsets (x{entry['scale']:g})"
            rows.append(_row(**base, value=entry["mean"], n=entry.get("n_fake"), note=spread))
        elif metric in ("precision", "recall"):
            rows.append(_row(**base, value=entry["value"], n=entry.get("n_fake"), note=f"k = {entry['k']}"))
        else:
            low, high = entry["ci95"]
            rows.append(_row(**base, value=entry["mean"], ci_low=low, ci_high=high, n=entry["n"]))
    return rows


# ---------------------------------------------------------------------------------------------------------------------
# The run.


def _load_methods(suite: Suite, work: Path, device: str, progress: Progress) -> list[_Method]:
    methods = []
    for spec in suite.methods:
        folder = spec.checkpoints
        if spec.train is not None:
            folder = train_method(spec.train.recipe, spec.train.run, work, device, progress)
        methods.append(_Method(spec, create_method(spec.name, folder)))
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
                 notes: list[str]) -> dict[str, Path]:  # fmt: skip
    identity = json.dumps({**method.identity(), "data": dataset.fingerprints}, sort_keys=True)
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
    return out


def _qualitative(suite: Suite, dataset: PreparedDataset, outputs: dict[str, dict[str, Path]]) -> list[dict[str, Any]]:
    if suite.qualitative is None:
        return []
    entries = dataset.loaders["unpaired"].entries
    rng = np.random.default_rng(suite.qualitative.seed)
    chosen = sorted(rng.choice(len(entries), size=min(suite.qualitative.pairs, len(entries)), replace=False))
    rows = []
    for index in chosen:
        entry = entries[int(index)]
        name = f"{entry.person_id}__{entry.cloth_id}"
        predictions = {m: folders["unpaired"] / f"{name}.png" for m, folders in outputs.items()}
        rows.append({"pair": name, "person": entry.files["person"], "garment": entry.files["cloth"],
                     "outputs": predictions})  # fmt: skip
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
    allow_unofficial_weights: bool = False


def _score(ctx: _Context, method: _Method, dataset: PreparedDataset, folders: dict[str, Path],
           protocol: Protocol, metrics: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    ctx.report(f"{method.name} on {dataset.key}: scoring under {protocol.name} ({', '.join(metrics)})")
    result = evaluate(_eval_set(dataset, folders["paired"], folders["unpaired"]), protocol, metrics=metrics,
                      weights_dir=ctx.weights, batch_size=ctx.suite.batch_size, device=ctx.device,
                      feature_cache=ctx.work / "features", progress=False,
                      allow_unofficial_weights=ctx.allow_unofficial_weights)  # fmt: skip
    inputs = result.summary["inputs"]
    return {"metrics": result.summary["metrics"], "warnings": result.summary.get("warnings", []),
            "matching": inputs.get("matching"), "resize": inputs.get("resize")}  # fmt: skip


def _quality(ctx: _Context, method: _Method, dataset: PreparedDataset, folders: dict[str, Path],
             protocols: dict[str, Protocol]) -> list[dict[str, Any]]:  # fmt: skip
    """Every protocol's cell (and the ground-truth cell on synthetic data) of one method on one dataset."""
    rows = []
    for name, protocol in protocols.items():
        wanted = tuple(m for m in ctx.suite.metrics if m in protocol.metrics)
        absent = _absent_weights(protocol, wanted, ctx.weights)
        computable = tuple(m for m in wanted if m not in absent)
        cell = {"metrics": {}, "warnings": []}
        if computable:
            key = cell_key("eval", **method.identity(), data=dataset.fingerprints, protocol=protocol.to_dict(),
                           metrics=computable)  # fmt: skip
            compute = functools.partial(_score, ctx, method, dataset, folders, protocol, computable)
            try:
                cell = ctx.cells.get_or_compute(key, compute)
            except InputError as err:  # e.g. a resolution the protocol's source does not support
                why = str(err).replace(str(ctx.work), "<work>")  # the table stays the same wherever --work is
                absent |= dict.fromkeys(computable, f"refused by the protocol: {why}")
        rows += _quality_rows(method, dataset, name, cell["metrics"])
        ctx.notes += [f"{method.name} on {dataset.key} under {name}: {w}" for w in cell["warnings"]]
        if cell.get("matching") or cell.get("resize"):
            ctx.evaluations.append({"method": method.name, "dataset": dataset.key, "protocol": name,
                                    "matching": cell.get("matching"), "resize": cell.get("resize")})  # fmt: skip
        base = {"method": method.name, "dataset": dataset.key, "split": dataset.spec.split, "protocol": name,
                "dtype": method.spec.dtype}  # fmt: skip
        rows += [_row(**base, metric=m, note=why) for m, why in absent.items()]
    if dataset.truth is not None:
        key = cell_key("truth", **method.identity(), data=dataset.fingerprints)
        compute = functools.partial(_truth_cell, dataset, folders["unpaired"], ctx.suite.batch_size, ctx.device)
        rows += _quality_rows(method, dataset, TRUTH_PROTOCOL, ctx.cells.get_or_compute(key, compute))
    return rows


def _unavailable(ctx: _Context, method: _Method, dataset: PreparedDataset, protocols: dict[str, Protocol],
                 why: str) -> list[dict[str, Any]]:  # fmt: skip
    """One empty cell with ``why`` per metric the method would have had on the dataset."""
    base = {"method": method.name, "dataset": dataset.key, "split": dataset.spec.split, "dtype": method.spec.dtype}
    rows = [_row(**base, protocol=name, metric=m, note=why)
            for name, protocol in protocols.items() for m in ctx.suite.metrics if m in protocol.metrics]  # fmt: skip
    if dataset.truth is not None:
        rows += [_row(**base, protocol=TRUTH_PROTOCOL, metric=m, note=why) for m in ("ssim_truth", "psnr_truth")]
    return rows


def _published_rows(names: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        for p in load_literature(name):
            batch = np.nan if p.batch is None else p.batch
            rows.append(_row(method=p.method, dataset=p.dataset, split="test", protocol=p.protocol, metric=p.metric,
                             value=p.value, source="published", device=p.device, dtype=p.dtype, batch=batch,
                             note=p.resolution, citation=p.source))  # fmt: skip
    return rows


def _run_record(suite: Suite, protocols: dict[str, Protocol], methods: list[_Method],
                datasets: list[PreparedDataset], skipped: list[str], ctx: _Context,
                timings: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    def card(m: _Method) -> dict[str, Any]:
        c = m.method.card
        low = {} if m.spec.dtype == "fp32" else {"method": m.spec.name, "dtype": m.spec.dtype,
                                                 "precision": m.precision}  # fmt: skip
        return {"title": c.title, "family": c.family, "citation": c.citation, "inputs": list(c.inputs),
                "parser_free": c.parser_free, "config": m.method.config, "checkpoints": m.method.checkpoints,
                "trained_by_suite": dataclasses.asdict(m.spec.train) if m.spec.train else None, **low}  # fmt: skip

    return {
        "suite": suite.to_dict(),
        "protocols": {name: protocol.to_dict() for name, protocol in protocols.items()},
        "methods": {m.name: card(m) for m in methods},
        "datasets": {d.key: d.describe() for d in datasets},
        "skipped": skipped,
        "warnings": ctx.notes,
        "evaluations": ctx.evaluations,
        "cells": {"reused": ctx.cells.hits, "computed": ctx.cells.misses},
        "metadata": {**run_metadata(), "device": _device_label(ctx.device)},
        "timings": timings,
    }


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
        InputError: a dataset root or checkpoint is missing (all of them named, before any work) unless
            ``skip_missing``, which runs the rest and lists what was skipped.
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
    datasets = _prepare_datasets(suite, work, report)
    methods = _load_methods(suite, work, device, report)
    timings = {"setup_s": round(time.perf_counter() - start, 1)}
    rows, outputs = [], {}
    for dataset in datasets:
        ctx.notes += dataset.notes
        for method in methods:
            report(f"{method.name} on {dataset.key}: predicting")
            try:
                folders = _predictions(method, dataset, work, suite, device, ctx.notes)
            except MissingFieldError as err:
                ctx.notes.append(str(err))
                rows += _unavailable(ctx, method, dataset, protocols, f"cannot run: {err}")
                continue
            outputs.setdefault(dataset.key, {})[method.name] = folders
            rows += _quality(ctx, method, dataset, folders, protocols)
    timings["quality_s"] = round(time.perf_counter() - start - timings["setup_s"], 1)
    native = list(dict.fromkeys(tuple(d.loaders["paired"][0]["person"].shape[-2:]) for d in datasets))
    timed = [_Timed.of(m.spec, m.method.config) for m in methods] + [_Timed.of(s, {}) for s in skipped_methods]
    for sweep in suite.latency:
        sizes = [tuple(s) for s in sweep.sizes] if sweep.sizes else native
        for method in timed:
            rows += _latency_cells(method, sizes, sweep, ctx.cells, report)
    rows += _published_rows(suite.literature)
    timings["total_s"] = round(time.perf_counter() - start, 1)
    run = _run_record(suite, protocols, methods, datasets, skipped, ctx, timings)
    qualitative = _qualitative(suite, datasets[0], outputs[datasets[0].key])
    return SuiteResult(pd.DataFrame(rows, columns=RESULT_COLUMNS), run, qualitative)
