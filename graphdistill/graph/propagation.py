"""Normalised adjacency operators for dense (synthetic) and sparse (real) graphs alike."""
from __future__ import annotations

import torch
from torch import Tensor

NORMALIZATIONS = ("gcn", "sym", "row")


def _degree_scaled(indices: Tensor, values: Tensor, n: int, kind: str) -> Tensor:
    degree = torch.zeros(n, dtype=values.dtype, device=values.device).index_add_(0, indices[0], values)
    if kind == "row":
        inv = degree.reciprocal()
        inv[torch.isinf(inv)] = 0.0
        return values * inv[indices[0]]
    inv_sqrt = degree.pow(-0.5)
    inv_sqrt[torch.isinf(inv_sqrt)] = 0.0
    return values * inv_sqrt[indices[0]] * inv_sqrt[indices[1]]


def normalize_adjacency(adj: Tensor, kind: str = "gcn") -> Tensor:
    """Normalise a weighted ``(n, n)`` adjacency (dense, or sparse COO).

    Args:
        kind: ``"gcn"``: ``D^-1/2 (A + I) D^-1/2`` (GCN, SGC, APPNP); ``"sym"``: ``D^-1/2 A D^-1/2``
            (Chebyshev); ``"row"``: ``D^-1 A`` (mean aggregation, GraphSAGE). Isolated nodes get 0.

    Returns:
        Same layout as the input (sparse results are CSR, which multiplies fastest).
    """
    if kind not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {kind!r}; choose one of {NORMALIZATIONS}")
    n = adj.shape[0]
    if adj.layout == torch.strided:
        if kind == "gcn":
            adj = adj + torch.eye(n, dtype=adj.dtype, device=adj.device)
        degree = adj.sum(1)
        if kind == "row":
            inv = degree.reciprocal()
            inv[torch.isinf(inv)] = 0.0
            return inv[:, None] * adj
        inv_sqrt = degree.pow(-0.5)
        inv_sqrt[torch.isinf(inv_sqrt)] = 0.0
        return inv_sqrt[:, None] * adj * inv_sqrt[None, :]
    adj = adj.to_sparse_coo().coalesce() if adj.layout != torch.sparse_coo else adj.coalesce()
    indices, values = adj.indices(), adj.values()
    if kind == "gcn":
        loops = torch.arange(n, device=adj.device).expand(2, n)
        merged = torch.sparse_coo_tensor(torch.cat([indices, loops], 1),
                                         torch.cat([values, values.new_ones(n)]), (n, n)).coalesce()
        indices, values = merged.indices(), merged.values()
    scaled = _degree_scaled(indices, values, n, kind)
    return torch.sparse_coo_tensor(indices, scaled, (n, n)).coalesce().to_sparse_csr()


class SparseOperator:
    """A constant sparse matrix stored with its transpose, both CSR.

    ``torch.sparse.mm``'s backward transposes (and re-sorts) a CSR matrix on every call; for the real
    graph's features and adjacency that sort was a quarter of a training step. Keeping the transpose
    makes the backward a plain sparse product.
    """

    def __init__(self, matrix: Tensor):
        coo = matrix.to_sparse_coo().coalesce() if matrix.layout != torch.sparse_coo else matrix.coalesce()
        self.matrix = coo.to_sparse_csr()
        self.transpose = coo.t().coalesce().to_sparse_csr()
        self.shape = coo.shape

    def to_dense(self) -> Tensor:
        return self.matrix.to_dense()


class _ConstantSparseMatmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, matrix: Tensor, transpose: Tensor, dense: Tensor) -> Tensor:
        ctx.transpose = transpose
        return torch.sparse.mm(matrix, dense)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, torch.sparse.mm(ctx.transpose, grad)


def matmul(a: Tensor | SparseOperator, b: Tensor) -> Tensor:
    """``a @ b`` for a dense, sparse or :class:`SparseOperator` ``a`` and a dense ``b``."""
    if isinstance(a, SparseOperator):
        return _ConstantSparseMatmul.apply(a.matrix, a.transpose, b)
    return a @ b if a.layout == torch.strided else torch.sparse.mm(a, b)


def propagate(adj_norm: Tensor | SparseOperator | None, x: Tensor, hops: int) -> Tensor:
    """``adj_norm^hops @ x``; ``adj_norm=None`` stands for the identity (a graph without edges)."""
    if adj_norm is None:
        return x
    for _ in range(hops):
        x = matmul(adj_norm, x)
    return x


class GraphOperators:
    """An adjacency and its normalisations, each computed once on first use.

    Args:
        adj: ``(n, n)`` weighted adjacency, dense or sparse; must not require grad.
    """

    def __init__(self, adj: Tensor):
        self.adj = adj
        self._cache: dict[str, Tensor] = {}

    def __call__(self, kind: str) -> Tensor | SparseOperator:
        if kind not in self._cache:
            normalized = normalize_adjacency(self.adj, kind)
            self._cache[kind] = normalized if normalized.layout == torch.strided else SparseOperator(normalized)
        return self._cache[kind]
