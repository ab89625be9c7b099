"""The Triton correlation kernels against the definition: compiled on a CUDA device where there is one, else run on
CPU tensors through Triton's interpreter (``tests/conftest.py`` sets ``TRITON_INTERPRET=1`` when there is no GPU).

``python -m bench.gpu_check`` checks them on a GPU too: the golden conformance of PF-AFN and DM-VTON and a training
step of every stage on CUDA run through them."""

from __future__ import annotations

import os

import pytest
import torch

from pftryon.layers import correlation, local_correlation_reference
from pftryon.models.afwm import AFWM

pytest.importorskip("triton")
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if DEVICE.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("no CUDA device and Triton's interpreter is off (TRITON_INTERPRET)", allow_module_level=True)

from pftryon.layers import correlation_triton  # noqa: E402  (after the check: Triton may be absent)


def _inputs(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype).to(DEVICE).requires_grad_() for _ in range(2)]


def _apply(first, second, d=3):
    return correlation_triton.TritonLocalCorrelation.apply(first, second, d)


@pytest.mark.parametrize(
    ("shape", "d"),
    [((2, 5, 7, 9), 3), ((1, 40, 6, 37), 3), ((2, 3, 5, 4), 1)],
    ids=["small", "channel-and-column-blocks-with-remainders", "d=1"],
)
def test_values_and_gradients_match_the_definition(shape, d):
    """Channel counts and widths that are not multiples of the blocks, and another displacement, included."""
    first, second = _inputs(shape, sum(shape))
    ours = _apply(first, second, d)
    expected = local_correlation_reference(first, second, d)
    # The kernels accumulate in float32 whatever the input dtype.
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)
    weight = torch.randn_like(expected)
    grads = torch.autograd.grad((ours * weight).sum(), (first, second))
    for mine, theirs in zip(grads, torch.autograd.grad((expected * weight).sum(), (first, second)), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_any_memory_format_and_one_gradient():
    first, second = (x.detach().float() for x in _inputs((1, 6, 5, 7), 3))
    first = first.to(memory_format=torch.channels_last).requires_grad_()
    ours = _apply(first, second, 3)
    assert ours.is_contiguous(memory_format=torch.channels_last)  # the layout of the features it came from
    torch.testing.assert_close(ours, local_correlation_reference(first, second))
    ours.sum().backward()
    expected = torch.autograd.grad(local_correlation_reference(first, second).sum(), first)[0]
    torch.testing.assert_close(first.grad, expected)
    assert second.grad is None


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float16, 1e-3), (torch.bfloat16, 1e-2)])
def test_half_precisions_keep_their_dtype_and_sum_in_float32(dtype, tolerance):
    first, second = (x.detach().to(dtype) for x in _inputs((1, 40, 4, 9), 5, torch.float32))
    ours = _apply(first, second, 3)
    assert ours.dtype == dtype
    expected = local_correlation_reference(first.float(), second.float())
    torch.testing.assert_close(ours.float(), expected, rtol=tolerance, atol=tolerance)


def test_the_kernel_is_chosen_by_device_or_named(monkeypatch):
    monkeypatch.delenv("PFTRYON_CORRELATION", raising=False)
    assert correlation.correlation_kernel(torch.zeros(1)) == "bands"
    monkeypatch.setenv("PFTRYON_CORRELATION", "triton")
    assert correlation.correlation_kernel(torch.zeros(1)) == "triton"
    monkeypatch.setenv("PFTRYON_CORRELATION", "cupy")
    with pytest.raises(ValueError, match="PFTRYON_CORRELATION='cupy': expected one of bands, triton"):
        correlation.correlation_kernel(torch.zeros(1))
    with pytest.raises(ValueError, match="correlation kernel 'cupy': expected one of bands, triton"):
        correlation.local_correlation(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), kernel="cupy")
    # Triton is installed here: it runs on CUDA, not on the CPU (the interpreter is for tests only)
    assert correlation.available_kernels("cpu") == ("bands",)
    assert correlation.available_kernels(torch.device("cuda", 0)) == ("bands", "triton")


def test_a_model_on_the_triton_kernel_gives_the_banded_results(monkeypatch):
    """``PFTRYON_CORRELATION`` routes the whole warp module through the kernels (every pyramid level)."""
    torch.manual_seed(0)
    model = AFWM(3, channels=(8, 8, 8, 8, 8), fpn_dim=8, flow_channels=(8, 8)).eval().to(DEVICE)
    person, cloth = (torch.rand(1, 3, 64, 64, device=DEVICE) * 2 - 1 for _ in range(2))
    calls = []
    original = correlation_triton.TritonLocalCorrelation.apply
    monkeypatch.setattr(correlation_triton.TritonLocalCorrelation, "apply", lambda *a: calls.append(1) or original(*a))
    with torch.no_grad():
        monkeypatch.setenv("PFTRYON_CORRELATION", "bands")
        banded = model(person, cloth).flow
        assert not calls
        monkeypatch.setenv("PFTRYON_CORRELATION", "triton")
        flow = model(person, cloth).flow
    assert len(calls) == 5
    torch.testing.assert_close(flow, banded, rtol=1e-5, atol=1e-5)
