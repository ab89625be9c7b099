"""Run any registered try-on method over any dataset loader: one PNG per pair, resumable, sharded, with provenance.

``predict(method, dataset, out)`` writes ``<person>__<cloth>.png`` (the names ``pftryon eval --dataset`` matches)
for every pair of the dataset's list, and ``predict.json``: the method's card, configuration and checkpoint sha256s,
the dataset's content fingerprint and pair list, and the run's versions. Finished outputs are skipped, so a killed run
resumes; every PNG is written atomically, so a kill never leaves half an image. A folder holding another method's,
another checkpoint's or another dataset's outputs is refused rather than mixed. Under ``torchrun`` each process
takes a contiguous block of the pairs and writes its own files. ``pftryon tryon`` (:mod:`bench.tryon`) runs on the same
machinery: the first of repeated pairs, finished outputs skipped, the checked batch loop writing PNGs, identity checks.

``dtype`` (``fp32`` by default; ``bf16``, ``int8``: :mod:`bench.precision`) is part of the folder's identity. A
non-fp32 run first measures its error against fp32 on the list's first batch (``max_abs_diff``, ``dssim``; int8
calibrates on the first 8 pairs) and records it, with what ran in which precision, as ``precision`` in
``predict.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from bench.data.base import TryOnDataset
from bench.data.cache import content_fingerprint
from bench.data.readers import InputError
from bench.images import to_uint8, write_png
from bench.methods import TryOnMethod
from bench.precision import at_precision, tryon_error
from bench.records import SCHEMA_VERSION, PredictIdentity, PredictRecord, RecordKind, check_record, read_record
from bench.results import run_metadata
from bench.runtime import _world
from pftryon.models import atomic_write

__all__ = ["MANIFEST", "PredictResult", "output_stem", "predict"]

MANIFEST = "predict.json"
CALIBRATION_PAIRS = 8  # int8: the first pairs of the list, whose activation ranges set the quantisation


@dataclass(frozen=True)
class PredictResult:
    """What a call did: the folder, the outputs written now and found done, and the manifest."""

    out_dir: Path
    written: int
    done_before: int
    manifest: Mapping[str, Any]  # a PredictRecord (one written before records had a schema_version: without it)

    @property
    def total(self) -> int:
        """Pairs of the list (duplicates counted once)."""
        return len(self.manifest["pairs"])


def output_stem(person_id: str, cloth_id: str) -> str:
    """``<person id>__<cloth id>``: the output name of a pair (PNG; flows ``.npy``)."""
    return f"{person_id}__{cloth_id}"


# --- the machinery shared with ``pftryon tryon`` (bench/tryon.py) -----------------------------------------------


def _first_of_each(names: Sequence[str]) -> list[int]:
    """Indices of the first occurrence of each output name: a repeated pair is computed and written once."""
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        first.setdefault(name, index)
    return list(first.values())


def _finished(out: Path, name: str) -> bool:
    """Whether the output ``<name>.png`` is already in ``out`` (written atomically, so a present file is whole)."""
    return (out / f"{name}.png").is_file()


def _recorded_changes(
    path: Path,
    identity: Mapping[str, Any],
    *,
    recorded: Callable[[Any], dict[str, Any]],
    fix: str,
    kind: RecordKind | None = None,
) -> tuple[dict[str, Any], list[str]] | None:
    """Compare the identity recorded in the folder's manifest ``path`` with ``identity``.

    Args:
        path: the manifest (``predict.json``, ``tryon.json``).
        identity: what must match for the folder's outputs to be kept.
        recorded: the identity inside the manifest's parsed JSON (raising ``KeyError``/``TypeError`` if absent).
        fix: what the user can do when the manifest is unreadable.
        kind: the manifest's record kind (:mod:`bench.records`), checked with its schema version when given.

    Returns:
        ``None`` when there is no manifest; else the recorded identity and the keys of ``identity`` it differs in.

    Raises:
        InputError: the manifest is unreadable, or not a ``kind`` record of a version this code reads.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        old = recorded(data if kind is None else check_record(data, kind, path))
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: unreadable manifest ({err}); {fix}") from None
    return old, [key for key in identity if old.get(key) != identity[key]]


