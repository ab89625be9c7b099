"""``pftryon data``: synthesize, check and de-duplicate dataset trees."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from bench.cli.options import _size
from bench.data import BACKGROUNDS, DATASETS, dataset_class
from bench.errors import InputError
from bench.output_dir import claim_output

__all__ = ["data"]


@click.group()
def data() -> None:
    """Generate synthetic datasets and validate dataset trees."""


@data.command()
@click.option("--layout", required=True, type=click.Choice(list(DATASETS)))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write the dataset into.")
@click.option("--n", "count", type=click.IntRange(min=1), default=100, show_default=True,
              help="Pairs in all (VVT: videos), split into train and test.")  # fmt: skip
@click.option("--size", default="256x192", show_default=True, callback=_size, help="HxW.")
@click.option("--parse-noise", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Corruption rate of the parse maps; ground truth stays clean.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--test-fraction", type=click.FloatRange(0, 1), default=0.2, show_default=True)
@click.option("--frames", type=click.IntRange(min=2), default=4, show_default=True, help="Frames per VVT video.")
@click.option("--background", type=click.Choice(BACKGROUNDS), default="varied", show_default=True,
              help="Behind the person: a per-person gradient (varied) or VITON's plain backdrop (studio).")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out (kept until the new data are written).")
def synth(layout: str, out: Path, count: int, size: tuple[int, int], parse_noise: float, seed: int,
          test_fraction: float, frames: int, background: str, overwrite: bool) -> None:  # fmt: skip
    """Render synthetic try-on data with exact ground truth in a dataset's official layout."""
    from bench.data.synthetic import synthesize

    with claim_output(out, overwrite=overwrite) as folder:
        build = folder / ".synth-build"  # synthesize wants an empty folder; the claim's own files are beside it
        manifest = synthesize(layout, build, n=count, size=size, parse_noise=parse_noise, seed=seed,
                              test_fraction=test_fraction, frames=frames, background=background)  # fmt: skip
        for child in build.iterdir():
            child.rename(folder / child.name)
        build.rmdir()
    click.echo(f"wrote {layout} to {out}: " + ", ".join(f"{k} {v}" for k, v in manifest["pairs"].items()))


@data.command()
@click.option("--dataset", "name", required=True, type=click.Choice(list(DATASETS)))
@click.option("--root", required=True, type=click.Path(path_type=Path))
@click.option("--split", "splits", multiple=True, help="Check only these splits (default: all).")
@click.option("--no-decode", is_flag=True, help="Check that files exist, without reading them.")
@click.option("--pairs-file", type=click.Path(path_type=Path),
              help="A pair list replacing the layout's own (viton-pfafn test, mpv), e.g. demo.txt.")  # fmt: skip
@click.option("--skip-bad", is_flag=True, help="Report problems as skipped samples and exit 0.")
def check(name: str, root: Path, splits: tuple[str, ...], no_decode: bool, pairs_file: Path | None,
          skip_bad: bool) -> None:  # fmt: skip
    """Validate a dataset tree: counts per split and protocol, or every problem, one per line."""
    from bench.data.check import check_dataset

    if not root.is_dir():
        raise InputError(f"{root}: dataset folder not found")
    options = {"pairs_file": pairs_file} if pairs_file else {}
    if pairs_file and "pairs_file" not in inspect.signature(dataset_class(name)).parameters:
        raise click.UsageError(f"--pairs-file does not apply to {name}")
    report = check_dataset(name, root, splits=splits or None, decode=not no_decode, **options)
    for (split, mode), count in report.counts.items():
        click.echo(f"{name} {split:5s} {mode:8s} {count:7d} samples")
    if report.problems:
        label = "skipped" if skip_bad else "problem"
        for problem in report.problems:
            click.echo(f"{label}: {problem}", err=True)
        if not skip_bad:
            click.echo(f"error: {len(report.problems)} problem(s) in {root}", err=True)
            sys.exit(2)


@data.command()
@click.option("--dataset", "name", required=True, type=click.Choice(list(DATASETS)))
@click.option("--root", required=True, type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Folder for overlap.csv, overlap.json and test_pairs_clean.txt.")  # fmt: skip
@click.option("--threshold", type=click.IntRange(0, 64), default=12, show_default=True,
              help="Largest Hamming distance (of 64 hash bits) of a candidate pair.")  # fmt: skip
@click.option("--pixel-threshold", type=click.FloatRange(min=0), default=12.0, show_default=True,
              help="Confirmed below this grey-level difference (64x48 thumbnails, worst of 4x4 cells).")  # fmt: skip
@click.option("--field", type=click.Choice(["person", "cloth", "both"]), default="person", show_default=True,
              help="Which images are compared; a test pair whose image is a duplicate is dropped.")  # fmt: skip
@click.option("--pair-mode", type=click.Choice(["unpaired", "paired"]), default="unpaired", show_default=True,
              help="Which test pair list to clean (viton unpaired: test_pairs.txt).")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its files.")
def overlap(name: str, root: Path, out: Path, threshold: int, pixel_threshold: float, field: str, pair_mode: str,
            overwrite: bool) -> None:  # fmt: skip
    """Find test images that near-duplicate train images; write them and the test pair list without them."""
    from bench.data.overlap import find_overlap, write_overlap

    with claim_output(out, overwrite=overwrite):
        report = find_overlap(name, root, field=field, hamming=threshold, pixel=pixel_threshold, pair_mode=pair_mode)
        written = write_overlap(report, out)
    click.echo(report.summary())
    for path in written:
        click.echo(f"wrote {path}")
