"""A recipe's synthetic data: synthesised once into the work folder (checked against the recipe when reused), and
its splits as training batches."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from torch.utils.data import Subset

from bench.data import create_dataset, to_common
from bench.data.synthetic import synthesize
from bench.data.synthetic.render import SyntheticWorld
from bench.train.recipe import DataRecipe
from bench.train.runs import Progress, StaleWorkError
from pftryon.models import atomic_write
from pftryon.train.data import TrainingPairs
from pftryon.train.representation import densepose_from_parse

__all__ = ["prepare_data", "split_pairs"]

# CP-VTON+'s parse (lip21): unlike image-parse it keeps the neck label.
_DATASET_OPTIONS = {"parse": "image-parse-new"}


def _fingerprint(root: Path, skip: Path) -> str:
    """sha256 over every file's relative path and content (``skip`` left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p != skip):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def prepare_data(spec: DataRecipe, root: Path, progress: Progress) -> dict[str, Any]:
    """Synthesise ``spec`` into ``root`` unless it is there already; returns the manifest and fingerprint.

    Raises:
        StaleWorkError: ``root`` holds data made with other settings.
    """
    stamp = root / "ablation_data.json"
    wanted = json.loads(json.dumps(dataclasses.asdict(spec)))
    if stamp.is_file():
        record = json.loads(stamp.read_text())
        if record["spec"] != wanted:
            raise StaleWorkError(
                f"{root} holds data made with {record['spec']}, the recipe asks for {wanted}; "
                "remove the work folder or choose another with --work"
            )
        progress(f"data: {root} already synthesised, skipped")
        return record
    start = time.perf_counter()
    manifest = synthesize(
        spec.layout, root, n=spec.n, size=spec.size, seed=spec.seed, test_fraction=spec.test_fraction,
        background=spec.background, overwrite=True, progress=False,
    )  # fmt: skip
    record = {
        "spec": wanted,
        "manifest": manifest,
        "fingerprint_sha256": _fingerprint(root, stamp),
        "synthesis_s": round(time.perf_counter() - start, 1),
    }
    atomic_write(stamp, json.dumps(record, indent=2) + "\n")
    progress(f"data: synthesised {spec.n} pairs at {spec.size[0]}x{spec.size[1]} in {record['synthesis_s']:.0f} s")
    return record


def split_pairs(spec: DataRecipe, root: Path, split: str, pair_mode: str, seed: int) -> tuple[TrainingPairs, list[str]]:
    """The split's samples of the kept categories as stage batches, and their ``<person>__<garment>`` names."""
    base = create_dataset(spec.layout, root, split=split, pair_mode=pair_mode, size=spec.size, **_DATASET_OPTIONS)
    world = SyntheticWorld(spec.seed, spec.size, spec.background)  # synthetic ids are the world's indices
    keep = [
        i
        for i, e in enumerate(base.entries)
        if {world.category(int(e.person_id)), world.category(int(e.cloth_id))} <= set(spec.categories)
    ]
    if not keep:
        raise ValueError(f"{root}: no {split} pair of the categories {spec.categories}; raise data.n")
    pairs = TrainingPairs(
        Subset(base, keep),
        seed=seed,
        size=spec.size,
        parse_to_common=to_common,
        densepose_from_parse=densepose_from_parse,
    )
    return pairs, [f"{base.entries[i].person_id}__{base.entries[i].cloth_id}" for i in keep]
