"""FS-VTON and DM-VTON, PF-AFN's flow successors: checkpoint layout, golden conformance, preprocessing,
batch independence and registry (shared, one parametrized test per model), then each model's own checks
(modulated convs; the shared smoothing conv) and official-file loading.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from baselines import create_baseline
from baselines.dm_vton import DMVTON
from baselines.dm_vton import OFFICIAL_GEN_FILE as DM_GEN_FILE
from baselines.dm_vton import OFFICIAL_WARP_FILE as DM_WARP_FILE
from baselines.fs_vton import FSVTON
from baselines.fs_vton import OFFICIAL_GEN_FILE as FS_GEN_FILE
from baselines.fs_vton import OFFICIAL_WARP_FILE as FS_WARP_FILE
from pftryon.layers.styled import ModulatedConv2d
from pftryon.models import CheckpointError, init_deterministic_
from pftryon.models._deterministic import deterministic_tensor

TINY_FS = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16, "fine_height": 64, "fine_width": 64}
TINY_DM = {"width_mult": 0.25, "fpn_dim": 16}
GOLDEN_KEYS = [
    ("flow", "last_flow", 1e-4),
    ("warped_cloth", "warped_cloth", 1e-3),
    ("warped_edge", "warped_edge", 1e-3),
    ("gen_out", "gen_out", 1e-3),
    ("tryon", "p_tryon", 1e-3),
]


@dataclass(frozen=True)
class Successor:
    """One model under test: conformance file prefix, class, tiny config, registry name, official file names."""

    name: str
    cls: type[nn.Module]
    tiny: dict[str, Any] = field(hash=False)
    architecture: str
    official_files: tuple[str, str]  # as the module exports them
    released_files: tuple[str, str]  # as the official release names them


SUCCESSORS = [
    Successor(
        "fsvton",
        FSVTON,
        TINY_FS,
        "fs_vton",
        (FS_WARP_FILE, FS_GEN_FILE),
        ("PFAFN_warp_epoch_101.pth", "PFAFN_gen_epoch_101.pth"),
    ),
    Successor(
        "dmvton", DMVTON, TINY_DM, "dm_vton", (DM_WARP_FILE, DM_GEN_FILE), ("dmvton_pf_warp.pt", "dmvton_pf_gen.pt")
    ),
]


def _deterministic(model: Any) -> Any:
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


@pytest.fixture(scope="module", params=SUCCESSORS, ids=lambda s: s.name)
def model(request: pytest.FixtureRequest) -> Successor:
    return request.param


@pytest.fixture(scope="module")
def golden(model: Successor, conformance_dir: Path) -> dict[str, torch.Tensor]:
    with np.load(conformance_dir / f"{model.name}_golden.npz") as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


@pytest.fixture(scope="module")
def golden_out(
    model: Successor, golden: dict[str, torch.Tensor], run_beside_mirror: Callable[..., dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    # The full-size model is the slow part: built once per model (module scope, tests grouped by model).
    return run_beside_mirror(_deterministic(model.cls()), golden["person"], golden["cloth"], golden["edge"])


@pytest.fixture(scope="module")
def tiny(model: Successor) -> Any:
    return _deterministic(model.cls(**model.tiny))


@pytest.fixture(scope="module")
def tiny_fs() -> FSVTON:
    return _deterministic(FSVTON(**TINY_FS))


@pytest.fixture(scope="module")
def tiny_dm() -> DMVTON:
    return _deterministic(DMVTON(**TINY_DM))


@pytest.mark.conformance
@pytest.mark.parametrize("part", ["warp", "gen"])
def test_state_dicts_match_manifests(model: Successor, part: str, conformance_dir: Path) -> None:
    manifest = json.loads((conformance_dir / "manifests" / f"{model.name}_{part}.json").read_text())
    ours = [(key, list(value.shape)) for key, value in getattr(model.cls(), part).state_dict().items()]
    assert ours == list(manifest.items()), f"{model.name}_{part}: keys, order or shapes differ from the manifest"


@pytest.mark.conformance
def test_training_manifest_is_the_test_one_plus_the_fixed_filters(model: Successor, conformance_dir: Path) -> None:
    test = json.loads((conformance_dir / "manifests" / f"{model.name}_warp.json").read_text())
    saved = json.loads((conformance_dir / "manifests" / f"{model.name}_warp_train_saved.json").read_text())
    assert {k: v for k, v in saved.items() if k != "aflow_net.weight"} == test
    assert saved["aflow_net.weight"] == [4, 1, 3, 3]


@pytest.mark.conformance
@pytest.mark.parametrize(("ours", "theirs", "atol"), GOLDEN_KEYS)
def test_golden_conformance(
    model: Successor,
    golden_out: dict[str, torch.Tensor],
    golden: dict[str, torch.Tensor],
    ours: str,
    theirs: str,
    atol: float,
    golden_check: Callable[..., None],
) -> None:
    golden_check(model.architecture, ours, golden_out[ours], golden[theirs], atol)


def test_output_composition(golden_out: dict[str, torch.Tensor]) -> None:
    rendered, mask = torch.tanh(golden_out["gen_out"][:, :3]), torch.sigmoid(golden_out["gen_out"][:, 3:])
    mask = mask * golden_out["warped_edge"]
    torch.testing.assert_close(golden_out["mask"], mask)
    torch.testing.assert_close(golden_out["tryon"], golden_out["warped_cloth"] * mask + rendered * (1 - mask))
    assert golden_out["tryon"].abs().max().item() <= 1


def test_preprocessing_binarises_the_edge_and_masks_the_garment(tiny: Any) -> None:
    person, cloth, edge = _inputs(1, (64, 64))
    binary = (edge > 0.5).float()
    with torch.inference_mode():
        raw = tiny(person, cloth, edge)
        prepared = tiny(person, cloth * binary, binary)
    for key, value in prepared.items():
        torch.testing.assert_close(raw[key], value, atol=0, rtol=0, msg=key)


def test_unseen_inputs_batch_independent(tiny: Any) -> None:
    person, cloth, edge = _inputs(2, (64, 64), seed=1234)
    with torch.inference_mode():
        batch = tiny(person, cloth, edge)
        alone = tiny(person[1:], cloth[1:], edge[1:])
    assert not torch.equal(batch["tryon"][0], batch["tryon"][1])
    for key, value in alone.items():
        assert torch.isfinite(batch[key]).all(), f"{key} has non-finite values"
        atol = 1e-4 if key == "flow" else 1e-3
        torch.testing.assert_close(batch[key][1:], value, atol=atol, rtol=0, msg=f"{key} depends on the batch")


def test_registry(model: Successor) -> None:
    built = create_baseline(model.architecture, **model.tiny)
    assert isinstance(built, model.cls) and built.architecture == model.architecture
    assert model.cls.required_inputs == ("person", "cloth", "cloth_mask")
    assert model.official_files == model.released_files


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


def _check_round_trip(tiny: Any, warp_path: Path, gen_path: Path, config: dict[str, Any]) -> None:
    """Load the two files into a fresh model of ``tiny``'s class and check weights and outputs are identical."""
    loaded = type(tiny).from_official(warp_path, gen_path, **config)
    assert not loaded.training
    for key, value in tiny.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    inputs = _inputs(1, (64, 64))
    with torch.inference_mode():
        expected, out = tiny(*inputs), loaded(*inputs)
    for key, value in expected.items():
        torch.testing.assert_close(out[key], value, atol=0, rtol=0, msg=key)


