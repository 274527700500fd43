"""GC-SNTK's structure-based NTK and the methods built on kernels and random embeddings."""
import math

import torch

from graphdistill.core.method import RunOptions
from graphdistill.graph.budget import resolve_budget
from graphdistill.graph.evaluate import EvalConfig, evaluate_condensed
from graphdistill.graph.gcsntk import NodeSet
from graphdistill.graph.methods import METHODS, CoresetConfig
from graphdistill.graph.propagation import normalize_adjacency
from graphdistill.graph.sntk import structure_ntk


def _direct_sntk(x1, a1, x2, a2, k12_only=True):
    """One aggregation and one ReLU layer, pair by pair, from the definitions."""
    def aggregated(xa, aa, xb, ab, u, w):
        return sum(aa[u, v] * ab[w, z] * float(xa[v] @ xb[z]) for v in range(len(xa)) for z in range(len(xb)))

    n1, n2 = len(x1), len(x2)
    sigma = [[aggregated(x1, a1, x2, a2, u, w) for w in range(n2)] for u in range(n1)]
    d1 = [aggregated(x1, a1, x1, a1, u, u) for u in range(n1)]
    d2 = [aggregated(x2, a2, x2, a2, w, w) for w in range(n2)]
    out = torch.empty(n1, n2, dtype=torch.float64)
    for u in range(n1):
        for w in range(n2):
            norm = math.sqrt(d1[u] * d2[w])
            t = math.acos(max(-1 + 1e-6, min(1 - 1e-6, sigma[u][w] / norm)))
            relu = norm / math.pi * (math.sin(t) + (math.pi - t) * math.cos(t))
            out[u, w] = sigma[u][w] * (math.pi - t) / math.pi + relu
    return out


def test_structure_ntk_matches_the_definition_on_a_ten_node_graph():
    generator = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(10, 4, generator=generator, dtype=torch.float64), torch.randn(3, 4, generator=generator,
                                                                                        dtype=torch.float64)
    edges = torch.tensor([[0, 1], [1, 2], [2, 3], [3, 4], [4, 0], [5, 6], [6, 7], [7, 8], [8, 9], [2, 7]])
    adj = torch.zeros(10, 10, dtype=torch.float64)
    adj[edges[:, 0], edges[:, 1]] = adj[edges[:, 1], edges[:, 0]] = 1.0
    a1, a2 = normalize_adjacency(adj), torch.eye(3, dtype=torch.float64)
    k12, k11, k22 = structure_ntk(x1, a1, x2, a2, aggregations=1, layers=1)
    torch.testing.assert_close(k12, _direct_sntk(x1, a1, x2, a2), rtol=1e-9, atol=1e-9)
    assert torch.allclose(k11, k11.T) and torch.linalg.eigvalsh(k22).min() > -1e-9


def test_short_gc_sntk_beats_random_nodes(cora):
    budget = resolve_budget(cora, budget=35)
    config = METHODS["gc-sntk"].config_class(epochs=30, select_every=15)
    condensed = METHODS["gc-sntk"].condense(cora, budget, config, RunOptions(seed=0, progress=False))
    random = METHODS["random"].condense(cora, budget, CoresetConfig(), RunOptions(seed=0))
    assert condensed.data["adj"].count_nonzero() == 0 and 0.6 < condensed.meta["krr_test_acc"] <= 1
    score = {name: evaluate_condensed(cora, c.data["x"], c.data["adj"], c.data["y"], EvalConfig(runs=2))["test_acc_mean"]
             for name, c in (("gc-sntk", condensed), ("random", random))}
    assert score["gc-sntk"] > score["random"] + 0.03, score


def test_node_set_adjacency_is_the_induced_subgraph(cora):
    nodes = cora.train_idx[torch.randperm(len(cora.train_idx), generator=torch.Generator().manual_seed(0))[:60]]
    induced = cora.adjacency().index_select(0, nodes).index_select(1, nodes).to_dense()
    node_set = NodeSet(cora, cora.x, nodes)
    assert induced.sum() > 0
    torch.testing.assert_close(node_set.adj, normalize_adjacency(induced))
    torch.testing.assert_close(node_set.x, cora.x[nodes])


def test_gc_sntk_on_drawn_real_nodes_beats_random_nodes(cora):
    budget = resolve_budget(cora, budget=35)
    config = METHODS["gc-sntk"].config_class(epochs=30, select_every=15, real_nodes=70, score_nodes=200)
    condensed = METHODS["gc-sntk"].condense(cora, budget, config, RunOptions(seed=0, progress=False))
    random = METHODS["random"].condense(cora, budget, CoresetConfig(), RunOptions(seed=0))
    assert condensed.meta["krr_test_nodes"] == 200 and 0.5 < condensed.meta["krr_test_acc"] <= 1
    score = {name: evaluate_condensed(cora, c.data["x"], c.data["adj"], c.data["y"], EvalConfig(runs=2))["test_acc_mean"]
             for name, c in (("gc-sntk", condensed), ("random", random))}
    assert score["gc-sntk"] > score["random"] + 0.02, score


def test_short_gcdm_beats_random_nodes(cora):
    budget = resolve_budget(cora, budget=35)
    config = METHODS["gcdm"].config_class(epochs=30, select_every=15)
    condensed = METHODS["gcdm"].condense(cora, budget, config, RunOptions(seed=0, progress=False))
    random = METHODS["random"].condense(cora, budget, CoresetConfig(), RunOptions(seed=0))
    losses = [h["loss"] for h in condensed.history]
    assert sum(losses[-5:]) < sum(losses[:5])
    score = {name: evaluate_condensed(cora, c.data["x"], c.data["adj"], c.data["y"], EvalConfig(runs=2))["test_acc_mean"]
             for name, c in (("gcdm", condensed), ("random", random))}
    assert score["gcdm"] > score["random"] + 0.02, score
