"""Synthetic data generation and the Arrow dataset cache (I/O and decoding: no FLOPs, no share of peak)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from bench.speed.timing import DEFAULT_POLICY, Policy, compare, outside_load, read_cpu_times

__all__ = ["bench_cache", "bench_synth"]


def bench_synth(pairs: int = 1000) -> None:
    """Render and write ``pairs`` synthetic pairs at 256x192 in the VITON layout (goal: < 60 s)."""
    from bench.data.synthetic import synthesize

    with tempfile.TemporaryDirectory() as folder:
        before, start = read_cpu_times(), time.perf_counter()
        synthesize("viton", folder, n=pairs, size=(256, 192), seed=0, progress=False)
        seconds, load = time.perf_counter() - start, outside_load(before, read_cpu_times())
    click.echo(f"\nSynthetic data: {pairs} pairs at 256x192 rendered and written in the viton layout "
               f"(with test-split ground truth): {seconds:.1f} s, {pairs / seconds:.0f} pairs/s "
               f"(goal < 60 s); outside load {'unknown' if load is None else f'{load:.2f}'}")  # fmt: skip


def bench_cache(pairs: int = 400, repeats: int = 3, policy: Policy = DEFAULT_POLICY) -> None:
    """One pass over a dataset from its Arrow cache against decoding its files again."""
    from bench.data import create_dataset
    from bench.data.cache import cache_dataset
    from bench.data.synthetic import synthesize

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "viton"
        synthesize("viton", root, n=pairs, size=(256, 192), seed=0, test_fraction=0.0, progress=False)
        dataset = create_dataset("viton", root, split="train")
        start = time.perf_counter()
        cached = cache_dataset(dataset, Path(folder) / "cache")
        build = time.perf_counter() - start
        result = compare(
            {"files": lambda: [dataset[i] for i in range(len(dataset))],
             "cache": lambda: [cached[i] for i in range(len(cached))]},
            repeats=repeats, warmup=1, policy=policy,
        )  # fmt: skip
    click.echo(f"\nDataset pass, {len(dataset)} VITON samples at 256x192 (person, cloth, mask, parse, keypoints); "
               "s min / median")  # fmt: skip
    click.echo(f"  decoding JPEG/PNG/JSON {result.min('files') / 1e3:5.2f} / {result.median('files') / 1e3:5.2f} | "
               f"Arrow cache {result.min('cache') / 1e3:5.2f} / {result.median('cache') / 1e3:5.2f} | "
               f"{result.figure('files', 'cache')} (goal >= 2x); building the cache took {build:.1f} s")  # fmt: skip
