"""``pftryon train``: one training stage of PF-AFN or a baseline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.cli.options import _parse_settings
from bench.data import DATASETS
from bench.errors import InputError
from bench.output_dir import check_writable, claim_output

__all__ = ["train"]


@click.command()
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
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint, exactly (a larger "
              "--set max_steps trains a finished run on); with nothing there, start one.")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
def train(method_name: str, stage: str, dataset_name: str, root: Path, out: Path, config_file: Path | None,
          settings: tuple[str, ...], init: Path | None, tutor: Path | None, resume: bool,
          device: str) -> None:  # fmt: skip
    """Train one stage of PF-AFN or a baseline (official hyper-parameters by default); runs under torchrun for DDP."""
    from bench.runtime import resolve_device
    from bench.train.wiring import check_stage, train_on_dataset
    from pftryon.train.config import TrainConfig, load_config
    from pftryon.train.trainer import RESUMABLE_SETTINGS, RunFolderError, TrainingDiverged

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
    with claim_output(out, resume=resume, resumable=[f"--set {key}" for key in RESUMABLE_SETTINGS]):
        try:
            final = train_on_dataset(config, dataset_name, root, out, device=device, resume=resume)
        except RunFolderError as err:
            raise InputError(str(err)) from None
        except TrainingDiverged as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(3)
    click.echo(f"trained {method_name} {stage}: {final}")
