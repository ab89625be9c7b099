"""The ``pftryon`` command line. Commands parse arguments and call the Python API; no logic lives here."""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bench.data import BACKGROUNDS, DATASETS, dataset_class
from bench.errors import EXPECTED_ERRORS, InputError
from bench.output_dir import check_writable, claim_output
from bench.precision import INFERENCE_DTYPES

if TYPE_CHECKING:
    from bench.metrics.needs import Selection

__all__ = ["main"]


# eval, bench and ablate: downloads happen only through this flag or ``pftryon weights fetch``.
_FETCH_WEIGHTS = click.option(
    "--fetch-weights", is_flag=True, help="First download the run's missing metric weights (as pftryon weights fetch)."
)


class _Group(click.Group):
    """Turn expected errors (bad input, bad checkpoints) into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EXPECTED_ERRORS as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="pftryon")
def main() -> None:
    """pftryon: PF-AFN, baselines and a reproducible try-on benchmark."""


@main.command()
@click.option("--dataroot", type=click.Path(path_type=Path), help="Folder with test_img/, test_clothes/, test_edge/.")
@click.option("--pairs", type=click.Path(path_type=Path), help="Lines 'person.jpg cloth.jpg' (e.g. demo.txt).")
@click.option("--person", type=click.Path(path_type=Path), help="A single person image (with --cloth, --edge).")
@click.option("--cloth", type=click.Path(path_type=Path), help="A single garment image.")
@click.option("--edge", type=click.Path(path_type=Path), help="The garment's mask.")
@click.option("--checkpoints", required=True, type=click.Path(path_type=Path),
              help="Folder with warp_model_final.pth + gen_model_final.pth, or a pftryon checkpoint.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (one PNG per pair).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--triptych", is_flag=True, help="Write the official [person | garment | try-on] strip.")
@click.option("--overwrite", is_flag=True, help="Clear --out first when it holds another checkpoint's try-ons.")
def tryon(
    dataroot: Path | None,
    pairs: Path | None,
    person: Path | None,
    cloth: Path | None,
    edge: Path | None,
    checkpoints: Path,
    out: Path,
    device: str,
    batch_size: int,
    triptych: bool,
    overwrite: bool,
) -> None:
    """Run PF-AFN as the official test does, on any device."""
    from bench.tryon import Pair, load_pfafn, read_pairs, resolve_device, run_tryon

    single = (person, cloth, edge)
    if dataroot and pairs and not any(single):
        todo = read_pairs(pairs, dataroot)
    elif all(single) and not (dataroot or pairs):
        todo = [Pair(person, cloth, edge)]
        for path in single:
            if not path.is_file():
                raise InputError(f"{path}: file not found")
    else:
        raise click.UsageError("give either --dataroot and --pairs, or --person, --cloth and --edge")
    target = resolve_device(device)
    check_writable(out)
    model, files = load_pfafn(checkpoints)
    result = run_tryon(model, todo, out, device=target, checkpoints=files, batch_size=batch_size,
                       triptych=triptych, overwrite=overwrite)  # fmt: skip
    repeated = f", {result.duplicates} repeated pair(s) written once" if result.duplicates else ""
    click.echo(f"wrote {len(result.written)} new images to {out} ({result.done_before} already there{repeated})")


def _size(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        height, width = (int(part) for part in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected HxW such as 256x192, got {value!r}") from None
    if height < 32 or width < 32:
        raise click.BadParameter(f"sizes below 32x32 are not supported, got {value!r}")
    return height, width


def _csv(value: str | None) -> tuple[str, ...] | None:
    """``a, b`` as ``("a", "b")``; ``None`` when not given."""
    return None if value is None else tuple(part.strip() for part in value.split(",") if part.strip())


@main.group()
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
@click.option("--overwrite", is_flag=True, help="Empty a non-empty --out first (refused otherwise).")
def synth(layout: str, out: Path, count: int, size: tuple[int, int], parse_noise: float, seed: int,
          test_fraction: float, frames: int, background: str, overwrite: bool) -> None:  # fmt: skip
    """Render synthetic try-on data with exact ground truth in a dataset's official layout."""
    from bench.data.synthetic import synthesize

    manifest = synthesize(layout, out, n=count, size=size, parse_noise=parse_noise, seed=seed,
                          test_fraction=test_fraction, frames=frames, background=background,
                          overwrite=overwrite)  # fmt: skip
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


