"""PF-AFN's local correlation as three Triton kernels (forward and both gradients), for CUDA tensors.

The banded loop of :mod:`pftryon.layers.correlation` suits a CPU cache; on a GPU it is ~100 small launches per
pyramid level. Here each pass is one launch: a forward program owns one row ``y``, a block of ``BLOCK_X`` columns and
one vertical displacement ``dy``, loops over the channels in blocks of ``BLOCK_C``, and sums the products for all
``2d+1`` horizontal displacements at once (a ``[BLOCK_C, BLOCK_X, K_PAD]`` tile), accumulating in float32 whatever
the input dtype; a gradient program owns a block of channels instead and loops over ``dy``. Out-of-range reads are
masked (the zero padding of the definition), so no padded copy is made, and any memory format is read through its
strides. The gradients are gathers (no atomics): each program sums the contributions that reach its own elements, so
results do not depend on scheduling.

Import this module only where Triton is installed. With ``TRITON_INTERPRET=1`` set before the import, the same
kernels run on CPU tensors through Triton's interpreter, which is how the tests check them without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl

__all__ = ["FORWARD_BLOCKS", "GRADIENT_BLOCKS", "Blocks", "TritonLocalCorrelation", "cost_volume"]


@dataclass(frozen=True)
class Blocks:
    """A launch configuration: channels and columns per program, and warps per program."""

    channels: int
    columns: int
    warps: int = 4


FORWARD_BLOCKS = Blocks(channels=32, columns=32)
"""The forward's launch: a ``[channels, columns, K_PAD]`` tile a program."""
GRADIENT_BLOCKS = Blocks(channels=16, columns=32)
"""The gradients' launch: a ``[channels, columns, K_PAD]`` tile and a ``[channels, columns]`` sum a program; at 16
channels a thread needs about half the registers it needs at 32, so twice as many programs share an SM. Their loop
over ``dy`` is not unrolled: unrolled, the compiler hoists the loads and spills registers to memory
(``tests/pftryon/test_correlation_triton_compile.py`` compiles every kernel for sm_80 and sm_90 and fails on a
spill)."""


@triton.jit
def _shifted(ptr, b, c, c_ok, y, xs, dxs, row_ok, sb, sc, sh, sw, W, D: tl.constexpr, K: tl.constexpr):
    """``tensor[b, c, y, xs + dx - D]`` for every dx as a ``[BLOCK_C, BLOCK_X, K_PAD]`` float32 tile (0 outside)."""
    xsh = xs[:, None] + dxs[None, :] - D
    inside = (xsh >= 0) & (xsh < W) & (dxs[None, :] < K) & row_ok
    offsets = b * sb + c[:, None, None] * sc + y * sh + xsh[None, :, :] * sw
    return tl.load(ptr + offsets, mask=c_ok[:, None, None] & inside[None, :, :], other=0.0).to(tl.float32)


