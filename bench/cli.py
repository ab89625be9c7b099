"""The ``pftryon`` command line. Commands parse arguments and call the Python API; no logic lives here."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bench.data.readers import InputError
from pftryon.models import CheckpointError

__all__ = ["main"]


class _Group(click.Group):
    """Turn expected errors (bad input, bad checkpoints) into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (InputError, CheckpointError) as err:
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
    model = load_pfafn(checkpoints)
    written = run_tryon(model, todo, out, device=target, batch_size=batch_size, triptych=triptych)
    click.echo(f"wrote {len(written)} new images to {out} ({len(todo) - len(written)} already there)")
