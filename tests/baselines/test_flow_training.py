"""FS-VTON's and DM-VTON's student stages (baselines.training.flow) on a tiny synthetic batch with a tiny PB-AFN tutor,
their checkpoints in the harness, and the two PF-AFN ablation methods (WUTON-style student, identity flow)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from stage_batch import stage_batch

import baselines.training  # noqa: F401  (registers the stages)
from baselines.dm_vton import DMVTON
from baselines.fs_vton import FSVTON
from baselines.training.flow import DMEndToEnd, FSWarp, dm_widths, fs_widths
from bench.cli import main
from bench.data.readers import InputError
from bench.data.synthetic import synthesize
from bench.methods import create_method
from pftryon import PBAFN, PFAFN, load_pretrained, save_pretrained
from pftryon.train.config import TUTORED_STAGES, TrainConfig
from pftryon.train.stage import Stage
from pftryon.train.stages import build_stage, scaled_widths

WIDTH, SIZE = 0.0625, (64, 64)
_WARP = {"warp_l1", "warp_edge", "warp_smooth", "warp_tv", "distill_feature", "distill_flow", "distill_weight"}
_E2E = {"gen_l1", "gen_mask", "gen_skin_l1", "warp", "gen"}


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    return stage_batch(SIZE)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """One intra-op thread: these tiny models gain nothing from more, and on a loaded machine two threads made each
    step ~15x slower (measured: 0.2 s of CPU per step with one thread, 3 s with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(stage: str, **overrides: object) -> TrainConfig:
    settings = {"width": WIDTH, "size": SIZE, "batch_size": 2, "perceptual": "none", **overrides}
    return TrainConfig.for_stage(stage, **settings)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random tiny checkpoints: the PB-AFN tutor, and the FS-VTON / DM-VTON students the e2e stages start from."""
    root = tmp_path_factory.mktemp("flow_training")
    torch.manual_seed(1)
    return {
        "tutor": save_pretrained(PBAFN(**scaled_widths(WIDTH)), root / "tutor"),
        "fs": save_pretrained(FSVTON(**fs_widths(_config("fs-warp"))), root / "fs"),
        "dm": save_pretrained(DMVTON(**dm_widths(_config("dm-warp"))), root / "dm"),
    }


def _build(stage: str, checkpoints: dict[str, Path], **overrides: object) -> Stage:
    init = {"fs-e2e": "fs", "dm-e2e": "dm"}.get(stage)
    paths = {"tutor": str(checkpoints["tutor"]), "init": str(checkpoints[init]) if init else None}
    torch.manual_seed(0)
    return build_stage(_config(stage, **{**paths, **overrides})).train()


def _steps(stage: Stage, batch: dict[str, torch.Tensor], steps: int) -> list[float]:
    groups = stage.param_groups(stage.phase(1))
    optimizer = torch.optim.Adam([{"params": g.params, "lr": 2e-3 * g.lr_scale} for g in groups], betas=(0.5, 0.999))
    losses = []
    for _ in range(steps):
        loss, _ = stage(batch, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    ("stage", "terms"),
    [
        ("fs-warp", _WARP),
        ("fs-e2e", _WARP | _E2E),
        ("dm-warp", _WARP | {"distill_cloth_feature"}),
        ("dm-e2e", _WARP | _E2E | {"distill_cloth_feature"}),
    ],
)
def test_the_loss_falls(
    stage: str, terms: set[str], batch: dict[str, torch.Tensor], checkpoints: dict[str, Path]
) -> None:
    model = _build(stage, checkpoints, distill="fixed")
    _, logs = model(batch, 1)
    assert set(logs) == terms
    assert all(v.ndim == 0 and torch.isfinite(v) and not v.requires_grad for v in logs.values())
    losses = _steps(model, batch, 12)
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first, losses


def test_traced_warps_keep_the_inference_outputs(checkpoints: dict[str, Path], batch: dict[str, torch.Tensor]) -> None:
    tutor = load_pretrained(checkpoints["tutor"]).warp
    person, cloth, edge = batch["person"], batch["cloth"], batch["cloth_mask"]
    with torch.no_grad():
        condition = torch.zeros(2, 45, *SIZE)
        reference = tutor(condition, cloth, edge, trace=True)  # what distillation compares with (same widths)
        for name in ("fs", "dm"):
            warp = load_pretrained(checkpoints[name]).warp
            plain, traced = warp(person, cloth, edge), warp(person, cloth, edge, trace=True)
            for field in ("warped", "flow", "warped_edge"):
                assert torch.equal(getattr(plain, field), getattr(traced, field)), (name, field)
            assert plain.flows is None and len(traced.offsets) == 10
            for field in ("person_features", "cloth_features", "flows", "warped_pyramid"):
                shapes = [t.shape for t in getattr(traced, field)]
                assert shapes == [t.shape for t in getattr(reference, field)], (name, field)


def test_fs_warp_starts_from_the_tutor_where_it_can_and_trains_the_rest_first(
    checkpoints: dict[str, Path], batch: dict[str, torch.Tensor]
) -> None:
    stage = _build("fs-warp", checkpoints, niter=2, niter_decay=1)
    source = load_pretrained(checkpoints["tutor"]).warp.state_dict()
    state = stage.model.warp.state_dict()
    assert stage.initialised_keys == {k for k in state if k.startswith(("image_features.", "image_FPN."))}
    assert all(torch.equal(state[k], source[k]) for k in stage.initialised_keys)
    assert [stage.phase(e) for e in (1, 2, 3)] == [0, 1, 1]
    named = dict(stage.model.warp.named_parameters())
    phase0 = {id(p) for p in stage.param_groups(0)[0].params}
    assert phase0 == {id(p) for k, p in named.items() if not k.startswith(("image_features.", "image_FPN."))}
    assert {id(p) for p in stage.param_groups(1)[0].params} == {id(p) for p in named.values()}
    record = stage.record()
    assert "PB-AFN tutor" in record["teacher"] and "StyleAFWM(45)" in record["official_teacher"]
    assert record["distilled_features"] == ["person"] and record["init_keys"] == sorted(stage.initialised_keys)


def test_dm_stages_follow_the_official_scripts(checkpoints: dict[str, Path]) -> None:
    assert set(TUTORED_STAGES) >= {"fs-warp", "fs-e2e", "dm-warp", "dm-e2e"}
    assert (TrainConfig.for_stage("dm-warp").batch_size, TrainConfig.for_stage("dm-e2e").batch_size) == (8, 6)
    assert (TrainConfig.for_stage("fs-warp").lr, TrainConfig.for_stage("fs-warp").epochs) == (3e-5, 200)
    warp = _build("dm-warp", checkpoints, niter=2)
    assert {warp.phase(e) for e in (1, 2, 3)} == {0}
    assert {id(p) for p in warp.param_groups(0)[0].params} == {id(p) for p in warp.model.warp.parameters()}
    assert warp.initialised_keys == set() and warp.record()["distilled_features"] == ["person", "cloth"]
    e2e = _build("dm-e2e", checkpoints, niter=2)
    assert isinstance(e2e, DMEndToEnd) and isinstance(e2e.exported()["model"], DMVTON)
    assert [e2e.skin_weights(e) for e in (1, 2, 3)] == [(30.0, 2.0), (30.0, 2.0), (60.0, 4.0)]
    fs_e2e = _build("fs-e2e", checkpoints, niter=2)
    assert [fs_e2e.skin_weights(e) for e in (1, 2, 3)] == [(30.0, 2.0), (60.0, 4.0), (60.0, 4.0)]
    assert [(g.name, g.lr_scale) for g in e2e.param_groups(0)] == [("warp", 0.2), ("gen", 1.0)]


def test_features_of_another_width_are_not_distilled(
    checkpoints: dict[str, Path], batch: dict[str, torch.Tensor]
) -> None:
    stage = _build("dm-warp", checkpoints, width=2 * WIDTH)
    assert stage.record()["distilled_features"] == []
    _, logs = stage(batch, 1)
    assert "distill_flow" in logs and not {"distill_feature", "distill_cloth_feature"} & set(logs)
    assert isinstance(FSWarp.model_config(_config("fs-warp")), dict)


def test_checkpoints_load_in_the_harness(checkpoints: dict[str, Path], batch: dict[str, torch.Tensor]) -> None:
    person, cloth, edge = batch["person"], batch["cloth"], batch["cloth_mask"]
    for name, cls, folder in (("fs_vton", FSVTON, "fs"), ("dm_vton", DMVTON, "dm")):
        method = create_method(name, checkpoints[folder])
        assert isinstance(method.model, cls) and method.config == load_pretrained(checkpoints[folder]).config
        direct = cls(**method.config).eval()
        direct.load_state_dict(method.model.state_dict())
        with torch.no_grad():
            assert torch.equal(method.model(person, cloth, edge)["tryon"], direct(person, cloth, edge)["tryon"])
    assert DMVTON().config == {"width_mult": 1.0, "fpn_dim": 256, "flow_channels": [128, 64, 32], "gen_width_mult": 1.0}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic VITON tree in PF-AFN's training layout at 64x64: 2 train and 2 test pairs."""
    root = tmp_path_factory.mktemp("viton_pfafn")
    synthesize("viton-pfafn", root, n=4, size=SIZE, seed=4, test_fraction=0.5, progress=False)
    return root


def test_pftryon_train_runs_fs_warp_from_the_tutor(checkpoints: dict[str, Path], dataset: Path, tmp_path: Path) -> None:
    root = dataset
    settings = {"width": WIDTH, "size": "[64,64]", "perceptual": "none", "batch_size": 2, "niter": 1,
                "niter_decay": 1, "max_steps": 2, "log_every": 1}  # fmt: skip
    args = ["train", "--method", "fs_vton", "--stage", "fs-warp", "--dataset", "viton-pfafn", "--root", root,
            "--out", tmp_path / "run", "--tutor", checkpoints["tutor"]]  # fmt: skip
    args += [x for key, value in settings.items() for x in ("--set", f"{key}={value}")]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    assert isinstance(load_pretrained(tmp_path / "run/final/model"), FSVTON)
    wrong = CliRunner().invoke(main, ["train", "--method", "dm_vton", "--stage", "fs-warp", "--dataset", "viton",
                                      "--root", str(root), "--out", str(tmp_path / "x")])  # fmt: skip
    assert wrong.exit_code == 2 and "dm-warp, dm-e2e" in wrong.output


@pytest.mark.parametrize("method", ["wuton_student", "pf_afn_no_flow"])
def test_the_ablation_methods_run_in_predict(method: str, dataset: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    student = save_pretrained(PFAFN(**scaled_widths(WIDTH)), tmp_path / "student")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["predict", "--method", method, "--checkpoints", str(student), "--dataset",
                                       "viton-pfafn", "--root", str(dataset), "--out", str(out), "--device", "cpu",
                                       "--limit", "2"])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(list(out.glob("*.png"))) == 2
    if method == "wuton_student":  # a run's final/model trained with PF-AFN's own knowledge is refused
        record = {"config": {"knowledge": "teacher+tutor"}}
        (tmp_path / "training.json").write_text(json.dumps(record))
        with pytest.raises(InputError, match="knowledge 'teacher\\+tutor'"):
            create_method(method, student)
    if method == "pf_afn_no_flow":
        loaded = create_method(method, student)
        person, cloth, edge = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64)
        with torch.no_grad():
            out_ = loaded.model(person, cloth * 2 - 1, edge)
        assert torch.equal(out_["warped_cloth"], cloth * 2 - 1) and torch.equal(out_["warped_edge"], edge)
        assert torch.allclose(out_["flow"][:, 0, 0], torch.linspace(-1, 1, 64).expand(1, 64))