@triton.jit
def _program_row(H, BLOCK_X: tl.constexpr):
    """The batch index, row and ``BLOCK_X`` columns of this program (grid axes 0 and 1)."""
    row = tl.program_id(0)
    return (row // H).to(tl.int64), row % H, tl.program_id(1) * BLOCK_X + tl.arange(0, BLOCK_X)


@triton.jit
def _channel_block(C, BLOCK_C: tl.constexpr):
    """A gradient program's ``BLOCK_C`` channels (grid axis 2) and which of them exist."""
    c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    return c, c < C


@triton.jit
def _store_channels(out, acc, scale, b, c, c_ok, y, xs, W, ob, oc, oh, ow):
    """Write a gradient program's ``[BLOCK_C, BLOCK_X]`` sums, scaled, to ``out[b, c, y, xs]``."""
    target = out + b * ob + c[:, None] * oc + y * oh + xs[None, :] * ow
    tl.store(target, (acc * scale).to(out.dtype.element_ty), mask=c_ok[:, None] & (xs < W)[None, :])


@triton.jit
def _forward(first, second, out, C, H, W,
             fb, fc, fh, fw, sb, sc, sh, sw, ob, ok, oh, ow, scale,
             D: tl.constexpr, K: tl.constexpr, K_PAD: tl.constexpr,
             BLOCK_C: tl.constexpr, BLOCK_X: tl.constexpr):  # fmt: skip
    b, y, xs = _program_row(H, BLOCK_X)
    dy = tl.program_id(2)
    ys = y + dy - D
    dxs = tl.arange(0, K_PAD)
    channels = tl.arange(0, BLOCK_C)
    acc = tl.zeros((BLOCK_X, K_PAD), dtype=tl.float32)
    for c0 in range(0, C, BLOCK_C):
        c = c0 + channels
        c_ok = c < C
        f = tl.load(first + b * fb + c[:, None] * fc + y * fh + xs[None, :] * fw,
                    mask=c_ok[:, None] & (xs < W)[None, :], other=0.0).to(tl.float32)  # fmt: skip
        s = _shifted(second, b, c, c_ok, ys, xs, dxs, (ys >= 0) & (ys < H), sb, sc, sh, sw, W, D, K)
        acc += tl.sum(f[:, :, None] * s, axis=0)
    target = out + b * ob + (dy * K + dxs[None, :]) * ok + y * oh + xs[:, None] * ow
    tl.store(target, (acc * scale).to(out.dtype.element_ty), mask=(xs < W)[:, None] & (dxs < K)[None, :])


@triton.jit
def _grad_first(grad, second, out, C, H, W,
                gb, gk, gh, gw, sb, sc, sh, sw, ob, oc, oh, ow, scale,
                D: tl.constexpr, K: tl.constexpr, K_PAD: tl.constexpr,
                BLOCK_C: tl.constexpr, BLOCK_X: tl.constexpr):  # fmt: skip
    """``d first[c, y, x] = scale * sum_{dy, dx} grad[dy*K + dx, y, x] * second[c, y + dy - D, x + dx - D]``."""
    b, y, xs = _program_row(H, BLOCK_X)
    c, c_ok = _channel_block(C, BLOCK_C)
    dxs = tl.arange(0, K_PAD)
    acc = tl.zeros((BLOCK_C, BLOCK_X), dtype=tl.float32)
    for dy in range(K):
        ys = y + dy - D
        g = tl.load(grad + b * gb + (dy * K + dxs[None, :]) * gk + y * gh + xs[:, None] * gw,
                    mask=(xs < W)[:, None] & (dxs < K)[None, :], other=0.0).to(tl.float32)  # fmt: skip
        s = _shifted(second, b, c, c_ok, ys, xs, dxs, (ys >= 0) & (ys < H), sb, sc, sh, sw, W, D, K)
        acc += tl.sum(s * g[None, :, :], axis=2)
    _store_channels(out, acc, scale, b, c, c_ok, y, xs, W, ob, oc, oh, ow)


@triton.jit
def _grad_second(grad, first, out, C, H, W,
                 gb, gk, gh, gw, fb, fc, fh, fw, ob, oc, oh, ow, scale,
                 D: tl.constexpr, K: tl.constexpr, K_PAD: tl.constexpr,
                 BLOCK_C: tl.constexpr, BLOCK_X: tl.constexpr):  # fmt: skip
    """``d second[c, y', x'] = scale * sum_{dy, dx} grad[dy*K + dx, y, x] * first[c, y, x]`` with
    ``y = y' - dy + D`` and ``x = x' - dx + D`` (the positions whose window reads ``(y', x')``)."""
    b, y_to, xs = _program_row(H, BLOCK_X)
    c, c_ok = _channel_block(C, BLOCK_C)
    dxs = tl.arange(0, K_PAD)
    x_from = xs[:, None] - dxs[None, :] + D
    acc = tl.zeros((BLOCK_C, BLOCK_X), dtype=tl.float32)
    for dy in range(K):
        y = y_to - dy + D
        inside = (x_from >= 0) & (x_from < W) & (dxs[None, :] < K) & (xs < W)[:, None] & (y >= 0) & (y < H)
        g = tl.load(grad + b * gb + (dy * K + dxs[None, :]) * gk + y * gh + x_from * gw, mask=inside,
                    other=0.0).to(tl.float32)  # fmt: skip
        f = tl.load(first + b * fb + c[:, None, None] * fc + y * fh + x_from[None, :, :] * fw,
                    mask=c_ok[:, None, None] & inside[None, :, :], other=0.0).to(tl.float32)  # fmt: skip
        acc += tl.sum(f * g[None, :, :], axis=2)
    _store_channels(out, acc, scale, b, c, c_ok, y_to, xs, W, ob, oc, oh, ow)


def _constants(d: int, blocks: Blocks) -> dict[str, int]:
    k = 2 * d + 1
    return {"D": d, "K": k, "K_PAD": triton.next_power_of_2(k), "BLOCK_C": blocks.channels,
            "BLOCK_X": blocks.columns, "num_warps": blocks.warps}  # fmt: skip


def cost_volume(first: torch.Tensor, second: torch.Tensor, d: int, blocks: Blocks = FORWARD_BLOCKS) -> torch.Tensor:
    """The forward pass alone (no autograd), in the layout of ``first`` (channels-last in, channels-last out)."""
    b, c, h, w = first.shape
    k = 2 * d + 1
    channels_last = first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()
    layout = torch.channels_last if channels_last else torch.contiguous_format  # what the next convolution reads
    out = torch.empty(b, k * k, h, w, dtype=first.dtype, device=first.device, memory_format=layout)
    grid = (b * h, triton.cdiv(w, blocks.columns), k)
    _forward[grid](first, second, out, c, h, w, *first.stride(), *second.stride(), *out.stride(), 1.0 / c,
                   **_constants(d, blocks))  # fmt: skip
    return out


class TritonLocalCorrelation(torch.autograd.Function):
    """:func:`pftryon.layers.local_correlation` on CUDA: one kernel launch forward, one per input gradient."""

    @staticmethod
    def forward(ctx, first: torch.Tensor, second: torch.Tensor, d: int) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(first, second)
        ctx.d = d
        return cost_volume(first, second, d)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        first, second = ctx.saved_tensors
        b, c, h, w = first.shape
        blocks = GRADIENT_BLOCKS
        grid = (b * h, triton.cdiv(w, blocks.columns), triton.cdiv(c, blocks.channels))
        constants = _constants(ctx.d, blocks)
        grad_first = grad_second = None
        if ctx.needs_input_grad[0]:
            grad_first = torch.empty_like(first)
            _grad_first[grid](grad, second, grad_first, c, h, w, *grad.stride(), *second.stride(),
                              *grad_first.stride(), 1.0 / c, **constants)  # fmt: skip
        if ctx.needs_input_grad[1]:
            grad_second = torch.empty_like(second)
            _grad_second[grid](grad, first, grad_second, c, h, w, *grad.stride(), *first.stride(),
                               *grad_second.stride(), 1.0 / c, **constants)  # fmt: skip
        return grad_first, grad_second, None
