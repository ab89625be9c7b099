"""Synthetic try-on data with exact ground truth, written in any of the supported on-disk layouts.

``synthesize(layout, out, n=…)`` renders people wearing their own garment (the paired set), pairs each
test person with another person's garment (the unpaired list), and hands both to the layout's writer.
Beside the layout it writes what no real dataset has, under ``<out>/_truth/test/``: the true unpaired
try-on images and the true garment flows (float16, normalised, align_corners=True), plus
``<out>/synth.json`` recording how the data was made.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.data.encode import encode_image
from bench.data.readers import InputError
from bench.data.synthetic.record import SynthGarment, SynthPerson
from pftryon.models import atomic_write

__all__ = ["LAYOUTS", "SYNTH_VERSION", "derangement", "synthesize"]

SYNTH_VERSION = 1
LAYOUTS: dict[str, str] = {
    "viton": "bench.data.viton:write_viton",
    "viton-pfafn": "bench.data.viton:write_viton_pfafn",
    "viton-hd": "bench.data.vitonhd:write_viton_hd",
    "dresscode": "bench.data.dresscode:write_dresscode",
    "mpv": "bench.data.mpv:write_mpv",
    "vvt": "bench.data.vvt:write_vvt",
}
# Layouts whose writer keeps only unpaired pairs within one garment category (Dress Code's lists).
_SAME_CATEGORY_LAYOUTS = ("dresscode",)
Writer = Callable[[Path, str, list[SynthPerson], list[SynthGarment], list[tuple[int, int]]], None]


def _writer(layout: str) -> Writer:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    module, name = LAYOUTS[layout].split(":")
    return getattr(importlib.import_module(module), name)


def _unpaired(garments: list[SynthGarment], seed: int) -> list[tuple[int, int]]:
    """Each person with another person's garment, of the same category where the category has two or more."""
    groups = [[i for i, g in enumerate(garments) if g.category == c] for c in sorted({g.category for g in garments})]
    singles = [group[0] for group in groups if len(group) == 1]
    groups = [group for group in groups if len(group) > 1]
    if len(singles) > 1:
        groups.append(singles)  # lone garments of several categories are exchanged among themselves
    elif singles and groups:
        groups[-1] = groups[-1] + singles  # a single lone garment joins another category's cycle
    pairs = []
    for members in groups:
        pairs += [(members[a], members[b]) for a, b in enumerate(derangement(len(members), seed + len(pairs)))]
    return sorted(pairs)


def derangement(n: int, seed: int) -> list[int]:
    """A deterministic permutation of ``range(n)`` with no fixed point (identity when n < 2)."""
    if n < 2:
        return list(range(n))
    order = np.random.default_rng([seed, 7]).permutation(n)
    # Shifting a random cycle order by one maps every element to another.
    target = np.empty(n, dtype=int)
    target[order] = np.roll(order, -1)
    return target.tolist()


def _split_counts(n: int, test_fraction: float) -> dict[str, int]:
    if n < 4 or test_fraction == 0:
        test = 0 if test_fraction == 0 else min(n, 2)
    else:
        test = min(n - 2, max(2, round(n * test_fraction)))  # an unpaired list needs two people
    return {"train": n - test, "test": test}


def _split_indices(counts: dict[str, int], category: Callable[[int], str] | None) -> dict[str, list[int]]:
    """The world indices of each split: the train split first, the test split last, except that with ``category``
    (a layout whose unpaired list keeps within categories) two test garments share a category when any two can."""
    n = sum(counts.values())
    test = list(range(counts["train"], n))
    if category is not None and len(test) >= 2:
        labels = [category(i) for i in range(n)]
        if len({labels[i] for i in test}) == len(test):
            common = max(sorted(set(labels)), key=labels.count)
            keep = [i for i in range(n) if labels[i] == common][-2:]
            others = [i for i in reversed(range(n)) if i not in keep][: len(test) - len(keep)]
            test = sorted(keep + others)
    return {"train": [i for i in range(n) if i not in test], "test": test}


def _save_flow(path: Path, person: SynthPerson) -> None:
    flow = np.where(person.garment_region[..., None], person.flow, np.nan).astype(np.float16)
    buffer = BytesIO()
    np.save(buffer, flow)
    atomic_write(path, buffer.getvalue())


def synthesize(
    layout: str,
    out: str | os.PathLike[str],
    *,
    n: int,
    size: tuple[int, int] = (256, 192),
    parse_noise: float = 0.0,
    seed: int = 0,
    test_fraction: float = 0.2,
    frames: int = 4,
    background: str = "varied",
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` synthetic pairs (VVT: ``n`` videos of ``frames`` frames) in ``layout`` under ``out``.

    ``background`` is one of :data:`~bench.data.synthetic.render.BACKGROUNDS` (``studio``: VITON's plain backdrop).
    ``out`` must be new or empty, so that no earlier file stays beside the new ones; ``overwrite`` empties it first.

    Returns the manifest also written to ``out/synth.json``.

    Raises:
        InputError: ``out`` is not a writable folder, or holds files and ``overwrite`` is false.
    """
    from bench.data.synthetic.render import SyntheticWorld
    from bench.output_dir import check_writable, clear_dir

    if not 0.0 <= parse_noise <= 1.0:
        raise ValueError(f"parse_noise must lie in [0, 1], got {parse_noise}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    write = _writer(layout)
    out = check_writable(out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError(f"{out}: holds files of an earlier dataset; pass --overwrite to replace it or choose "
                             "another --out")  # fmt: skip
        clear_dir(out)
    world = SyntheticWorld(seed, size, background)
    counts = _split_counts(n, test_fraction)
    splits = _split_indices(counts, world.category if layout in _SAME_CATEGORY_LAYOUTS else None)
    start = 0
    with tqdm(total=n, unit="video" if layout == "vvt" else "pair", disable=not progress) as bar:
        for split, indices in splits.items():
            if not indices:
                continue
            start += len(indices)
            garments = [world.garment(i) for i in indices]
            unpaired = _unpaired(garments, seed + start)
            partner = dict(unpaired)
            people: list[SynthPerson] = []
            for k, i in enumerate(indices):
                if layout == "vvt":
                    people += world.video(i, i, frames)
                else:
                    people.append(world.person(i, i, parse_noise=parse_noise))
                bar.update(1)
                if layout != "vvt" and split == "test":
                    truth = out / "_truth" / split
                    _save_flow(truth / "flow" / f"{people[-1].person_id}__{people[-1].garment_id}.npy", people[-1])
                    if k in partner:
                        fake = world.tryon(i, indices[partner[k]])
                        name = f"{people[-1].person_id}__{fake.garment_id}"
                        atomic_write(truth / "tryon" / f"{name}.png", encode_image(fake.image, "PNG"))
                        _save_flow(truth / "flow" / f"{name}.npy", fake)
            write(out, split, people, garments, unpaired)
    manifest = {
        "generator": "pftryon synthetic",
        "version": SYNTH_VERSION,
        "layout": layout,
        "seed": seed,
        "size": list(size),
        "parse_noise": parse_noise,
        "background": background,
        "pairs": counts,
        "frames_per_video": frames if layout == "vvt" else None,
        "truth": "_truth/test/{tryon,flow}/<person>__<garment>.{png,npy}" if layout != "vvt" else None,
    }
    atomic_write(out / "synth.json", json.dumps(manifest, indent=2) + "\n")
    return manifest
