"""The generic trainer: Adam per optimiser phase, the official linear decay, DDP, bf16 autocast, exact resume.

What a run writes under ``out_dir`` (rank 0 only)::

    log.jsonl                                     one JSON record every ``log_every`` steps and at the last step
    checkpoints/step_00000500/<name>/             each exported network: model.safetensors + config.json
    checkpoints/step_00000500/trainer_state.pt    optimiser, phase, position, RNG states of every rank, config
    final/<name>/, final/training.json            the trained networks and what produced them

A checkpoint is written into a hidden temporary folder and renamed into place when complete, so every
``step_*`` folder is whole; the newest ``keep`` are kept. ``resume=True`` restores the newest one: weights,
optimiser, position in the epoch and every RNG stream, so a resumed run ends bit-identical to an uninterrupted
one (on the same device, world size and thread count). The data order and the unpaired garments are functions of
``(seed, epoch, index)`` (:mod:`pftryon.train.data`), so no data-loader state needs saving.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

import pftryon
from pftryon.models._checkpoint import atomic_write, load_state_dict_checked, read_state_dict, save_safetensors
from pftryon.models._registry import CHECKPOINT_WEIGHTS, list_models, save_pretrained
from pftryon.train.config import TrainConfig, with_predated_fields
from pftryon.train.data import LOADER_STREAM, ShardedBatchSampler, derive_seed
from pftryon.train.stage import Stage

__all__ = [
    "RESUMABLE_SETTINGS", "RunFolderError", "Trainer", "TrainingDiverged", "latest_checkpoint", "load_exported",
    "train",
]  # fmt: skip

_logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
_STATE_FORMAT = 1
# Config fields a resumed run may change; any other change would make the continuation a different run.
RESUMABLE_SETTINGS = frozenset({"max_steps", "save_every", "log_every", "num_workers"})
_RECORD_KEYS = frozenset({"step", "epoch", "lr", "loss", "images_per_s"})


class TrainingDiverged(RuntimeError):
    """The loss or the weights became NaN or infinite; nothing was saved after the last good checkpoint."""


class RunFolderError(ValueError):
    """``out_dir`` holds another run: checkpoints without ``resume``, or ones of another config or world size."""


@dataclass
class _Position:
    epoch: int = 1  # 1-based
    batch: int = 0  # batches done in ``epoch``
    step: int = 0  # optimiser steps done in all
    elapsed: float = 0.0  # training seconds, summed over resumed sessions


def latest_checkpoint(out_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete ``out_dir/checkpoints/step_*`` folder, or ``None``."""
    folders = [f for f in Path(out_dir, "checkpoints").glob("step_*") if (f / STATE_FILE).is_file()]
    return max(folders, key=lambda f: int(f.name.removeprefix("step_")), default=None)


def load_exported(stage: Stage, directory: str | os.PathLike[str]) -> None:
    """Load the exported networks of ``stage`` from a checkpoint or ``final`` folder (strictly)."""
    for name, module in stage.exported().items():
        weights = Path(directory, name, CHECKPOINT_WEIGHTS)
        load_state_dict_checked(module, read_state_dict(weights), source=str(weights))


def _save_module(module: nn.Module, directory: Path) -> None:
    if getattr(module, "architecture", None) in list_models():
        save_pretrained(module, directory)
    else:
        kind = f"{type(module).__module__}.{type(module).__qualname__}"
        save_safetensors(module.state_dict(), directory / CHECKPOINT_WEIGHTS, {"class": kind})


def _replace_dir(source: Path, target: Path) -> None:
    """Move the complete folder ``source`` to ``target``, replacing it; ``target`` is never half-written."""
    if target.exists():
        trash = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, trash)
        os.replace(source, target)
        shutil.rmtree(trash)
    else:
        os.replace(source, target)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state(device: torch.device) -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and state["cuda"] is not None:
        torch.cuda.set_rng_state(state["cuda"], device)
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _git_commit() -> str | None:
    root = Path(pftryon.__file__).resolve().parent.parent
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _log_line_before(line: str, step: int) -> bool:
    """Whether a log line is a complete record of a step up to ``step`` (a torn last line is not)."""
    try:
        return json.loads(line)["step"] <= step
    except (json.JSONDecodeError, KeyError, TypeError):
        return False


