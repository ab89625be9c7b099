"""Every method's timed forward, and the inference copies of the fast path, run on the ``meta`` device: tensors
with shapes but no data. A forward that read a value back to the host (``.item()``, ``.tolist()``, a branch on a
tensor's value: a GPU synchronisation inside the model) would raise there, so these forwards can be captured
whole as CUDA graphs and keep a GPU's queue full."""

from __future__ import annotations

import pytest
import torch

from bench.gpu_check.tiny import tiny_config
from bench.latency import build_latency_model
from bench.latency.models import latency_models, latency_spec
from pftryon.models import optimize_for_inference

SIZE = (64, 64)


@pytest.mark.parametrize("name", latency_models())
@pytest.mark.parametrize("fast", [False, True], ids=["as-built", "inference-copy"])
def test_the_forward_never_reads_a_value_back(name: str, fast: bool) -> None:
    model = build_latency_model(name, SIZE, tiny_config(name)).eval()  # narrow widths: the same code paths
    if fast:
        model = optimize_for_inference(model)
    inputs = [x.to("meta") for x in latency_spec(name).make_inputs(2, SIZE)]
    with torch.inference_mode():
        out = model.to("meta")(*inputs)
    assert out["tryon"].device.type == "meta" and out["tryon"].shape == (2, 3, *SIZE)
