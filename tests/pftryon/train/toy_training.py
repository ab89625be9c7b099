"""A toy stage and synthetic samples for the trainer tests; run as a script, it trains one toy run.

``python toy_training.py OUT [--steps N] [--resume] ...`` is what the SIGKILL and torchrun tests launch.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from pftryon.train.config import TrainConfig
from pftryon.train.data import TrainingPairs
from pftryon.train.stage import ParamGroup, Stage
from pftryon.train.trainer import Trainer

SIZE = (32, 32)


class ToySamples(Dataset):
    """``count`` synthetic try-on samples (common parse labels) whose values depend only on the index."""

    def __init__(self, count: int, *, densepose: bool = True, size: tuple[int, int] = SIZE) -> None:
        self.count = count
        self.densepose = densepose
        self.size = size

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Any]:
        height, width = self.size
        g = torch.Generator().manual_seed(index)
        sample = {
            "person": torch.rand(3, height, width, generator=g) * 2 - 1,
            "cloth": torch.rand(3, height, width, generator=g) * 2 - 1,
            "cloth_mask": (torch.rand(1, height, width, generator=g) > 0.5).float(),
            "parse": torch.randint(0, 14, (height, width), generator=g),
            "parse_labels": "common",
            "keypoints": torch.rand(18, 3, generator=g) * torch.tensor([width, height, 1.0]),
            "dataset": "toy",
        }
        if self.densepose:
            sample["densepose"] = torch.randint(0, 25, (height, width), generator=g)
        return sample


class ToyStage(Stage):
    """A two-part conv net; ``batchnorm`` and ``dropout`` exercise buffers and the RNG, ``phases`` a phase change.

    With ``phases``, epoch 1 trains only ``net`` and later epochs train ``net`` and ``head`` (at half the rate).
    """

    name = "toy"

    def __init__(self, *, batchnorm: bool = True, dropout: float = 0.3, phases: bool = False, delay: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3 + 18 + 1, 8, 3, padding=1),
            nn.BatchNorm2d(8) if batchnorm else nn.Identity(),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv2d(8, 3, 3, padding=1),
        )
        self.head = nn.Conv2d(3, 1, 1)
        self.phases = phases
        self.delay = delay

    def phase(self, epoch: int) -> int:
        return int(self.phases and epoch > 1)

    def param_groups(self, phase: int) -> list[ParamGroup]:
        groups = [ParamGroup("net", list(self.net.parameters()))]
        if phase == 1 or not self.phases:
            groups.append(ParamGroup("head", list(self.head.parameters()), lr_scale=0.5))
        return groups

    def exported(self) -> dict[str, nn.Module]:
        return {"net": self.net, "head": self.head}

    def forward(self, batch: dict[str, torch.Tensor], epoch: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.delay:
            time.sleep(self.delay)
        rendered = self.net(torch.cat([batch["cloth_un"], batch["pose"], batch["cloth_mask"]], 1))
        l1 = (rendered - batch["person"]).abs().mean()
        mask = (self.head(rendered) - batch["cloth_mask"]).pow(2).mean()
        return l1 + mask, {"l1": l1, "mask": mask}


def toy_config(**overrides: Any) -> TrainConfig:
    """Three epochs (the last at half rate), size 32x32, a checkpoint every 2 steps, a log line every step."""
    settings = {"lr": 1e-2, "niter": 1, "niter_decay": 2, "batch_size": 2, "size": SIZE, "save_every": 2}
    return TrainConfig.for_stage("pb-warp", **{**settings, "log_every": 1, **overrides})


def run(
    out_dir: str | Path,
    *,
    count: int = 8,
    resume: bool = False,
    stage_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> Path:
    """Train a fresh toy stage (seeded by the config) on ``count`` samples; returns the final folder."""
    config = toy_config(**overrides)
    torch.manual_seed(config.seed)
    stage = ToyStage(**(stage_options or {}))
    data = TrainingPairs(ToySamples(count), seed=config.seed, size=config.size)
    return Trainer(config, stage, data, out_dir, resume=resume).fit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--save-every", type=int, default=2)
    parser.add_argument("--max-steps", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-batchnorm", action="store_true")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = {"batchnorm": not args.no_batchnorm, "dropout": args.dropout, "phases": args.phases, "delay": args.delay}
    run(
        args.out_dir,
        count=args.count,
        resume=args.resume,
        stage_options=options,
        batch_size=args.batch_size,
        save_every=args.save_every,
        max_steps=args.max_steps,
    )


if __name__ == "__main__":
    main()
