"""``pftryon eval --protocol vvt`` computes VFID from the weights present and reports the absent ones as n/a."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from bench.data import create_dataset
from bench.data.synthetic import synthesize
from bench.eval import evaluate, match_dataset
from bench.metrics.i3d import InceptionI3D
from bench.protocols import load_protocol

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.slow
def test_vvt_scores_vfid_from_present_weights_and_names_the_absent(tmp_path: Path) -> None:
    root = tmp_path / "vvt"
    synthesize("vvt", root, n=4, size=(256, 192), seed=2, test_fraction=0.5, frames=12, progress=False)
    entries = create_dataset("vvt", root, split="test").entries
    for entry in entries:
        target = tmp_path / "pred" / f"{entry.person_id}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.files["person"], target)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)
    torch.save(InceptionI3D(400, bn_eps=1e-3, pool_frames=1).state_dict(), weights / "i3d.pt")
    protocol = load_protocol("vvt")
    result = evaluate(match_dataset(tmp_path / "pred", "vvt", root, protocol), protocol, weights_dir=weights,
                      metrics=("ssim", "vfid_i3d", "vfid_resnext", "fvd"), progress=False)  # fmt: skip
    metrics = result.summary["metrics"]
    assert metrics["vfid_i3d"]["value"] == pytest.approx(0.0, abs=1e-6)  # predictions = references
    assert metrics["vfid_i3d"]["n_real"] == metrics["vfid_i3d"]["n_fake"] == 2  # 2 videos x floor(12 / 10)
    assert metrics["vfid_i3d"]["how"]["features"]["mode"] == "eval"
    for name, file in (("vfid_resnext", "resnext-101.pth"), ("fvd", "vit_g_hybrid_pt_1200e_ssv2_ft.pth")):
        assert metrics[name]["absent"].startswith(f"weights absent: {file} not found")
    assert metrics["ssim"]["mean"] == pytest.approx(1.0)
