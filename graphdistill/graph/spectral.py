"""Spectra of real graphs: the largest connected component and the extreme eigenpairs of its normalised Laplacian
``L = I - D^-1/2 (A + I) D^-1/2`` (GCN's propagation matrix subtracted from the identity; eigenvalues in
``[0, 2)``), dense for small graphs and by a sparse Lanczos solver (ARPACK) otherwise."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.propagation import normalize_adjacency

#: graphs up to this many nodes are decomposed densely (``torch.linalg.eigh``: Cora's 2,485 nodes take ~2 s)
DENSE_LIMIT = 4096


def largest_component(graph: NodeGraph) -> Tensor:
    """``(k,)`` sorted node ids of the largest connected component."""
    edges = graph.edge_index.cpu().numpy()
    adjacency = sp.coo_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])), shape=(graph.num_nodes,) * 2)
    _, component = connected_components(adjacency, directed=False)
    largest = np.bincount(component).argmax()
    return torch.as_tensor(np.flatnonzero(component == largest), dtype=torch.long)


def laplacian_eigenpairs(graph: NodeGraph, nodes: Tensor, low: int, high: int, dense_limit: int = DENSE_LIMIT
                         ) -> tuple[Tensor, Tensor]:
    """The ``low`` smallest and the ``high`` largest eigenpairs of the normalised Laplacian of the subgraph induced
    by ``nodes``.

    Returns:
        ``values (low + high,)`` ascending and ``vectors (len(nodes), low + high)`` with orthonormal columns, both
        float64 on the CPU (each vector's sign is arbitrary).
    """
    n = len(nodes)
    if low < 0 or high < 0 or low + high == 0 or low + high > n:
        raise InputError(f"cannot take {low} + {high} eigenpairs of a {n}-node graph")
    ends = graph.edges_among(nodes.to(graph.edge_index.device)).cpu()
    adjacency = torch.sparse_coo_tensor(ends, torch.ones(ends.shape[1], dtype=torch.float64), (n, n)).coalesce()
    propagation = normalize_adjacency(adjacency, "gcn")
    if n <= dense_limit:
        values, vectors = torch.linalg.eigh(torch.eye(n, dtype=torch.float64) - propagation.to_dense())
        keep = torch.cat([torch.arange(low), torch.arange(n - high, n)])
        return values[keep], vectors[:, keep]
    coo = propagation.to_sparse_coo().coalesce()
    matrix = sp.csr_matrix((coo.values().numpy(), coo.indices().numpy()), shape=(n, n))
    start = np.random.default_rng(0).standard_normal(n)  # ARPACK's own start vector is not seeded
    # L's smallest eigenvalues are 1 minus the propagation matrix's largest, and its largest 1 minus the smallest
    parts = [eigsh(matrix, k=k, which=which, v0=start) for k, which in ((low, "LA"), (high, "SA")) if k]
    values = torch.as_tensor(1.0 - np.concatenate([p[0] for p in parts]))
    vectors = torch.as_tensor(np.concatenate([p[1] for p in parts], axis=1))
    order = values.argsort()
    return values[order], vectors[:, order]
