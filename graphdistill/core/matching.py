"""Matching objectives: how differently a model "sees" real and synthetic data.

Gradient tensors follow PyTorch's layout: dimension 0 indexes output units (``nn.Linear.weight`` is
``(out, in)``, a conv weight is ``(out, in, kh, kw)``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

GRADIENT_METRICS = ("ours", "mse", "cos")
DISTRIBUTION_METRICS = ("mean", "mmd")
_EPS = 1e-6


def _check_shapes(grads_syn: Sequence[Tensor], grads_real: Sequence[Tensor]) -> None:
    if len(grads_syn) != len(grads_real):
        raise ValueError(f"got {len(grads_syn)} synthetic and {len(grads_real)} real gradients")
    for g_syn, g_real in zip(grads_syn, grads_real):
        if g_syn.shape != g_real.shape:
            raise ValueError(f"gradient shapes differ: {tuple(g_syn.shape)} vs {tuple(g_real.shape)}")


def batched_gradient_distance(grads_syn: Sequence[Tensor], grads_real: Sequence[Tensor],
                              metric: str = "ours") -> Tensor:
    """:func:`gradient_distance` for ``K`` gradient sets at once (e.g. one per class).

    Args:
        grads_syn, grads_real: per-parameter tensors of shape ``(K, *param.shape)``.

    Returns:
        ``(K,)`` distances.
    """
    _check_shapes(grads_syn, grads_real)
    if metric == "ours":
        parts = []
        for g_syn, g_real in zip(grads_syn, grads_real):
            # Vectors (biases, norm scales) carry little signal and are skipped, as in DC and GCond.
            if g_real.dim() <= 2:
                continue
            rows_syn = g_syn.reshape(g_syn.shape[0], g_syn.shape[1], -1)
            rows_real = g_real.reshape(g_real.shape[0], g_real.shape[1], -1)
            cosine = (rows_syn * rows_real).sum(-1) / (rows_syn.norm(dim=-1) * rows_real.norm(dim=-1) + _EPS)
            parts.append((1.0 - cosine).sum(-1))
        if not parts:
            return grads_real[0].new_zeros(grads_real[0].shape[0])
        return torch.stack(parts).sum(0)
    flat_syn = torch.cat([g.reshape(g.shape[0], -1) for g in grads_syn], dim=1)
    flat_real = torch.cat([g.reshape(g.shape[0], -1) for g in grads_real], dim=1)
    if metric == "mse":
        return ((flat_syn - flat_real) ** 2).sum(-1)
    if metric == "cos":
        return 1.0 - (flat_syn * flat_real).sum(-1) / (flat_syn.norm(dim=-1) * flat_real.norm(dim=-1) + _EPS)
    raise ValueError(f"unknown gradient metric {metric!r}; choose one of {GRADIENT_METRICS}")


def gradient_distance(grads_syn: Sequence[Tensor], grads_real: Sequence[Tensor], metric: str = "ours") -> Tensor:
    """Distance between two lists of per-parameter gradients (same order and shapes).

    Args:
        grads_syn: gradients of the loss on synthetic data (may carry a graph for the outer update).
        grads_real: gradients of the loss on real data (usually detached).
        metric: ``"ours"`` (default, DC/GCond): per output unit ``1 - cos`` over the fan-in, summed over
            layers, 1-D parameters ignored; ``"mse"``: squared Euclidean distance of all gradients
            concatenated; ``"cos"``: ``1 - cos`` of all gradients concatenated.

    Returns:
        A scalar tensor.
    """
    _check_shapes(grads_syn, grads_real)
    return batched_gradient_distance([g[None] for g in grads_syn], [g[None] for g in grads_real], metric)[0]


def distribution_distance(real: Tensor, synthetic: Tensor, metric: str = "mean",
                          bandwidths: Sequence[float] = (0.5, 1.0, 2.0, 4.0)) -> Tensor:
    """Distance between two sets of embeddings of shape ``(n_real, k)`` and ``(n_syn, k)``.

    Args:
        metric: ``"mean"`` (DM): squared distance of the mean embeddings; ``"mmd"``: biased MMD^2 with a
            sum of Gaussian kernels whose widths are ``bandwidths`` times the median pairwise distance
            of the real set.
    """
    if real.dim() != 2 or synthetic.dim() != 2 or real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"expected (n, k) embeddings with equal k, got {tuple(real.shape)} and {tuple(synthetic.shape)}")
    if metric == "mean":
        return ((real.mean(0) - synthetic.mean(0)) ** 2).sum()
    if metric == "mmd":
        both = torch.cat([real, synthetic])
        sq = torch.cdist(both, both).pow(2)
        scale = sq[: len(real), : len(real)].detach().median().clamp_min(_EPS)
        kernel = sum(torch.exp(-sq / (scale * b)) for b in bandwidths)
        n = len(real)
        return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()
    raise ValueError(f"unknown distribution metric {metric!r}; choose one of {DISTRIBUTION_METRICS}")
