"""The layers of an STQS modality block computed fast on CPU, with the same results as the ``nn`` layers.

The temporal layer (``Conv1d -> BatchNorm1d -> ReLU -> MaxPool1d``) dominates the cost.

A valid 64-tap convolution followed by a max-pool of 16 is computed *polyphase*: the signal is cut into blocks
of 16 samples, which turns a one-input-channel convolution (which oneDNN runs at a few percent of the machine's
speed, and whose backward is slower still) into one convolution with 16x the channels and 5 taps, whose output
channels hold, per filter, the 16 samples of each pooling window side by side. Max-pooling is then a maximum over
those 16 channels. About 1.25x the multiply-adds of the direct convolution, run at several times its speed;
only the positions that a pooling window reads are computed, plus, in training, the few tail positions that batch
norm also counts. In eval mode batch norm is folded into the kernel, and the bias and ReLU are applied after the
pool (exact: a bias shift and ReLU commute with the maximum). In training, batch norm with a positive scale also
commutes with the maximum (filters with a negative scale are negated first), so only the pooled maxima are
normalised, and the backward pass is written out to take one pass over the convolution output.

Same results as the ``nn`` layers to float32 rounding, in training (outputs, gradients, running statistics) and
in eval mode (tested against :meth:`stqs_core.model.ModalityBlock.reference_forward`); only the convolution bias
before a batch norm, which the norm cancels, gets no gradient (``nn`` gives it rounding noise). These layers
allocate multi-MB outputs on every call: programs that own their process tune ``malloc`` for that with
:func:`stqs_core.allocator.keep_freed_memory` (importing this module does not).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@functools.cache
def _polyphase_taps(k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Index into a ``k``-tap kernel (and where it is valid) for output phase ``r``, input phase ``p``, offset ``m``."""
    taps = (k + block - 2) // block + 1
    r, p, m = np.ogrid[:block, :block, :taps]
    tap = block * m + p - r  # output sample block*j + r reads input sample block*(j+m) + p with this tap
    return tap.clip(0, k - 1), (tap >= 0) & (tap < k)


def polyphase_kernel(weight: torch.Tensor, block: int) -> torch.Tensor:
    """The polyphase kernel equivalent to a convolution kernel.

    Parameters
    ----------
    weight : torch.Tensor, shape (C_out, C_in, K)
        A ``Conv1d`` weight.
    block : int
        Samples per block (the pool size).

    Returns
    -------
    torch.Tensor, shape (C_out * block, C_in * block, taps)
    """
    cout, cin, k = weight.shape
    index, valid = (torch.from_numpy(a) for a in _polyphase_taps(k, block))  # cached as NumPy: no inference tensors
    kernel = weight[:, :, index] * valid  # (C_out, C_in, r, p, m)
    return kernel.permute(0, 2, 1, 3, 4).reshape(cout * block, cin * block, -1)


def pooled_windows(x: torch.Tensor, weight: torch.Tensor, pool: int) -> torch.Tensor:
    """Valid convolution outputs (no bias) grouped by pooling window.

    Parameters
    ----------
    x : torch.Tensor, shape (N, C_in, T)
        Input signals.
    weight : torch.Tensor, shape (C_out, C_in, K)
        Convolution kernel.
    pool : int
        Max-pool size.

    Returns
    -------
    torch.Tensor, shape (N, C_out, pool, L)
        ``L = (T - K + 1) // pool`` windows (the tail that no window reads is left out); ``[:, f, r, j]`` is
        output sample ``pool * j + r`` of filter ``f``.
    """
    n, cin, t = x.shape
    cout, _, k = weight.shape
    length = (t - k + 1) // pool
    blocks = length + (k + pool - 2) // pool
    need = blocks * pool  # the last block may run past the signal: those samples meet only zero taps
    x = F.pad(x, (0, need - t)) if need > t else x[:, :, :need]
    x = x.reshape(n, cin, blocks, pool).transpose(2, 3).reshape(n, cin * pool, blocks)
    return F.conv1d(x, polyphase_kernel(weight, pool)).view(n, cout, pool, length)


