"""``python -m bench.speed {all,model,correlation,synth,cache,startup,metrics,width}``."""

from __future__ import annotations

import click
import torch

from bench.speed import correlation, data, metrics, model, startup, width
from bench.speed.timing import BUSY_LOAD, Policy, device_name

__all__ = ["main"]


@click.command()
@click.argument(
    "which",
    type=click.Choice(["all", "model", "correlation", "synth", "cache", "startup", "metrics", "width"]),
    default="all",
)
@click.option("--repeats", type=click.IntRange(min=1), default=7, show_default=True, help="Quiet rounds wanted.")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Extra rounds allowed when other processes load the machine above --busy-load.")  # fmt: skip
@click.option("--busy-load", type=click.FloatRange(0, 1), default=BUSY_LOAD, show_default=True,
              help="Outside load (share of the machine's CPU time) above which a round is busy.")  # fmt: skip
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--pairs", type=click.IntRange(min=2), default=200, show_default=True, help="metrics: image pairs.")
@click.option("--check", is_flag=True, help="metrics: fail if SSIM, LPIPS or KID differ between the two sides.")
def main(which: str, repeats: int, retries: int, busy_load: float, device: str, pairs: int, check: bool) -> None:
    """Print the speed benchmarks: per figure the ratio (min / median), the share of the measured peak and the
    outside load."""
    if which in ("metrics", "width", "startup") and device != "cpu":
        raise click.UsageError(f"the {which} benchmark runs on CPU only")
    target = torch.device(device)
    if target.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    click.echo(f"device: {device_name(target)} | torch {torch.__version__} | fp32 | busy above outside load "
               f"{busy_load:.2f}")  # fmt: skip
    policy = Policy(busy_load, retries)
    if which in ("all", "model"):
        model.bench_model(target, repeats, policy)
    if which in ("all", "correlation"):
        correlation.bench_correlation(target, repeats, policy)
    if which in ("all", "synth"):
        data.bench_synth()
    if which in ("all", "cache"):
        data.bench_cache(policy=policy)
    if which in ("all", "startup"):
        startup.bench_startup(max(repeats, 10), policy)
    if which == "width" or (which == "all" and target.type == "cpu"):
        width.bench_width(repeats, policy)
    if which == "metrics":
        metrics.bench_metrics(pairs, check=check, policy=policy)
