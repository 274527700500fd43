"""Normalised adjacency operators for dense (synthetic) and sparse (real) graphs alike."""
from __future__ import annotations

import torch
from torch import Tensor

from graphdistill.core.indexing import concatenated_ranges

NORMALIZATIONS = ("gcn", "sym", "row")
# Below this share of non-zero entries a sparse feature matrix is kept (and multiplied) sparse: bag-of-words
# features are ~1 % dense, and a sparse product is then ~50x cheaper than a dense one.
SPARSE_DENSITY = 0.1


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


def propagate_rows(ops: "GraphOperators", x: Tensor, hops: int, rows: Tensor | None = None, kind: str = "gcn"
                   ) -> Tensor:
    """``(A_kind^hops @ x)[rows]`` with the last product done for ``rows`` alone (all rows when ``None``): on a
    large graph the real side of SGC matching needs the training rows only, and never more than one
    ``(N, F)`` intermediate is held. Sparse features stay sparse until the ``(k, F)`` result, which is dense."""
    if hops == 0:
        return dense(at_rows(x, rows))
    return dense(matmul(ops(kind, rows), propagate(ops(kind), x, hops - 1)))


class SparseOperator:
    """A constant sparse matrix stored with its transpose, both CSR.

    ``torch.sparse.mm``'s backward transposes (and re-sorts) a CSR matrix on every call; for the real
    graph's features and adjacency that sort was a quarter of a training step. Keeping the transpose
    makes the backward a plain sparse product.
    """

    def __init__(self, matrix: Tensor, symmetric: bool = False):
        coo = matrix.to_sparse_coo().coalesce() if matrix.layout != torch.sparse_coo else matrix.coalesce()
        self.matrix = coo.to_sparse_csr()
        # a symmetric matrix is its own transpose: one copy instead of two (half the memory on a large graph)
        self.transpose = self.matrix if symmetric else coo.t().coalesce().to_sparse_csr()
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
    """``a @ b`` for a dense, sparse or :class:`SparseOperator` ``a`` and a dense ``b``; a sparse ``b`` (constant
    real features) with a sparse ``a`` gives a sparse product."""
    if b.layout != torch.strided:
        return (a.matrix if isinstance(a, SparseOperator) else a) @ b
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
        symmetric: ``adj`` is symmetric (an undirected graph), so its ``gcn`` and ``sym`` normalisations are too
            and are stored once.
        given: ``adj`` already is the propagation matrix (GDEM's ``I - U diag(lambda) U^T``, which may hold
            negative values): every normalisation is ``adj`` itself.
    """

    def __init__(self, adj: Tensor, symmetric: bool = False, given: bool = False):
        self.adj = adj
        self.symmetric = symmetric
        self.given = given
        self._cache: dict[str, Tensor | SparseOperator] = {}
        self._rows: dict[tuple[str, int], tuple[Tensor, Tensor]] = {}
        self._propagated: dict[str, tuple[Tensor, int, Tensor]] = {}

    def __call__(self, kind: str, rows: Tensor | None = None) -> Tensor | SparseOperator:
        """The ``kind`` normalisation; with ``rows``, only those rows (for outputs wanted at a few nodes only)."""
        if kind not in self._cache:
            normalized = self.adj if self.given else normalize_adjacency(self.adj, kind)
            self._cache[kind] = normalized if normalized.layout == torch.strided else \
                SparseOperator(normalized, self.symmetric and kind in ("gcn", "sym"))
        operator = self._cache[kind]
        if rows is None:
            return operator
        key = (kind, id(rows))
        if key not in self._rows or self._rows[key][0] is not rows:
            selected = csr_rows(operator.matrix, rows) if isinstance(operator, SparseOperator) else operator[rows]
            self._rows[key] = (rows, selected)
        return self._rows[key][1]

    def propagated(self, kind: str, x: Tensor) -> Tensor:
        """``A_kind @ x``, kept for a constant ``x`` (one that does not require grad): the first propagation of
        fixed real features is then paid once, not at every forward."""
        if x.requires_grad:
            return matmul(self(kind), x)
        cached = self._propagated.get(kind)
        if cached is None or cached[0] is not x or cached[1] != x._version:
            cached = (x, x._version, matmul(self(kind), x))
            self._propagated[kind] = cached
        return cached[2]


def csr_rows(matrix: Tensor, rows: Tensor) -> Tensor:
    """Rows ``rows (k,)`` of a CSR ``(n, m)`` matrix as a CSR ``(k, m)`` matrix."""
    crow = matrix.crow_indices()
    starts, ends = crow[rows], crow[rows + 1]
    positions = concatenated_ranges(starts, ends)
    new_crow = torch.cat([crow.new_zeros(1), (ends - starts).cumsum(0)])
    return torch.sparse_csr_tensor(new_crow, matrix.col_indices()[positions], matrix.values()[positions],
                                   (len(rows), matrix.shape[1]))


def at_rows(out: Tensor, rows: Tensor | None) -> Tensor:
    """``out[rows]`` (CSR rows for a CSR ``out``), or all of ``out`` when ``rows`` is ``None``."""
    if rows is None:
        return out
    return csr_rows(out, rows) if out.layout == torch.sparse_csr else out[rows]


def dense(x: Tensor) -> Tensor:
    """``x`` as a dense tensor (itself when it is one)."""
    return x if x.layout == torch.strided else x.to_dense()


def density(x: Tensor) -> float:
    """Share of non-zero entries of a dense or sparse ``x``."""
    rows, columns = x.shape
    stored = x if x.layout == torch.strided else x.values()
    return stored.count_nonzero().item() / max(rows * columns, 1)
