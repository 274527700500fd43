import itertools

import pytest
import torch
import torch.nn.functional as F

from graphdistill.graph.models import ARCHITECTURES
from graphdistill.graph.propagation import GraphOperators, normalize_adjacency
from graphdistill.graph.structure import PairwiseStructureGenerator


def _naive_pge(generator, x):
    """GCond's PGE literally: the MLP on the (n^2, 2F) concatenation of every ordered pair."""
    n = x.shape[0]
    pairs = torch.tensor(list(itertools.product(range(n), range(n)))).t()
    h = torch.cat([x[pairs[0]], x[pairs[1]]], dim=1)
    for i, linear in enumerate(generator.linears):
        h = linear(h)
        if i < len(generator.linears) - 1:
            h = F.relu(generator.norms[i](h))
    adj = h.reshape(n, n)
    adj = torch.sigmoid((adj + adj.t()) / 2)
    return adj - torch.diag(torch.diag(adj))


def test_structure_generator_is_symmetric_with_zero_diagonal():
    torch.manual_seed(0)
    adj = PairwiseStructureGenerator(12, hidden=16, layers=3)(torch.randn(9, 12))
    assert adj.shape == (9, 9)
    torch.testing.assert_close(adj, adj.t())
    assert torch.all(torch.diag(adj) == 0)
    off = adj[~torch.eye(9, dtype=torch.bool)]
    assert torch.all((off > 0) & (off < 1))


def test_factorized_first_layer_equals_pair_concatenation():
    torch.manual_seed(1)
    generator = PairwiseStructureGenerator(20, hidden=16, layers=3)
    x = torch.randn(8, 20, requires_grad=True)
    fast, naive = generator(x), _naive_pge(generator, x)
    torch.testing.assert_close(fast, naive, atol=1e-6, rtol=1e-5)
    weights = torch.randn(8, 8)
    g_fast = torch.autograd.grad((fast * weights).sum(), [x, *generator.parameters()])
    g_naive = torch.autograd.grad((naive * weights).sum(), [x, *generator.parameters()])
    for a, b in zip(g_fast, g_naive):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["gcn", "sym", "row"])
def test_dense_and_sparse_normalisations_agree(kind):
    torch.manual_seed(0)
    adj = (torch.rand(7, 7) > 0.6).float()
    adj = adj + adj.t()
    adj[3] = 0
    adj[:, 3] = 0  # an isolated node: degree 0 must not give inf
    dense = normalize_adjacency(adj, kind)
    sparse = normalize_adjacency(adj.to_sparse(), kind).to_dense()
    torch.testing.assert_close(dense, sparse)
    assert torch.isfinite(dense).all()


def test_gcn_normalisation_exact_values():
    adj = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    torch.testing.assert_close(normalize_adjacency(adj, "gcn"), torch.full((2, 2), 0.5))
    torch.testing.assert_close(normalize_adjacency(torch.zeros(3, 3), "gcn"), torch.eye(3))


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_architecture_runs_on_dense_and_sparse_graphs(arch):
    torch.manual_seed(0)
    model = ARCHITECTURES[arch](10, 16, 4, dropout=0.5).eval()
    adj = (torch.rand(6, 6) > 0.5).float()
    adj = (adj + adj.t()).clamp(max=1)
    x = torch.rand(6, 10)
    dense_out = model(x, GraphOperators(adj))
    sparse_out = model(x.to_sparse_csr(), GraphOperators(adj.to_sparse()))
    assert dense_out.shape == (6, 4)
    torch.testing.assert_close(dense_out.exp().sum(1), torch.ones(6))
    torch.testing.assert_close(dense_out, sparse_out, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("sparse_features", [False, True])
def test_gcn_inference_in_row_chunks_equals_the_training_forward(sparse_features):
    # 20,000 nodes: more than one 16,384-row chunk, so the no-grad evaluation path really splits
    torch.manual_seed(0)
    n, features = 20_000, 8
    edges = torch.randint(0, n, (2, 60_000))
    adj = torch.sparse_coo_tensor(torch.cat([edges, edges.flip(0)], 1), torch.ones(120_000), (n, n)).coalesce()
    adj = torch.sparse_coo_tensor(adj.indices(), torch.ones_like(adj.values()), (n, n))
    x = torch.randn(n, features)
    if sparse_features:
        x = x.relu().to_sparse()
    model = ARCHITECTURES["gcn"](features, 16, 3).eval()
    ops, rows = GraphOperators(adj, symmetric=True), torch.arange(0, n, 7)
    with_grad = model(x, ops, rows)
    with torch.no_grad():
        chunked = model(x, ops, rows)
    assert not chunked.requires_grad and with_grad.requires_grad
    torch.testing.assert_close(chunked, with_grad.detach(), atol=1e-5, rtol=1e-5)
