"""The four PF-AFN training stages on a tiny synthetic batch (width 1/16, 64x64, batch 2, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from stage_batch import stage_batch
from torch import nn

from pftryon import PBAFN, PFAFN, CheckpointError, load_pretrained, save_pretrained
from pftryon.train.config import TrainConfig
from pftryon.train.stage import Stage
from pftryon.train.stages import PFWarp, build_stage, scaled_widths

WIDTH, SIZE = 0.0625, (64, 64)


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    return stage_batch(SIZE)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Randomly initialised PB-AFN and PF-AFN checkpoint folders at the test width (tutor and init sources)."""
    root = tmp_path_factory.mktemp("stages")
    torch.manual_seed(1)
    return {
        "pb": save_pretrained(PBAFN(**scaled_widths(WIDTH)), root / "pb"),
        "pf": save_pretrained(PFAFN(**scaled_widths(WIDTH)), root / "pf"),
    }


def _config(stage: str, checkpoints: dict[str, Path], **overrides: object) -> TrainConfig:
    sources = {"pb-warp": {}, "pb-e2e": {"init": "pb"}, "pf-warp": {"init": "pb"}, "pf-e2e": {"init": "pf"}}[stage]
    paths = {key: str(checkpoints[name]) for key, name in sources.items()}
    if stage.startswith("pf"):
        paths["tutor"] = str(checkpoints["pb"])
    settings = {"width": WIDTH, "size": SIZE, "batch_size": 2, "perceptual": "none", **paths, **overrides}
    return TrainConfig.for_stage(stage, **settings)


def _build(config: TrainConfig) -> Stage:
    torch.manual_seed(0)
    return build_stage(config).train()


def _adam(stage: Stage, phase: int) -> torch.optim.Adam:
    groups = stage.param_groups(phase)
    return torch.optim.Adam([{"params": g.params, "lr": 1e-3 * g.lr_scale} for g in groups], betas=(0.5, 0.999))