def _write_outputs(
    out: Path,
    batches: Iterable[Any],
    names: Iterable[str],
    forward: Callable[[Any], Mapping[str, torch.Tensor]],
    *,
    label: str,
    checkpoints: Iterable[str],
    bar: tqdm,
    panels: Callable[[Any, torch.Tensor, int], list[torch.Tensor]] | None = None,
    save_flow: bool = False,
    before_first: Callable[[], None] | None = None,
) -> list[Path]:
    """Run ``forward`` on each batch and write one PNG per pair, atomically, in the official uint8 conversion.

    Args:
        out: the output folder.
        batches: the inputs, batch by batch, of the pairs ``names`` lists in order.
        names: the output names (``<person>__<cloth>``), one per pair of ``batches``.
        forward: a batch to the method's outputs (``tryon`` ``[N, 3, H, W]`` in [-1, 1], optionally ``flow``).
        label, checkpoints: the method and its checkpoint files, named when a try-on is non-finite.
        bar: progress, advanced by each batch's pairs.
        panels: a batch, its try-ons and an index to the images written side by side (default: the try-on alone).
        save_flow: also write ``<name>.npy`` when the outputs hold a flow.
        before_first: called once, after the first batch is computed and checked, before any image is written.

    Returns:
        The images written.

    Raises:
        InputError: a try-on is non-finite (nothing of its batch is written).
    """
    names = iter(names)
    written: list[Path] = []
    for batch in batches:
        outputs = forward(batch)
        tryon = outputs["tryon"]
        chunk = [next(names) for _ in range(tryon.shape[0])]
        for i, name in enumerate(chunk):
            if not torch.isfinite(tryon[i]).all():
                raise InputError(
                    f"{label}: non-finite try-on for pair {name}; the checkpoint "
                    f"({', '.join(checkpoints) or 'none'}) may be corrupt"
                )
        if before_first is not None:
            before_first()
            before_first = None
        for i, name in enumerate(chunk):
            if save_flow and "flow" in outputs:
                _save_flow(out / f"{name}.npy", outputs["flow"][i])
            images = [tryon[i]] if panels is None else panels(batch, tryon, i)
            written.append(out / f"{name}.png")
            write_png(written[-1], np.concatenate([to_uint8(image) for image in images], axis=1))
        bar.update(len(chunk))
    return written


# --- predict ------------------------------------------------------------------------------------------------------


def _unique_pairs(dataset: TryOnDataset, limit: int | None) -> tuple[list[int], int]:
    """Indices of the first occurrence of each output name (within the first ``limit`` pairs) and the duplicates."""
    entries = dataset.entries if limit is None else dataset.entries[:limit]
    first = _first_of_each([output_stem(entry.person_id, entry.cloth_id) for entry in entries])
    return first, len(entries) - len(first)


def _identity(method: TryOnMethod, dataset: dict[str, Any], names: list[str], dtype: str) -> PredictIdentity:
    """What must match for a folder's outputs to be reused: method, architecture, weights' bytes, data, pairs, dtype."""
    return PredictIdentity(
        method=method.card.name, config=method.config, checkpoint_sha256=sorted(method.checkpoints.values()),
        dataset_sha256=dataset["fingerprint_sha256"], size=dataset["size"],
        pairs_sha256=hashlib.sha256("\n".join(names).encode()).hexdigest(), dtype=dtype,
    )  # fmt: skip


def _check_manifest(path: Path, identity: Mapping[str, Any]) -> None:
    # manifests written before --dtype hold fp32 outputs
    found = _recorded_changes(path, identity, recorded=lambda data: {"dtype": "fp32", **data["identity"]},
                              fix="remove the folder or choose another --out", kind="predict")  # fmt: skip
    if found and found[1]:
        old, changed = found
        raise InputError(
            f"{path}: this folder holds {old.get('method')} outputs made with another {', '.join(changed)}; remove "
            "it or choose another --out"
        )


def _collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from torch.utils.data import default_collate

    keys = set.intersection(*(set(s) for s in samples))
    return default_collate([{k: s[k] for k in keys} for s in samples])


def _at_dtype(
    method: TryOnMethod,
    dataset: TryOnDataset,
    indices: list[int],
    names: list[str],
    dtype: str,
    batch_size: int,
    device: torch.device,
) -> tuple[Callable[[dict[str, Any]], dict[str, torch.Tensor]], dict[str, Any]]:
    """The method's call at ``dtype`` and its precision record (error against fp32 on the first batch)."""
    if dtype == "fp32":
        return method, {"dtype": dtype}

    def batch_of(count: int) -> dict[str, Any]:
        batch = _collate([dataset[i] for i in indices[:count]])
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    forward, modules = at_precision(method.model, dtype, device, [method.inputs(batch_of(CALIBRATION_PAIRS))])
    first = batch_of(batch_size)
    error = tryon_error(forward(*method.inputs(first))["tryon"], method(first)["tryon"])
    record = {"dtype": dtype, "modules": modules, "error_vs_fp32": {**error, "pairs": names[:batch_size]}}
    return (lambda batch: forward(*method.inputs(batch))), record


