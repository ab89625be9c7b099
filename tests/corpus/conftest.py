"""Fixtures of the bad-input corpus: session-built templates that each case copies into its own workspace."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from corpus_lib import Workspace

from bench.data.synthetic import synthesize
from pftryon import create_model, save_pretrained
from pftryon.models import init_deterministic_

TINY = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}


def _templates(base: Path) -> dict[str, Callable[[], Path]]:
    """``viton``: synthetic VITON at 64x64 (6 train, 4 test pairs); ``preds``: the test split's person images as
    perfect paired predictions named by person stem; ``ckpt``: a tiny deterministic PF-AFN pftryon checkpoint."""

    @functools.cache
    def viton() -> Path:
        root = base / "viton"
        synthesize("viton", root, n=10, size=(64, 64), seed=0, test_fraction=0.4, progress=False)
        return root

    @functools.cache
    def preds() -> Path:
        folder = base / "preds"
        folder.mkdir()
        for image in sorted((viton() / "test" / "image").iterdir()):
            shutil.copy2(image, folder / image.name)
        return folder

    @functools.cache
    def ckpt() -> Path:
        model = create_model("pf_afn", **TINY)
        init_deterministic_(model)
        return save_pretrained(model, base / "ckpt")

    return {"viton": viton, "preds": preds, "ckpt": ckpt}


@pytest.fixture(scope="session")
def corpus_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Callable[[], Path]]:
    return _templates(tmp_path_factory.mktemp("corpus_templates"))


@pytest.fixture
def workspace(tmp_path: Path, corpus_templates: dict[str, Callable[[], Path]]) -> Workspace:
    root = tmp_path / "ws"
    root.mkdir()
    return Workspace(root, corpus_templates)


@pytest.fixture(autouse=True)
def _empty_weight_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases see only the weights their workspace holds: the torch hub and Hugging Face caches point at empty
    folders, so a case about absent weights holds on a machine whose caches have them."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
