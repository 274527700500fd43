"""Batches of graphs in the two layouts the models run on: sparse block-diagonal for real graphs of any size,
dense padded for synthetic graphs (whose adjacency is a learnable dense tensor).

Both expose the same operations (GCN propagation, neighbour sums, pooling), so one model class serves both
and the two forwards agree on the same graphs.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphdistill.core.indexing import concatenated_ranges
from graphdistill.graph.classification.data import GraphSet

POOLINGS = ("mean", "sum")


@dataclass
class SparseGraphBatch:
    """Graphs concatenated node-wise (PyG's layout).

    Attributes:
        x: ``(N, F)``; edge_index: ``(2, E)``; edge_weight: ``(E,)``; batch: ``(N,)`` graph of each node;
        num_graphs: ``G``.
    """

    x: Tensor
    edge_index: Tensor
    edge_weight: Tensor
    batch: Tensor
    num_graphs: int

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        loops = torch.arange(n, device=self.x.device)
        targets = torch.cat([self.edge_index[1], loops])
        sources = torch.cat([self.edge_index[0], loops])
        weights = torch.cat([self.edge_weight, torch.ones(n, dtype=self.x.dtype, device=self.x.device)])
        degree = torch.zeros(n, dtype=self.x.dtype, device=self.x.device).index_add_(0, targets, weights)
        scale = degree.pow(-0.5)
        self._gcn = _csr(targets, sources, scale[targets] * weights * scale[sources], n)
        self._adjacency = _csr(self.edge_index[1], self.edge_index[0], self.edge_weight, n)
        self._counts = torch.bincount(self.batch, minlength=self.num_graphs).clamp_min(1).to(self.x.dtype)

    @classmethod
    def of(cls, graphs: GraphSet, indices: Tensor, device: torch.device | str = "cpu") -> "SparseGraphBatch":
        """The graphs ``indices`` of ``graphs`` as one batch (gathered without a Python loop over graphs)."""
        nodes = concatenated_ranges(graphs.ptr[indices], graphs.ptr[indices + 1])
        edges = concatenated_ranges(graphs.edge_ptr[indices], graphs.edge_ptr[indices + 1])
        local = torch.empty(graphs.x.shape[0], dtype=torch.long)
        local[nodes] = torch.arange(len(nodes))
        edge_index = local[graphs.edge_index[:, edges]]
        batch = torch.repeat_interleave(torch.arange(len(indices)), graphs.ptr[indices + 1] - graphs.ptr[indices])
        return cls(graphs.x[nodes].to(device), edge_index.to(device), torch.ones(edge_index.shape[1], device=device),
                   batch.to(device), len(indices))

    @classmethod
    def from_padded(cls, x: Tensor, adj: Tensor, mask: Tensor) -> "SparseGraphBatch":
        """Padded graphs ``x (G, n, F)``, ``adj (G, n, n)``, ``mask (G, n)`` without their padding: the nonzero
        entries of ``adj`` between real nodes become weighted edges (``adj[g, i, j]`` sends ``j`` to ``i``)."""
        mask = mask.bool()
        g, n = mask.shape
        position = torch.cumsum(mask.reshape(-1).long(), 0) - 1
        graph, target, source = (adj * (mask[:, :, None] & mask[:, None, :])).nonzero(as_tuple=True)
        edge_index = torch.stack([position[graph * n + source], position[graph * n + target]])
        batch = torch.repeat_interleave(torch.arange(g, device=x.device), mask.sum(1))
        return cls(x[mask], edge_index, adj[graph, target, source], batch, g)

    @property
    def flat_x(self) -> Tensor:
        return self.x

    def gcn(self, h: Tensor) -> Tensor:
        """``D^-1/2 (A + I) D^-1/2 h`` (PyG ``GCNConv``'s propagation with edge weights)."""
        return self._gcn @ h

    def propagate_rows(self, rows: Tensor) -> Tensor:
        """:meth:`gcn` of a flat ``(N, K)`` matrix whose rows are the batch's nodes (kernel recursions)."""
        return self.gcn(rows)

    def pool_rows(self, rows: Tensor) -> Tensor:
        """``(N, K) -> (G, K)``: per-graph sums of node rows."""
        return self.pool(rows, "sum")

    def neighbour_sum(self, h: Tensor) -> Tensor:
        """``A h``: the weighted sum over neighbours (GIN's aggregation)."""
        return self._adjacency @ h

    def pool(self, h: Tensor, how: str) -> Tensor:
        """``(N, d) -> (G, d)`` per-graph sum or mean of node rows."""
        total = h.new_zeros(self.num_graphs, h.shape[1]).index_add_(0, self.batch, h)
        return total / self._counts[:, None] if how == "mean" else total


@dataclass
class DenseGraphBatch:
    """Graphs padded to ``n`` nodes.

    Attributes:
        x: ``(G, n, F)``; adj: ``(G, n, n)`` symmetric non-negative weights (differentiable); mask: ``(G, n)``
        real (``True``) or padding nodes.
    """

    x: Tensor
    adj: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        mask = self.mask.to(self.x.dtype)
        self._mask = mask[..., None]
        with_loops = self.adj * (mask[:, :, None] * mask[:, None, :]) + torch.diag_embed(mask)
        scale = with_loops.sum(-1).clamp_min(1e-12).pow(-0.5) * mask
        self._gcn = scale[:, :, None] * with_loops * scale[:, None, :]
        self._counts = mask.sum(1).clamp_min(1.0)

    @property
    def num_graphs(self) -> int:
        return self.x.shape[0]

    def gcn(self, h: Tensor) -> Tensor:
        return self._gcn @ h

    def neighbour_sum(self, h: Tensor) -> Tensor:
        return (self.adj @ h) * self._mask

    @property
    def flat_x(self) -> Tensor:
        """``(G * n, F)`` node features, padding rows included (they are zero)."""
        return (self.x * self._mask).reshape(-1, self.x.shape[-1])

    def propagate_rows(self, rows: Tensor) -> Tensor:
        g, n = self.mask.shape
        return self.gcn(rows.reshape(g, n, -1)).reshape(g * n, -1)

    def pool_rows(self, rows: Tensor) -> Tensor:
        g, n = self.mask.shape
        return self.pool(rows.reshape(g, n, -1), "sum")

    def pool(self, h: Tensor, how: str) -> Tensor:
        """``(G, n, d) -> (G, d)`` over the real nodes."""
        total = (h * self._mask).sum(1)
        return total / self._counts[:, None] if how == "mean" else total


GraphBatch = SparseGraphBatch | DenseGraphBatch


def _csr(rows: Tensor, cols: Tensor, values: Tensor, n: int) -> Tensor:
    """An ``(n, n)`` CSR matrix (duplicates summed); CSR products are the fastest sparse kernels on CPU."""
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=False
                                   ).coalesce().to_sparse_csr()
