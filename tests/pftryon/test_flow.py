"""Flow helpers: identity grids, warping conventions, the second-difference filters."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pftryon.layers import apply_offset, second_order_filters, warp


def test_zero_offset_is_the_identity_grid_and_warp_reproduces_the_input():
    x = torch.randn(2, 3, 7, 5)
    grid = apply_offset(torch.zeros(2, 2, 7, 5))
    assert grid.shape == (2, 7, 5, 2)
    torch.testing.assert_close(grid[0, 0, 0], torch.tensor([-1.0, -1.0]))
    torch.testing.assert_close(grid[0, -1, -1], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(warp(x, grid), x, rtol=0, atol=1e-6)
    torch.testing.assert_close(warp(x, grid.permute(0, 3, 1, 2)), x, rtol=0, atol=1e-6)


def test_offset_channels_are_x_then_y_in_pixels():
    x = torch.arange(20.0).view(1, 1, 4, 5)
    offset = torch.zeros(1, 2, 4, 5)
    offset[:, 0] = 1.0  # one pixel to the right
    shifted = warp(x, apply_offset(offset), padding_mode="zeros")
    torch.testing.assert_close(shifted[..., :-1], x[..., 1:])
    offset = torch.zeros(1, 2, 4, 5)
    offset[:, 1] = 1.0  # one row down
    torch.testing.assert_close(warp(x, apply_offset(offset), padding_mode="zeros")[..., :-1, :], x[..., 1:, :])


def test_second_differences_vanish_on_affine_grids():
    filters = second_order_filters()
    assert filters.shape == (4, 1, 3, 3) and filters.sum().item() == 0
    grid = apply_offset(torch.zeros(1, 2, 9, 8)).permute(0, 3, 1, 2) * 0.7 + 0.1
    assert F.conv2d(grid[:, :1], filters).abs().max() < 1e-6
    bumpy = torch.zeros(1, 1, 3, 3)
    bumpy[0, 0, 1, 1] = 1.0
    assert F.conv2d(bumpy, filters).flatten().tolist() == [-2.0, -2.0, -2.0, -2.0]