@main.command("eval")
@click.option("--pred", required=True, type=click.Path(path_type=Path), help="Folder of try-on images to score.")
@click.option("--pred-unpaired", type=click.Path(path_type=Path),
              help="With --dataset: outputs for the unpaired list (FID); default: FID on --pred.")  # fmt: skip
@click.option("--gt", type=click.Path(path_type=Path), help="Folder of reference images matched by file stem.")
@click.option("--dataset", "dataset_name", type=click.Choice(sorted(DATASETS)), help="Score against this dataset.")
@click.option("--root", type=click.Path(path_type=Path), help="The dataset folder (with --dataset).")
@click.option("--pairs-file", type=click.Path(path_type=Path), help="With --dataset: a pair list replacing its own.")
@click.option("--protocol", "protocol_name", required=True,
              help="A shipped protocol (pfafn, hrviton, ladi, catvton, vvt...), all, or a .yaml file.")  # fmt: skip
@click.option("--metrics", help="Comma-separated subset of the protocol's metrics (default: all of them), plus any of "
              "the extras ms_ssim, dists, ssim_garment, ssim_outside, lpips_garment, lpips_outside, clip_sim, "
              "dino_sim, fd_dinov2, precision, recall.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder for the CSV, JSON, Markdown.")
@click.option("--crop-panel", type=click.IntRange(min=1), default=1, show_default=True,
              help="Images are N panels side by side; score the last (PF-AFN's results: 3).")  # fmt: skip
@click.option("--weights-dir", type=click.Path(path_type=Path), help="Searched for metric weights before the hub.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Decoding processes.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--fid-resamples", type=click.IntRange(min=0), default=10, show_default=True,
              help="Bootstrap resamples for the FID std (0: none).")  # fmt: skip
@click.option("--feature-cache", type=click.Path(path_type=Path),
              help="Folder for cached reference-set features [default: $TRYON_CACHE/features].")  # fmt: skip
@click.option("--no-feature-cache", is_flag=True, help="Always recompute the reference features.")
@click.option("--resolution", metavar="HxW",
              help="Evaluation size where the protocol's source has such a switch (hrviton: 1024x768, 512x384, "
              "256x192); default: the protocol's rules (e.g. the predictions' own size).")  # fmt: skip
@click.option("--allow-partial", is_flag=True,
              help="Score a prediction folder lacking some listed pairs (the summary gives the fraction).")  # fmt: skip
@click.option("--allow-unofficial-weights", is_flag=True,
              help="Use metric weights whose sha256 is not the official one (warned in the report).")  # fmt: skip
@_FETCH_WEIGHTS
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its report.")
@click.option("--resume", is_flag=True, help="Continue a stopped run in --out (per-sample metrics only).")
def eval_(pred: Path, pred_unpaired: Path | None, gt: Path | None, dataset_name: str | None, root: Path | None,
          pairs_file: Path | None, protocol_name: str, metrics: str | None, out: Path, crop_panel: int,
          weights_dir: Path | None, batch_size: int, workers: int, device: str, fid_resamples: int,
          feature_cache: Path | None, no_feature_cache: bool, resolution: str | None, allow_partial: bool,
          allow_unofficial_weights: bool, fetch_weights: bool, overwrite: bool, resume: bool) -> None:  # fmt: skip
    """Score try-on images under a named protocol: per-sample CSV, summary with 95% CIs (JSON + Markdown)."""
    from bench.data.cache import default_cache_dir
    from bench.eval import run_eval
    from bench.tryon import resolve_device

    if (gt is None) == (dataset_name is None) or (dataset_name is not None and root is None):
        raise click.UsageError("give either --gt DIR or --dataset NAME --root DIR")
    if gt is not None and (pred_unpaired or pairs_file):
        raise click.UsageError("--pred-unpaired and --pairs-file apply to --dataset only")
    if pairs_file and "pairs_file" not in inspect.signature(dataset_class(dataset_name)).parameters:
        raise click.UsageError(f"--pairs-file does not apply to {dataset_name} (its lists are fixed by its layout)")
    if protocol_name != "all":
        from bench.protocols import load_protocol

        try:
            load_protocol(protocol_name)
        except ValueError as err:
            raise click.UsageError(str(err)) from None
    resolve_device(device)
    wanted = _csv(metrics)
    cache = None if no_feature_cache else feature_cache or default_cache_dir() / "features"
    if cache is not None:
        check_writable(cache, "--feature-cache")
    with claim_output(out, overwrite=overwrite, resume=resume):
        written, report = run_eval(pred, out, protocol_name, gt=gt, dataset=dataset_name, root=root,
                                   pairs_file=pairs_file, pred_unpaired=pred_unpaired, metrics=wanted,
                                   crop_panel=crop_panel, weights_dir=weights_dir, batch_size=batch_size,
                                   workers=workers, device=device, fid_resamples=fid_resamples,
                                   feature_cache=cache, resolution=resolution, allow_partial=allow_partial,
                                   allow_unofficial_weights=allow_unofficial_weights, resume=resume,
                                   fetch_weights=fetch_weights)  # fmt: skip
    click.echo(report)
    for path in written:
        click.echo(f"wrote {path}")


