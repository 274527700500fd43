"""The structure-based neural tangent kernel (SNTK) of GC-SNTK (Wang et al., WWW 2024) between two graphs.

``aggregations`` rounds, each a neighbourhood aggregation ``K <- A1 K A2^T`` (``A`` the GCN-normalised
adjacency with self-loops) followed by ``layers`` infinitely wide ReLU layers of the NTK recursion
(:func:`graphdistill.core.kernels.relu_ntk_layer`). The kernel of each side with itself is carried along for the
diagonals the ReLU layers need, so its size is that side's nodes squared: the real side is the subgraph the
labelled nodes induce (as in GC-SNTK), not the whole graph.
"""
from __future__ import annotations

from torch import Tensor

from graphdistill.core.kernels import relu_ntk_layer


def structure_ntk(x1: Tensor, adj1: Tensor, x2: Tensor, adj2: Tensor, aggregations: int = 2,
                  layers: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """``(K12 (n1, n2), K11 (n1, n1), K22 (n2, n2))`` SNTKs of graphs ``(x1 (n1, F), adj1 (n1, n1))`` and
    ``(x2 (n2, F), adj2 (n2, n2))``; ``adj`` are normalised dense operators (identity: structure-free)."""
    sides = {"12": (x1 @ x2.T, adj1, adj2), "11": (x1 @ x1.T, adj1, adj1), "22": (x2 @ x2.T, adj2, adj2)}
    sigma = {k: s for k, (s, _, _) in sides.items()}
    theta = dict(sigma)
    for _ in range(aggregations):
        for key, (_, left, right) in sides.items():
            sigma[key] = left @ sigma[key] @ right.T
            theta[key] = left @ theta[key] @ right.T
        for _ in range(layers):
            diag1, diag2 = sigma["11"].diagonal().clone(), sigma["22"].diagonal().clone()
            for key, (a, b) in {"12": (diag1, diag2), "11": (diag1, diag1), "22": (diag2, diag2)}.items():
                sigma[key], theta[key] = relu_ntk_layer(sigma[key], theta[key], a, b)
    return theta["12"], theta["11"], theta["22"]
