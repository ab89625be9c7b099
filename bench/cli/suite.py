"""``pftryon bench`` (a benchmark suite) and ``pftryon ablate`` (a training ablation)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.cli.options import _ALLOW_UNOFFICIAL_WEIGHTS, _FETCH_WEIGHTS, _assignments, _parse_settings
from bench.errors import InputError
from bench.output_dir import check_writable, claim_output

__all__ = ["ablate", "bench"]

# Shipped suites and recipes by name, listed in --help without importing the harness.
_SHIPPED = Path(__file__).parents[1]
_SUITES = ", ".join(sorted(p.stem for p in (_SHIPPED / "suites").glob("*.yaml")))
_RECIPES = ", ".join(sorted(p.stem for p in (_SHIPPED / "recipes").glob("*.yaml")))


@click.command()
@click.option("--suite", "suite_name", required=True, help=f"A shipped suite ({_SUITES}) or a suite YAML file.")
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
@_ALLOW_UNOFFICIAL_WEIGHTS
@_FETCH_WEIGHTS
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its report.")
@click.option("--resume", is_flag=True, help="Continue a stopped run: finished cells come from --work, the report "
              "goes into its --out.")  # fmt: skip
def bench(suite_name: str, roots: tuple[str, ...], checkpoints: tuple[str, ...], settings: tuple[str, ...],
          only: tuple[str, ...], limit: int | None, out: Path | None, work: Path, device: str,
          weights_dir: Path | None, skip_missing: bool, allow_unofficial_weights: bool, fetch_weights: bool,
          overwrite: bool, resume: bool) -> None:  # fmt: skip
    """Regenerate a benchmark table: every method x dataset x protocol, latency, published rows, one report.

    Under ``torchrun`` the processes share the work (training with DDP, predictions and scoring sharded); rank 0
    alone times the methods and writes the report."""
    from bench.runtime import init_distributed, is_main_process, resolve_device
    from bench.suite import Suite, load_suite, run_suite, write_suite_report
    from pftryon.train.trainer import TrainingDiverged

    resolve_device(device)
    init_distributed(device)
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
        paths = write_suite_report(result, out) if is_main_process() else []
    if not paths:
        return
    table = next(p for p in paths if p.name == "table.md")
    click.echo(table.read_text())
    for path in paths:
        click.echo(f"wrote {path}")
    timings = result.run["timings"]
    cells = result.run["cells"]
    click.echo(f"total {timings['total_s']:.0f} s; cells computed {cells['computed']}, reused {cells['reused']}")


@click.command()
@click.option("--recipe", required=True, help=f"A shipped recipe ({_RECIPES}) or a recipe YAML file.")
@click.option("--work", type=click.Path(path_type=Path),
              help="Data and training runs; finished runs are reused.  [default: out/ablation/<recipe>]")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), default=Path("reports/ablation"), show_default=True,
              help="Report folder (ablation.{md,csv,json}, per_sample.csv, loss_curves.png, index.html).")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--weights-dir", type=click.Path(path_type=Path), help="Searched first for LPIPS / Inception weights.")
@click.option("--seed", type=click.IntRange(min=0),
              help="Training seed instead of the recipe's (weights, data order, unpaired garments, parse noise; "
                   "the data stay the recipe's): a replicate. Default work out/ablation/<recipe>-seed<N>.")  # fmt: skip
@_ALLOW_UNOFFICIAL_WEIGHTS
@_FETCH_WEIGHTS
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its report.")
def ablate(recipe: str, work: Path | None, out: Path, device: str, weights_dir: Path | None, seed: int | None,
           allow_unofficial_weights: bool, fetch_weights: bool, overwrite: bool) -> None:  # fmt: skip
    """Train PF-AFN's knowledge / distillation variants on synthetic data and score them against its ground truth."""
    import dataclasses
    import time

    from bench.ablate import run_ablation
    from bench.ablate.scoring import prepare_weights
    from bench.report.ablation import write_report
    from bench.runtime import resolve_device
    from bench.train.recipe import load_recipe
    from bench.train.runs import StaleWorkError
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
    note = prepare_weights(spec, weights_dir, fetch=fetch_weights, allow_unofficial_weights=allow_unofficial_weights)
    if note:
        click.echo(note, err=True)
    with claim_output(out, overwrite=overwrite):
        try:
            result = run_ablation(spec, work or default_work, device=device, weights_dir=weights_dir,
                                  allow_unofficial_weights=allow_unofficial_weights, progress=click.echo)  # fmt: skip
        except StaleWorkError as err:
            raise InputError(str(err)) from None
        except TrainingDiverged as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(3)
        for path in write_report(result, out):
            click.echo(f"wrote {path}")
    total = time.perf_counter() - start
    click.echo(f"total time: {total:.0f} s ({total / 60:.1f} min; budget {spec.budget_s / 60:.0f} min)")