_EXPONENT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _parse_settings(settings: tuple[str, ...], config: type | None = None) -> dict[str, object]:
    """``--set KEY=VALUE`` values read as YAML scalars; each checked against the type of ``config``'s KEY if given."""
    import yaml

    from pftryon.config_types import check_setting

    values = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--set expects key=value, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise click.UsageError(f"--set {key}: cannot read {value!r} ({err.__class__.__name__})") from None
        if isinstance(parsed, str) and _EXPONENT_NUMBER.fullmatch(parsed.strip()):
            parsed = float(parsed)  # YAML 1.1 reads 1e-4 and 5e-5 (no dot) as strings
        key = key.strip().replace("-", "_")
        if config is not None:
            try:
                check_setting(config, key, parsed, f"--set {item}")
            except ValueError as err:
                raise click.UsageError(str(err)) from None
        values[key] = parsed
    return values


@main.command()
@click.option("--method", "method_name", default="pf_afn", show_default=True,
              help="pf_afn, or a trainable baseline (a wrong --stage lists its stages).")  # fmt: skip
@click.option("--stage", required=True, help="A stage of the method, in order (pf_afn: pb-warp, pb-e2e, pf-warp, "
              "pf-e2e).")  # fmt: skip
@click.option("--dataset", "dataset_name", type=click.Choice(sorted(DATASETS)), required=True)
@click.option("--root", required=True, type=click.Path(path_type=Path), help="The dataset folder (train split).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder (checkpoints, log, final).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML of TrainConfig fields.")  # fmt: skip
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override a TrainConfig field: --set width=0.125 --set size=[128,96].")  # fmt: skip
@click.option("--init", type=click.Path(path_type=Path), help="Previous stage's final/model folder.")
@click.option("--tutor", type=click.Path(path_type=Path), help="The trained PB-AFN's final/model folder (pf-*).")
@click.option("--resume", is_flag=True, help="Continue from the newest checkpoint in --out, exactly.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def train(method_name: str, stage: str, dataset_name: str, root: Path, out: Path, config_file: Path | None,
          settings: tuple[str, ...], init: Path | None, tutor: Path | None, resume: bool,
          device: str) -> None:  # fmt: skip
    """Train one stage of PF-AFN or a baseline (official hyper-parameters by default); runs under torchrun for DDP."""
    from bench.training import check_stage, train_on_dataset
    from bench.tryon import resolve_device
    from pftryon.train.config import TrainConfig, load_config
    from pftryon.train.trainer import RunFolderError, TrainingDiverged

    try:
        check_stage(method_name, stage)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    overrides = _parse_settings(settings, TrainConfig) | {k: str(v) for k, v in (("init", init), ("tutor", tutor)) if v}
    overrides["stage"] = stage
    try:
        config = load_config(config_file, **overrides) if config_file else TrainConfig.from_dict(overrides)
    except (ValueError, TypeError) as err:
        raise click.UsageError(str(err)) from None
    resolve_device(device)
    check_writable(out)
    try:
        final = train_on_dataset(config, dataset_name, root, out, device=device, resume=resume)
    except RunFolderError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)
    except TrainingDiverged as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(3)
    click.echo(f"trained {method_name} {stage}: {final}")


