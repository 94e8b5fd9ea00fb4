"""A faster backward pass for the temporal convolutions while training on CPU.

PyTorch's CPU backward of a one-input-channel ``Conv1d`` with a 64-tap kernel (the first temporal layer of every
:class:`~stqs_core.model.ModalityBlock`) is slow: its input gradient, an 8-to-1 channel convolution, is computed
at a few percent of the machine's speed. :class:`Conv1dFunction` computes the same gradients as ordinary
convolutions that run fast: the input gradient as a *polyphase* convolution (:func:`poly_conv1d`, samples
grouped in blocks of 16 so that it becomes one convolution with many channels) and the weight gradient as a
convolution with the batch as channels. Same results to float32 rounding; measured with
``benchmarks/bench_train.py`` on a shared, loaded 2-core machine: about 1.4x faster training steps with two
torch threads, no change with one. :func:`fast_convolutions` switches it on for a model's temporal convolutions
while training; the model, its state dict and inference are untouched.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def poly_conv1d(x: torch.Tensor, weight: torch.Tensor, block: int = 16) -> torch.Tensor:
    """``F.conv1d(x, weight)`` (valid, stride 1, no bias) for ``x`` ``(N, C_in, T)``, ``weight`` ``(C_out, C_in, K)``.

    Output sample ``block * j + r`` depends on input blocks ``j .. j + ceil(K / block)``, so the signal cut into
    blocks of ``block`` samples (``(N, C_in * block, T / block)``) convolves with a ``(C_out * block,
    C_in * block, taps)`` kernel holding the original taps (zeros elsewhere).
    """
    n, cin, t = x.shape
    cout, _, k = weight.shape
    length = t - k + 1
    n_blocks = -(-length // block)
    taps = (k + block - 2) // block + 1
    need = (n_blocks + taps - 1) * block
    x = F.pad(x, (0, need - t)) if need > t else x[:, :, :need]
    x = x.reshape(n, cin, n_blocks + taps - 1, block).transpose(2, 3).reshape(n, cin * block, -1)
    r = torch.arange(block)[:, None, None]
    p = torch.arange(block)[None, :, None]
    m = torch.arange(taps)[None, None, :]
    tap = block * m + p - r  # the original tap feeding output phase r from input phase p of block j + m
    kernel = weight[:, :, tap.clamp(0, k - 1)] * ((tap >= 0) & (tap < k))  # (C_out, C_in, r, p, m)
    kernel = kernel.permute(0, 2, 1, 3, 4).reshape(cout * block, cin * block, taps)
    y = F.conv1d(x, kernel).reshape(n, cout, block, n_blocks).transpose(2, 3).reshape(n, cout, -1)
    return y[:, :, :length]


class Conv1dFunction(torch.autograd.Function):
    """``F.conv1d(x, weight, bias)`` with the fast backward described in the module docstring."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return F.conv1d(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        k = weight.shape[-1]
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:  # full correlation with the flipped kernel
            grad_x = poly_conv1d(F.pad(grad, (k - 1, k - 1)), weight.flip(-1).transpose(0, 1).contiguous())
        if ctx.needs_input_grad[1]:  # channels <-> batch: one convolution over the whole batch
            grad_w = F.conv1d(x.transpose(0, 1), grad.transpose(0, 1)).transpose(0, 1)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum((0, 2))
        return grad_x, grad_w, grad_b


def _forward(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    return Conv1dFunction.apply(x, conv.weight, conv.bias)


@contextmanager
def fast_convolutions(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, the temporal ``Conv1d`` layers of ``model``'s modality blocks use :class:`Conv1dFunction`."""
    convs = [getattr(block, name)[0] for block in model.blocks.values() for name in ("temporal1", "temporal2")]
    for conv in convs:
        conv.forward = _forward.__get__(conv)
    try:
        yield model
    finally:
        for conv in convs:
            del conv.forward
