"""Fixtures shared by the harness tests: a small synthetic VITON tree and tiny PF-AFN weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data.synthetic import synthesize
from pftryon import create_model, save_pretrained
from pftryon.models import init_deterministic_

TINY = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16}
"""A PF-AFN small enough to run in milliseconds (same architecture, narrow)."""


@pytest.fixture(scope="session")
def tiny() -> dict:
    """:data:`TINY`, for tests that build their own small models."""
    return dict(TINY)


@pytest.fixture(scope="session")
def viton(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic VITON (CP-VTON layout) at 64x64: 6 train and 4 test pairs, with ground truth."""
    root = tmp_path_factory.mktemp("viton")
    synthesize("viton", root, n=10, size=(64, 64), seed=0, test_fraction=0.4, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_pfafn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pftryon checkpoint folder of a :data:`TINY` PF-AFN with deterministic weights."""
    model = create_model("pf_afn", **TINY)
    init_deterministic_(model)
    return save_pretrained(model, tmp_path_factory.mktemp("tiny_pfafn"))