def test_fs_vton_from_official_round_trip(tmp_path: Path, tiny_fs: FSVTON) -> None:
    # As the official training saves it: the warp with its fixed filters, under a DataParallel prefix.
    warp_state = {f"module.{key}": value for key, value in tiny_fs.warp.state_dict().items()}
    warp_state["module.aflow_net.weight"] = torch.zeros(4, 1, 3, 3)
    torch.save(warp_state, tmp_path / FS_WARP_FILE)
    torch.save(tiny_fs.gen.state_dict(), tmp_path / FS_GEN_FILE)
    _check_round_trip(tiny_fs, tmp_path / FS_WARP_FILE, tmp_path / FS_GEN_FILE, TINY_FS)


def test_fs_vton_from_official_names_bad_keys(tmp_path: Path, tiny_fs: FSVTON) -> None:
    warp_state = tiny_fs.warp.state_dict()
    warp_state["aflow_net.netF.0.conv0.weights"] = warp_state.pop("aflow_net.netF.0.conv0.weight")
    torch.save(warp_state, tmp_path / "warp.pth")
    torch.save(tiny_fs.gen.state_dict(), tmp_path / "gen.pth")
    with pytest.raises(
        CheckpointError,
        match=r"warp\.pth does not fit StyleAFWM: missing: aflow_net\.netF\.0\.conv0\.weight; "
        r"unexpected: aflow_net\.netF\.0\.conv0\.weights$",
    ) as info:
        FSVTON.from_official(tmp_path / "warp.pth", tmp_path / "gen.pth", **TINY_FS)
    assert "\n" not in str(info.value)


def test_fs_vton_from_official_refuses_a_missing_file(tmp_path: Path) -> None:
    torch.save({}, tmp_path / "gen.pth")
    with pytest.raises(CheckpointError, match=r"nowhere\.pth: checkpoint file not found"):
        FSVTON.from_official(tmp_path / "nowhere.pth", tmp_path / "gen.pth", **TINY_FS)


def test_fs_vton_wrong_image_size_is_refused(tiny_fs: FSVTON) -> None:
    with pytest.raises(ValueError, match=r"FS-VTON was built for 64x64 images, got person \(96, 64\)"):
        tiny_fs(*_inputs(1, (96, 64)))
    with pytest.raises(ValueError, match="multiples of 32"):
        FSVTON(fine_height=250)


