"""``pftryon eval``: score try-on images under a protocol."""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from bench.cli.options import _ALLOW_UNOFFICIAL_WEIGHTS, _FETCH_WEIGHTS, _csv
from bench.data import DATASETS, dataset_class
from bench.output_dir import check_writable, claim_output

__all__ = ["eval_"]


@click.command("eval")
@click.option("--pred", required=True, type=click.Path(path_type=Path), help="Folder of try-on images to score.")
@click.option("--pred-unpaired", type=click.Path(path_type=Path),
              help="With --dataset: outputs for the unpaired list (FID); default: FID on --pred.")  # fmt: skip
@click.option("--gt", type=click.Path(path_type=Path), help="Folder of reference images matched by file stem.")
@click.option("--dataset", "dataset_name", type=click.Choice(sorted(DATASETS)), help="Score against this dataset.")
@click.option("--root", type=click.Path(path_type=Path), help="The dataset folder (with --dataset).")
@click.option("--pairs-file", type=click.Path(path_type=Path), help="With --dataset: a pair list replacing its own.")
@click.option("--match", type=click.Choice(["names", "lines"]), default="names", show_default=True,
              help="With --dataset: find each listed pair's prediction by its names, or (lines) by the 0-based line "
              "number of the list (PF-AFN's test writes <line>.jpg); line order is never a fallback.")  # fmt: skip
@click.option("--protocol", "protocol_name", required=True,
              help="A shipped protocol (pfafn, hrviton, ladi, catvton, vvt...), all, or a .yaml file.")  # fmt: skip
@click.option("--metrics", help="Comma-separated subset of the protocol's metrics (default: all of them), plus any of "
              "the extras ms_ssim, dists, ssim_garment, ssim_outside, lpips_garment, lpips_outside, clip_sim, "
              "dino_sim, fd_dinov2, precision, recall, fid_inf.")  # fmt: skip
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
@click.option("--strict", is_flag=True,
              help="Refuse (exit 2) when the given pairing fails the pairing check: not clearly better than random "
              "re-pairings of the same files.")  # fmt: skip
@_ALLOW_UNOFFICIAL_WEIGHTS
@_FETCH_WEIGHTS
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out, replacing its report.")
@click.option("--resume", is_flag=True, help="Continue a stopped run in --out (per-sample metrics only).")
def eval_(pred: Path, pred_unpaired: Path | None, gt: Path | None, dataset_name: str | None, root: Path | None,
          pairs_file: Path | None, match: str, protocol_name: str, metrics: str | None, out: Path, crop_panel: int,
          weights_dir: Path | None, batch_size: int, workers: int, device: str, fid_resamples: int,
          feature_cache: Path | None, no_feature_cache: bool, resolution: str | None, allow_partial: bool, strict: bool,
          allow_unofficial_weights: bool, fetch_weights: bool, overwrite: bool, resume: bool) -> None:  # fmt: skip
    """Score try-on images under a named protocol: per-sample CSV, summary with 95% CIs (JSON + Markdown)."""
    from bench.data.cache import default_cache_dir
    from bench.eval import run_eval
    from bench.runtime import resolve_device

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
                                   match=match, strict=strict,
                                   allow_unofficial_weights=allow_unofficial_weights, resume=resume,
                                   fetch_weights=fetch_weights)  # fmt: skip
    click.echo(report)
    for path in written:
        click.echo(f"wrote {path}")
