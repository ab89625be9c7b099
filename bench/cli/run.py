"""Commands that run methods: ``pftryon tryon``, ``predict``, ``methods`` and ``latency``."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.options import _assignments, _size
from bench.data import DATASETS, dataset_class
from bench.errors import InputError
from bench.output_dir import check_writable, claim_output, replace_output
from bench.precision import INFERENCE_DTYPES

__all__ = ["latency", "methods", "predict", "tryon"]


@click.command()
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
@click.option("--overwrite", is_flag=True,
              help="Replace --out's contents (kept until the new run succeeds).")  # fmt: skip
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
    from bench.runtime import resolve_device
    from bench.tryon import Pair, load_pfafn, read_pairs, run_tryon

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
    with replace_output(out, overwrite=overwrite):
        result = run_tryon(model, todo, out, device=target, checkpoints=files, batch_size=batch_size,
                           triptych=triptych)  # fmt: skip
    repeated = f", {result.duplicates} repeated pair(s) written once" if result.duplicates else ""
    click.echo(f"wrote {len(result.written)} new images to {out} ({result.done_before} already there{repeated})")


@click.command()
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
    from bench.runtime import init_distributed, resolve_device

    try:
        card = method_class(method_name).card
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if resume and overwrite:
        raise click.UsageError("--resume keeps the finished images, --overwrite recomputes them: give one")
    if checkpoints is None and card.official_files:
        raise InputError(
            f"--method {method_name} needs weights: pass --checkpoints DIR holding "
            f"{', '.join(card.official_files)} ({card.weights_source}) or a pftryon checkpoint"
        )
    splits = dataset_class(dataset_name).splits
    if split not in splits:
        raise InputError(f"--split {split}: {dataset_name} has no such split (it has {', '.join(splits)})")
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
    except InputError:
        raise
    except ValueError as err:
        raise InputError(f"--dataset {dataset_name}: {err}") from None
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


@click.command()
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


@click.command()
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
@click.option("--cuda-graph", is_flag=True, help="Time replays of the model captured as a CUDA graph (CUDA; not "
              "with --compile).")  # fmt: skip
@click.option("--offline-s", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Seconds of back-to-back calls for the offline images/s (and energy per image).")  # fmt: skip
@click.option("--stage-iters", type=click.IntRange(min=0), default=5, show_default=True,
              help="Calls with hooks for the stage split (0: none).")  # fmt: skip
@click.option("--no-peak", is_flag=True, help="Skip measuring the device's peak rate.")
@click.option("--out", type=click.Path(path_type=Path),
              help="Folder for latency_<UTC time>.{csv,md}, rewritten as each configuration finishes.")  # fmt: skip
@click.option("--overwrite", is_flag=True, help="Replace the contents of a non-empty --out.")
def latency(models: str, sizes: str, batches: str, dtypes: str, device: str, compile_: bool, channels_last: bool,
            optimize: bool, warmup: int, iters: int, cuda_graph: bool, offline_s: float, stage_iters: int,
            no_peak: bool, out: Path | None, overwrite: bool) -> None:  # fmt: skip
    """Time models on CPU or GPU: single-stream percentiles, offline throughput, cold vs warm, stage split, peak
    memory, FLOPs."""
    from bench.latency import (
        LatencyReport,
        Scenarios,
        latency_text,
        parse_batches,
        parse_precisions,
        parse_sizes,
        run_latency,
    )

    grid = (models, parse_sizes(sizes), parse_batches(batches), parse_precisions(dtypes), device)
    scenarios = Scenarios(offline_s=offline_s, stage_iters=stage_iters, measure_peak=not no_peak)
    options = {"compile": compile_, "cuda_graph": cuda_graph, "channels_last": channels_last, "optimize": optimize,
               "warmup": warmup, "iters": iters, "scenarios": scenarios}  # fmt: skip
    if out is None:
        results = run_latency(*grid, **options)
    else:
        with claim_output(out, overwrite=overwrite):
            report = LatencyReport(out)
            results = run_latency(*grid, **options, out_dir=report)
    click.echo(latency_text(results))
    if out is not None:
        click.echo(f"wrote {report.csv_path} and {report.md_path}")
