"""FS-VTON: checkpoint layout, golden conformance, modulated convs, official-file loading, registry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines import create_baseline
from baselines.fs_vton import FSVTON, OFFICIAL_GEN_FILE, OFFICIAL_WARP_FILE
from pftryon.layers.styled import ModulatedConv2d
from pftryon.models import CheckpointError, init_deterministic_

TINY = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16, "fine_height": 64, "fine_width": 64}
GOLDEN_KEYS = [
    ("flow", "last_flow", 1e-4),
    ("warped_cloth", "warped_cloth", 1e-3),
    ("warped_edge", "warped_edge", 1e-3),
    ("gen_out", "gen_out", 1e-3),
    ("tryon", "p_tryon", 1e-3),
]


def _deterministic(model: FSVTON) -> FSVTON:
    # The rule seeds by key within each official file: warp and generator separately, no prefix.
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    return model.eval()


def _inputs(batch: int, size: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    person = torch.rand(batch, 3, *size, generator=g) * 2 - 1
    cloth = torch.rand(batch, 3, *size, generator=g) * 2 - 1
    edge = torch.rand(batch, 1, *size, generator=g)
    return person, cloth, edge


@pytest.fixture(scope="module")
def conformance(shared_dir: Path) -> Path:
    return shared_dir / "conformance"


@pytest.fixture(scope="module")
def golden(conformance: Path) -> dict[str, torch.Tensor]:
    with np.load(conformance / "fsvton_golden.npz") as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


@pytest.fixture(scope="module")
def golden_out(golden: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model = _deterministic(FSVTON())
    with torch.inference_mode():
        return model(golden["person"], golden["cloth"], golden["edge"])


@pytest.fixture(scope="module")
def tiny() -> FSVTON:
    return _deterministic(FSVTON(**TINY))


@pytest.mark.parametrize("part", ["warp", "gen"])
def test_state_dicts_match_manifests(part: str, conformance: Path) -> None:
    manifest = json.loads((conformance / "manifests" / f"fsvton_{part}.json").read_text())
    ours = [(key, list(value.shape)) for key, value in getattr(FSVTON(), part).state_dict().items()]
    assert ours == list(manifest.items()), f"fsvton_{part}: keys, order or shapes differ from the manifest"


def test_training_manifest_is_the_test_one_plus_the_fixed_filters(conformance: Path) -> None:
    test = json.loads((conformance / "manifests" / "fsvton_warp.json").read_text())
    saved = json.loads((conformance / "manifests" / "fsvton_warp_train_saved.json").read_text())
    assert {k: v for k, v in saved.items() if k != "aflow_net.weight"} == test
    assert saved["aflow_net.weight"] == [4, 1, 3, 3]


@pytest.mark.parametrize(("ours", "theirs", "atol"), GOLDEN_KEYS)
def test_golden_conformance(
    golden_out: dict[str, torch.Tensor], golden: dict[str, torch.Tensor], ours: str, theirs: str, atol: float
) -> None:
    assert golden_out[ours].shape == golden[theirs].shape
    error = (golden_out[ours] - golden[theirs]).abs().max().item()
    assert error <= atol, f"{ours} vs {theirs}: max |error| {error:.3g} > {atol}"


def test_output_composition(golden_out: dict[str, torch.Tensor]) -> None:
    rendered, mask = torch.tanh(golden_out["gen_out"][:, :3]), torch.sigmoid(golden_out["gen_out"][:, 3:])
    mask = mask * golden_out["warped_edge"]
    torch.testing.assert_close(golden_out["mask"], mask)
    torch.testing.assert_close(golden_out["tryon"], golden_out["warped_cloth"] * mask + rendered * (1 - mask))
    assert golden_out["tryon"].abs().max().item() <= 1


def test_modulated_conv_matches_per_sample_convolution() -> None:
    """The grouped batched convolution equals one plain convolution per sample with its own kernel."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(5, 7, 3, style_dim=6)
    torch.nn.init.normal_(conv.bias)
    torch.nn.init.normal_(conv.mlp_class_std.linear.bias)
    x, style = torch.randn(3, 5, 6, 4), torch.randn(3, 6)
    with torch.no_grad():
        out = conv(x, style)
        for b in range(3):
            s = conv.mlp_class_std.linear.bias + style[b] @ (conv.mlp_class_std.linear.weight_orig * math.sqrt(2 / 6)).T
            w = conv.weight * math.sqrt(2 / (5 * 9)) * s.view(1, 5, 1, 1)
            w = w / torch.sqrt(w.pow(2).sum(dim=(1, 2, 3), keepdim=True) + 1e-5)
            expected = F.conv2d(x[b : b + 1], w, conv.bias.view(-1), padding=1)
            torch.testing.assert_close(out[b : b + 1], expected, atol=1e-5, rtol=1e-5)