class Trainer:
    """Trains a :class:`~pftryon.train.stage.Stage` on a dataset of training batches.

    Under ``torchrun`` (``WORLD_SIZE > 1``) the trainer joins the process group from the environment (gloo on
    CPU, NCCL on CUDA), converts BatchNorm to SyncBatchNorm on CUDA, and shards the data itself; only rank 0
    writes. ``config.amp`` turns on bf16 autocast on CUDA and is ignored (with a warning) on CPU.

    Args:
        config: the run's settings; ``batch_size`` is per process.
        stage: the networks and the loss; every parameter its param groups train must belong to ``exported()``.
        dataset: a map-style dataset of training-batch items (:class:`~pftryon.train.data.TrainingPairs`);
            its ``set_epoch(epoch)`` is called, when it has one, before each epoch.
        out_dir: the run folder (on a filesystem all ranks see).
        device: ``"cpu"``, ``"cuda"`` (each rank takes ``cuda:LOCAL_RANK``) or an explicit device.
        resume: continue from the newest checkpoint in ``out_dir`` (start afresh when there is none). Without it,
            a folder that holds checkpoints is refused.
        keep: how many checkpoints to keep.

    Raises:
        TrainingDiverged: from :meth:`fit`, when the loss or the weights become non-finite.
        RunFolderError: from :meth:`fit`, when ``out_dir`` holds checkpoints of another run (or any without
            ``resume``).
    """

    def __init__(
        self,
        config: TrainConfig,
        stage: Stage,
        dataset: Dataset,
        out_dir: str | os.PathLike[str],
        *,
        device: str | torch.device = "cpu",
        resume: bool = False,
        keep: int = 2,
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.config = config
        self.stage = stage
        self.dataset = dataset
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.keep = keep
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if self.device.index is None:
                self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        self._owns_group = not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self._owns_group:
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        self.rank = dist.get_rank() if dist.is_initialized() else 0
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.amp = config.amp and self.device.type == "cuda"
        if config.amp and not self.amp:
            _logger.warning("amp is ignored on %s: training runs in float32", self.device)
        self.sampler = ShardedBatchSampler(
            len(dataset), config.batch_size, seed=config.seed, rank=self.rank, world_size=self.world_size
        )
        self.total_steps = self.sampler.steps * config.epochs
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self._check_exported()
        stage.to(self.device)
        if self.world_size > 1 and self.device.type == "cuda":
            nn.SyncBatchNorm.convert_sync_batchnorm(stage)
        self.position = _Position()
        self.phase: int | None = None
        self.optimizer: torch.optim.Adam | None = None
        self.model: nn.Module = stage
        self._log_file: io.TextIOBase | None = None
        self._bar: tqdm | None = None
        self._last: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None
        self._clock = self._log_clock = 0.0
        self._log_step = 0

    def _check_exported(self) -> None:
        exported = {id(p) for module in self.stage.exported().values() for p in module.parameters()}
        for phase in sorted({self.stage.phase(e) for e in range(1, self.config.epochs + 1)}):
            for group in self.stage.param_groups(phase):
                if any(id(p) not in exported for p in group.params):
                    raise ValueError(
                        f"{type(self.stage).__name__}: param group {group.name!r} of phase {phase} trains parameters "
                        "outside exported(); checkpoints would not hold them"
                    )

    # -- the loop ------------------------------------------------------------------------------------------------

    def fit(self) -> Path:
        """Train to the end of the schedule (or ``max_steps``); returns the ``final`` folder."""
        try:
            self._start()
            self._run()
            self._recalibrate_batchnorm()
            return self._finish()
        finally:
            if self._bar is not None:
                self._bar.close()
            if self._log_file is not None:
                self._log_file.close()
            if self._owns_group and dist.is_initialized():
                dist.destroy_process_group()

    def _start(self) -> None:
        checkpoint = latest_checkpoint(self.out_dir)
        if checkpoint is not None and not self.resume:
            raise RunFolderError(
                f"{self.out_dir} already holds checkpoints ({checkpoint.name}); pass resume=True (--resume) to "
                "continue that run or choose another folder"
            )
        log = self.out_dir / "log.jsonl"
        if checkpoint is None:
            if self.resume:
                _logger.info("%s has no checkpoint to resume: starting afresh", self.out_dir)
            _seed_all(self.config.seed + self.rank)
            if self.rank == 0:
                atomic_write(log, "")
        else:
            self._restore(checkpoint)
            if self.rank == 0:
                lines = log.read_text().splitlines() if log.exists() else []
                kept = [line for line in lines if _log_line_before(line, self.position.step)]
                atomic_write(log, "".join(line + "\n" for line in kept))
        if self.rank == 0:
            for folder in (self.out_dir, self.out_dir / "checkpoints"):  # leftovers of a killed run
                for stale in (*folder.glob(".tmp-*"), *folder.glob(".old-*")):
                    shutil.rmtree(stale, ignore_errors=True)
            self._log_file = log.open("a")
        self._bar = tqdm(
            total=self.total_steps,
            initial=self.position.step,
            unit="step",
            dynamic_ncols=True,
            disable=self.rank > 0 or not sys.stderr.isatty(),
        )

    def _run(self) -> None:
        position, config = self.position, self.config
        steps = self.sampler.steps
        self.stage.train()
        self._clock = self._log_clock = time.perf_counter()
        self._log_step = position.step
        while position.step < self.total_steps:
            if position.batch == steps:
                position.epoch, position.batch = position.epoch + 1, 0
            self._begin_epoch()
            for batch in self._loader():
                self._last = self._step(batch)
                position.batch += 1
                position.step += 1
                self._bar.update()
                done = position.step == self.total_steps
                if position.step % config.log_every == 0 or done:
                    self._log(*self._last)
                if position.step % config.save_every == 0 or position.batch == steps or done:
                    self._save()
                if done:
                    break

    def _begin_epoch(self) -> None:
        epoch = self.position.epoch
        phase = self.stage.phase(epoch)
        if phase != self.phase:
            self._enter_phase(phase)
        factor = self.config.lr_factor(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = self.config.lr * group["lr_scale"] * factor

    def _enter_phase(self, phase: int, optimizer_state: dict[str, Any] | None = None) -> None:
        """Freeze what ``phase`` does not train, build its Adam (loading ``optimizer_state``) and wrap for DDP."""
        groups = self.stage.param_groups(phase)
        trainable = {id(p) for group in groups for p in group.params}
        for parameter in self.stage.parameters():
            parameter.requires_grad_(id(parameter) in trainable)
            parameter.grad = None
        if self.model is not self.stage:
            self.model = self.stage
            gc.collect()  # drop the previous DDP wrapper (and its gradient hooks) before wrapping again
        config = self.config
        self.optimizer = torch.optim.Adam(
            [{"params": list(g.params), "name": g.name, "lr_scale": g.lr_scale, "lr": config.lr} for g in groups],
            lr=config.lr,
            betas=(config.beta1, config.beta2),
        )
        if optimizer_state is not None:
            self.optimizer.load_state_dict(optimizer_state)
        if self.world_size > 1:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.stage, device_ids=device_ids)
        self.phase = phase

    def _loader(self, epoch: int | None = None) -> DataLoader:
        """The batches of ``epoch`` (default: the current one, from the current batch on)."""
        start = self.position.batch if epoch is None else 0
        epoch = self.position.epoch if epoch is None else epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start=start)
        # Worker seeds come from this generator: a function of (seed, epoch, rank), not of the global RNG.
        generator = torch.Generator().manual_seed(derive_seed(self.config.seed, LOADER_STREAM, epoch, self.rank))
        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=self.config.num_workers,
            generator=generator,
            pin_memory=self.device.type == "cuda",
        )

    def _on_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch = self._on_device(batch)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, logs = self.model(batch, self.position.epoch)
        finite = torch.isfinite(loss.detach()).to(torch.int32)
        if self.world_size > 1:
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if not finite.item():
            terms = ", ".join(f"{name}={float(value.detach()):.4g}" for name, value in logs.items())
            raise TrainingDiverged(
                f"non-finite loss at step {self.position.step + 1} (epoch {self.position.epoch}): "
                f"loss={float(loss.detach()):.4g}{f' ({terms})' if terms else ''}; {self._last_good()}"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), {name: value.detach() for name, value in logs.items()}

    def _recalibrate_batchnorm(self) -> None:
        """Precise BatchNorm: re-estimate the running statistics of every BatchNorm that the stage trains in its
        exported networks under the final weights, as the equal-weight average over ``config.bn_recalibration``
        training batches (forward in train mode, no gradients; an epoch's order that no training epoch used),
        averaged over the processes. A network the stage keeps in eval mode (a frozen GMM) keeps its statistics."""
        count = self.config.bn_recalibration
        self.stage.train()
        norms = [module for network in self.stage.exported().values() for module in network.modules()
                 if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats
                 and module.training]  # fmt: skip
        if count == 0 or not norms:
            return
        momenta = [norm.momentum for norm in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average: every batch weighs the same
        with torch.no_grad(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            for _, batch in zip(range(count), self._loader(self.config.epochs + 1), strict=False):
                self.stage(self._on_device(batch), self.position.epoch)
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
            if self.world_size > 1:
                for statistic in (norm.running_mean, norm.running_var):
                    dist.all_reduce(statistic)
                    statistic /= self.world_size

    def _last_good(self) -> str:
        checkpoint = latest_checkpoint(self.out_dir)
        return f"stopped without saving; the last good checkpoint is {checkpoint or 'none'}"

    # -- logging -------------------------------------------------------------------------------------------------

    def _reduce(self, loss: torch.Tensor, logs: dict[str, torch.Tensor]) -> dict[str, float]:
        """The loss and log terms as floats, averaged over the ranks."""
        values = torch.stack([loss.float().reshape(()), *(v.float().reshape(()) for v in logs.values())])
        if self.world_size > 1:
            dist.all_reduce(values)
            values /= self.world_size
        return dict(zip(["loss", *logs], values.tolist(), strict=True))

    def _log(self, loss: torch.Tensor, logs: dict[str, torch.Tensor]) -> None:
        clashes = sorted(_RECORD_KEYS & set(logs))
        if clashes:
            raise ValueError(f"{type(self.stage).__name__} logs terms named like log fields: {clashes}")
        values = self._reduce(loss, logs)
        now = time.perf_counter()
        images = (self.position.step - self._log_step) * self.config.batch_size * self.world_size
        rate = images / max(now - self._log_clock, 1e-9)
        self._log_clock, self._log_step = now, self.position.step
        if self.rank > 0:
            return
        record = {
            "step": self.position.step,
            "epoch": self.position.epoch,
            "lr": {group["name"]: group["lr"] for group in self.optimizer.param_groups},
            **values,
            "images_per_s": round(rate, 3),
        }
        self._log_file.write(json.dumps(record) + "\n")
        self._log_file.flush()
        self._bar.set_postfix(loss=f"{values['loss']:.4g}", refresh=False)

    # -- checkpoints ---------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.perf_counter()
        self.position.elapsed += now - self._clock
        self._clock = now

    def _write_modules(self, directory: Path) -> None:
        for name, module in self.stage.exported().items():
            _save_module(module, directory / name)

    def _save(self) -> None:
        """Write a checkpoint of the current step (rank 0), after checking that the weights are finite."""
        for name, module in self.stage.exported().items():
            for key, tensor in module.state_dict().items():
                if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                    raise TrainingDiverged(
                        f"non-finite weights in {name}.{key} after step {self.position.step} "
                        f"(epoch {self.position.epoch}); {self._last_good()}"
                    )
        self._tick()
        rng = _rng_state(self.device)
        states = [rng]
        if self.world_size > 1:
            states = [None] * self.world_size
            dist.all_gather_object(states, rng)
        if self.rank == 0:
            self._write_checkpoint(states)
        if self.world_size > 1:
            dist.barrier()

    def _write_checkpoint(self, rng: list[dict[str, Any]]) -> None:
        position = self.position
        root = self.out_dir / "checkpoints"
        target = root / f"step_{position.step:08d}"
        staging = root / f".tmp-{target.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        self._write_modules(staging)
        state = {
            "format": _STATE_FORMAT,
            "stage_class": type(self.stage).__name__,
            "config": self.config.to_dict(),
            "phase": self.phase,
            "epoch": position.epoch,
            "batch": position.batch,
            "step": position.step,
            "elapsed": position.elapsed,
            "world_size": self.world_size,
            "steps_per_epoch": self.sampler.steps,
            "optimizer": self.optimizer.state_dict(),
            "rng": rng,
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write(staging / STATE_FILE, buffer.getvalue())
        _replace_dir(staging, target)
        folders = sorted(root.glob("step_*"), key=lambda f: int(f.name.removeprefix("step_")))
        for old in folders[: -self.keep]:
            shutil.rmtree(old)

    def _restore(self, checkpoint: Path) -> None:
        state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
        if state.get("format") != _STATE_FORMAT:
            raise ValueError(f"{checkpoint}: unknown trainer state format {state.get('format')!r}")
        saved, current = with_predated_fields(state["config"]), self.config.to_dict()
        changed = sorted(
            k for k in set(saved) | set(current) if saved.get(k) != current.get(k) and k not in RESUMABLE_SETTINGS
        )
        if changed:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in changed)
            raise RunFolderError(
                f"{checkpoint}: cannot resume with a different config ({details}); "
                f"only {', '.join(sorted(RESUMABLE_SETTINGS))} may change"
            )
        if (state["world_size"], state["steps_per_epoch"]) != (self.world_size, self.sampler.steps):
            raise RunFolderError(
                f"{checkpoint}: written by {state['world_size']} process(es) with {state['steps_per_epoch']} steps "
                f"per epoch, resumed by {self.world_size} with {self.sampler.steps}; resume with the same number of "
                "processes and dataset"
            )
        load_exported(self.stage, checkpoint)
        self.position = _Position(state["epoch"], state["batch"], state["step"], state["elapsed"])
        self._enter_phase(state["phase"], state["optimizer"])
        _set_rng_state(state["rng"][self.rank], self.device)
        _logger.info("resumed %s at step %d (epoch %d)", checkpoint, self.position.step, self.position.epoch)

    def _finish(self) -> Path:
        self._tick()
        losses = self._reduce(*self._last) if self._last is not None else None
        final = self.out_dir / "final"
        if self.rank == 0:
            staging = self.out_dir / f".tmp-final-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            self._write_modules(staging)
            report = {
                "stage_class": type(self.stage).__name__,
                "stage": self.stage.record(),
                "config": self.config.to_dict(),
                "steps": self.position.step,
                "epoch": self.position.epoch,
                "steps_per_epoch": self.sampler.steps,
                "world_size": self.world_size,
                "global_batch": self.config.batch_size * self.world_size,
                "device": str(self.device),
                "amp": self.amp,
                "wall_time_s": round(self.position.elapsed, 3),
                "final_losses": losses,
                "networks": sorted(self.stage.exported()),
                "versions": {
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "numpy": np.__version__,
                    "pftryon": pftryon.__version__,
                },
                "commit": _git_commit(),
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            atomic_write(staging / "training.json", json.dumps(report, indent=2) + "\n")
            _replace_dir(staging, final)
        if self.world_size > 1:
            dist.barrier()
        return final


def train(
    config: TrainConfig,
    dataset: Dataset,
    out_dir: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    resume: bool = False,
    keep: int = 2,
) -> Path:
    """Build the stage of ``config`` (:func:`pftryon.train.stages.build_stage`) and train it; returns ``final``.

    ``dataset`` yields training-batch items (wrap a try-on dataset in :class:`~pftryon.train.data.TrainingPairs`).
    The other arguments are those of :class:`Trainer`.
    """
    from pftryon.train.stages import build_stage

    torch.manual_seed(config.seed)
    stage = build_stage(config)
    return Trainer(config, stage, dataset, out_dir, device=device, resume=resume, keep=keep).fit()
