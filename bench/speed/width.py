"""The width knob: what ``width`` 0.125 costs with the warp's flow heads scaled against kept at 128/64/32.

Warp FLOPs against the full warp (goal <= 1/20), and pf-warp training steps at batch 4 timed interleaved. Run it with
``OMP_NUM_THREADS=1`` on a machine whose cores are shared: oversubscribed threads slow it 10x+.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import click
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.speed.peak import compare_with_peak
from bench.speed.timing import DEFAULT_POLICY, Policy
from pftryon import PBAFN, save_pretrained
from pftryon.models.afwm import AFWM
from pftryon.representation import pose_maps
from pftryon.train.config import TrainConfig
from pftryon.train.stages import build_stage, scaled_widths

__all__ = ["bench_width", "warp_flops"]


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
    repeats: int,
    policy: Policy = DEFAULT_POLICY,
    *,
    width: float = 0.125,
    sizes: tuple[tuple[int, int], ...] = ((128, 96), (256, 192)),
) -> dict[str, float | None]:
    """The width knob with and without the flow heads: warp FLOPs and pf-warp training steps on the CPU.

    Returns the figures printed: ``flops_ratio`` (warp at ``width`` over the full warp, heads scaled),
    ``flops_ratio_old_heads``, and per size ``HxW`` the step-time ratios ``HxW_min`` / ``HxW_median`` (official
    heads over scaled heads), ``HxW_peak_fraction`` (scaled heads' step) and ``HxW_load`` (outside load).
    """
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
               f"heads, interleaved, {repeats} quiet repeats; ms min / median")  # fmt: skip
    for size in sizes:
        batch = _training_batch(size, 4)
        with tempfile.TemporaryDirectory() as folder:
            steps = {
                name: _pf_warp_step(batch, width, scaled, Path(folder) / name)
                for name, scaled in (("official", False), ("scaled", True))
            }
            with FlopCounterMode(display=False) as counter:
                steps["scaled"]()
            result, peak = compare_with_peak(steps, repeats=repeats, warmup=1, policy=policy)
        label = f"{size[0]}x{size[1]}"
        fraction = peak.fraction(counter.get_total_flops() / 1e9, result.min("scaled"))
        results[f"{label}_min"], results[f"{label}_median"] = result.ratio("official", "scaled")
        results[f"{label}_peak_fraction"], results[f"{label}_load"] = fraction, result.load
        click.echo(f"  {label:8s} official heads {result.min('official'):7.0f} / {result.median('official'):7.0f} | "
                   f"scaled heads {result.min('scaled'):7.0f} / {result.median('scaled'):7.0f} | "
                   f"{result.figure('official', 'scaled', fraction, peak.gflops)}")  # fmt: skip
    return results