@main.command()
@click.option("--recipe", required=True, help="A shipped recipe (synthetic-small, smoke) or a recipe YAML file.")
@click.option("--work", type=click.Path(path_type=Path),
              help="Data and training runs; finished runs are reused.  [default: out/ablation/<recipe>]")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/ablation"), show_default=True,
              help="Report folder (ablation.{md,csv,json}, per_sample.csv, loss_curves.png).")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--weights-dir", type=click.Path(path_type=Path), help="Searched first for LPIPS / Inception weights.")
@click.option("--seed", type=click.IntRange(min=0),
              help="Training seed instead of the recipe's (weights, data order, unpaired garments, parse noise; "
                   "the data stay the recipe's): a replicate. Default work out/ablation/<recipe>-seed<N>.")  # fmt: skip
@_FETCH_WEIGHTS
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its report.")
def ablate(recipe: str, work: Path | None, out: Path, device: str, weights_dir: Path | None, seed: int | None,
           fetch_weights: bool, overwrite: bool) -> None:  # fmt: skip
    """Train PF-AFN's knowledge / distillation variants on synthetic data and score them against its ground truth."""
    import dataclasses
    import time

    from bench.ablate import StaleWorkError, load_recipe, run_ablation, write_report
    from bench.ablate.scoring import prepare_weights
    from bench.tryon import resolve_device
    from pftryon.train.trainer import TrainingDiverged

    start = time.perf_counter()
    try:
        spec = load_recipe(recipe)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if seed is not None:
        spec = dataclasses.replace(spec, seed=seed)
    default_work = Path("out/ablation") / (spec.name if seed is None else f"{spec.name}-seed{seed}")
    resolve_device(device)
    check_writable(work or default_work, "--work")
    note = prepare_weights(spec, weights_dir, fetch=fetch_weights)
    if note:
        click.echo(note, err=True)
    with claim_output(out, overwrite=overwrite):
        try:
            result = run_ablation(spec, work or default_work, device=device, weights_dir=weights_dir,
                                  progress=click.echo)  # fmt: skip
        except StaleWorkError as err:
            raise InputError(str(err)) from None
        except TrainingDiverged as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(3)
        for path in write_report(result, out):
            click.echo(f"wrote {path}")
    total = time.perf_counter() - start
    click.echo(f"total time: {total:.0f} s ({total / 60:.1f} min; budget {spec.budget_s / 60:.0f} min)")


@main.command()
@click.option("--weights", "checkpoints_dir", type=click.Path(path_type=Path),
              help="Also say, per method, whether its official files are in DIR/<method>/.")  # fmt: skip
def methods(checkpoints_dir: Path | None) -> None:
    """List the registered try-on methods: family, inputs, resolution, weights, citation."""
    from bench.methods import list_methods, method_class, method_origin

    for name in list_methods():
        card = method_class(name).card
        if not card.official_files:
            weights = "needs no weights"
        elif checkpoints_dir is None:
            weights = f"weights: {', '.join(card.official_files)} ({card.weights_source})"
        else:
            folder = checkpoints_dir / name
            found = all((folder / f).is_file() for f in card.official_files)
            weights = f"weights {'found' if found else 'NOT found'} in {folder}: {', '.join(card.official_files)}"
        click.echo(f"{name:14s} {card.title} -- {card.family}")
        click.echo(f"{'':14s} from: {method_origin(name)}")
        click.echo(f"{'':14s} inputs: {', '.join(card.inputs)}; {card.resolution[0]}x{card.resolution[1]}; "
                   f"{'parser-free' if card.parser_free else 'parser-based'}")  # fmt: skip
        click.echo(f"{'':14s} {weights}")
        click.echo(f"{'':14s} {card.citation}")