def test_preprocessing_binarises_the_edge_and_masks_the_garment(tiny: FSVTON) -> None:
    person, cloth, edge = _inputs(1, (64, 64))
    binary = (edge > 0.5).float()
    with torch.inference_mode():
        raw = tiny(person, cloth, edge)
        prepared = tiny(person, cloth * binary, binary)
    for key, value in prepared.items():
        torch.testing.assert_close(raw[key], value, atol=0, rtol=0, msg=key)


def test_unseen_inputs_batch_independent(tiny: FSVTON) -> None:
    person, cloth, edge = _inputs(2, (64, 64), seed=1234)
    with torch.inference_mode():
        batch = tiny(person, cloth, edge)
        alone = tiny(person[1:], cloth[1:], edge[1:])
    assert not torch.equal(batch["tryon"][0], batch["tryon"][1])
    for key, value in alone.items():
        assert torch.isfinite(batch[key]).all(), f"{key} has non-finite values"
        atol = 1e-4 if key == "flow" else 1e-3
        torch.testing.assert_close(batch[key][1:], value, atol=atol, rtol=0, msg=f"{key} depends on the batch")


def test_from_official_round_trip(tmp_path: Path, tiny: FSVTON) -> None:
    # As the official training saves it: the warp with its fixed filters, under a DataParallel prefix.
    warp_state = {f"module.{key}": value for key, value in tiny.warp.state_dict().items()}
    warp_state["module.aflow_net.weight"] = torch.zeros(4, 1, 3, 3)
    torch.save(warp_state, tmp_path / OFFICIAL_WARP_FILE)
    torch.save(tiny.gen.state_dict(), tmp_path / OFFICIAL_GEN_FILE)
    loaded = FSVTON.from_official(tmp_path / OFFICIAL_WARP_FILE, tmp_path / OFFICIAL_GEN_FILE, **TINY)
    assert not loaded.training
    for key, value in tiny.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    inputs = _inputs(1, (64, 64))
    with torch.inference_mode():
        expected, out = tiny(*inputs), loaded(*inputs)
    for key, value in expected.items():
        torch.testing.assert_close(out[key], value, atol=0, rtol=0, msg=key)


def test_from_official_names_bad_keys(tmp_path: Path, tiny: FSVTON) -> None:
    warp_state = tiny.warp.state_dict()
    warp_state["aflow_net.netF.0.conv0.weights"] = warp_state.pop("aflow_net.netF.0.conv0.weight")
    torch.save(warp_state, tmp_path / "warp.pth")
    torch.save(tiny.gen.state_dict(), tmp_path / "gen.pth")
    with pytest.raises(
        CheckpointError,
        match=r"warp\.pth does not fit StyleAFWM: missing: aflow_net\.netF\.0\.conv0\.weight; "
        r"unexpected: aflow_net\.netF\.0\.conv0\.weights$",
    ) as info:
        FSVTON.from_official(tmp_path / "warp.pth", tmp_path / "gen.pth", **TINY)
    assert "\n" not in str(info.value)


def test_from_official_refuses_a_missing_file(tmp_path: Path) -> None:
    torch.save({}, tmp_path / "gen.pth")
    with pytest.raises(CheckpointError, match=r"nowhere\.pth: checkpoint file not found"):
        FSVTON.from_official(tmp_path / "nowhere.pth", tmp_path / "gen.pth", **TINY)


def test_wrong_image_size_is_refused(tiny: FSVTON) -> None:
    with pytest.raises(ValueError, match=r"FS-VTON was built for 64x64 images, got person \(96, 64\)"):
        tiny(*_inputs(1, (96, 64)))
    with pytest.raises(ValueError, match="multiples of 32"):
        FSVTON(fine_height=250)


def test_registry() -> None:
    model = create_baseline("fs_vton", **TINY)
    assert isinstance(model, FSVTON) and model.architecture == "fs_vton"
    assert FSVTON.required_inputs == ("person", "cloth", "cloth_mask")
    assert (OFFICIAL_WARP_FILE, OFFICIAL_GEN_FILE) == ("PFAFN_warp_epoch_101.pth", "PFAFN_gen_epoch_101.pth")
