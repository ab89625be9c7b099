"""The method registry: one interface for every try-on method, official preprocessing from the common sample."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.data import create_dataset
from bench.data.readers import InputError
from bench.methods import METHODS, MissingFieldError, create_method, list_methods, method_class
from bench.predict import _collate
from pftryon import PBAFN, PFAFN, create_model, save_pretrained
from pftryon.layers import warp
from pftryon.models import init_deterministic_, mask_garment


def _batch(root: Path, mode: str = "paired", n: int = 2) -> dict:
    dataset = create_dataset("viton", root, split="test", pair_mode=mode, parse="image-parse-new")
    return _collate([dataset[i] for i in range(n)])


def test_every_method_has_a_complete_card():
    assert {"pf_afn", "pb_afn", "cp_vton", "cp_vton_plus", "no_warp"} <= set(list_methods())
    for name in list_methods():
        card = method_class(name).card
        assert card.name == name
        assert card.title and card.family and card.citation and card.inputs
        assert {"person", "cloth", "cloth_mask"} <= set(card.inputs)
        assert card.parser_free == ("parse" not in card.inputs), name
        assert card.official_files or card.weights_source == "none"


def test_unknown_method_suggests_the_closest():
    with pytest.raises(ValueError, match="Did you mean: pf_afn"):
        method_class("pfafn")


def test_pf_afn_reproduces_the_official_test_preprocessing(viton, tiny, tmp_path):
    model = create_model("pf_afn", **tiny)
    init_deterministic_(model)
    save_pretrained(model, tmp_path)
    method = create_method("pf_afn", tmp_path)
    assert set(method.checkpoints) == {str(tmp_path / "model.safetensors"), str(tmp_path / "config.json")}
    assert all(len(sha) == 64 for sha in method.checkpoints.values())
    batch = _batch(viton)
    with torch.inference_mode():
        expected = model.eval()(batch["person"], *mask_garment(batch["cloth"], batch["cloth_mask"]))["tryon"]
    assert torch.equal(method(batch)["tryon"], expected)


def test_official_files_load_and_a_missing_one_is_named(tmp_path):
    model = PFAFN()
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    torch.save(model.warp.state_dict(), tmp_path / "warp_model_final.pth")
    with pytest.raises(InputError, match="gen_model_final.pth: checkpoint file not found"):
        create_method("pf_afn", tmp_path)
    torch.save(model.gen.state_dict(), tmp_path / "gen_model_final.pth")
    method = create_method("pf_afn", tmp_path)
    assert sorted(Path(p).name for p in method.checkpoints) == ["gen_model_final.pth", "warp_model_final.pth"]
    with pytest.raises(InputError, match="pf_afn: no checkpoint folder given; it needs a folder with"):
        create_method("pf_afn")


def test_a_checkpoint_of_another_architecture_is_refused(tiny, tmp_path):
    save_pretrained(create_model("pb_afn", **tiny), tmp_path)
    with pytest.raises(InputError, match="a PBAFN checkpoint, pf_afn needs PFAFN"):
        create_method("pf_afn", tmp_path)


def test_tutor_runs_on_a_dataset_without_densepose_and_says_so(viton, tiny, tmp_path):
    save_pretrained(create_model("pb_afn", **tiny), tmp_path)
    method = create_method("pb_afn", tmp_path)
    sample = create_dataset("viton", viton, split="test", parse="image-parse-new")[0]
    assert "densepose" not in sample
    notes = method.check_fields(sample, "viton")
    assert len(notes) == 1 and "DensePose derived from the parse" in notes[0]
    out = method(_batch(viton))
    assert out["tryon"].shape == (2, 3, 64, 64) and torch.isfinite(out["tryon"]).all()
    assert isinstance(method.model, PBAFN)


def test_a_missing_field_is_one_line_naming_method_field_and_dataset(viton_demo: Path) -> None:
    sample = create_dataset("viton-pfafn", viton_demo / "dataset", split="test", pairs_file=viton_demo / "demo.txt")[0]
    with pytest.raises(MissingFieldError, match="pb_afn needs the sample field 'parse', which dataset viton-pfafn"):
        method_class("pb_afn").check_fields(sample, "viton-pfafn")
    assert method_class("pf_afn").check_fields(sample, "viton-pfafn") == []


def test_no_warp_pastes_the_garment_by_its_mask(viton):
    method = create_method("no_warp")
    assert method.checkpoints == {} and method.card.official_files == ()
    batch = _batch(viton, "unpaired")
    tryon = method(batch)["tryon"]
    mask = (batch["cloth_mask"] > 0.5).float()
    assert torch.equal(tryon, batch["person"] * (1 - mask) + batch["cloth"] * mask)


@pytest.mark.parametrize("name", ["cp_vton", "cp_vton_plus", "tps_only"])
def test_a_tps_warp_gives_its_grid_as_a_flow_in_the_appearance_flows_convention(viton, name):
    # The flow EPE reads every method's flow as a channel-first align_corners=True grid: warping the cloth by this one
    # as an appearance flow is warped must give the GMM's own warped cloth.
    cls = method_class(name)
    method = cls(cls.build_for_timing((64, 64), {} if name == "tps_only" else {"width": 0.125}), {}, {})
    batch = _batch(viton, "unpaired")
    outputs = method(batch)
    assert outputs["flow"].shape == (2, 2, 64, 64)
    assert torch.equal(outputs["flow"], outputs["grid"].permute(0, 3, 1, 2))
    torch.testing.assert_close(warp(batch["cloth"], outputs["flow"], "border"), outputs["warped_cloth"])


def test_registry_entries_are_lazy_strings():
    assert all(":" in target for target in METHODS.values())