def _assignments(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.UsageError(f"{option} expects NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


@main.command()
@click.option("--method", "method_name", required=True,
              help="A registered method (pftryon methods) or an adapter class as module:Class.")  # fmt: skip
@click.option("--checkpoints", type=click.Path(path_type=Path),
              help="Official files or a pftryon checkpoint (not needed by weight-free methods).")  # fmt: skip
@click.option("--dataset", "dataset_name", required=True, type=click.Choice(sorted(DATASETS)))
@click.option("--root", required=True, type=click.Path(path_type=Path), help="The dataset folder.")
@click.option("--split", default="test", show_default=True)
@click.option("--pairs", "pair_mode", type=click.Choice(["paired", "unpaired"]), default="paired", show_default=True)
@click.option("--pairs-file", type=click.Path(path_type=Path), help="A pair list replacing the layout's own.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Loader option, e.g. --option parse=image-parse-new, --option category=dresses.")  # fmt: skip
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (one PNG per pair).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N pairs of the list.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--size", default=None, callback=_size, help="HxW the loader resizes inputs to (default: as stored).")
@click.option("--save-flow", is_flag=True, help="Also write each pair's flow (<name>.npy) when the method has one.")
@click.option("--dtype", type=click.Choice(INFERENCE_DTYPES), default="fp32", show_default=True,
              help="Opt-in low precision (int8: CPU, the traceable submodules); its error against fp32 on the first "
              "batch is printed and written to predict.json.")  # fmt: skip
@click.option("--resume", is_flag=True, help="Continue a stopped run in --out (its finished images are kept).")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, recomputing every image.")
def predict(method_name: str, checkpoints: Path | None, dataset_name: str, root: Path, split: str, pair_mode: str,
            pairs_file: Path | None, options: tuple[str, ...], out: Path, limit: int | None, batch_size: int,
            device: str, size: tuple[int, int] | None, save_flow: bool, dtype: str, resume: bool,
            overwrite: bool) -> None:  # fmt: skip
    """Run any registered method over any dataset's list: resumable, one PNG per pair, predict.json beside them."""
    import yaml

    from bench.data import create_dataset
    from bench.methods import create_method, method_class
    from bench.predict import predict as run_predict
    from bench.runtime import init_distributed
    from bench.tryon import resolve_device

    try:
        method_class(method_name)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if resume and overwrite:
        raise click.UsageError("--resume keeps the finished images, --overwrite recomputes them: give one")
    check_writable(out)
    method = create_method(method_name, checkpoints)
    target = resolve_device(device)
    init_distributed(target.type)
    loader_options = {k: yaml.safe_load(v) for k, v in _assignments(options, "--option").items()}
    if pairs_file:
        loader_options["pairs_file"] = pairs_file
    try:
        dataset = create_dataset(dataset_name, root, split=split, pair_mode=pair_mode, size=size, **loader_options)
    except TypeError as err:
        raise click.UsageError(f"{dataset_name}: {err}") from None
    with claim_output(out, overwrite=overwrite, resume=resume):
        result = run_predict(method, dataset, out, batch_size=batch_size, device=target, limit=limit,
                             save_flow=save_flow, dtype=dtype, redo=overwrite)  # fmt: skip
    for note in result.manifest["notes"]:
        click.echo(f"note: {note}")
    precision = result.manifest["precision"]
    if dtype != "fp32":
        error, modules = precision["error_vs_fp32"], ", ".join(f"{k} {v}" for k, v in precision["modules"].items())
        click.echo(f"{dtype} ({modules}): against fp32 on the first {len(error['pairs'])} pairs, max |diff| "
                   f"{error['max_abs_diff']:.3g} (try-on, [-1, 1]), 1 - SSIM {error['dssim']:.3g}")  # fmt: skip
    click.echo(f"wrote {result.written} new images to {out} ({result.done_before} already there, "
               f"{result.total} pairs, {result.manifest['duplicates_in_list']} duplicate lines)")  # fmt: skip


@main.command()
@click.option("--suite", "suite_name", required=True, help="A shipped suite (synthetic, pfafn-table1, ...) or a YAML.")
@click.option("--root-for", "roots", multiple=True, metavar="DATASET=DIR", help="A dataset's folder.")
@click.option("--checkpoints-for", "checkpoints", multiple=True, metavar="METHOD=DIR",
              help="A method's checkpoint folder (official files or a pftryon checkpoint).")  # fmt: skip
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Change a suite setting: --set latency.iters=5 --set batch_size=4.")  # fmt: skip
@click.option("--only", "only", multiple=True, metavar="KIND=A,B",
              help="Run a subset: --only method=pf_afn,no_warp --only protocol=pfafn.")  # fmt: skip
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N pairs of every list.")
@click.option("--out", type=click.Path(path_type=Path), help="Report folder [default: reports/<suite>].")
@click.option("--work", type=click.Path(path_type=Path), default=Path("out/bench"), show_default=True,
              help="Data, trained models, predictions and cached cells (reused by fingerprint).")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the methods run (latency: the suite's devices).")  # fmt: skip
@click.option("--weights-dir", type=click.Path(path_type=Path), help="Searched first for LPIPS / Inception weights.")
@click.option("--skip-missing", is_flag=True, help="Run what is there; the report lists missing roots/checkpoints.")
@click.option("--allow-unofficial-weights", is_flag=True,
              help="Use metric weights whose sha256 is not the official one (warned in the report).")  # fmt: skip
@_FETCH_WEIGHTS
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its report.")
@click.option("--resume", is_flag=True, help="Continue a stopped run: finished cells come from --work, the report "
              "goes into its --out.")  # fmt: skip
def bench(suite_name: str, roots: tuple[str, ...], checkpoints: tuple[str, ...], settings: tuple[str, ...],
          only: tuple[str, ...], limit: int | None, out: Path | None, work: Path, device: str,
          weights_dir: Path | None, skip_missing: bool, allow_unofficial_weights: bool, fetch_weights: bool,
          overwrite: bool, resume: bool) -> None:  # fmt: skip
    """Regenerate a benchmark table: every method x dataset x protocol, latency, published rows, one report."""
    from bench.suite import Suite, load_suite, run_suite, write_suite_report
    from bench.tryon import resolve_device
    from pftryon.train.trainer import TrainingDiverged

    resolve_device(device)
    try:
        suite = load_suite(suite_name).override(
            roots=_assignments(roots, "--root-for"), checkpoints=_assignments(checkpoints, "--checkpoints-for"),
            only={k: v.split(",") for k, v in _assignments(only, "--only").items()}, limit=limit,
            settings=_parse_settings(settings, Suite),
        )  # fmt: skip
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    out = out or Path("reports") / suite.name
    with claim_output(out, overwrite=overwrite, resume=resume):
        try:
            result = run_suite(suite, work=work, device=device, weights_dir=weights_dir, skip_missing=skip_missing,
                               allow_unofficial_weights=allow_unofficial_weights, fetch_weights=fetch_weights,
                               progress=lambda message: click.echo(message, err=True))  # fmt: skip
        except TrainingDiverged as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(3)
        paths = write_suite_report(result, out)
    table = next(p for p in paths if p.name == "table.md")
    click.echo(table.read_text())
    for path in paths:
        click.echo(f"wrote {path}")
    timings = result.run["timings"]
    cells = result.run["cells"]
    click.echo(f"total {timings['total_s']:.0f} s; cells computed {cells['computed']}, reused {cells['reused']}")


@main.command()
@click.option("--model", "models", required=True,
              help="Comma-separated: pf_afn, pb_afn, fs_vton, dm_vton, cp_vton, cp_vton_plus, no_warp, any method of "
                   "`pftryon methods`, or an adapter class as module:Class.")  # fmt: skip
@click.option("--size", "sizes", default="256x192", show_default=True, help="Comma-separated HxW.")
@click.option("--batch", "batches", default="1", show_default=True, help="Comma-separated batch sizes.")
@click.option("--dtype", "dtypes", default="fp32", show_default=True,
              help="Comma-separated: fp32, bf16, fp16, tf32 (CUDA), int8 (CPU: quantised copy); non-fp32 rows give "
              "their error against fp32 (max_abs_diff, dssim).")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile first (compile time reported apart).")
@click.option("--channels-last", is_flag=True, help="Channels-last model and inputs.")
@click.option("--optimize", is_flag=True, help="pftryon's inference copy (BatchNorm folded).")
@click.option("--warmup", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--iters", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--out", type=click.Path(path_type=Path),
              help="Folder for latency_<UTC time>.{csv,md}, rewritten as each configuration finishes.")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out (earlier reports stay).")
def latency(models: str, sizes: str, batches: str, dtypes: str, device: str, compile_: bool, channels_last: bool,
            optimize: bool, warmup: int, iters: int, out: Path | None, overwrite: bool) -> None:  # fmt: skip
    """Time models on CPU or GPU: median, p10/p90, images/s, peak memory, parameters, FLOPs."""
    from bench.latency import LatencyReport, latency_table, parse_batches, parse_precisions, parse_sizes, run_latency

    grid = (models, parse_sizes(sizes), parse_batches(batches), parse_precisions(dtypes), device)
    options = {"compile": compile_, "channels_last": channels_last, "optimize": optimize, "warmup": warmup,
               "iters": iters}  # fmt: skip
    if out is None:
        results = run_latency(*grid, **options)
    else:
        with claim_output(out, overwrite=overwrite):
            report = LatencyReport(out)
            results = run_latency(*grid, **options, out_dir=report)
    click.echo(latency_table(results).to_string(index=False))
    if out is not None:
        click.echo(f"wrote {report.csv_path} and {report.md_path}")


@main.group()
def weights() -> None:
    """Metric weights files: what a run needs (list), download them (fetch), check them (verify)."""


def _selectors(command: Callable[..., None]) -> Callable[..., None]:
    """The options that say which run's files: --protocol, --metrics, --suite, --names, --weights-dir."""
    options = [
        click.option("--protocol", "protocols", multiple=True, metavar="P",
                     help="A protocol of the run (name or YAML), repeatable."),
        click.option("--metrics", help="Comma-separated metrics of the run (extras allowed); alone: under every "
                     "shipped protocol."),
        click.option("--suite", help="A suite (name or YAML): its protocols and metrics."),
        click.option("--names", help="Comma-separated table names (pftryon weights list: NAME column)."),
        click.option("--weights-dir", type=click.Path(path_type=Path),
                     help="Searched before the torch hub cache; fetch writes here.  [default: the hub cache]"),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _selection(protocols: tuple[str, ...], metrics: str | None, suite: str | None, names: str | None) -> Selection:
    from bench.metrics.needs import Selection

    selection = Selection(protocols, _csv(metrics), suite, _csv(names) or ())
    try:
        selection.needs()
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    return selection


@weights.command("list")
@_selectors
@click.option("--all", "all_methods", is_flag=True,
              help="Also the official try-on checkpoints of every registered method (manual downloads).")  # fmt: skip
def weights_list(protocols: tuple[str, ...], metrics: str | None, suite: str | None, names: str | None,
                 weights_dir: Path | None, all_methods: bool) -> None:  # fmt: skip
    """Table of the files a run needs (every file without selectors): use, bytes, sha256, where found, URL."""
    from bench.metrics.fetch import weights_table

    click.echo(weights_table(_selection(protocols, metrics, suite, names), weights_dir, all_methods=all_methods))


@weights.command("fetch")
@_selectors
@click.option("--offline-ok", is_flag=True,
              help="Without a connection: one line saying what is missing and how to get it, and exit 0.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds to connect and per read.")  # fmt: skip
def weights_fetch(protocols: tuple[str, ...], metrics: str | None, suite: str | None, names: str | None,
                  weights_dir: Path | None, offline_ok: bool, timeout: float) -> None:  # fmt: skip
    """Download the missing files of a run (every file without selectors) into --weights-dir or the hub cache.

    Resumes <file>.part; checks size and sha256 where pinned before the file gets its name. One line per file that
    fails, exit code 1. PFTRYON_WEIGHTS_MIRROR=URL fetches <URL>/<file name> instead of each file's own URL.
    """
    from bench.metrics.fetch import fetch

    report = fetch(_selection(protocols, metrics, suite, names), weights_dir, timeout=timeout, offline_ok=offline_ok)
    for line in report.fetched:
        click.echo(f"fetched {line}")
    if report.offline:
        click.echo(report.offline)
    for line in report.failed:
        click.echo(f"error: {line}", err=True)
    if report.failed:
        sys.exit(1)
    if not (report.fetched or report.offline):
        click.echo(f"all {len(report.present)} file(s) present")


@weights.command("verify")
@click.option("--weights-dir", type=click.Path(path_type=Path), help="Searched before the torch hub cache.")
def weights_verify(weights_dir: Path | None) -> None:
    """Check the size and sha256 of every weights file present against the table; exit code 1 on a mismatch."""
    from bench.metrics.fetch import verify

    checked = verify(weights_dir)
    for entry in checked:
        click.echo(str(entry))
    if not checked:
        click.echo("no weights file present")
    if any(entry.problem for entry in checked):
        sys.exit(1)


if __name__ == "__main__":
    main()
