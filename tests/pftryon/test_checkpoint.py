"""Loading official checkpoints and saving / loading our own."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from pftryon import PFAFN, CheckpointError, create_model, list_models, load_pretrained, save_pretrained
from pftryon.models import init_deterministic_, read_state_dict
from pftryon.models._checkpoint import load_state_dict_checked


@pytest.fixture(scope="module")
def model() -> PFAFN:
    model = PFAFN()
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    return model.eval()


@pytest.fixture(scope="module")
def official_files(model, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("official")
    warp_state = model.warp.state_dict()
    # What the official training code saves: an extra `aflow_net.weight` just before netMain.
    saved = {}
    for key, value in warp_state.items():
        if key == "aflow_net.netMain.0.0.weight":
            saved["aflow_net.weight"] = torch.ones(4, 1, 3, 3)
        saved[key] = value
    torch.save(saved, folder / "warp_model_final.pth", _use_new_zipfile_serialization=False)  # torch 1.1 format
    torch.save(model.gen.state_dict(), folder / "gen_model_final.pth")
    return folder / "warp_model_final.pth", folder / "gen_model_final.pth"


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (key, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), key


def test_official_files_load_with_the_training_extra_key(model, official_files):
    loaded = PFAFN.from_official(*official_files)
    assert not loaded.training
    _same_weights(loaded, model)


def test_module_prefix_is_stripped(model, official_files, tmp_path):
    prefixed = tmp_path / "gen.pth"
    torch.save({f"module.{k}": v for k, v in model.gen.state_dict().items()}, prefixed)
    _same_weights(PFAFN.from_official(official_files[0], prefixed).gen, model.gen)


def test_wrapped_state_dict_is_unwrapped(model, tmp_path):
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": model.gen.state_dict()}, path)
    assert set(read_state_dict(path)) == set(model.gen.state_dict())


def test_wrong_key_is_named(model, official_files, tmp_path):
    state = dict(model.gen.state_dict())
    state["model.model.0.weights"] = state.pop("model.model.0.weight")
    path = tmp_path / "gen.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        PFAFN.from_official(official_files[0], path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "missing: model.model.0.weight" in message and "unexpected: model.model.0.weights" in message


def test_wrong_shape_is_named(model, tmp_path):
    state = dict(model.gen.state_dict())
    state["model.model.6.weight"] = torch.zeros(3, 128, 3, 3)
    with pytest.raises(
        CheckpointError, match=r"wrong shape: model\.model\.6\.weight \[3, 128, 3, 3\] \(expected \[4, 128, 3, 3\]\)"
    ):
        load_state_dict_checked(PFAFN().gen, state, source="gen.pth")


def test_extra_key_other_than_the_training_filters_is_rejected(model, tmp_path):
    state = {**model.warp.state_dict(), "aflow_net.extra": torch.zeros(1)}
    path = tmp_path / "warp.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"unexpected: aflow_net\.extra"):
        PFAFN.from_official(path, path)


class _Hostile:
    def __reduce__(self):
        return (os.system, (f"touch {_Hostile.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_hostile_pickle_is_refused_without_running_it(tmp_path):
    _Hostile.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"weight": _Hostile()}, handle)
    with pytest.raises(CheckpointError, match="refused to load") as err:
        read_state_dict(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not _Hostile.marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_unreadable_file_is_one_line(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.pth") as err:
        read_state_dict(path)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        read_state_dict(tmp_path / "absent.pth")


def test_our_checkpoint_round_trip(model, tmp_path):
    folder = save_pretrained(model, tmp_path / "ckpt")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "pf_afn" and config["config"]["ngf"] == 64
    loaded = load_pretrained(folder)
    assert isinstance(loaded, PFAFN) and not loaded.training
    _same_weights(loaded, model)


def test_round_trip_keeps_a_non_default_architecture(tmp_path):
    small = create_model("pf_afn", ngf=8, channels=(8, 8, 16, 16, 16), fpn_dim=16)
    loaded = load_pretrained(save_pretrained(small, tmp_path / "small"))
    assert loaded.config == small.config
    _same_weights(loaded, small)


def test_registry_lists_and_suggests():
    assert {"pf_afn", "pb_afn"} <= set(list_models())
    assert list_models("pb_*") == ["pb_afn"]
    with pytest.raises(ValueError, match="Did you mean: pf_afn"):
        create_model("pfafn")


def test_round_trip_keeps_the_flow_head_widths(tmp_path):
    small = create_model("pb_afn", ngf=8, channels=(8, 8, 16, 16, 16), fpn_dim=16, flow_channels=(16, 8, 4))
    assert small.warp.aflow_net.netRefine[0][0].weight.shape == (16, 32, 3, 3)
    loaded = load_pretrained(save_pretrained(small, tmp_path / "small"))
    assert loaded.config["flow_channels"] == [16, 8, 4]
    _same_weights(loaded, small)


def test_checkpoint_without_flow_channels_loads_with_the_official_heads(tmp_path):
    """Checkpoints saved before ``flow_channels`` existed have no such key: their heads are the official ones."""
    small = create_model("pf_afn", ngf=8, channels=(8, 8, 16, 16, 16), fpn_dim=16)
    folder = save_pretrained(small, tmp_path / "old")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["config"].pop("flow_channels") == [128, 64, 32]
    (folder / "config.json").write_text(json.dumps(meta))
    loaded = load_pretrained(folder)
    assert [loaded.warp.aflow_net.netMain[0][i].out_channels for i in (0, 2, 4, 6)] == [128, 64, 32, 2]
    _same_weights(loaded, small)
