"""CP-VTON / CP-VTON+ training (baselines.training.cp_vton), the width knob, cp_vton checkpoints in the methods and
the TPS-only baseline: losses fall on generated data, cp-gmm resumes bit-identically, the CLI trains and predicts."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.data import default_collate

from baselines import create_baseline
from baselines.cp_vton import CPVTON, GMM, TpsGridGen, tom_levels
from baselines.cp_vton_agnostic import agnostic_from_common, cpvton_agnostic
from baselines.tps_only import TPSOnly
from baselines.training.cp_vton import grid_regularisation
from bench.cli import main
from bench.data import create_dataset
from bench.data.readers import InputError
from bench.data.schema import to_common
from bench.data.synthetic import synthesize
from bench.methods import create_method
from bench.train.wiring import training_pairs
from pftryon import load_pretrained, save_pretrained
from pftryon.losses import VGG19_FILE
from pftryon.models import init_deterministic_
from pftryon.representation import pose_maps
from pftryon.train.config import TrainConfig
from pftryon.train.stages import build_stage
from pftryon.train.trainer import Trainer

SIZE = (64, 64)
WIDTH = 0.125
STAGES = ("cp-gmm", "cp-tom", "cpplus-gmm", "cpplus-tom")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def viton(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic VITON (LIP parse) at 64x64: 8 train and 2 test pairs."""
    root = tmp_path_factory.mktemp("viton")
    synthesize("viton", root, n=10, size=SIZE, seed=0, test_fraction=0.2, progress=False)
    return root


@pytest.fixture(scope="module")
def batches(viton: Path) -> list[dict[str, torch.Tensor]]:
    """The 8 train pairs as 4 training batches of 2."""
    pairs = training_pairs("viton", viton, size=SIZE, seed=0)
    return [default_collate([pairs[2 * i], pairs[2 * i + 1]]) for i in range(4)]


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random VGG19 ``features.*`` state dict as ``vgg19-dcbb9e9d.pth`` (never downloaded)."""
    from torchvision.models import vgg19

    torch.manual_seed(0)
    with torch.device("meta"):
        features = vgg19(weights=None).features
    features = features.to_empty(device="cpu")
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
    path = tmp_path_factory.mktemp("hub") / VGG19_FILE
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def _gmm_checkpoint(folder: Path, *, plus: bool) -> Path:
    torch.manual_seed(1)
    return save_pretrained(CPVTON(plus=plus, fine_height=SIZE[0], fine_width=SIZE[1], width=WIDTH), folder)


def _config(stage: str, **overrides) -> TrainConfig:
    settings = {"size": SIZE, "width": WIDTH, "batch_size": 2, "perceptual": "none"}
    return TrainConfig.for_stage(stage, **{**settings, **overrides})


# -- the model --------------------------------------------------------------------------------------------------


def test_width_scales_every_network_and_round_trips_through_the_registry(tmp_path: Path) -> None:
    official = CPVTON()
    narrow = CPVTON(plus=True, fine_height=128, fine_width=64, width=0.25)
    assert narrow.gmm.extractionA.model[0].out_channels == 16 and narrow.gmm.extractionB.model[-2].out_channels == 128
    assert narrow.gmm.regression.linear.in_features == 16 * 2 * 1
    assert narrow.tom.model.model[0].out_channels == 16
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in official.parameters()) / 10
    init_deterministic_(narrow)
    loaded = load_pretrained(save_pretrained(narrow, tmp_path))
    assert isinstance(loaded, CPVTON) and loaded.config == narrow.config and loaded.plus
    for key, value in narrow.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_tps_grid_is_the_same_when_training() -> None:
    """The training path of the TPS grid (a matrix product) equals the official-order inference path up to rounding."""
    grid_gen = TpsGridGen(64, 128)
    theta = 0.2 * torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        official = grid_gen(theta)
    training = grid_gen(theta.clone().requires_grad_(True))
    assert training.requires_grad
    torch.testing.assert_close(training.detach(), official, atol=1e-5, rtol=0)  # the golden tolerance is 1e-4


def test_agnostic_from_common_equals_the_lip_one_without_hats_or_sunglasses(viton: Path) -> None:
    """On a parse without LIP hat / sunglasses (which the common set merges with gloves, socks and scarves), the
    training agnostic equals the one the methods build from the LIP parse and the keypoints."""
    dataset = create_dataset("viton", viton, split="train", pair_mode="paired", size=SIZE)
    for plus, stage in ((False, "gmm"), (True, "gmm"), (True, "tom")):
        for sample in (dataset[0], dataset[1]):
            lip = torch.as_tensor(sample["parse"])
            assert not torch.isin(lip, torch.tensor([1, 4])).any()
            person, keypoints = sample["person"], sample["keypoints"]
            expected = cpvton_agnostic(lip, person, keypoints, plus=plus, stage=stage)
            common = to_common(lip, sample["parse_labels"])[None]
            ours = agnostic_from_common(common, person[None], pose_maps(keypoints, *SIZE)[None], plus=plus, stage=stage)
            assert torch.equal(ours[0], expected), (plus, stage)


def test_grid_regularisation_is_the_official_gicloss() -> None:
    """Zero (up to rounding) on evenly spaced grids, else the official sum over interior pixels over ``B * H * W``."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, 6), torch.linspace(-1, 1, 5), indexing="ij")
    identity = torch.stack([xs, ys], dim=-1)[None].repeat(2, 1, 1, 1)
    assert grid_regularisation(identity) < 1e-7
    assert grid_regularisation(identity * 0.5 + 0.1) < 1e-7
    grid = torch.rand(2, 6, 5, 2, generator=torch.Generator().manual_seed(0))
    total = 0.0
    for b in range(2):
        for i in range(1, 5):
            for j in range(1, 4):
                gx, gy = grid[b, ..., 0], grid[b, ..., 1]
                left, right = abs(gx[i, j - 1] - gx[i, j]), abs(gx[i, j + 1] - gx[i, j])
                up, down = abs(gy[i - 1, j] - gy[i, j]), abs(gy[i + 1, j] - gy[i, j])
                total += abs(left - right) + abs(up - down)
    torch.testing.assert_close(grid_regularisation(grid), total / (2 * 6 * 5))


