"""Speed benchmarks printed by ``make bench``; every figure is measured in the run that prints it.

* ``model``: PF-AFN inference at 256x192, batch 1: the straightforward path (eval mode, ``no_grad``,
  NCHW) against the fast path (:func:`pftryon.models.optimize_for_inference`: BatchNorm folded,
  channels-last, ``inference_mode``). The two are timed interleaved, and the run fails if their outputs
  differ beyond the conformance tolerances.
* ``correlation``: the correlation layer against the direct loop of 49 shifted products under autograd,
  forward alone and forward + backward, at PF-AFN's finest level.

* ``synth``: rendering and writing 1,000 synthetic pairs at 256x192 in the VITON layout (goal: < 60 s).
* ``cache``: one pass over a dataset from its Arrow cache against decoding its JPEG/PNG/JSON files again.
* ``metrics`` (minutes, so not in ``all``): our SSIM + LPIPS + FID + KID pass against the usual toolchain on the same
  images and weight files (:mod:`bench.metric_speed`); ``--pairs N``, ``--check`` fails if the values disagree.
* ``width`` (CPU, minutes, not in ``all``): what ``width`` 0.125 costs with the warp's flow heads scaled against
  kept at the official 128/64/32 (``TrainConfig.scale_flow_heads``): warp FLOPs against the full warp (goal
  <= 1/20), and pf-warp training steps at batch 4, 128x96 and 256x192, timed interleaved (min and median).
  Run it with ``OMP_NUM_THREADS=1`` on a machine whose cores are shared: oversubscribed threads slow it 10x+.

Timing needs no trained weights; the deterministic conformance weights are used. Medians over repeats;
the ratios, measured side by side, are the figures to compare across machines.

Usage: ``python -m bench.speed {all,model,correlation,synth,cache,metrics,width} [--repeats N] [--device cpu|cuda]``.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click
import torch
from torch.utils.flop_counter import FlopCounterMode

from pftryon import PBAFN, PFAFN, save_pretrained
from pftryon.layers import local_correlation, local_correlation_reference
from pftryon.models import init_deterministic_, optimize_for_inference
from pftryon.models.afwm import AFWM
from pftryon.representation import pose_maps
from pftryon.train.config import TrainConfig
from pftryon.train.stages import build_stage, scaled_widths

__all__ = ["bench_width", "device_name", "interleaved_times", "sync_device", "time_interleaved", "warp_flops"]


def sync_device(device: torch.device) -> None:
    """Wait for queued work on ``device`` (CUDA); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_times(
    candidates: dict[str, Callable[[], object]], *, repeats: int, warmup: int = 2, device: torch.device
) -> dict[str, list[float]]:
    """Every wall time in ms of each candidate, run in turn so that machine drift hits all alike."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            sync_device(device)
            start = time.perf_counter()
            fn()
            sync_device(device)
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def time_interleaved(
    candidates: dict[str, Callable[[], object]], *, repeats: int, warmup: int = 2, device: torch.device
) -> dict[str, float]:
    """Median wall time in ms of each candidate (:func:`interleaved_times`)."""
    times = interleaved_times(candidates, repeats=repeats, warmup=warmup, device=device)
    return {name: statistics.median(values) for name, values in times.items()}


def cpu_model() -> str:
    """The CPU model (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    """The GPU name, or the CPU model and thread count, for result headers."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {torch.get_num_threads()} threads"


def _header(device: torch.device) -> None:
    click.echo(f"device: {device_name(device)} | torch {torch.__version__} | fp32")


def bench_model(device: torch.device, repeats: int) -> None:
    model = PFAFN()
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    model = model.eval().to(device)
    fast = optimize_for_inference(model)
    g = torch.Generator().manual_seed(0)
    edge = (torch.rand(1, 1, 256, 192, generator=g) > 0.5).float().to(device)
    person = (torch.rand(1, 3, 256, 192, generator=g) * 2 - 1).to(device)
    cloth = (torch.rand(1, 3, 256, 192, generator=g) * 2 - 1).to(device) * edge

    def straightforward() -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return model(person, cloth, edge)

    def fastest() -> dict[str, torch.Tensor]:
        with torch.inference_mode():
            return fast(person, cloth, edge)

    with FlopCounterMode(display=False) as counter:
        reference = straightforward()
    gflop = counter.get_total_flops() / 1e9
    candidate = fastest()
    flow_error = (candidate["flow"] - reference["flow"]).abs().max().item()
    image_error = (candidate["tryon"] - reference["tryon"]).abs().max().item()
    if flow_error > 1e-4 or image_error > 1e-3:
        raise click.ClickException(f"fast path differs: flow {flow_error:.2e} (tol 1e-4), try-on {image_error:.2e}")
    ms = time_interleaved({"straightforward": straightforward, "fast": fastest}, repeats=repeats, device=device)
    click.echo("\nPF-AFN inference, 256x192, batch 1 (warp + generator + composition)")
    click.echo(f"  straightforward (eval, no_grad, NCHW)            {ms['straightforward']:8.1f} ms")
    click.echo(f"  fast (BN folded, channels-last, inference_mode)  {ms['fast']:8.1f} ms")
    click.echo(f"  speed-up {ms['straightforward'] / ms['fast']:.2f}x (goal >= 1.5x); "
               f"max |diff|: flow {flow_error:.1e}, try-on {image_error:.1e}")  # fmt: skip
    click.echo(f"  work: {gflop:.1f} GFLOP per pair (torch.utils.flop_counter, convolutions and matmuls); "
               f"fast path sustains {gflop / ms['fast'] * 1e3:.0f} GFLOP/s")  # fmt: skip


def bench_correlation(device: torch.device, repeats: int) -> None:
    click.echo("\nCorrelation (49 displacements, 256 channels) vs the loop of 49 shifted products under autograd")
    for label, shape, backward in (
        ("forward, batch 1, 128x96", (1, 256, 128, 96), False),
        ("forward + backward, batch 4, 64x48", (4, 256, 64, 48), True),
        ("forward + backward, batch 1, 128x96", (1, 256, 128, 96), True),
    ):
        g = torch.Generator().manual_seed(0)
        first = torch.randn(shape, generator=g).to(device).requires_grad_(backward)
        second = torch.randn(shape, generator=g).to(device).requires_grad_(backward)
        upstream = torch.randn(shape[0], 49, *shape[2:], generator=g).to(device)

        def run(fn: Callable[..., torch.Tensor], first=first, second=second, upstream=upstream, backward=backward):
            if not backward:
                with torch.no_grad():
                    return fn(first, second)
            return torch.autograd.grad((fn(first, second) * upstream).sum(), (first, second))

        ms = time_interleaved(
            {"loop": lambda: run(local_correlation_reference), "ours": lambda: run(local_correlation)},
            repeats=repeats,
            device=device,
        )
        click.echo(f"  {label:38s} loop {ms['loop']:8.1f} ms | ours {ms['ours']:8.1f} ms | "
                   f"speed-up {ms['loop'] / ms['ours']:.2f}x")  # fmt: skip
    click.echo("  (goal >= 3x; the forward alone is memory-bound, the gain is in the adjoint)")


def warp_flops(width: float, *, scale_flow_heads: bool = True, size: tuple[int, int] = (256, 192)) -> tuple[int, int]:
    """``(total, flow heads)`` FLOPs of one PF-AFN warp forward (batch 1, ``size``) at ``width``.

    Counted by :mod:`torch.utils.flop_counter` (convolutions and matmuls; the correlation's 49 channel means, under
    0.5% of the full warp, are not). Every layer's count is proportional to ``H * W``, so ratios do not depend
    on ``size``.
    """
    widths = scaled_widths(width, scale_flow_heads=scale_flow_heads)
    warp = AFWM(3, widths["channels"], widths["fpn_dim"], widths["flow_channels"]).eval()
    g = torch.Generator().manual_seed(0)
    person, cloth = (torch.rand(1, 3, *size, generator=g) * 2 - 1 for _ in range(2))
    edge = torch.ones(1, 1, *size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        warp(person, cloth, edge)
    per_module = counter.get_flop_counts()
    return counter.get_total_flops(), sum(per_module["AFWM.aflow_net"].values())


def _training_batch(size: tuple[int, int], batch_size: int) -> dict[str, torch.Tensor]:
    """A training batch as :class:`~pftryon.train.data.TrainingPairs` collates it, of synthetic people.

    Each is an upper-body person with their own garment and another person's (the unpaired garment).
    """
    from bench.data.schema import to_common
    from bench.data.synthetic.render import SyntheticWorld

    def image(array: object) -> torch.Tensor:
        return torch.as_tensor(array).permute(2, 0, 1).float() / 127.5 - 1

    def mask(array: object) -> torch.Tensor:
        return (torch.as_tensor(array)[None] > 127).float()

    world = SyntheticWorld(0, size, background="studio")
    uppers = [i for i in range(16 * batch_size) if world.category(i) == "upper_body"][: 2 * batch_size]
    items = []
    for index, (own, other) in enumerate(zip(uppers[:batch_size], uppers[batch_size:], strict=True)):
        person, garment, unpaired = world.person(own), world.garment(own), world.garment(other)
        items.append(
            {
                "person": image(person.image),
                "cloth": image(garment.image),
                "cloth_mask": mask(garment.mask),
                "cloth_un": image(unpaired.image),
                "cloth_mask_un": mask(unpaired.mask),
                "parse": to_common(person.parse, "lip21"),
                "densepose": torch.as_tensor(person.densepose).long(),
                "pose": pose_maps(person.keypoints, *size),
                "index": torch.tensor(index),
            }
        )
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def _pf_warp_step(
    batch: dict[str, torch.Tensor], width: float, scale_flow_heads: bool, folder: Path
) -> Callable[[], None]:
    """One Adam step of the pf-warp stage on ``batch``, student and tutor at ``width``.

    Phase 1 (every warp parameter trains), adjustable distillation, and the tutor's fake images read from a
    fake cache after the first step, as in the ablation runs.
    """
    torch.manual_seed(0)
    tutor = save_pretrained(PBAFN(**scaled_widths(width, scale_flow_heads=scale_flow_heads)), folder / "tutor")
    config = TrainConfig.for_stage(
        "pf-warp", width=width, scale_flow_heads=scale_flow_heads, size=tuple(batch["person"].shape[-2:]),
        batch_size=len(batch["index"]), perceptual="none", init=str(tutor), tutor=str(tutor),
        fake_cache=str(folder / "fakes"),
    )  # fmt: skip
    stage = build_stage(config).train()
    epoch = config.niter + 1
    optimizer = torch.optim.Adam([p for g in stage.param_groups(stage.phase(epoch)) for p in g.params], lr=config.lr)

    def step() -> None:
        loss, _ = stage(batch, epoch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def bench_width(
    repeats: int, *, width: float = 0.125, sizes: tuple[tuple[int, int], ...] = ((128, 96), (256, 192))
) -> dict[str, float]:
    """The width knob with and without the flow heads: warp FLOPs and pf-warp training steps on the CPU.

    Returns the figures printed: ``flops_ratio`` (warp at ``width`` over the full warp, heads scaled),
    ``flops_ratio_old_heads``, and per size ``HxW`` the step-time ratios ``HxW_min`` / ``HxW_median`` (official
    heads over scaled heads).
    """
    cpu = torch.device("cpu")
    full, full_heads = warp_flops(1.0)
    old, old_heads = warp_flops(width, scale_flow_heads=False)
    new, new_heads = warp_flops(width)
    results = {"flops_ratio": new / full, "flops_ratio_old_heads": old / full}
    click.echo(
        "\nWarp FLOPs, PF-AFN warp forward at 256x192, batch 1 (torch.utils.flop_counter; share of the flow heads)"
    )
    click.echo(f"  width 1.0                          {full / 1e9:7.2f} GFLOP ({full_heads / full:.0%})")
    click.echo(f"  width {width}, official heads     {old / 1e9:7.2f} GFLOP ({old_heads / old:.0%}): "
               f"1/{full / old:.1f} of the full warp")  # fmt: skip
    click.echo(f"  width {width}, scaled heads       {new / 1e9:7.2f} GFLOP ({new_heads / new:.0%}): "
               f"1/{full / new:.1f} of the full warp (goal <= 1/20)")  # fmt: skip
    click.echo(f"\npf-warp training step (forward, backward, Adam), width {width}, batch 4, official heads vs scaled "
               f"heads, interleaved, {repeats} repeats; load average before: {_load()}")  # fmt: skip
    for size in sizes:
        batch = _training_batch(size, 4)
        with tempfile.TemporaryDirectory() as folder:
            steps = {
                name: _pf_warp_step(batch, width, scaled, Path(folder) / name)
                for name, scaled in (("official", False), ("scaled", True))
            }
            times = interleaved_times(steps, repeats=repeats, warmup=1, device=cpu)
        label = f"{size[0]}x{size[1]}"
        best = {name: min(values) for name, values in times.items()}
        median = {name: statistics.median(values) for name, values in times.items()}
        results[f"{label}_min"] = best["official"] / best["scaled"]
        results[f"{label}_median"] = median["official"] / median["scaled"]
        click.echo(f"  {label:8s} official heads {best['official']:7.0f} / {median['official']:7.0f} ms | scaled "
                   f"heads {best['scaled']:7.0f} / {median['scaled']:7.0f} ms (min / median) | speed-up "
                   f"{results[label + '_min']:.2f}x / {results[label + '_median']:.2f}x")  # fmt: skip
    click.echo(f"  load average after: {_load()}")
    return results


def _load() -> str:
    """The 1-, 5- and 15-minute load averages, for the record of a shared machine."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def bench_synth(pairs: int = 1000) -> None:
    from bench.data.synthetic import synthesize

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        synthesize("viton", folder, n=pairs, size=(256, 192), seed=0, progress=False)
        seconds = time.perf_counter() - start
    click.echo(f"\nSynthetic data: {pairs} pairs at 256x192 rendered and written in the viton layout "
               f"(with test-split ground truth): {seconds:.1f} s, {pairs / seconds:.0f} pairs/s "
               "(goal < 60 s)")  # fmt: skip


def bench_cache(pairs: int = 400) -> None:
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
        ms = time_interleaved(
            {"files": lambda: [dataset[i] for i in range(len(dataset))],
             "cache": lambda: [cached[i] for i in range(len(cached))]},
            repeats=3, warmup=1, device=torch.device("cpu"),
        )  # fmt: skip
    click.echo(f"\nDataset pass, {len(dataset)} VITON samples at 256x192 (person, cloth, mask, parse, keypoints)")
    click.echo(f"  decoding JPEG/PNG/JSON {ms['files'] / 1e3:6.2f} s | Arrow cache {ms['cache'] / 1e3:6.2f} s | "
               f"speed-up {ms['files'] / ms['cache']:.2f}x (goal >= 2x); "
               f"building the cache took {build:.1f} s")  # fmt: skip


@click.command()
@click.argument(
    "which", type=click.Choice(["all", "model", "correlation", "synth", "cache", "metrics", "width"]), default="all"
)
@click.option("--repeats", type=click.IntRange(min=1), default=7, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--pairs", type=click.IntRange(min=2), default=200, show_default=True, help="metrics: image pairs.")
@click.option("--check", is_flag=True, help="metrics: fail if SSIM, LPIPS or KID differ between the two sides.")
def main(which: str, repeats: int, device: str, pairs: int, check: bool) -> None:
    """Print the speed benchmarks of the PF-AFN implementation."""
    if which in ("metrics", "width") and device != "cpu":
        raise click.UsageError(f"the {which} benchmark runs on CPU only")
    target = torch.device(device)
    if target.type == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    _header(target)
    if which in ("all", "model"):
        bench_model(target, repeats)
    if which in ("all", "correlation"):
        bench_correlation(target, repeats)
    if which in ("all", "synth"):
        bench_synth()
    if which in ("all", "cache"):
        bench_cache()
    if which == "width":
        bench_width(repeats)
    if which == "metrics":
        from bench.metric_speed import bench_metrics

        bench_metrics(pairs, check=check)


if __name__ == "__main__":
    main()
