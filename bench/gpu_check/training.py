"""Part (c): one training step of every trainable stage on the device against the same step on the CPU, in fp32
with TF32 off: each stage built once (seeded) on the CPU, copied to the device, fed the same batch of two synthetic
training pairs; the loss before the step must be finite and equal to the CPU's within :data:`LOSS_RTOL`, and so must
the loss after one Adam step. Stages run in each method's order, the next stage initialised from the previous one's
model (``TrainConfig.init``); the tutored ones learn from a deterministic PB-AFN tutor; no perceptual loss (its VGG19
weights are not shipped)."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch

from bench.gpu_check.budget import Part

__all__ = ["LOSS_RTOL", "check_training"]

LOSS_RTOL = 1e-3


def _step(stage: Any, batch: dict[str, torch.Tensor], config: Any) -> tuple[float, float]:
    """Loss before and after one Adam step (the official betas, the stage's learning rates at epoch 1)."""
    groups = stage.param_groups(stage.phase(1))
    optimizer = torch.optim.Adam([{"params": g.params, "lr": config.lr * g.lr_scale} for g in groups],
                                 betas=(config.beta1, config.beta2))  # fmt: skip
    loss, _ = stage(batch, 1)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        after, _ = stage(batch, 1)
    return loss.item(), after.item()


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= LOSS_RTOL * max(1.0, abs(b))


def check_training(part: Part, device: torch.device, root: Path, work: Path, size: tuple[int, int], width: float,
                   deadline: float, *, tiny: bool = False) -> None:  # fmt: skip
    """Fill ``part`` with one row per stage (``root``: the synthetic set's folder). ``tiny``: only the last stage of
    each method (its first calls on a CPU are the slow part: every new convolution shape is prepared once)."""
    from torch.utils.data import default_collate

    from bench.train.wiring import register_stages, trainable, training_pairs
    from pftryon import PBAFN, save_pretrained
    from pftryon.models import init_deterministic_
    from pftryon.train.config import TUTORED_STAGES, TrainConfig
    from pftryon.train.stages import build_stage, scaled_widths

    register_stages()
    pairs = training_pairs("viton", root, size=size, seed=0)
    batch = default_collate([pairs[0], pairs[1]])
    on_device = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    tutor = save_pretrained(init_deterministic_(PBAFN(**scaled_widths(width))), work / "tutor")
    chains = {method: stages[-1:] if tiny else stages for method, stages in trainable().items()}
    todo = [(method, stage) for method, stages in chains.items() for stage in stages]
    done, previous = 0, None
    for method, stages in chains.items():
        previous = None
        for stage_name in stages:
            if time.perf_counter() > deadline:
                part.stop(len(todo) - done)
                return
            done += 1
            row: dict[str, Any] = {"method": method, "stage": stage_name, "width": width}
            try:
                tutored = str(tutor) if stage_name in TUTORED_STAGES else None
                config = TrainConfig.for_stage(stage_name, width=width, size=size, batch_size=2, perceptual="none",
                                               init=previous, tutor=tutored)  # fmt: skip
                torch.manual_seed(0)
                stage = build_stage(config).train()
                twin = copy.deepcopy(stage).to(device)
                cpu_before, cpu_after = _step(stage, batch, config)
                dev_before, dev_after = _step(twin, on_device, config)
                previous = str(save_pretrained(stage.exported()["model"], work / f"{method}-{stage_name}"))
            except Exception as err:  # one stage's failure is reported, the others still run
                part.rows.append(row | {"ok": False, "note": f"{type(err).__name__}: {err}".splitlines()[0]})
                part.fail(f"{method} {stage_name} did not run")
                previous = None
                continue
            ok = _close(dev_before, cpu_before) and _close(dev_after, cpu_after)
            part.rows.append(row | {"cpu_loss": cpu_before, "device_loss": dev_before, "cpu_loss_after_step": cpu_after,
                                    "device_loss_after_step": dev_after,
                                    "rel_diff": abs(dev_before - cpu_before) / max(1.0, abs(cpu_before)),
                                    "rel_diff_after_step": abs(dev_after - cpu_after) / max(1.0, abs(cpu_after)),
                                    "ok": ok, "note": ""})  # fmt: skip
            if not ok:
                part.fail(f"{method} {stage_name}: device loss {dev_before:.6g} / {dev_after:.6g} vs CPU "
                          f"{cpu_before:.6g} / {cpu_after:.6g}")  # fmt: skip
