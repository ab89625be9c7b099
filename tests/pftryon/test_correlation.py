"""The correlation layer against its definition (docs/reference/method.md §2.4)."""

from __future__ import annotations

import pytest
import torch

from pftryon.layers import correlation, local_correlation, local_correlation_reference


def _by_definition(first: torch.Tensor, second: torch.Tensor, d: int = 3) -> torch.Tensor:
    """Element by element: out[b, (dy+d)(2d+1) + dx+d, y, x] = mean_c first[y, x] * second[y+dy, x+dx] (0 outside)."""
    b, c, h, w = first.shape
    k = 2 * d + 1
    out = torch.zeros(b, k * k, h, w, dtype=first.dtype)
    for dy in range(-d, d + 1):
        for dx in range(-d, d + 1):
            channel = (dy + d) * k + (dx + d)
            for y in range(h):
                for x in range(w):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        out[:, channel, y, x] = (first[:, :, y, x] * second[:, :, y + dy, x + dx]).sum(1) / c
    return out


@pytest.mark.parametrize("impl", [local_correlation, local_correlation_reference])
@pytest.mark.parametrize("shape", [(2, 5, 6, 4), (1, 3, 2, 9), (1, 8, 8, 8)])
def test_forward_matches_definition(impl, shape):
    g = torch.Generator().manual_seed(sum(shape))
    first, second = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    torch.testing.assert_close(impl(first, second), _by_definition(first, second), rtol=1e-5, atol=1e-6)


def test_channel_order_is_dy_major():
    first = torch.ones(1, 1, 9, 9)
    second = torch.zeros(1, 1, 9, 9)
    second[0, 0, 4 - 3, 4 + 2] = 1.0  # seen from the centre: dy = -3, dx = +2
    out = local_correlation(first, second)
    assert out[0, :, 4, 4].nonzero().flatten().tolist() == [(-3 + 3) * 7 + (2 + 3)]


def test_gradients_match_autograd_of_the_definition():
    g = torch.Generator().manual_seed(7)
    first = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    second = torch.randn(2, 4, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 49, 6, 5, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((local_correlation(first, second) * weight).sum(), (first, second))
    expected = torch.autograd.grad((local_correlation_reference(first, second) * weight).sum(), (first, second))
    for ours, theirs in zip(grads, expected, strict=True):
        torch.testing.assert_close(ours, theirs)
    assert torch.autograd.gradcheck(local_correlation, (first[:1, :2, :4, :4], second[:1, :2, :4, :4]))


@pytest.mark.parametrize("band_rows", [1, 2, 5])
def test_bands_of_rows_give_the_whole_map_values_and_gradients(monkeypatch, band_rows):
    """Forward and adjoint run in bands of rows (a last band shorter than the others included): the same values and
    gradients as the definition."""
    shape = (2, 4, 11, 6)
    monkeypatch.setattr(correlation, "_CHUNK_BYTES", band_rows * shape[0] * shape[1] * shape[3] * 8)
    g = torch.Generator().manual_seed(band_rows)
    first, second = (torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert len(correlation._bands(first.permute(0, 2, 3, 1))) == -(-shape[2] // band_rows)
    weight = torch.randn(2, 49, *shape[2:], generator=g, dtype=torch.float64)
    ours = local_correlation(first, second)
    torch.testing.assert_close(ours, _by_definition(first.detach(), second.detach()))
    grads = torch.autograd.grad((ours * weight).sum(), (first, second))
    expected = torch.autograd.grad((local_correlation_reference(first, second) * weight).sum(), (first, second))
    for mine, theirs in zip(grads, expected, strict=True):
        torch.testing.assert_close(mine, theirs)


def test_gradient_to_one_input_only():
    first = torch.randn(1, 2, 4, 4, requires_grad=True)
    second = torch.randn(1, 2, 4, 4)
    local_correlation(first, second).sum().backward()
    expected = torch.autograd.grad(local_correlation_reference(first, second).sum(), first)[0]
    torch.testing.assert_close(first.grad, expected)


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="one shape"):
        local_correlation(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))