# -- training ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage_name", STAGES)
def test_loss_falls(stage_name: str, batches: list, tmp_path: Path) -> None:
    """40 Adam steps at 1e-3 (10x the official rate, to see a fall in a few dozen steps) over 4 fixed batches: the
    mean loss of the last 4 steps (one pass over the batches) is below 0.9x that of the first 4. The TOM stages start
    from a GMM-stage checkpoint, which stays frozen (and in eval mode). No VGG term here (see the next test)."""
    overrides = {"init": str(_gmm_checkpoint(tmp_path, plus="plus" in stage_name))} if "tom" in stage_name else {}
    torch.manual_seed(0)
    stage = build_stage(_config(stage_name, **overrides))
    gmm_before = {k: v.clone() for k, v in stage.model.gmm.state_dict().items()}
    trained = [p for group in stage.param_groups(0) for p in group.params]
    stage.requires_grad_(False)
    for parameter in trained:
        parameter.requires_grad_(True)
    optimizer = torch.optim.Adam(trained, lr=1e-3, betas=(0.5, 0.999))
    stage.train()
    losses = []
    for step in range(40):
        loss, logs = stage(batches[step % 4], 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    first, last = statistics.mean(losses[:4]), statistics.mean(losses[-4:])
    assert last < 0.9 * first, (stage_name, first, last, losses)
    expected_terms = {"cp-gmm": {"warp_l1"}, "cpplus-gmm": {"warp_l1", "gic"}, "cp-tom": {"l1", "mask_l1"},
                      "cpplus-tom": {"l1", "mask_l1"}}  # fmt: skip
    assert set(logs) == expected_terms[stage_name]
    if stage_name == "cpplus-gmm":
        torch.testing.assert_close(loss, logs["warp_l1"] + 40 * logs["gic"])
    if "tom" in stage_name:
        assert not stage.model.gmm.training
        for key, value in stage.model.gmm.state_dict().items():
            assert torch.equal(value, gmm_before[key]), f"the frozen GMM changed: {key}"


def test_tom_loss_is_l1_vgg_and_mask_with_weight_one(batches: list, vgg_weights: Path, tmp_path: Path) -> None:
    init = _gmm_checkpoint(tmp_path, plus=False)
    torch.manual_seed(0)
    stage = build_stage(_config("cp-tom", init=str(init), perceptual="vgg19", vgg_weights=str(vgg_weights)))
    loss, logs = stage.train()(batches[0], 1)
    assert set(logs) == {"l1", "mask_l1", "vgg"} and logs["vgg"] > 0
    torch.testing.assert_close(loss.detach(), logs["l1"] + logs["vgg"] + logs["mask_l1"])


def test_init_gives_the_gmm_and_must_be_the_same_variant(tmp_path: Path) -> None:
    init = _gmm_checkpoint(tmp_path, plus=False)
    expected = load_pretrained(init).gmm.state_dict()
    for stage in ("cp-gmm", "cp-tom"):  # cp-gmm continues from it (the official --checkpoint); cp-tom freezes it
        state = build_stage(_config(stage, init=str(init))).model.gmm.state_dict()
        assert all(torch.equal(state[k], v) for k, v in expected.items()), stage
    with pytest.raises(ValueError, match=r"cpplus-tom: init .* is another CP-VTON \(plus: False \(init\) vs True\)"):
        build_stage(_config("cpplus-tom", init=str(init)))


def test_sizes_off_the_official_multiple_of_64_get_a_shallower_tom() -> None:
    """At 128x96 (multiples of 32, not 64) the TOM U-Net has 5 levels, ending at 4x3 as the official 6 do at
    256x192; the try-on keeps the input's size."""
    model = build_stage(TrainConfig.for_stage("cp-tom", size=(128, 96), width=0.125, perceptual="none")).model.eval()
    assert tom_levels(128, 96) == 5 and tom_levels(256, 192) == 6
    with torch.no_grad():
        out = model(torch.zeros(1, 22, 128, 96), torch.zeros(1, 3, 128, 96), torch.ones(1, 1, 128, 96))
    assert out["tryon"].shape == (1, 3, 128, 96)


def test_official_schedule_is_56_epochs_at_a_constant_rate() -> None:
    for stage in STAGES:
        config = TrainConfig.for_stage(stage)
        assert (config.lr, config.beta1, config.beta2, config.batch_size) == (1e-4, 0.5, 0.999, 4)
        assert (config.niter, config.niter_decay) == (56, 0) and config.lr_factor(56) == 1.0
        assert abs(config.epochs * (14221 // 4) - 200_000) < 4 * 14221 / 4  # within one epoch of 200k steps


def test_cp_gmm_resumes_bit_identically(viton: Path, tmp_path: Path) -> None:
    """6 steps straight vs 3 steps, then a resumed run to 6 (an epoch is 4 steps: the resume crosses an epoch)."""
    pairs = training_pairs("viton", viton, size=SIZE, seed=0)

    def run(out: Path, max_steps: int, *, resume: bool = False) -> Path:
        config = _config("cp-gmm", max_steps=max_steps, save_every=3, log_every=1)
        torch.manual_seed(config.seed)
        return Trainer(config, build_stage(config), pairs, out, resume=resume).fit()

    straight = run(tmp_path / "a", 6)
    run(tmp_path / "b", 3)
    resumed = run(tmp_path / "b", 6, resume=True)
    weights = straight / "model" / "model.safetensors"
    assert weights.read_bytes() == (resumed / "model" / "model.safetensors").read_bytes()
    assert (tmp_path / "a" / "log.jsonl").read_text().count("\n") == 6


# -- the command line and the methods ------------------------------------------------------------------------------

TINY = ["--set", f"width={WIDTH}", "--set", "size=[64,64]", "--set", "batch_size=2", "--set", "max_steps=2",
        "--set", "log_every=1", "--set", "perceptual=none"]  # fmt: skip


def test_train_both_stages_then_predict_cp_vton_and_tps_only(viton: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--dataset", "viton", "--root", str(viton)]
    gmm_out, tom_out = tmp_path / "gmm", tmp_path / "tom"
    result = runner.invoke(main, ["train", "--method", "cp_vton", "--stage", "cp-gmm", *data, "--out", gmm_out, *TINY])
    assert result.exit_code == 0, (result.output, result.exception)
    result = runner.invoke(main, ["train", "--method", "cp_vton", "--stage", "cp-tom", *data, "--out", tom_out,
                                  "--init", gmm_out / "final" / "model", *TINY])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    trained = tom_out / "final" / "model"
    model = load_pretrained(trained)
    assert isinstance(model, CPVTON) and not model.plus and model.config["width"] == WIDTH
    gmm_stage = load_pretrained(gmm_out / "final" / "model")
    for key, value in gmm_stage.gmm.state_dict().items():
        assert torch.equal(model.gmm.state_dict()[key], value), f"cp-tom changed the GMM: {key}"

    wrong = runner.invoke(main, ["train", "--method", "cp_vton", "--stage", "cpplus-gmm", *data, "--out",
                                 tmp_path / "x"])  # fmt: skip
    assert wrong.exit_code == 2 and "cp_vton has no stage 'cpplus-gmm'; its stages, in order: cp-gmm, cp-tom" in (
        wrong.output
    )
    for method in ("cp_vton", "tps_only"):
        out = tmp_path / f"predict-{method}"
        result = runner.invoke(main, ["predict", "--method", method, "--checkpoints", trained, *data, "--out", out,
                                      "--device", "cpu"])  # fmt: skip
        assert result.exit_code == 0, (method, result.output, result.exception)
        assert len(list(out.glob("*.png"))) == 2, method


def test_methods_check_the_variant_and_tps_only_pastes_the_gmm_warp(viton: Path, tmp_path: Path) -> None:
    plus = CPVTON(plus=True, fine_height=SIZE[0], fine_width=SIZE[1], width=WIDTH)
    init_deterministic_(plus)
    save_pretrained(plus, tmp_path / "plus")
    message = r"config.json: a CP-VTON\+ checkpoint \(plus: true\); cp_vton needs a CP-VTON "
    with pytest.raises(InputError, match=message):
        create_method("cp_vton", tmp_path / "plus")
    assert create_method("cp_vton_plus", tmp_path / "plus").model.plus
    method = create_method("tps_only", tmp_path / "plus")
    assert isinstance(method.model, TPSOnly) and method.model.plus and method.config == plus.config

    dataset = create_dataset("viton", viton, split="test", pair_mode="paired", size=SIZE)
    batch = default_collate([dataset[0]])
    out = method(batch)
    agnostic, cloth, mask, person = method.inputs(batch)
    with torch.inference_mode():
        full = plus.eval()(agnostic, cloth, mask)
    torch.testing.assert_close(out["warped_cloth"], full["warped_cloth"], rtol=0, atol=0)
    m = full["warped_mask"]
    torch.testing.assert_close(out["tryon"], person * (1 - m) + full["warped_cloth"] * m)


def test_tps_only_from_the_official_gmm_file_of_either_variant(tmp_path: Path) -> None:
    for plus in (False, True):
        gmm = GMM(22, 1 if plus else 3)
        init_deterministic_(gmm)
        folder = tmp_path / str(plus)
        folder.mkdir()
        torch.save(gmm.state_dict(), folder / "gmm_final.pth")
        method = create_method("tps_only", folder)
        assert method.model.plus == plus
        assert [Path(p).name for p in method.checkpoints] == ["gmm_final.pth"]
        for key, value in gmm.state_dict().items():
            assert torch.equal(method.model.gmm.state_dict()[key], value), key
    assert isinstance(create_baseline("tps_only", fine_height=64, fine_width=64, width=WIDTH), TPSOnly)
