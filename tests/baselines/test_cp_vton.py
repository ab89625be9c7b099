"""CP-VTON / CP-VTON+: checkpoint layout, golden conformance, TPS identities, loading and batch independence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import create_baseline, list_baselines
from baselines.cp_vton import CPVTON, TpsGridGen
from pftryon.models._checkpoint import CheckpointError
from pftryon.models._deterministic import deterministic_state_dict

HEIGHT, WIDTH = 256, 192


def _deterministic(model: CPVTON) -> CPVTON:
    for part in (model.gmm, model.tom):
        part.load_state_dict(deterministic_state_dict({k: v.shape for k, v in part.state_dict().items()}))
    return model.eval()


def _identity_grid() -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, HEIGHT), torch.linspace(-1, 1, WIDTH), indexing="ij")
    return torch.stack([xs, ys], dim=-1)


@pytest.fixture(scope="module")
def golden(conformance_dir: Path) -> dict[str, torch.Tensor]:
    with np.load(conformance_dir / "cpvton_golden.npz") as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


@pytest.fixture(scope="module")
def model() -> CPVTON:
    return _deterministic(CPVTON())


@pytest.fixture(scope="module")
def golden_out(
    model: CPVTON, golden: dict[str, torch.Tensor], run_beside_mirror: Callable[..., dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    return run_beside_mirror(model, golden["agnostic"], golden["cloth"], golden["cloth_mask"])


@pytest.mark.conformance
@pytest.mark.parametrize(("plus", "prefix"), [(False, "cpvton"), (True, "cpvtonplus")])
def test_state_dicts_match_manifests(plus: bool, prefix: str, conformance_dir: Path) -> None:
    model = CPVTON(plus=plus)
    for part, stage in ((model.gmm, "gmm"), (model.tom, "tom")):
        manifest = json.loads((conformance_dir / "manifests" / f"{prefix}_{stage}.json").read_text())
        ours = [(key, list(value.shape)) for key, value in part.state_dict().items()]
        assert ours == list(manifest.items()), f"{prefix}_{stage}: keys, order or shapes differ from the manifest"


@pytest.mark.conformance
@pytest.mark.parametrize(
    ("key", "out_key", "atol"),
    [
        ("theta", "theta", 1e-4),
        ("grid", "grid", 1e-4),
        ("warped_cloth", "warped_cloth", 1e-3),
        ("warped_mask", "warped_mask", 1e-3),
        ("tom_out", "tom_out", 1e-3),
        ("p_tryon", "tryon", 1e-3),
    ],
)
def test_golden_conformance(
    golden_out: dict[str, torch.Tensor],
    golden: dict[str, torch.Tensor],
    key: str,
    out_key: str,
    atol: float,
    golden_check: Callable[..., None],
) -> None:
    golden_check("cp_vton", out_key, golden_out[out_key], golden[key], atol)


def test_output_composition(golden_out: dict[str, torch.Tensor]) -> None:
    rendered, mask = torch.tanh(golden_out["tom_out"][:, :3]), torch.sigmoid(golden_out["tom_out"][:, 3:])
    torch.testing.assert_close(golden_out["rendered"], rendered)
    torch.testing.assert_close(golden_out["mask"], mask)
    torch.testing.assert_close(golden_out["tryon"], golden_out["warped_cloth"] * mask + rendered * (1 - mask))


def test_tps_zero_theta_is_identity() -> None:
    grid = TpsGridGen()(torch.zeros(1, 50))
    assert (grid[0] - _identity_grid()).abs().max().item() < 1e-5


def test_tps_interpolates_corner_control_points() -> None:
    # The spline passes through its control points; the grid corners are control points 0, 4, 20 and 24
    # (X slow, Y fast), so this pins the ordering of theta.
    theta = 0.2 * torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    grid = TpsGridGen()(theta)
    for index, row, col in ((0, 0, 0), (4, HEIGHT - 1, 0), (20, 0, WIDTH - 1), (24, HEIGHT - 1, WIDTH - 1)):
        base = torch.tensor([-1.0 if col == 0 else 1.0, -1.0 if row == 0 else 1.0])
        expected = base + torch.stack([theta[:, index], theta[:, 25 + index]], dim=1)
        torch.testing.assert_close(grid[:, row, col], expected, atol=1e-5, rtol=0)


def test_tps_constants_are_non_persistent_buffers(model: CPVTON) -> None:
    names = {name for name, _ in model.named_buffers()}
    assert {"gmm.gridGen.l_inverse", "gmm.gridGen.radial"} <= names
    assert not any(key.startswith("gmm.gridGen") for key in model.state_dict())
    assert TpsGridGen().double().radial.dtype == torch.float64


def test_identity_gmm_reproduces_cloth(golden: dict[str, torch.Tensor]) -> None:
    model = _deterministic(CPVTON())
    torch.nn.init.zeros_(model.gmm.regression.linear.weight)
    torch.nn.init.zeros_(model.gmm.regression.linear.bias)
    with torch.no_grad():
        out = model(golden["agnostic"], golden["cloth"], golden["cloth_mask"])
    assert out["theta"].abs().max().item() == 0
    deviation = out["grid"][0] - _identity_grid()
    assert deviation.abs().max().item() < 1e-5
    # A grid deviation of a few 1e-6 (float rounding of the TPS, which differs between CPUs) moves samples by ~1e-3
    # pixel; bilinear sampling then changes a value by at most that distance times the step between neighbours.
    moved = (deviation.abs() * torch.tensor([(WIDTH - 1) / 2, (HEIGHT - 1) / 2])).sum(-1).max().item()
    for key, reference, step in (
        ("warped_cloth", golden["cloth"], 2.0),
        ("warped_mask", golden["cloth_mask"], 1.0),
    ):
        difference = (out[key] - reference).abs().max().item()
        assert difference <= step * moved + 1e-6, f"{key}: {difference} beyond what the grid's deviation explains"


def test_from_official_round_trip(
    tmp_path: Path,
    model: CPVTON,
    golden: dict[str, torch.Tensor],
    golden_out: dict[str, torch.Tensor],
    run_beside_mirror: Callable[..., dict[str, torch.Tensor]],
) -> None:
    gmm_path, tom_path = tmp_path / "gmm_final.pth", tmp_path / "tom_final.pth"
    torch.save({f"module.{key}": value for key, value in model.gmm.state_dict().items()}, gmm_path)
    torch.save(model.tom.state_dict(), tom_path)
    loaded = CPVTON.from_official(gmm_path, tom_path)
    assert not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    out = run_beside_mirror(loaded, golden["agnostic"], golden["cloth"], golden["cloth_mask"])
    for key, value in golden_out.items():
        torch.testing.assert_close(out[key], value, atol=1e-6, rtol=0, msg=key)


def test_from_official_names_bad_keys(tmp_path: Path, model: CPVTON) -> None:
    gmm_state = model.gmm.state_dict()
    gmm_state["regression.linear.weights"] = gmm_state.pop("regression.linear.weight")
    torch.save(gmm_state, tmp_path / "gmm.pth")
    torch.save(model.tom.state_dict(), tmp_path / "tom.pth")
    with pytest.raises(
        CheckpointError, match=r"missing: regression\.linear\.weight; unexpected: regression\.linear\.weights"
    ):
        CPVTON.from_official(tmp_path / "gmm.pth", tmp_path / "tom.pth")
    torch.save(model.gmm.state_dict(), tmp_path / "gmm.pth")
    with pytest.raises(CheckpointError, match=r"gmm\.pth .*wrong shape: extractionB\.model\.0\.weight \[64, 3, 4, 4\]"):
        CPVTON.from_official(tmp_path / "gmm.pth", tmp_path / "tom.pth", plus=True)


def test_plus_unseen_inputs_batch_independent() -> None:
    model = _deterministic(CPVTON(plus=True))
    g = torch.Generator().manual_seed(1234)
    agnostic = torch.rand(2, 22, HEIGHT, WIDTH, generator=g) * 2 - 1
    tom_agnostic = torch.rand(2, 22, HEIGHT, WIDTH, generator=g) * 2 - 1
    cloth = torch.rand(2, 3, HEIGHT, WIDTH, generator=g) * 2 - 1
    cloth_mask = (torch.rand(2, 1, HEIGHT, WIDTH, generator=g) > 0.5).float()
    with torch.no_grad():
        batch = model(agnostic, cloth, cloth_mask, tom_agnostic)
        single = model(agnostic[:1], cloth[:1], cloth_mask[:1], tom_agnostic[:1])
        # Each stage on identical inputs.
        tom_in = torch.cat([tom_agnostic, batch["warped_cloth"], batch["warped_mask"]], dim=1)
        tom_single = model.tom(tom_in[:1])
        grid_single = model.gmm.gridGen(batch["theta"][:1])
    shapes = {"theta": (2, 50), "grid": (2, HEIGHT, WIDTH, 2), "tom_out": (2, 4, HEIGHT, WIDTH)}
    shapes |= {key: (2, 3, HEIGHT, WIDTH) for key in ("warped_cloth", "rendered", "tryon")}
    shapes |= {key: (2, 1, HEIGHT, WIDTH) for key in ("warped_mask", "mask")}
    for key, shape in shapes.items():
        assert tuple(batch[key].shape) == shape, key
        assert torch.isfinite(batch[key]).all(), f"{key} has non-finite values"
    assert batch["tryon"].abs().max().item() <= 1
    assert not torch.equal(batch["tryon"][0], batch["tryon"][1])
    torch.testing.assert_close(batch["theta"][:1], single["theta"], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch["grid"][:1], grid_single, atol=1e-5, rtol=0)
    torch.testing.assert_close(batch["tom_out"][:1], tom_single, atol=1e-5, rtol=0)
    # End to end, the TPS amplifies ~1e-7 float noise in theta (convolutions and the linear layer round differently
    # per batch size, and differently on each CPU's kernels) about 50-fold. Bilinear sampling moves a value by at most
    # the grid's difference in pixels times the largest step between neighbours (2 for images in [-1, 1], 1 for this
    # random binary mask, all edges), which bounds the warped tensors; the TOM on identical inputs is checked above.
    torch.testing.assert_close(batch["grid"][:1], single["grid"], atol=1e-4, rtol=0, msg="grid depends on the batch")
    moved = ((batch["grid"][:1] - single["grid"]).abs() * torch.tensor([(WIDTH - 1) / 2, (HEIGHT - 1) / 2])).sum(-1)
    for key, step in (("warped_cloth", 2.0), ("warped_mask", 1.0)):
        bound = 2 * step * moved.max().item() + 1e-6
        difference = (batch[key][:1] - single[key]).abs().max().item()
        assert difference <= bound, f"{key} depends on the batch beyond what the grid explains: {difference} > {bound}"


def test_forward_rejects_wrong_channels(model: CPVTON) -> None:
    with pytest.raises(ValueError, match=r"cloth must be \[B, 3, 256, 192\], got \[1, 1, 256, 192\]"):
        model(torch.zeros(1, 22, HEIGHT, WIDTH), torch.zeros(1, 1, HEIGHT, WIDTH), torch.zeros(1, 1, HEIGHT, WIDTH))


def test_registry() -> None:
    assert {"cp_vton", "cp_vton_plus"} <= set(list_baselines())
    assert list_baselines() == sorted(list_baselines())
    plus = create_baseline("cp_vton_plus")
    assert isinstance(plus, CPVTON) and plus.plus
    assert not create_baseline("cp_vton").plus
    with pytest.raises(
        ValueError, match=r"Unknown baseline 'cpvton'\. Did you mean cp_vton.*\? Available: cp_vton, cp_vton_plus, "
    ):
        create_baseline("cpvton")
