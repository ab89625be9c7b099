"""The suite's datasets: roots on disk or generated synthetic data, their pair lists and content fingerprints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import TryOnDataset, create_dataset
from bench.data.base import read_pair_list
from bench.data.cache import content_fingerprint
from bench.data.readers import InputError
from bench.data.synthetic.render import SyntheticWorld
from bench.suite.config import DatasetSpec
from bench.train.data import prepare_data
from bench.train.recipe import Recipe
from bench.train.runs import Progress
from pftryon.models import atomic_write

__all__ = ["PreparedDataset", "prepare_dataset", "restrict_categories"]

_LISTS = ("train_pairs.txt", "test_pairs.txt", "test_pairs_same.txt")


@dataclass
class PreparedDataset:
    """A dataset column ready to use: its spec, folder, loaders per pair mode and their fingerprints."""

    spec: DatasetSpec
    root: Path
    loaders: dict[str, TryOnDataset]
    fingerprints: dict[str, str]
    notes: list[str]
    truth: Path | None = None  # synthetic ground truth (_truth/<split>) when generated

    @property
    def key(self) -> str:
        return self.spec.key

    def describe(self) -> dict[str, Any]:
        """Folder, options, pair counts and fingerprints (for run.json)."""
        return {
            "name": self.spec.name, "root": str(self.root), "split": self.spec.split, "options": self.spec.options,
            "size": self.spec.size, "limit": self.spec.limit, "pairs": {m: len(d) for m, d in self.loaders.items()},
            "fingerprint_sha256": self.fingerprints, "synthetic_truth": str(self.truth) if self.truth else None,
            "notes": self.notes,
        }  # fmt: skip


def restrict_categories(root: Path, recipe: Recipe) -> str:
    """Keep in the pair lists of synthetic VITON data only the pairs whose garments are of the recipe's categories
    (VITON holds tops only; the files of the other people stay on disk). Idempotent; returns what was done."""
    world = SyntheticWorld(recipe.data.seed, recipe.data.size, recipe.data.background)
    kept, dropped = 0, 0
    for name in _LISTS:
        path = root / name
        if not path.is_file():
            continue
        rows = read_pair_list(path)
        keep = [r for r in rows if world.category(int(Path(r[1]).stem.split("_")[0])) in recipe.data.categories]
        kept, dropped = kept + len(keep), dropped + len(rows) - len(keep)
        if len(keep) != len(rows):
            atomic_write(path, "".join(f"{person} {cloth}\n" for person, cloth in keep))
    stamp = root / "suite_lists.json"
    record = json.loads(stamp.read_text()) if stamp.is_file() else {"kept": kept, "dropped": dropped}
    atomic_write(stamp, json.dumps({**record, "categories": list(recipe.data.categories)}, indent=2) + "\n")
    return (f"synthetic pair lists restricted to {', '.join(recipe.data.categories)} garments "
            f"({record['kept']} rows kept, {record['dropped']} dropped)")  # fmt: skip


def prepare_dataset(spec: DatasetSpec, root: Path, recipe: Recipe | None, progress: Progress) -> PreparedDataset:
    """Generate (``recipe`` given: the recipe's synthetic data into ``root``) or check a dataset, and index its paired
    and unpaired lists of ``spec.split`` (first ``spec.limit`` pairs) with their content fingerprints."""
    notes = []
    if recipe is not None:
        prepare_data(recipe.data, root, progress)
        notes.append(restrict_categories(root, recipe))
    elif not root.is_dir():
        raise InputError(f"{root}: dataset folder of {spec.key} not found (give it with --root-for {spec.name}=DIR)")
    loaders, fingerprints, hashed = {}, {}, {}
    for mode in ("paired", "unpaired"):
        loader = create_dataset(spec.name, root, split=spec.split, pair_mode=mode, size=spec.size, **spec.options)
        if spec.limit is not None:
            loader.entries = loader.entries[: spec.limit]
        loaders[mode], fingerprints[mode] = loader, content_fingerprint(loader, hashed)
    if spec.size is not None:
        notes.append(
            f"{spec.key}: inputs resized by the {spec.name} loader to {spec.size[0]}x{spec.size[1]} (bilinear images, "
            "nearest masks and labels) before every method; the references are the files as stored, and each "
            "protocol resizes them or refuses as its source does"
        )
    foreign = sum(e.person_id != e.cloth_id for e in loaders["paired"].entries)
    if foreign:
        total = len(loaders["paired"])
        notes.append(
            f"{spec.key}: {foreign} of {total} pairs of the paired list put another garment on the person; their "
            "SSIM/PSNR/LPIPS compare with the photo in the person's own garment, not a ground truth"
        )
    truth = root / "_truth" / spec.split if recipe is not None else None
    return PreparedDataset(spec, root, loaders, fingerprints, notes, truth)