def _steps(stage: Stage, batch: dict[str, torch.Tensor], steps: int, epoch: int = 1) -> list[float]:
    """Adam steps on the fixed batch; returns the loss before each step and after the last."""
    optimizer, losses = _adam(stage, stage.phase(epoch)), []
    for _ in range(steps):
        loss, _ = stage(batch, epoch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        losses.append(stage(batch, epoch)[0].item())
    return losses


class _Perceptual(nn.Module):
    """A cheap stand-in for :class:`~pftryon.losses.VGGLoss`, to check that the stages use it."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).pow(2).mean()


_TERMS = {"warp_l1", "warp_edge", "warp_smooth", "warp_tv"}
_GEN = {"gen_l1", "gen_mask", "warp", "gen"}
_DISTILL = {"distill_feature", "distill_flow", "distill_weight"}


@pytest.mark.parametrize(
    ("stage", "overrides", "terms"),
    [
        ("pb-warp", {}, _TERMS),
        ("pb-e2e", {}, _TERMS | _GEN),
        ("pf-warp", {}, _TERMS | _DISTILL),
        ("pf-e2e", {}, _TERMS | _GEN | _DISTILL | {"gen_skin_l1"}),
        (  # WUTON-style knowledge, and a stand-in perceptual loss to see every VGG term used
            "pf-e2e",
            {"knowledge": "tutor", "distill": "fixed", "parse_noise": 0.5, "perceptual": "stand-in"},
            _TERMS | _GEN | _DISTILL | {"gen_skin_l1", "warp_vgg", "gen_vgg", "gen_skin_vgg"},
        ),
    ],
)
def test_a_few_adam_steps_lower_the_loss(
    stage: str,
    overrides: dict[str, object],
    terms: set[str],
    batch: dict[str, torch.Tensor],
    checkpoints: dict[str, Path],
) -> None:
    settings = dict(overrides)
    stand_in = settings.pop("perceptual", None) == "stand-in"
    model = _build(_config(stage, checkpoints, **settings))
    if stand_in:
        model.perceptual = _Perceptual()
    loss, logs = model(batch, 1)
    assert set(logs) == terms
    assert all(v.ndim == 0 and torch.isfinite(v) and not v.requires_grad for v in logs.values())
    losses = _steps(model, batch, 2)
    assert losses[-1] < losses[0], losses


def test_pf_warp_phase_0_trains_only_the_person_branch_and_refine(
    batch: dict[str, torch.Tensor], checkpoints: dict[str, Path]
) -> None:
    stage = _build(_config("pf-warp", checkpoints, niter=2, niter_decay=1))
    assert [stage.phase(e) for e in (1, 2, 3)] == [0, 1, 1]
    own = {id(p) for p in stage.param_groups(0)[0].params}
    named = dict(stage.model.warp.named_parameters())
    assert own == {id(p) for k, p in named.items() if "cond_" in k or "aflow_net.netRefine" in k}
    assert {id(p) for p in stage.param_groups(1)[0].params} == {id(p) for p in named.values()}
    before = {k: p.detach().clone() for k, p in named.items()}
    _steps(stage, batch, 1, epoch=1)
    for key, value in named.items():
        changed = not torch.equal(value, before[key])
        assert changed == (id(value) in own), key


def test_pf_warp_init_copies_all_but_the_person_branch_and_refine(checkpoints: dict[str, Path]) -> None:
    fresh = _build(_config("pf-warp", checkpoints, init=None)).model.warp.state_dict()
    initialised = _build(_config("pf-warp", checkpoints)).model.warp.state_dict()
    source = load_pretrained(checkpoints["pb"]).warp.state_dict()
    copied = {k for k in initialised if "cond_" not in k and "aflow_net.netRefine" not in k}
    assert copied and len(copied) < len(initialised)
    for key, value in initialised.items():
        assert torch.equal(value, source[key] if key in copied else fresh[key]), key
    assert any(not torch.equal(fresh[k], source[k]) for k in copied)


def test_pf_e2e_export_loads_into_pfafn(
    batch: dict[str, torch.Tensor], checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    stage = _build(_config("pf-e2e", checkpoints))
    exported = stage.exported()
    assert set(exported) == {"model"} and isinstance(exported["model"], PFAFN)
    folder = save_pretrained(exported["model"], tmp_path / "model")
    loaded = load_pretrained(folder)
    direct = PFAFN(**scaled_widths(WIDTH))
    direct.load_state_dict(exported["model"].state_dict())
    stage.eval()
    with torch.no_grad():
        outputs = [m.eval()(batch["person"], batch["cloth"], batch["cloth_mask"]) for m in (loaded, direct)]
        reference = exported["model"](batch["person"], batch["cloth"], batch["cloth_mask"])
    for out in outputs:
        assert out["tryon"].shape == (2, 3, *SIZE)
        assert torch.allclose(out["tryon"], reference["tryon"])


def test_tutor_is_frozen_and_stays_in_eval_mode(checkpoints: dict[str, Path]) -> None:
    stage = _build(_config("pf-e2e", checkpoints))
    assert stage.training and stage.model.training
    assert not stage.tutor.training and not any(m.training for m in stage.tutor.modules())
    assert not any(p.requires_grad for p in stage.tutor.parameters())
    assert not stage.train(True).tutor.training


def test_switches_distillation_and_parse_noise(batch: dict[str, torch.Tensor], checkpoints: dict[str, Path]) -> None:
    without = _build(_config("pf-warp", checkpoints, distill="none"))
    assert not _DISTILL & set(without(batch, 1)[1])
    fixed = _build(_config("pf-warp", checkpoints, distill="fixed"))
    assert fixed(batch, 1)[1]["distill_weight"] == 1
    # Only the tutor's inputs are noisy; each sample's corruption depends on (seed, index) alone.
    noisy = _build(_config("pf-warp", checkpoints, parse_noise=1.0))
    clean, tutor = noisy._representations(batch)
    assert torch.equal(clean.condition, without._representations(batch)[0].condition)
    assert not torch.equal(tutor.condition, clean.condition)
    reordered = {key: value.flip(0) for key, value in batch.items()}
    assert torch.equal(noisy._tutor_parse(reordered), noisy._tutor_parse(batch).flip(0))
    reseeded = _build(_config("pf-warp", checkpoints, parse_noise=1.0, seed=5))
    assert not torch.equal(reseeded._tutor_parse(batch), noisy._tutor_parse(batch))


def test_param_groups_and_schedules(checkpoints: dict[str, Path]) -> None:
    pb_e2e = _build(_config("pb-e2e", checkpoints))
    assert [(g.name, g.lr_scale) for g in pb_e2e.param_groups(0)] == [("warp", 0.2), ("gen", 1.0)]
    pf_e2e = _build(_config("pf-e2e", checkpoints, niter=3))
    assert [(g.name, g.lr_scale) for g in pf_e2e.param_groups(0)] == [("warp", 0.2), ("gen", 1.0)]
    assert [pf_e2e.skin_weights(e) for e in (1, 2, 3, 4)] == [(30.0, 2.0), (30.0, 2.0), (60.0, 4.0), (60.0, 4.0)]
    pb_warp = _build(_config("pb-warp", checkpoints))
    assert {id(p) for p in pb_warp.param_groups(0)[0].params} == {id(p) for p in pb_warp.model.warp.parameters()}
    assert isinstance(pb_warp.exported()["model"], PBAFN)
    official = {"ngf": 64, "channels": (64, 128, 256, 256, 256), "fpn_dim": 256, "flow_channels": (128, 64, 32)}
    assert scaled_widths(1.0) == scaled_widths(1.0, scale_flow_heads=False) == official
    assert scaled_widths(0.125)["flow_channels"] == (16, 8, 4)
    assert scaled_widths(0.01) == {"ngf": 4, "channels": (4, 4, 4, 4, 4), "fpn_dim": 4, "flow_channels": (4, 4, 4)}
    assert scaled_widths(0.01, scale_flow_heads=False)["flow_channels"] == (128, 64, 32)


def test_width_scales_the_flow_heads_unless_told_not_to(checkpoints: dict[str, Path]) -> None:
    def head_widths(stage: Stage) -> list[int]:
        head = stage.model.warp.aflow_net.netRefine[0]
        return [head[i].out_channels for i in (0, 2, 4, 6)]

    assert head_widths(_build(_config("pb-warp", checkpoints))) == [8, 4, 4, 2]
    assert head_widths(_build(_config("pb-warp", checkpoints, scale_flow_heads=False))) == [128, 64, 32, 2]
    with pytest.raises(CheckpointError, match="netMain.0.0.weight"):  # init made with the other heads
        build_stage(_config("pb-e2e", checkpoints, scale_flow_heads=False))


@pytest.mark.parametrize("knowledge", ["teacher+tutor", "tutor"])
def test_fake_cache_gives_the_tutors_outputs(
    checkpoints: dict[str, Path], batch: dict[str, torch.Tensor], tmp_path: Path, knowledge: str
) -> None:
    def loss(stage: Stage, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        torch.manual_seed(0)
        return stage(inputs, 1)[0].detach()

    cache = tmp_path / "fakes"
    on_the_fly = loss(_build(_config("pf-warp", checkpoints, knowledge=knowledge)), batch)
    cached = _build(_config("pf-warp", checkpoints, knowledge=knowledge, fake_cache=str(cache)))
    assert torch.equal(loss(cached, batch), on_the_fly), "a batch of misses is exactly the tutor's forward"
    entries = sorted(cache.rglob("*.safetensors"))
    assert len(entries) == 2 and (cached.fakes.hits, cached.fakes.misses) == (0, 2)
    assert torch.equal(loss(cached, batch), on_the_fly)
    assert (cached.fakes.hits, cached.fakes.misses) == (2, 2) and sorted(cache.rglob("*.safetensors")) == entries

    first = {key: value[:1] for key, value in batch.items()}  # another batch, another student: still a hit
    other = _build(_config("pf-e2e", checkpoints, knowledge=knowledge, fake_cache=str(cache)))
    other(first, 1)
    assert (other.fakes.hits, other.fakes.misses) == (1, 0)

    noisy = _build(_config("pf-warp", checkpoints, knowledge=knowledge, parse_noise=1.0, fake_cache=str(cache)))
    noisy(batch, 1)  # other tutor inputs
    assert (noisy.fakes.hits, noisy.fakes.misses) == (0, 2)


def test_configuration_errors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fake_cache"):
        build_stage(_config("pb-e2e", checkpoints, fake_cache=str(tmp_path / "fakes")))
    with pytest.raises(ValueError, match="tutor"):
        build_stage(_config("pf-warp", checkpoints, tutor=None))
    with pytest.raises(ValueError, match="expected PBAFN"):
        build_stage(_config("pb-e2e", checkpoints, init=str(checkpoints["pf"])))
    with pytest.raises(ValueError, match="expected PBAFN"):
        build_stage(_config("pf-e2e", checkpoints, tutor=str(checkpoints["pf"])))
    with pytest.raises(FileNotFoundError, match="perceptual: none"):
        build_stage(_config("pb-warp", checkpoints, perceptual="vgg19", vgg_weights=str(tmp_path / "none.pth")))
    with pytest.raises(ValueError, match="pf-warp"):
        PFWarp(_config("pb-warp", checkpoints))
