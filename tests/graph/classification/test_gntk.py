"""The graph NTK against a Monte-Carlo estimate: the gradient inner products of wide random networks."""
import math

import torch
from torch.func import jacrev

from graphdistill.graph.classification.batch import DenseGraphBatch, SparseGraphBatch
from graphdistill.graph.classification.gntk import graph_kernel


def _tiny_graphs():
    """A path, a triangle with a pendant node and a star, with 3 random features per node."""
    generator = torch.Generator().manual_seed(0)
    edges = [[(0, 1), (1, 2)], [(0, 1), (1, 2), (0, 2), (2, 3)], [(0, 1), (0, 2), (0, 3), (0, 4)]]
    sizes = [3, 4, 5]
    n = max(sizes)
    x = torch.zeros(3, n, 3)
    adj = torch.zeros(3, n, n)
    mask = torch.zeros(3, n, dtype=torch.bool)
    for g, (size, pairs) in enumerate(zip(sizes, edges)):
        x[g, :size] = torch.randn(size, 3, generator=generator)
        mask[g, :size] = True
        for a, b in pairs:
            adj[g, a, b] = adj[g, b, a] = 1.0
    return DenseGraphBatch(x, adj, mask)


def _finite_network_ntk(batch: DenseGraphBatch, width: int, layers: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    sizes = [batch.x.shape[-1]] + [width] * layers
    params = {f"w{i}": torch.randn(a, b, generator=generator) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))}
    params["v"] = torch.randn(width, generator=generator)

    def outputs(p):
        h = batch.x
        for i, d_in in enumerate(sizes[:-1]):
            h = math.sqrt(2.0) * torch.relu(batch.gcn(h) @ p[f"w{i}"] / math.sqrt(d_in))
        return batch.pool(h, "sum") @ p["v"] / math.sqrt(width)

    jacobian = jacrev(outputs)(params)
    flat = torch.cat([j.reshape(j.shape[0], -1) for j in jacobian.values()], dim=1)
    return flat @ flat.T


def test_graph_ntk_matches_wide_networks():
    batch = _tiny_graphs()
    analytic, _ = graph_kernel(batch, None, layers=2)
    sampled = torch.stack([_finite_network_ntk(batch, 2048, 2, seed) for seed in range(8)]).mean(0)
    assert torch.allclose(sampled, analytic, rtol=0.05, atol=0.05 * float(analytic.diagonal().mean()))


def test_cross_kernel_of_two_layouts_equals_the_joint_kernel():
    """Sparse real graphs against dense synthetic ones give the entries of the kernel of all graphs together."""
    batch = _tiny_graphs()
    joint, diagonals = graph_kernel(batch, None, layers=3)
    xs, edges, owner = [], [], []
    offset = 0
    for g in range(2):
        size = int(batch.mask[g].sum())
        xs.append(batch.x[g, :size])
        edges.append(batch.adj[g, :size, :size].nonzero().T + offset)
        owner.append(torch.full((size,), g))
        offset += size
    edge_index = torch.cat(edges, 1)
    sparse = SparseGraphBatch(torch.cat(xs), edge_index, torch.ones(edge_index.shape[1]), torch.cat(owner), 2)
    _, sparse_diagonals = graph_kernel(sparse, None, layers=3)
    cross, _ = graph_kernel(sparse, batch, layers=3, diagonals=(sparse_diagonals, diagonals))
    assert torch.allclose(cross, joint[:2], rtol=1e-5)