def fold_batch_norm(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode ``bn(conv(x))`` as one convolution.

    Parameters
    ----------
    conv : torch.nn.Conv1d
        The convolution.
    bn : torch.nn.BatchNorm1d
        The batch norm after it (its running statistics are used).

    Returns
    -------
    weight : torch.Tensor, shape (C_out, C_in, K)
    bias : torch.Tensor, shape (C_out,)
    """
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    return conv.weight * scale[:, None, None], (conv.bias - bn.running_mean) * scale + bn.bias


def temporal_layer(x: torch.Tensor, layers: nn.Sequential) -> torch.Tensor:
    """``layers(x)`` for ``layers = Sequential(Conv1d, BatchNorm1d, ReLU, MaxPool1d)``, computed polyphase.

    In training mode batch norm uses the batch's statistics and updates the running ones, as ``nn`` does.

    Parameters
    ----------
    x : torch.Tensor, shape (N, C_in, T)
        Input signals.
    layers : torch.nn.Sequential
        The four layers.

    Returns
    -------
    torch.Tensor, shape (N, C_out, L)
    """
    conv, bn, pool = layers[0], layers[1], layers[3].kernel_size
    if not bn.training:
        weight, bias = fold_batch_norm(conv, bn)
        return F.relu(pooled_windows(x, weight, pool).amax(2) + bias[:, None])
    # Training. Filters with a negative batch-norm scale are negated, so that every pooled maximum is a maximum;
    # the convolution bias, which batch norm cancels, only enters the running mean (its gradient is None).
    sign = torch.where(bn.weight >= 0, 1.0, -1.0).detach()
    weight = conv.weight * sign[:, None, None]
    windows = pooled_windows(x, weight, pool)
    rest = x[:, :, windows.shape[3] * pool :]  # batch norm counts the unpooled tail too
    tail = F.conv1d(rest, weight) if rest.shape[2] >= weight.shape[2] else windows.new_zeros(len(x), len(weight), 0)
    out, mean, var = _NormReluPool.apply(windows, tail, bn.weight * sign, bn.bias, bn.eps)
    with torch.no_grad():
        n = windows[:, 0].numel() + tail[:, 0].numel()
        bn.num_batches_tracked += 1
        momentum = bn.momentum if bn.momentum is not None else 1 / float(bn.num_batches_tracked)
        bn.running_mean.lerp_(mean * sign + conv.bias, momentum)
        bn.running_var.lerp_(var * n / max(n - 1, 1), momentum)
    return out


class _NormReluPool(torch.autograd.Function):
    """``max_r relu(scale * (windows - mean) / std + shift)`` with batch statistics over windows and tail.

    ``windows`` ``(N, C, pool, L)``, ``tail`` ``(N, C, r)``, ``scale >= 0`` and ``shift`` ``(C,)``; returns the
    pooled ``(N, C, L)`` and the batch ``mean`` and (biased) ``var``. With ``scale >= 0`` the maximum commutes
    with the normalisation, so only the pooled maxima are normalised; the backward pass is batch norm's with a
    gradient that is zero off the maxima, written out so that it takes one pass over ``windows``.
    """

    @staticmethod
    def forward(ctx, windows, tail, scale, shift, eps):
        rows = windows.flatten(2)  # per-row sums: contiguous reductions, many times faster than var_mean
        n = windows[:, 0].numel() + tail[:, 0].numel()  # positions per channel
        total = (rows.sum(2) + tail.sum(2)).double().sum(0)
        squares = torch.linalg.vector_norm(rows, dim=2) ** 2 + torch.linalg.vector_norm(tail, dim=2) ** 2
        squares = squares.double().sum(0)
        mean = total / n
        var = (squares / n - mean**2).clamp_min(0)
        mean, var = mean.to(windows.dtype), var.to(windows.dtype)
        invstd = torch.rsqrt(var + eps)
        peak, where = windows.max(dim=2)
        xhat = (peak - mean[:, None]) * invstd[:, None]
        out = F.relu(xhat * scale[:, None] + shift[:, None])
        ctx.save_for_backward(windows, tail, where, xhat, out, mean, invstd, scale)
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    def backward(ctx, grad, _mean, _var):
        windows, tail, where, xhat, out, mean, invstd, scale = ctx.saved_tensors
        n = windows[:, 0].numel() + tail[:, 0].numel()  # positions per channel
        grad = grad * (out > 0)
        dxhat = grad * scale[:, None]  # d loss / d xhat at the maxima (zero elsewhere)
        # d loss / d y = invstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)): affine in y off the maxima
        slope = -(invstd**2) * (dxhat * xhat).sum((0, 2)) / n
        offset = -invstd * dxhat.sum((0, 2)) / n - slope * mean
        d_windows = torch.addcmul(offset[:, None, None], windows, slope[:, None, None])
        d_windows.scatter_add_(2, where.unsqueeze(2), (dxhat * invstd[:, None]).unsqueeze(2))
        d_tail = torch.addcmul(offset[:, None], tail, slope[:, None])
        return d_windows, d_tail, (grad * xhat).sum((0, 2)), grad.sum((0, 2)), None


def spatial_layer(x: torch.Tensor, layers: nn.Sequential) -> torch.Tensor:
    """``layers(x)`` for ``layers = Sequential(Conv1d(C, C, 1), BatchNorm1d, ReLU)``.

    The 1x1 convolution as a channel-mixing ``einsum`` (oneDNN runs it several times slower).

    Parameters
    ----------
    x : torch.Tensor, shape (N, C, T)
        Input signals.
    layers : torch.nn.Sequential
        The three layers.

    Returns
    -------
    torch.Tensor, shape (N, C, T)
    """
    conv, bn = layers[0], layers[1]
    if not bn.training:
        weight, bias = fold_batch_norm(conv, bn)
        return F.relu(torch.einsum("oc,nct->not", weight[:, :, 0], x) + bias[:, None])
    return F.relu(bn(torch.einsum("oc,nct->not", conv.weight[:, :, 0], x) + conv.bias[:, None]))
