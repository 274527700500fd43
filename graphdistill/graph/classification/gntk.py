"""A graph neural tangent kernel (LiteGNTK-style), exact for batches of graphs in either layout.

The kernel is the infinite-width NTK of the network (NTK parametrisation, no biases)::

    g_0 = X;  for l = 1..L:  z_l = Â g_{l-1} W_l / sqrt(d_{l-1}),  g_l = sqrt(2) relu(z_l)
    f(G) = sum over the nodes u of G of  g_L[u] . v / sqrt(m)

with ``Â = D^-1/2 (A + I) D^-1/2`` of each graph: one neighbourhood aggregation per ReLU layer (LiteGNTK's
simplification of the GNTK, which puts an MLP between aggregations), and a sum readout. Node-pair kernels of
two batches are carried in flat node space: because ``Â`` of a batch is block-diagonal, ``Â_l Σ Â_r^T`` only
ever mixes pairs of the same two graphs, so one matrix product per side does every graph pair at once.
"""
from __future__ import annotations

from torch import Tensor

from graphdistill.core.kernels import relu_ntk_layer
from graphdistill.graph.classification.batch import GraphBatch


def node_kernels(left: GraphBatch, right: GraphBatch | None, layers: int,
                 diagonals: tuple[list[Tensor], list[Tensor]] | None = None) -> tuple[Tensor, list[Tensor]]:
    """The node-pair NTK ``(N_left, N_right)`` after ``layers`` layers.

    Args:
        right: ``None`` for the kernel of ``left`` with itself (then the NNGP diagonals each layer needs come
            from the kernel itself).
        diagonals: for two different batches, the per-layer NNGP diagonals of each side after aggregation
            (``node_diagonals`` of each); ignored when ``right`` is ``None``.

    Returns:
        ``(theta, diagonals_of_left)``: the node-pair kernel and, for ``right=None``, ``left``'s per-layer diagonals.
    """
    symmetric = right is None
    right = left if right is None else right
    x_left, x_right = left.flat_x, right.flat_x
    sigma = x_left @ x_right.T / x_left.shape[1]
    theta = sigma
    found: list[Tensor] = []
    for layer in range(layers):
        sigma = right.propagate_rows(left.propagate_rows(sigma).T).T
        theta = right.propagate_rows(left.propagate_rows(theta).T).T
        if symmetric:
            diag_left = diag_right = sigma.diagonal()
            found.append(diag_left.detach())
        else:
            diag_left, diag_right = diagonals[0][layer], diagonals[1][layer]
        sigma, theta = relu_ntk_layer(sigma, theta, diag_left, diag_right)
    return theta, found


def graph_kernel(left: GraphBatch, right: GraphBatch | None, layers: int,
                 diagonals: tuple[list[Tensor], list[Tensor]] | None = None) -> tuple[Tensor, list[Tensor]]:
    """The graph-level NTK ``(G_left, G_right)`` (sum readout of :func:`node_kernels`) and, for ``right=None``,
    ``left``'s per-layer diagonals."""
    theta, found = node_kernels(left, right, layers, diagonals)
    right = left if right is None else right
    return right.pool_rows(left.pool_rows(theta).T).T, found