def test_dm_vton_smoothing_conv_is_shared_and_the_last_alias_wins(tiny_dm: DMVTON) -> None:
    pyramid = tiny_dm.warp.image_mobile
    assert all(layer is pyramid.smooth_layers[0] for layer in pyramid.smooth_layers)
    state = tiny_dm.warp.state_dict()
    shape = state["image_mobile.smooth_layers.4.weight"].shape
    expected = deterministic_tensor("image_mobile.smooth_layers.4.weight", shape)
    for i in range(5):
        assert torch.equal(state[f"image_mobile.smooth_layers.{i}.weight"], expected), i


def test_dm_vton_from_official_round_trip_plain_state_dicts(tmp_path: Path, tiny_dm: DMVTON) -> None:
    torch.save(tiny_dm.warp.state_dict(), tmp_path / DM_WARP_FILE)
    torch.save(tiny_dm.gen.state_dict(), tmp_path / DM_GEN_FILE)
    _check_round_trip(tiny_dm, tmp_path / DM_WARP_FILE, tmp_path / DM_GEN_FILE, TINY_DM)


def test_dm_vton_from_official_round_trip_training_format(tmp_path: Path, tiny_dm: DMVTON) -> None:
    # What train_pf_e2e.py saves: epoch, a numpy best_fid, the model (the warp with its fixed filters), the optimizer.
    warp_state = dict(tiny_dm.warp.state_dict(), **{"aflow_net.weight": torch.zeros(4, 1, 3, 3)})
    for name, state in (("warp", warp_state), ("gen", tiny_dm.gen.state_dict())):
        optimizer = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=5e-5, betas=(0.5, 0.999))
        checkpoint = {"epoch": 100, "best_fid": np.float64(11.2), "model": state, "optimizer": optimizer.state_dict()}
        torch.save(checkpoint, tmp_path / f"{name}.pt")
    _check_round_trip(tiny_dm, tmp_path / "warp.pt", tmp_path / "gen.pt", TINY_DM)


def test_dm_vton_from_official_refuses_arbitrary_objects(tmp_path: Path, tiny_dm: DMVTON) -> None:
    torch.save({"model": tiny_dm.warp.state_dict(), "opt": argparse.Namespace(lr=1)}, tmp_path / "warp.pt")
    torch.save(tiny_dm.gen.state_dict(), tmp_path / "gen.pt")
    with pytest.raises(CheckpointError, match=r"warp\.pt: refused to load: the pickle needs more than plain tensors"):
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "gen.pt", **TINY_DM)


def test_dm_vton_from_official_refuses_unequal_smoothing_copies(tmp_path: Path, tiny_dm: DMVTON) -> None:
    warp_state = tiny_dm.warp.state_dict()
    warp_state["cond_mobile.smooth_layers.2.bias"] = warp_state["cond_mobile.smooth_layers.2.bias"] + 1
    torch.save(warp_state, tmp_path / "warp.pt")
    torch.save(tiny_dm.gen.state_dict(), tmp_path / "gen.pt")
    with pytest.raises(
        CheckpointError, match=r"cond_mobile\.smooth_layers\.2\.bias differ from cond_mobile\.smooth_layers\.0\.bias"
    ):
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "gen.pt", **TINY_DM)


def test_dm_vton_from_official_names_bad_keys(tmp_path: Path, tiny_dm: DMVTON) -> None:
    gen_state = tiny_dm.gen.state_dict()
    gen_state["conv_last.weights"] = gen_state.pop("conv_last.weight")
    torch.save(tiny_dm.warp.state_dict(), tmp_path / "warp.pt")
    torch.save(gen_state, tmp_path / "gen.pt")
    with pytest.raises(
        CheckpointError,
        match=r"gen\.pt does not fit MobileNetV2UNet: missing: conv_last\.weight; unexpected: conv_last\.weights$",
    ) as info:
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "gen.pt", **TINY_DM)
    assert "\n" not in str(info.value)


def test_dm_vton_from_official_refuses_a_missing_file(tmp_path: Path, tiny_dm: DMVTON) -> None:
    torch.save(tiny_dm.warp.state_dict(), tmp_path / "warp.pt")
    with pytest.raises(CheckpointError, match=r"nowhere\.pt: checkpoint file not found"):
        DMVTON.from_official(tmp_path / "warp.pt", tmp_path / "nowhere.pt", **TINY_DM)


def test_dm_vton_wrong_image_size_is_refused(tiny_dm: DMVTON) -> None:
    person, cloth, edge = _inputs(1, (64, 64))
    with pytest.raises(ValueError, match=r"divisible by 32, got \(64, 48\)"):
        tiny_dm(person[..., :48], cloth[..., :48], edge[..., :48])
