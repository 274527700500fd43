"""GNNs for evaluation and matching, written on normalised adjacency operators.

Every model maps ``(x, ops)`` to ``(n, classes)`` log-probabilities, where ``x`` is ``(n, F)`` dense or
sparse and ``ops`` a :class:`~graphdistill.graph.propagation.GraphOperators`; ``rows (k,)`` asks for the
``(k, classes)`` rows of those nodes only, and the last propagation is then done for them alone. The same code runs on a
dense synthetic adjacency and on the sparse real graph. Linear layers use PyTorch's default
initialisation, which is GCond's uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core.registry import Registry
from graphdistill.graph.propagation import GraphOperators, at_rows, matmul, propagate_rows

ARCHITECTURES: Registry[type[nn.Module]] = Registry("architecture")


class _Linear(nn.Linear):
    """``nn.Linear`` that also takes a sparse input (sparse node features of the real graph)."""

    def forward(self, x: Tensor) -> Tensor:
        return matmul(x, self.weight.t()) + self.bias


def _in_row_chunks(rowwise: Callable[[Tensor], Tensor], x: Tensor, chunk: int = 16384) -> Tensor:
    """``rowwise(x)`` computed ``chunk`` rows at a time: at inference on a large real graph the ``(chunk, hidden)``
    intermediate then stays in cache instead of an ``(N, hidden)`` one going through memory (twice as fast on
    169k nodes)."""
    if x.shape[0] <= chunk:
        return rowwise(x)
    return torch.cat([rowwise(part) for part in x.split(chunk)])


class _TwoLayer(nn.Module):
    def __init__(self, dropout: float):
        super().__init__()
        self.dropout = dropout

    def _between(self, h: Tensor) -> Tensor:
        # in place: h is always a fresh intermediate, and on a large real graph it is (N, hidden)
        return F.dropout(F.relu(h, inplace=True), self.dropout, self.training)


@ARCHITECTURES.register("gcn")
class GCN(_TwoLayer):
    """Two-layer GCN (Kipf & Welling): ``A_hat relu(A_hat X W1) W2`` with ``A_hat`` the ``gcn`` normalisation."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.5):
        super().__init__(dropout)
        self.lin1 = _Linear(in_channels, hidden)
        self.lin2 = nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor, ops: GraphOperators, rows: Tensor | None = None) -> Tensor:
        # A (X W) + b is GCond's GraphConvolution; the bias is added after propagation.
        if isinstance(x, Tensor) and x.layout == torch.strided and x.shape[1] <= self.lin1.out_features:
            # (A X) W: the narrower product first, and A X of constant features is computed once
            first = ops.propagated("gcn", x)

            def hidden_to_output(part: Tensor) -> Tensor:
                return self._between(torch.addmm(self.lin1.bias, part, self.lin1.weight.t())) @ self.lin2.weight.t()
        else:
            first = matmul(ops("gcn"), matmul(x, self.lin1.weight.t()))

            def hidden_to_output(part: Tensor) -> Tensor:
                return self._between(part + self.lin1.bias) @ self.lin2.weight.t()
        inference = not (self.training or torch.is_grad_enabled())
        out = _in_row_chunks(hidden_to_output, first) if inference else hidden_to_output(first)
        return F.log_softmax(matmul(ops("gcn", rows), out) + self.lin2.bias, dim=-1)


@ARCHITECTURES.register("sgc")
class SGC(nn.Module):
    """SGC (Wu et al.): ``A_hat^K X W + b``, one linear layer after ``K`` parameter-free propagations."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.0, hops: int = 2):
        super().__init__()
        self.hops = hops
        self.lin = _Linear(in_channels, out_channels)

    def forward(self, x: Tensor, ops: GraphOperators, rows: Tensor | None = None) -> Tensor:
        return F.log_softmax(propagate_rows(ops, matmul(x, self.lin.weight.t()), self.hops, rows) + self.lin.bias,
                             dim=-1)


@ARCHITECTURES.register("appnp")
class APPNP(_TwoLayer):
    """APPNP (Klicpera et al.): a two-layer MLP, then ``hops`` steps of personalised PageRank (alpha 0.1)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.5,
                 hops: int = 10, alpha: float = 0.1):
        super().__init__(dropout)
        self.lin1 = _Linear(in_channels, hidden)
        self.lin2 = nn.Linear(hidden, out_channels)
        self.hops, self.alpha = hops, alpha

    def forward(self, x: Tensor, ops: GraphOperators, rows: Tensor | None = None) -> Tensor:
        h0 = self.lin2(self._between(self.lin1(x)))
        h = h0
        for hop in range(self.hops):
            last = rows if hop == self.hops - 1 else None
            h = (1 - self.alpha) * matmul(ops("gcn", last), h) + self.alpha * at_rows(h0, last)
        return F.log_softmax(h if self.hops else at_rows(h, rows), dim=-1)


@ARCHITECTURES.register("cheby")
class ChebNet(_TwoLayer):
    """Two Chebyshev layers with K=2 (Defferrard et al.): ``X W0 + L~ X W1``, ``L~ = -D^-1/2 A D^-1/2``
    (the scaled Laplacian with lambda_max = 2)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.5):
        super().__init__(dropout)
        self.root1, self.hop1 = _Linear(in_channels, hidden), _Linear(in_channels, hidden)
        self.root2, self.hop2 = nn.Linear(hidden, out_channels), nn.Linear(hidden, out_channels, bias=False)

    def forward(self, x: Tensor, ops: GraphOperators, rows: Tensor | None = None) -> Tensor:
        h = self.root1(x) - matmul(ops("sym"), matmul(x, self.hop1.weight.t()))
        h = self._between(h)
        return F.log_softmax(self.root2(at_rows(h, rows)) - matmul(ops("sym", rows), self.hop2(h)), dim=-1)


@ARCHITECTURES.register("sage")
class GraphSAGE(_TwoLayer):
    """Two GraphSAGE layers with (weighted) mean aggregation: ``X W_root + (D^-1 A X) W_neigh``."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.5):
        super().__init__(dropout)
        self.root1, self.neigh1 = _Linear(in_channels, hidden), _Linear(in_channels, hidden)
        self.root2, self.neigh2 = nn.Linear(hidden, out_channels), nn.Linear(hidden, out_channels, bias=False)

    def forward(self, x: Tensor, ops: GraphOperators, rows: Tensor | None = None) -> Tensor:
        h = self._between(self.root1(x) + matmul(ops("row"), matmul(x, self.neigh1.weight.t())))
        return F.log_softmax(self.root2(at_rows(h, rows)) + matmul(ops("row", rows), self.neigh2(h)), dim=-1)


@ARCHITECTURES.register("mlp")
class MLP(_TwoLayer):
    """Two-layer perceptron that ignores the graph."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int, dropout: float = 0.5):
        super().__init__(dropout)
        self.lin1 = _Linear(in_channels, hidden)
        self.lin2 = nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor, ops: GraphOperators, rows: Tensor | None = None) -> Tensor:
        if isinstance(x, Tensor):  # rows first: the other nodes' hidden units are never needed
            return F.log_softmax(self.lin2(self._between(self.lin1(at_rows(x, rows)))), dim=-1)
        return F.log_softmax(self.lin2(at_rows(self._between(self.lin1(x)), rows)), dim=-1)
