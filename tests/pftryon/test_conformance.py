"""PF-AFN / PB-AFN against the official state-dict manifests and golden vectors (tests/conformance)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from pftryon import PBAFN, PFAFN
from pftryon.models import init_deterministic_

MANIFESTS = {
    ("pf", "warp"): "pfafn_warp.json",
    ("pf", "gen"): "pfafn_gen.json",
    ("pb", "warp"): "pbafn_warp_train.json",
    ("pb", "gen"): "pbafn_gen_train.json",
}


def _deterministic(model: PFAFN | PBAFN) -> PFAFN | PBAFN:
    # The rule seeds by key *within each official file*: warp and generator separately, no prefix.
    init_deterministic_(model.warp)
    init_deterministic_(model.gen)
    return model.eval()


@pytest.fixture(scope="module")
def golden(conformance_dir: Path) -> dict[str, torch.Tensor]:
    with np.load(conformance_dir / "pfafn_golden.npz") as data:
        return {key: torch.from_numpy(data[key]) for key in data.files}


@pytest.fixture(scope="module")
def pfafn_outputs(golden: dict[str, torch.Tensor], run_beside_mirror: Callable[..., dict]) -> dict[str, torch.Tensor]:
    return run_beside_mirror(_deterministic(PFAFN()), golden["person"], golden["cloth"], golden["edge"])


@pytest.mark.conformance
@pytest.mark.parametrize(("family", "part"), list(MANIFESTS))
def test_state_dict_matches_manifest(conformance_dir: Path, family: str, part: str) -> None:
    manifest = json.loads((conformance_dir / "manifests" / MANIFESTS[family, part]).read_text())
    module = getattr(PFAFN() if family == "pf" else PBAFN(), part)
    ours = {key: list(value.shape) for key, value in module.state_dict().items()}
    assert list(ours) == list(manifest), "keys or their order differ from the official model"
    assert ours == manifest


@pytest.mark.conformance
@pytest.mark.parametrize(
    ("ours", "theirs", "atol"),
    [
        ("flow", "last_flow", 1e-4),
        ("warped_cloth", "warped_cloth", 1e-3),
        ("warped_edge", "warped_edge", 1e-3),
        ("gen_out", "gen_out", 1e-3),
        ("tryon", "p_tryon", 1e-3),
    ],
)
def test_pfafn_matches_golden(pfafn_outputs, golden, ours, theirs, atol, golden_check):
    golden_check("pf_afn", ours, pfafn_outputs[ours], golden[theirs], atol)


def test_trace_mode_gives_the_same_outputs(golden):
    warp = init_deterministic_(PFAFN().warp).eval()
    person, cloth, edge = golden["person"], golden["cloth"], golden["edge"]
    with torch.no_grad():
        plain = warp(person, cloth, edge)
        traced = warp(person, cloth, edge, trace=True)
    torch.testing.assert_close(traced.flow, plain.flow, rtol=0, atol=0)
    assert [f.shape[-2:] for f in traced.flows] == [(16, 12), (32, 24), (64, 48), (128, 96), (256, 192)]
    assert [f.shape[-2:] for f in traced.person_features] == [(8, 6), (16, 12), (32, 24), (64, 48), (128, 96)]
    assert len(traced.offsets) == 10 and traced.offsets[-1].shape == (1, 2, 128, 96)
    assert traced.warped_pyramid[0].shape == (1, 3, 16, 12)
    assert traced.flow_curvature_x[-1].shape == (1, 4, 254, 190)
    torch.testing.assert_close(traced.warped_pyramid[-1], plain.warped, rtol=0, atol=0)
    torch.testing.assert_close(traced.warped_edge_pyramid[-1], plain.warped_edge, rtol=0, atol=0)


def test_batch_independence_on_unseen_inputs():
    """Fresh random inputs: each sample of a batch gives what it gives alone (no cross-sample leakage)."""
    g = torch.Generator().manual_seed(1234)
    person = torch.rand(2, 3, 128, 96, generator=g) * 2 - 1
    edge = (torch.rand(2, 1, 128, 96, generator=g) > 0.4).float()
    cloth = (torch.rand(2, 3, 128, 96, generator=g) * 2 - 1) * edge
    model = _deterministic(PFAFN())
    with torch.no_grad():
        batch = model(person, cloth, edge)
        alone = model(person[1:], cloth[1:], edge[1:])
    for key in ("flow", "tryon"):
        assert torch.isfinite(batch[key]).all()
        torch.testing.assert_close(batch[key][1:], alone[key], rtol=0, atol=1e-4)


def test_pbafn_forward_shapes_and_gating():
    model = _deterministic(PBAFN())
    g = torch.Generator().manual_seed(0)
    representation = torch.rand(1, 45, 64, 64, generator=g)
    cloth = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    edge = torch.ones(1, 1, 64, 64)
    preserve = torch.zeros(1, 3, 64, 64)
    arms = torch.zeros(1, 1, 64, 64)
    with torch.no_grad():
        out = model(representation, cloth, edge, preserve, arms)
        gated = model(representation, cloth, edge, preserve, arms, clothes_mask=torch.zeros(1, 1, 64, 64))
    assert out["tryon"].shape == (1, 3, 64, 64) and out["gen_out"].shape == (1, 4, 64, 64)
    assert gated["mask"].abs().max() == 0
    torch.testing.assert_close(gated["tryon"], gated["rendered"])
