"""Graph sets: TU loading, the split, both batch layouts against PyG's GCN, and the saved format."""
import pytest
import torch
from torch_geometric.nn import GCNConv, global_mean_pool

from graphdistill.core.errors import InputError
from graphdistill.graph.classification.batch import DenseGraphBatch, SparseGraphBatch
from graphdistill.core.split import stratified_split
from graphdistill.graph.classification.data import load_graph_set
from graphdistill.graph.classification.models import GraphClassifier


@pytest.fixture(scope="module")
def mutag(data_root):
    return load_graph_set("MUTAG", data_root)


def test_mutag_is_read_in_place(mutag):
    assert mutag.num_graphs == 188 and mutag.num_classes == 2 and mutag.num_features == 7  # one-hot atom types
    assert mutag.ptr[-1] == mutag.x.shape[0] == 3371
    assert torch.bincount(mutag.y).tolist() == [63, 125]
    assert torch.equal(mutag.x.sum(1), torch.ones(mutag.x.shape[0]))
    x, edges = mutag.graph(0)
    assert x.shape == (17, 7) and edges.min() >= 0 and edges.max() < 17


def test_split_is_stratified_disjoint_and_deterministic(mutag):
    train, val, test = stratified_split(mutag.y, seed=0)
    assert (len(train), len(val), len(test)) == (152, 18, 18)
    assert len(torch.cat([train, val, test]).unique()) == 188
    for part in (val, test):
        assert torch.bincount(mutag.y[part]).tolist() == [6, 12]  # 10 % of 63 and of 125, rounded
    again = stratified_split(mutag.y, seed=0)
    other = stratified_split(mutag.y, seed=1)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))
    assert not torch.equal(test, other[2])


def _pyg_gcn_embedding(model: GraphClassifier, x, edge_index, edge_weight, batch):
    h = x
    for weight, bias in zip(model.weights, model.biases):
        conv = GCNConv(weight.in_features, weight.out_features)
        conv.lin.weight.data.copy_(weight.weight)
        conv.bias.data.copy_(bias)
        h = torch.relu(conv(h, edge_index, edge_weight))
    return global_mean_pool(h, batch)


def test_dense_and_sparse_forwards_equal_pyg_gcn(mutag):
    torch.manual_seed(0)
    model = GraphClassifier(7, 16, 2, layers=3)
    indices = torch.tensor([0, 5, 17, 100])
    sparse = SparseGraphBatch.of(mutag, indices)
    expected = _pyg_gcn_embedding(model, sparse.x, sparse.edge_index, sparse.edge_weight, sparse.batch)
    assert torch.allclose(model.embed(sparse), expected, atol=1e-5)
    x, adj, mask = mutag.dense(indices)
    assert torch.allclose(model.embed(DenseGraphBatch(x, adj, mask)), expected, atol=1e-5)


def test_weighted_dense_adjacency_equals_pyg_edge_weights():
    torch.manual_seed(1)
    weights = torch.rand(2, 5, 5)
    adj = (weights + weights.transpose(1, 2)) / 2 * (1 - torch.eye(5))
    x = torch.randn(2, 5, 4)
    model = GraphClassifier(4, 8, 3, layers=2)
    dense = model.embed(DenseGraphBatch(x, adj, torch.ones(2, 5, dtype=torch.bool)))
    edge_index = torch.cat([adj[g].nonzero().T + 5 * g for g in range(2)], 1)
    edge_weight = adj.reshape(-1, 5)[edge_index[0], edge_index[1] % 5]
    expected = _pyg_gcn_embedding(model, x.reshape(10, 4), edge_index, edge_weight, torch.arange(2).repeat_interleave(5))
    assert torch.allclose(dense, expected, atol=1e-5)


def test_padded_graphs_run_sparse_as_they_run_dense(mutag):
    torch.manual_seed(2)
    x, adj, mask = mutag.dense(torch.tensor([3, 40, 77]))
    adj = adj * torch.rand(adj.shape)  # weighted
    adj = (adj + adj.transpose(1, 2)) / 2
    sparse = SparseGraphBatch.from_padded(x, adj, mask)
    assert sparse.x.shape[0] == int(mask.sum()) < mask.numel() and sparse.num_graphs == 3
    for arch, pooling in (("gcn", "mean"), ("gin", "sum")):
        model = GraphClassifier(7, 16, 2, layers=3, arch=arch, pooling=pooling)
        torch.testing.assert_close(model(sparse), model(DenseGraphBatch(x, adj, mask)), atol=1e-5, rtol=1e-5)


def test_file_sets_are_validated(tmp_path):
    good = {"x": torch.randn(9, 2), "edge_index": torch.tensor([[0, 1, 3], [1, 2, 4]]),
            "ptr": torch.tensor([0, 3, 6, 9]), "y": torch.tensor([0, 1, 0])}
    torch.save({**good, "ptr": torch.arange(10), "edge_index": torch.zeros(2, 0, dtype=torch.long),
                "y": torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0])}, tmp_path / "nine.pt")
    graphs = load_graph_set(f"file:{tmp_path / 'nine.pt'}")
    assert graphs.num_graphs == 9 and graphs.split["seed"] == 0
    torch.save({**good, "edge_index": torch.tensor([[2], [3]])}, tmp_path / "across.pt")
    with pytest.raises(InputError, match="joins nodes of two different graphs"):
        load_graph_set(f"file:{tmp_path / 'across.pt'}")
    torch.save({**good, "ptr": torch.tensor([0, 3, 3, 9])}, tmp_path / "empty.pt")
    with pytest.raises(InputError, match="graph 2 of 3 has no nodes"):
        load_graph_set(f"file:{tmp_path / 'empty.pt'}")
    torch.save({k: v for k, v in good.items() if k != "ptr"}, tmp_path / "nobatch.pt")
    with pytest.raises(InputError, match="batch or ptr"):
        load_graph_set(f"file:{tmp_path / 'nobatch.pt'}")