def _save_flow(path: Path, flow: torch.Tensor) -> None:
    buffer = io.BytesIO()
    np.save(buffer, flow.float().cpu().numpy())
    atomic_write(path, buffer.getvalue())


def predict(
    method: TryOnMethod,
    dataset: TryOnDataset,
    out_dir: str | os.PathLike[str],
    *,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    limit: int | None = None,
    save_flow: bool = False,
    workers: int = 0,
    fingerprint: str | None = None,
    progress: bool = True,
    dtype: str = "fp32",
    redo: bool = False,
) -> PredictResult:
    """Write ``method``'s try-on of every pair of ``dataset`` into ``out_dir`` (see the module docstring).

    Args:
        method: a loaded method (:func:`bench.methods.create_method`).
        dataset: a loader (:func:`bench.data.create_dataset`); its ``size`` is the prediction size.
        out_dir: output folder; outputs already there (from the same method, checkpoints and pairs) are kept.
        batch_size, device, workers: how the pass runs (outputs do not depend on them beyond float rounding).
        limit: only the first ``limit`` pairs of the list.
        save_flow: also write each pair's flow (``<name>.npy``, normalised sampling grid ``[2, H, W]``) when the
            method returns one.
        fingerprint: the dataset's :func:`~bench.data.cache.content_fingerprint`, when already known.
        progress: show a progress bar (rank 0).
        dtype: ``fp32``, or opt-in ``bf16`` / ``int8`` (see the module docstring; int8 on the CPU only).
        redo: recompute and rewrite every output, even finished ones (``pftryon predict --overwrite``); the folder
            may then hold another run's outputs, which are replaced.

    Raises:
        MissingFieldError: the dataset lacks a field the method needs (before any work).
        InputError: ``out_dir`` holds other outputs, a file is unreadable, the method returns non-finite images, or
            ``dtype`` is unknown or int8 is asked off the CPU.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder (--out must be a folder)")
    indices, duplicates = _unique_pairs(dataset, limit)
    if not indices:
        raise InputError(f"{dataset.root}: the {dataset.split} {dataset.pair_mode} list of {dataset.name} is empty")
    notes = method.check_fields(dataset[indices[0]], dataset.name)
    names = [output_stem(dataset.entries[i].person_id, dataset.entries[i].cloth_id) for i in indices]
    data = {
        "name": dataset.name, "root": str(dataset.root), "split": dataset.split, "pair_mode": dataset.pair_mode,
        "size": None if dataset.size is None else list(dataset.size),
        "fingerprint_sha256": fingerprint or content_fingerprint(dataset),
    }  # fmt: skip
    resize = "none: inputs at the files' size"
    if dataset.size is not None:
        resize = f"inputs resized by the {dataset.name} loader to {dataset.size[0]}x{dataset.size[1]} (its filters)"
    identity = _identity(method, data, names, dtype)
    if not redo:
        _check_manifest(out / MANIFEST, identity)
    rank, world = _world()
    block = range(rank * len(indices) // world, (rank + 1) * len(indices) // world)
    todo = [k for k in block if redo or not _finished(out, names[k])]
    if not todo and (out / MANIFEST).is_file():  # finished: nothing to compute, not even the precision record
        return PredictResult(out, 0, len(block), read_record(out / MANIFEST, "predict"))
    device = torch.device(device)
    method.to(device)
    run, precision = _at_dtype(method, dataset, indices, names, dtype, batch_size, device)
    meta = run_metadata()
    manifest = PredictRecord(
        schema_version=SCHEMA_VERSION, kind="predict", identity=identity, method=method.describe(), dataset=data,
        pairs=names, duplicates_in_list=duplicates, limit=limit, notes=notes, precision=precision, resize=resize,
        output="PNG, (x + 1) / 2 * 255 truncated to uint8 (the official test's conversion)",
        date=meta["date"], git_commit=meta["git_commit"], versions=meta["versions"],
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0 and (redo or not (out / MANIFEST).is_file()):
        atomic_write(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    loader = DataLoader(Subset(dataset, [indices[k] for k in todo]), batch_size=batch_size, num_workers=workers,
                        collate_fn=_collate)  # fmt: skip

    def forward(batch: dict[str, Any]) -> Mapping[str, torch.Tensor]:
        return run({k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()})

    with tqdm(total=len(block), initial=len(block) - len(todo), desc=f"predict {method.card.name} {dtype}", unit="pair",
              disable=not progress or rank != 0) as bar:  # fmt: skip
        _write_outputs(out, loader, (names[k] for k in todo), forward, label=method.card.name,
                       checkpoints=method.checkpoints, bar=bar, save_flow=save_flow)  # fmt: skip
    return PredictResult(out, len(todo), len(block) - len(todo), manifest)
