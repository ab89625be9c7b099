"""DM-VTON: checkpoint layout, golden conformance, the shared smoothing conv, official-file loading, registry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines import create_baseline
from baselines.dm_vton import DMVTON, OFFICIAL_GEN_FILE, OFFICIAL_WARP_FILE
from pftryon.models import CheckpointError, init_deterministic_
from pftryon.models._deterministic import deterministic_tensor

TINY = {"width_mult": 0.25, "fpn_dim": 16}
SIZE = (64, 64)
GOLDEN_KEYS = [
    ("flow", "last_flow", 1e-4),
    ("warped_cloth", "warped_cloth", 1e-3),
    ("warped_edge", "warped_edge", 1e-3),
    ("gen_out", "gen_out", 1e-3),
    ("tryon", "p_tryon", 1e-3),
]


def _deterministic(model: DMVTON) -> DMVTON:
    # The rule seeds by key within each official file: warp and generator separately, no prefix.
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    return model.eval()


def _inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    person = torch.rand(batch, 3, *SIZE, generator=g) * 2 - 1
    cloth = torch.rand(batch, 3, *SIZE, generator=g) * 2 - 1
    edge = torch.rand(batch, 1, *SIZE, generator=g)
    return person, cloth, edge


@pytest.fixture(scope="module")
def conformance(shared_dir: Path) -> Path:
    return shared_dir / "conformance"


@pytest.fixture(scope="module")
def golden(conformance: Path) -> dict[str, torch.Tensor]:
    with np.load(conformance / "dmvton_golden.npz") as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


@pytest.fixture(scope="module")
def golden_out(golden: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model = _deterministic(DMVTON())
    with torch.inference_mode():
        return model(golden["person"], golden["cloth"], golden["edge"])


@pytest.fixture(scope="module")
def tiny() -> DMVTON:
    return _deterministic(DMVTON(**TINY))


@pytest.mark.parametrize("part", ["warp", "gen"])
def test_state_dicts_match_manifests(part: str, conformance: Path) -> None:
    manifest = json.loads((conformance / "manifests" / f"dmvton_{part}.json").read_text())
    ours = [(key, list(value.shape)) for key, value in getattr(DMVTON(), part).state_dict().items()]
    assert ours == list(manifest.items()), f"dmvton_{part}: keys, order or shapes differ from the manifest"


def test_training_manifest_is_the_test_one_plus_the_fixed_filters(conformance: Path) -> None:
    test = json.loads((conformance / "manifests" / "dmvton_warp.json").read_text())
    saved = json.loads((conformance / "manifests" / "dmvton_warp_train_saved.json").read_text())
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


def test_smoothing_conv_is_shared_and_the_last_alias_wins(tiny: DMVTON) -> None:
    pyramid = tiny.warp.image_mobile
    assert all(layer is pyramid.smooth_layers[0] for layer in pyramid.smooth_layers)
    state = tiny.warp.state_dict()
    shape = state["image_mobile.smooth_layers.4.weight"].shape
    expected = deterministic_tensor("image_mobile.smooth_layers.4.weight", shape)
    for i in range(5):
        assert torch.equal(state[f"image_mobile.smooth_layers.{i}.weight"], expected), i


def test_preprocessing_binarises_the_edge_and_masks_the_garment(tiny: DMVTON) -> None:
    person, cloth, edge = _inputs(1)
    binary = (edge > 0.5).float()
    with torch.inference_mode():
        raw = tiny(person, cloth, edge)
        prepared = tiny(person, cloth * binary, binary)
    for key, value in prepared.items():
        torch.testing.assert_close(raw[key], value, atol=0, rtol=0, msg=key)


def test_unseen_inputs_batch_independent(tiny: DMVTON) -> None:
    person, cloth, edge = _inputs(2, seed=1234)
    with torch.inference_mode():
        batch = tiny(person, cloth, edge)
        alone = tiny(person[1:], cloth[1:], edge[1:])
    assert not torch.equal(batch["tryon"][0], batch["tryon"][1])
    for key, value in alone.items():
        assert torch.isfinite(batch[key]).all(), f"{key} has non-finite values"
        atol = 1e-4 if key == "flow" else 1e-3
        torch.testing.assert_close(batch[key][1:], value, atol=atol, rtol=0, msg=f"{key} depends on the batch")


def _check_round_trip(tiny: DMVTON, warp_path: Path, gen_path: Path) -> None:
    loaded = DMVTON.from_official(warp_path, gen_path, **TINY)
    assert not loaded.training
    for key, value in tiny.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    inputs = _inputs(1)
    with torch.inference_mode():
        expected, out = tiny(*inputs), loaded(*inputs)
    for key, value in expected.items():
        torch.testing.assert_close(out[key], value, atol=0, rtol=0, msg=key)


def test_from_official_round_trip_plain_state_dicts(tmp_path: Path, tiny: DMVTON) -> None:
    torch.save(tiny.warp.state_dict(), tmp_path / OFFICIAL_WARP_FILE)
    torch.save(tiny.gen.state_dict(), tmp_path / OFFICIAL_GEN_FILE)
    _check_round_trip(tiny, tmp_path / OFFICIAL_WARP_FILE, tmp_path / OFFICIAL_GEN_FILE)


def test_from_official_round_trip_training_format(tmp_path: Path, tiny: DMVTON) -> None:
    # What train_pf_e2e.py saves: epoch, a numpy best_fid, the model (the warp with its fixed filters), the optimizer.
    warp_state = dict(tiny.warp.state_dict(), **{"aflow_net.weight": torch.zeros(4, 1, 3, 3)})
    for name, state in (("warp", warp_state), ("gen", tiny.gen.state_dict())):
        optimizer = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=5e-5, betas=(0.5, 0.999))
        checkpoint = {"epoch": 100, "best_fid": np.float64(11.2), "model": state, "optimizer": optimizer.state_dict()}
        torch.save(checkpoint, tmp_path / f"{name}.pt")
    _check_round_trip(tiny, tmp_path / "warp.pt", tmp_path / "gen.pt")


def test_from_official_refuses_arbitrary_objects(tmp_path: Path, tiny: DMVTON) -> None:
    torch.save({"model": tiny.warp.state_dict(), "opt": argparse.Namespace(lr=1)}, tmp_path / "warp.pt")
    torch.save(tiny.gen.state_dict(), tmp_path / "gen.pt")
    with pytest.raises(CheckpointError, match=r"warp\.pt: refused to load: the pickle needs more than plain tensors"):
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "gen.pt", **TINY)


def test_from_official_refuses_unequal_smoothing_copies(tmp_path: Path, tiny: DMVTON) -> None:
    warp_state = tiny.warp.state_dict()
    warp_state["cond_mobile.smooth_layers.2.bias"] = warp_state["cond_mobile.smooth_layers.2.bias"] + 1
    torch.save(warp_state, tmp_path / "warp.pt")
    torch.save(tiny.gen.state_dict(), tmp_path / "gen.pt")
    with pytest.raises(
        CheckpointError, match=r"cond_mobile\.smooth_layers\.2\.bias differ from cond_mobile\.smooth_layers\.0\.bias"
    ):
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "gen.pt", **TINY)


def test_from_official_names_bad_keys(tmp_path: Path, tiny: DMVTON) -> None:
    gen_state = tiny.gen.state_dict()
    gen_state["conv_last.weights"] = gen_state.pop("conv_last.weight")
    torch.save(tiny.warp.state_dict(), tmp_path / "warp.pt")
    torch.save(gen_state, tmp_path / "gen.pt")
    with pytest.raises(
        CheckpointError,
        match=r"gen\.pt does not fit MobileNetV2UNet: missing: conv_last\.weight; unexpected: conv_last\.weights$",
    ) as info:
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "gen.pt", **TINY)
    assert "\n" not in str(info.value)


def test_from_official_refuses_a_missing_file(tmp_path: Path, tiny: DMVTON) -> None:
    torch.save(tiny.warp.state_dict(), tmp_path / "warp.pt")
    with pytest.raises(CheckpointError, match=r"nowhere\.pt: checkpoint file not found"):
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "nowhere.pt", **TINY)


def test_wrong_image_size_is_refused(tiny: DMVTON) -> None:
    person, cloth, edge = _inputs(1)
    with pytest.raises(ValueError, match=r"divisible by 32, got \(64, 48\)"):
        tiny(person[..., :48], cloth[..., :48], edge[..., :48])


def test_registry() -> None:
    model = create_baseline("dm_vton", **TINY)
    assert isinstance(model, DMVTON) and model.architecture == "dm_vton"
    assert DMVTON.required_inputs == ("person", "cloth", "cloth_mask")
    assert (OFFICIAL_WARP_FILE, OFFICIAL_GEN_FILE) == ("dmvton_pf_warp.pt", "dmvton_pf_gen.pt")
