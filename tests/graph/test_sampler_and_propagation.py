import torch

from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_whole
from graphdistill.graph.models import ARCHITECTURES
from graphdistill.graph.propagation import GraphOperators, csr_rows, normalize_adjacency, propagate_rows
from graphdistill.graph.sampler import NeighbourSampler


def test_sampler_keeps_fanouts_true_neighbours_and_is_deterministic(cora):
    sampler = NeighbourSampler(cora.edge_index, cora.num_nodes, (4, 2))
    seeds = torch.tensor([0, 7, 1500, 2000])
    first = sampler.sample(seeds, torch.Generator().manual_seed(0))
    again = sampler.sample(seeds, torch.Generator().manual_seed(0))
    other = sampler.sample(seeds, torch.Generator().manual_seed(1))
    assert torch.equal(first.nodes, again.nodes) and torch.equal(first.edge_index, again.edge_index)
    assert not torch.equal(first.edge_index, other.edge_index) or not torch.equal(first.nodes, other.nodes)
    assert torch.equal(first.nodes[:4], seeds) and first.num_seeds == 4
    assert len(torch.unique(first.nodes)) == len(first.nodes)
    real_edges = set(map(tuple, cora.edge_index.t().tolist()))
    sampled = first.nodes[first.edge_index].t().tolist()
    assert all(tuple(edge) in real_edges for edge in sampled)
    degree = torch.bincount(cora.edge_index[0], minlength=cora.num_nodes)
    per_seed = torch.bincount(first.edge_index[0][:sum(min(4, int(degree[s])) for s in seeds)], minlength=4)
    assert per_seed.tolist() == [min(4, int(degree[s])) for s in seeds]  # fan-out respected at the first layer
    targets = torch.bincount(first.edge_index[0], minlength=len(first.nodes))
    assert int(targets[4:].max()) <= 2  # second-layer nodes keep at most 2 neighbours each
    assert len(set(map(tuple, first.edge_index.t().tolist()))) == first.edge_index.shape[1]  # no repeats


def test_row_restricted_propagation_equals_the_dense_product(cora):
    ops = GraphOperators(cora.adjacency())
    dense = normalize_adjacency(cora.adjacency().to_dense())
    rows = torch.tensor([3, 0, 2707, 99])
    expected = (dense @ dense @ cora.x)[rows]
    torch.testing.assert_close(propagate_rows(ops, cora.x, 2, rows), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(propagate_rows(ops, cora.x, 2), dense @ dense @ cora.x, atol=1e-6, rtol=0)
    torch.testing.assert_close(csr_rows(ops("gcn").matrix, rows).to_dense(), dense[rows], atol=1e-7, rtol=0)


def test_models_scored_at_a_few_rows_match_the_full_forward(cora):
    real = RealGraphView(cora)
    rows = cora.val_idx[:50]
    for arch in ARCHITECTURES:
        torch.manual_seed(0)
        model = ARCHITECTURES[arch](cora.num_features, 16, cora.num_classes).eval()
        with torch.no_grad():
            torch.testing.assert_close(real.forward(model, rows), model(real.x, real.ops)[rows], atol=1e-5, rtol=0)


def test_cora_whole_graph_evaluation_is_pinned(cora):
    """Seed 0 of GCond's protocol on the whole Cora graph: the value before the large-graph changes (80.9 % test,
    80.8 % validation). The CPU's kernels decide the float summation order, and over 600 iterations that moves a
    few of the 1,000 test nodes (an AMD EPYC machine gives 80.7 %), so the pin allows 3 nodes either way."""
    result = evaluate_whole(cora, EvalConfig(runs=1, seed=0))
    assert abs(result["test_accs"][0] - 0.809) <= 0.0031 and abs(result["val_acc_mean"] - 0.808) <= 0.0061
