"""GCond's structure generator (PGE): an MLP over every ordered pair of synthetic nodes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class PairwiseStructureGenerator(nn.Module):
    """``A_ij = sigmoid((MLP([x_i || x_j]) + MLP([x_j || x_i])) / 2)``, zero diagonal.

    The MLP has ``layers`` linear layers (hidden width ``hidden``, BatchNorm + ReLU between them) and
    its BatchNorm always normalises over the ``n^2`` pairs of the current call, as in GCond, where the
    module never leaves training mode.

    The first layer is evaluated exactly but without building the ``(n^2, 2F)`` pair matrix: a linear map
    of ``[x_i || x_j]`` is ``W_a x_i + W_b x_j``, so two ``(n, F) @ (F, hidden)`` products and a
    broadcast sum give the same ``(n^2, hidden)`` activations. That turns the dominant
    ``O(n^2 F hidden)`` forward and backward into ``O(n F hidden + n^2 hidden)``.

    Args:
        in_channels: feature dimension ``F``.
        hidden: hidden width (GCond: 128).
        layers: number of linear layers (GCond: 3).

    Shapes:
        input ``(n, F)`` -> output ``(n, n)``, symmetric, values in ``(0, 1)``, zero diagonal.
    """

    def __init__(self, in_channels: int, hidden: int = 128, layers: int = 3):
        super().__init__()
        if layers < 2:
            raise ValueError("the structure generator needs at least 2 layers")
        widths = [2 * in_channels] + [hidden] * (layers - 1) + [1]
        self.in_channels = in_channels
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers - 1))

    def pair_logits(self, x: Tensor) -> Tensor:
        """Raw MLP output ``(n, n)`` for the ordered pairs ``(i, j)`` (before symmetrisation)."""
        n = x.shape[0]
        first = self.linears[0]
        left = x @ first.weight[:, : self.in_channels].t() + first.bias
        right = x @ first.weight[:, self.in_channels:].t()
        h = (left[:, None, :] + right[None, :, :]).reshape(n * n, -1)
        for linear, norm in zip(self.linears[1:], self.norms):
            h = linear(F.relu(norm(h)))
        return h.reshape(n, n)

    def forward(self, x: Tensor) -> Tensor:
        logits = self.pair_logits(x)
        adj = torch.sigmoid((logits + logits.t()) / 2)
        return adj * (1.0 - torch.eye(x.shape[0], dtype=adj.dtype, device=adj.device))
