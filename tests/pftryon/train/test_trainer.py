"""The trainer: exact resume (also after SIGKILL), checkpoints, schedule and phases, divergence, the log."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from toy_training import ToySamples, ToyStage, run, toy_config

from pftryon import create_model, load_pretrained
from pftryon.train.data import TrainingPairs
from pftryon.train.stage import ParamGroup
from pftryon.train.trainer import STATE_FILE, RunFolderError, Trainer, TrainingDiverged, latest_checkpoint, train

SCRIPT = Path(__file__).with_name("toy_training.py")


pytestmark = pytest.mark.usefixtures("one_thread")


def _weights(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob("*/model.safetensors"))}


def _records(out_dir: Path) -> list[dict]:
    """The log records without the wall-clock rate."""
    records = [json.loads(line) for line in (out_dir / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "images_per_s"} for record in records]


def _optimizer_tensors(checkpoint: Path) -> list[torch.Tensor]:
    state = torch.load(checkpoint / STATE_FILE, weights_only=True)["optimizer"]["state"]
    return [tensor for slot in state.values() for tensor in slot.values()]


def _assert_same_run(a: Path, b: Path) -> None:
    assert _weights(a / "final") == _weights(b / "final"), "final weights differ"
    assert _records(a) == _records(b), "logs differ"
    for x, y in zip(_optimizer_tensors(latest_checkpoint(a)), _optimizer_tensors(latest_checkpoint(b)), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def _trainer(stage_class: type[ToyStage], out_dir: Path, count: int = 8, **overrides) -> Trainer:
    """A trainer of a fresh ``stage_class()`` (seeded like :func:`toy_training.run`)."""
    config = toy_config(**overrides)
    torch.manual_seed(config.seed)
    return Trainer(config, stage_class(), TrainingPairs(ToySamples(count), seed=config.seed), out_dir)


def _toy(*args: str) -> list[str]:
    return [sys.executable, str(SCRIPT), *args, "--phases"]


@pytest.mark.slow
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    victim = subprocess.Popen(_toy(str(tmp_path / "run"), "--delay", "0.25"), env=env)
    deadline = time.monotonic() + 120
    while latest_checkpoint(tmp_path / "run") is None:
        assert victim.poll() is None and time.monotonic() < deadline, "the victim ended before its first checkpoint"
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_at = latest_checkpoint(tmp_path / "run").name
    assert not (tmp_path / "run" / "final").exists(), "the victim finished before it was killed"
    subprocess.run(_toy(str(tmp_path / "run"), "--resume"), env=env, check=True)
    run(tmp_path / "ref", stage_options={"phases": True})  # one thread, like the script
    assert killed_at < "step_00000012"
    _assert_same_run(tmp_path / "ref", tmp_path / "run")


@pytest.mark.parametrize("stop", [3, 4], ids=["mid-epoch", "epoch-end-before-phase-change"])
def test_resume_in_process_is_bit_identical(tmp_path, stop):
    options = {"phases": True}
    run(tmp_path / "ref", stage_options=options)
    run(tmp_path / "run", stage_options=options, max_steps=stop)
    assert latest_checkpoint(tmp_path / "run").name == f"step_{stop:08d}"
    with (tmp_path / "run/log.jsonl").open("a") as log:  # lines after the checkpoint, the last one torn
        log.write(json.dumps({"step": stop + 1, "loss": 0.0}) + '\n{"step": ')
    run(tmp_path / "run", stage_options=options, resume=True)
    _assert_same_run(tmp_path / "ref", tmp_path / "run")


def test_checkpoint_layout_schedule_and_phases(tmp_path):
    torch.manual_seed(0)
    initial_head = ToyStage().head.weight.detach().clone()
    final = run(tmp_path, stage_options={"phases": True})
    folders = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert folders == ["step_00000010", "step_00000012"], "keeps the last two, leaves no temporary folder"
    state = torch.load(tmp_path / "checkpoints/step_00000012" / STATE_FILE, weights_only=True)
    assert (state["epoch"], state["batch"], state["step"], state["phase"]) == (3, 4, 12, 1)
    report = json.loads((final / "training.json").read_text())
    assert report["steps"] == 12 and report["networks"] == ["head", "net"]
    assert set(report["final_losses"]) == {"loss", "l1", "mask"} and report["config"]["lr"] == 0.01
    records = json.loads("[" + ",".join((tmp_path / "log.jsonl").read_text().splitlines()) + "]")
    assert [r["step"] for r in records] == list(range(1, 13))
    lrs = {r["epoch"]: r["lr"] for r in records}
    # Phase 0 (epoch 1) trains only "net"; epoch 3 is the first decayed epoch (niter 1, niter_decay 2).
    assert lrs == {1: {"net": 0.01}, 2: {"net": 0.01, "head": 0.005}, 3: {"net": 0.005, "head": 0.0025}}
    head_after_epoch_1 = load_file(tmp_path / "checkpoints/step_00000010/head/model.safetensors")
    assert not torch.equal(head_after_epoch_1["weight"], initial_head)
    run(tmp_path / "b", stage_options={"phases": True}, max_steps=4)
    torch.testing.assert_close(load_file(tmp_path / "b/final/head/model.safetensors")["weight"], initial_head)


def test_registered_networks_are_saved_with_their_config(tmp_path):
    class WithWarp(ToyStage):
        def __init__(self):
            super().__init__()
            self.warp = create_model("pf_afn", ngf=4, channels=(4, 4, 4, 4, 4), fpn_dim=4)

        def exported(self):
            return {**super().exported(), "warp": self.warp}

    trainer = _trainer(WithWarp, tmp_path, count=4, max_steps=1)
    final = trainer.fit()
    warp = load_pretrained(final / "warp")
    for key, value in trainer.stage.warp.state_dict().items():
        torch.testing.assert_close(warp.state_dict()[key], value, rtol=0, atol=0)
    assert json.loads((final / "net/config.json").read_text()) == {"class": "torch.nn.modules.container.Sequential"}


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    class Diverging(ToyStage):
        calls = 0

        def forward(self, batch, epoch):
            loss, logs = super().forward(batch, epoch)
            self.calls += 1
            if self.calls == 5:
                return loss * float("nan"), {**logs, "l1": logs["l1"] * float("inf")}
            return loss, logs

    message = r"non-finite loss at step 5 \(epoch 2\): loss=nan \(l1=inf, mask=.*\); stopped without saving; "
    with pytest.raises(TrainingDiverged, match=message + r".*step_00000004"):
        _trainer(Diverging, tmp_path).fit()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000002", "step_00000004"]
    assert not (tmp_path / "final").exists()
    weights = load_file(tmp_path / "checkpoints/step_00000004/net/model.safetensors")
    assert all(torch.isfinite(v).all() for v in weights.values())


def test_non_finite_weights_are_not_saved(tmp_path):
    class Poisoned(ToyStage):
        def forward(self, batch, epoch):
            result = super().forward(batch, epoch)
            self.head.bias.data.fill_(float("nan"))  # after the loss: the loss of this step stays finite
            return result

    with pytest.raises(TrainingDiverged, match=r"non-finite weights in head.bias after step 1 \(epoch 1\); .* none"):
        _trainer(Poisoned, tmp_path, save_every=1).fit()
    assert latest_checkpoint(tmp_path) is None


def test_refuses_a_used_folder_and_a_changed_config(tmp_path):
    run(tmp_path, max_steps=2)
    with pytest.raises(RunFolderError, match="pass resume=True"):
        run(tmp_path)
    with pytest.raises(ValueError, match=r"cannot resume with a different config \(lr: 0.01 -> 0.02\)"):
        run(tmp_path, resume=True, lr=0.02)


def test_rejects_trained_parameters_outside_exported(tmp_path):
    class Hidden(ToyStage):
        def exported(self):
            return {"net": self.net}

    with pytest.raises(ValueError, match="param group 'head' of phase 0 trains parameters outside exported"):
        _trainer(Hidden, tmp_path)


def test_amp_is_ignored_on_cpu_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="pftryon.train.trainer"):
        run(tmp_path, amp=True, max_steps=1)
    assert "amp is ignored on cpu" in caplog.text
    assert json.loads((tmp_path / "final/training.json").read_text())["amp"] is False


def test_train_builds_the_stage_of_the_config(tmp_path, monkeypatch):
    built = []

    def build_stage(config):
        built.append(config)
        return ToyStage()

    monkeypatch.setitem(sys.modules, "pftryon.train.stages", types.SimpleNamespace(build_stage=build_stage))
    config = toy_config(max_steps=2)
    final = train(config, TrainingPairs(ToySamples(4), seed=0), tmp_path)
    assert built == [config] and (final / "training.json").is_file()


def test_a_checkpoint_from_before_scale_flow_heads_resumes_with_the_official_heads(tmp_path):
    """Runs recorded before ``scale_flow_heads`` existed kept the official flow heads: they resume with it false."""
    run(tmp_path, max_steps=2, scale_flow_heads=False)
    state_file = latest_checkpoint(tmp_path) / STATE_FILE
    state = torch.load(state_file, weights_only=True)
    del state["config"]["scale_flow_heads"]
    torch.save(state, state_file)
    with pytest.raises(ValueError, match=r"different config \(scale_flow_heads: False -> True\)"):
        run(tmp_path, resume=True)
    run(tmp_path, resume=True, max_steps=4, scale_flow_heads=False)


def test_bn_recalibration_averages_the_batch_statistics_under_the_final_weights(tmp_path):
    """Precise BatchNorm: the saved running statistics are the equal-weight means of the per-batch statistics of
    ``bn_recalibration`` batches of an unused epoch, under the final weights; every weight is the one trained."""
    trainer = _trainer(ToyStage, tmp_path / "precise", max_steps=3, bn_recalibration=3)
    final = trainer.fit()
    plain = run(tmp_path / "plain", max_steps=3)
    saved, trained = load_file(final / "net" / "model.safetensors"), load_file(plain / "net" / "model.safetensors")
    statistics = {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    assert set(saved) == set(trained)
    for key in set(saved) - statistics:
        torch.testing.assert_close(saved[key], trained[key], rtol=0, atol=0)
    assert not torch.equal(saved["1.running_mean"], trained["1.running_mean"])

    conv = trainer.stage.net[0].eval()
    means, variances = [], []
    with torch.no_grad():
        for _, batch in zip(range(3), trainer._loader(trainer.config.epochs + 1), strict=False):
            features = conv(torch.cat([batch["cloth_un"], batch["pose"], batch["cloth_mask"]], 1))
            means.append(features.mean(dim=(0, 2, 3)))
            variances.append(features.var(dim=(0, 2, 3), unbiased=True))
    torch.testing.assert_close(saved["1.running_mean"], torch.stack(means).mean(0))
    torch.testing.assert_close(saved["1.running_var"], torch.stack(variances).mean(0))
    assert trainer.stage.net[1].momentum == 0.1  # restored for whoever trains on


class _FrozenNetStage(ToyStage):
    """Trains only ``head``; keeps ``net`` (and its BatchNorm) in eval mode, as CP-VTON's TOM stage keeps its GMM."""

    def param_groups(self, phase: int) -> list[ParamGroup]:
        return [ParamGroup("head", list(self.head.parameters()))]

    def train(self, mode: bool = True) -> _FrozenNetStage:
        super().train(mode)
        self.net.eval()
        return self


def test_bn_recalibration_leaves_a_network_kept_in_eval_mode_alone(tmp_path):
    before = _FrozenNetStage().net[1]
    torch.manual_seed(0)
    before.running_mean.uniform_()  # statistics the frozen network came with
    stage = _FrozenNetStage()
    stage.net[1].running_mean.copy_(before.running_mean)
    config = toy_config(max_steps=2, bn_recalibration=3)
    final = Trainer(config, stage, TrainingPairs(ToySamples(8), seed=0), tmp_path).fit()
    torch.testing.assert_close(load_file(final / "net" / "model.safetensors")["1.running_mean"], before.running_mean)
