"""Every registered method, through its adapter alone: a complete card, random inputs that its model (built for
timing, at a tiny width where the architecture has one) runs on, FLOPs counted by :mod:`bench.latency`, training
stages that pftryon's stage registry knows, and latency names that are the method names. A new method gets these
checks without new test code (timm's ``tests/test_models.py`` loops over ``list_models()`` the same way)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from baselines import CPVTON, DMVTON, FSVTON
from bench.data.schema import SAMPLE_KEYS
from bench.latency import latency_models, latency_spec, measure_latency
from bench.methods import TryOnMethod, list_methods, method_class
from bench.train.wiring import TRAINABLE, register_stages, trainable
from pftryon import PBAFN, PFAFN
from pftryon.train.config import ALL_STAGES

_AFN = {"ngf": 8, "channels": (8, 8, 16, 16, 16), "fpn_dim": 16, "flow_channels": (16, 8, 4)}
# Tiny widths by architecture (model_class), so that a new method of a known architecture is fast without an entry.
_TINY: dict[type, dict[str, Any]] = {
    PFAFN: _AFN,
    PBAFN: _AFN,
    FSVTON: _AFN,
    CPVTON: {"width": 0.125},  # also TPS-only's GMM
    DMVTON: {"width_mult": 0.25, "fpn_dim": 16},
}
# The names `pftryon latency --model` took before the adapters owned timing; they must keep working.
_HISTORICAL_LATENCY_NAMES = {
    "pf_afn", "pb_afn", "cp_vton", "cp_vton_plus", "tps_only", "no_warp", "fs_vton", "dm_vton", "wuton_student",
    "pf_afn_no_flow",
}  # fmt: skip
METHODS = list_methods()


def _size(adapter: type[TryOnMethod]) -> tuple[int, int]:
    """The smallest square of at least 64x64 whose sides are multiples of the adapter's ``size_multiple``."""
    side = -(-64 // adapter.size_multiple) * adapter.size_multiple
    return side, side


def _tiny(adapter: type[TryOnMethod]) -> dict[str, Any] | None:
    return _TINY.get(adapter.model_class) if adapter.card.official_files else None


@pytest.mark.parametrize("name", METHODS)
def test_card_is_complete(name: str) -> None:
    card = method_class(name).card
    assert card.name == name
    assert card.title and card.family and card.citation and card.weights_source, "empty card text"
    assert card.inputs and set(card.inputs) <= set(SAMPLE_KEYS), f"card.inputs {card.inputs} not sample keys"
    assert len(card.resolution) == 2 and all(isinstance(s, int) and s > 0 for s in card.resolution)
    assert card.official_files or card.weights_source == "none", "a method with weights names its files"


@pytest.mark.parametrize("name", METHODS)
def test_example_inputs_run_through_the_model_built_for_timing(name: str) -> None:
    adapter = method_class(name)
    size, config = _size(adapter), _tiny(adapter)
    model = adapter.build_for_timing(size, config)
    assert not model.training, "built for timing in eval mode"
    inputs = adapter.example_inputs(1, size, torch.Generator().manual_seed(0))
    again = adapter.example_inputs(1, size, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(inputs, again, strict=True)), "example_inputs not seeded"
    with torch.inference_mode():
        tryon = model(*inputs)["tryon"]
    assert tryon.shape == (1, 3, *size), tryon.shape
    assert torch.isfinite(tryon).all(), "Output included NaNs or infinities"
    rebuilt = adapter.build_for_timing(size, config).state_dict()
    assert all(torch.equal(v, rebuilt[k]) for k, v in model.state_dict().items()), "weights not deterministic"


@pytest.mark.parametrize("name", METHODS)
def test_flops_are_counted_for_methods_with_a_model(name: str) -> None:
    adapter = method_class(name)
    timed = measure_latency(name, size=_size(adapter), config=_tiny(adapter), warmup=0, iters=1)
    if adapter.card.official_files:
        assert timed.params > 0 and timed.flops > 0, f"{name}: {timed.params} parameters, {timed.flops} FLOPs"


@pytest.mark.parametrize("name", METHODS)
def test_stages_resolve_in_the_stage_registry(name: str) -> None:
    from pftryon.train.stages import _STAGES  # the registry build_stage reads

    register_stages()
    stages = method_class(name).stages
    assert len(set(stages)) == len(stages), f"{name}: a stage twice in {stages}"
    for stage in stages:
        assert stage in ALL_STAGES and stage in _STAGES and _STAGES[stage].name == stage, stage
    assert trainable().get(name, ()) == stages


def test_trainable_is_derived_from_the_adapters() -> None:
    derived = {name: method_class(name).stages for name in METHODS if method_class(name).stages}
    assert TRAINABLE == trainable() == derived
    assert {"pf_afn", "cp_vton", "cp_vton_plus", "fs_vton", "dm_vton"} <= set(TRAINABLE)
    assert "wuton_student" not in TRAINABLE and "pb_afn" not in TRAINABLE  # trained through pf_afn's chain


def test_latency_names_are_the_method_names() -> None:
    assert set(latency_models()) == set(METHODS)
    assert set(latency_models()) >= _HISTORICAL_LATENCY_NAMES
    for name in METHODS:
        adapter = method_class(name)
        # The name a suite times the method under (its card's) resolves to this very adapter.
        assert latency_spec(adapter.card.latency_model).build.__self__ is adapter, name
