"""Every way a node-classification graph comes in: file: (.pt, .npz, gnn-benchmark .npz), the OGB layout, csbm."""
import argparse
import gzip

import numpy as np
import pytest
import torch

from graphdistill.core import InputError
from graphdistill.graph.csbm import CSBMSpec, generate_csbm, load_csbm, parse_csbm
from graphdistill.graph.data import load_node_graph
from graphdistill.graph.modality import NODE_GRAPHS


def _toy_tensors(n=30, classes=3):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 4, generator=generator)
    y = torch.arange(n) % classes
    edges = torch.tensor([[0, 1], [1, 0], [1, 2], [2, 2], [3, 4], [3, 4], [5, 6]]).t()  # a self-loop, a duplicate
    return {"x": x, "edge_index": edges, "y": y}


def test_pt_file_with_masks_keeps_the_split_and_cleans_edges(tmp_path):
    tensors = _toy_tensors()
    masks = {k: torch.zeros(30, dtype=torch.bool) for k in ("train_mask", "val_mask", "test_mask")}
    masks["train_mask"][:10], masks["val_mask"][10:20], masks["test_mask"][20:] = True, True, True
    torch.save({**tensors, **masks}, tmp_path / "toy.pt")
    graph = load_node_graph(f"file:{tmp_path / 'toy.pt'}")
    assert torch.equal(graph.train_idx, torch.arange(10)) and torch.equal(graph.test_idx, torch.arange(20, 30))
    # undirected, no self-loop, no duplicate, sorted: 0-1, 1-2, 3-4, 5-6 in both directions
    assert graph.edge_index.t().tolist() == [[0, 1], [1, 0], [1, 2], [2, 1], [3, 4], [4, 3], [5, 6], [6, 5]]
    assert graph.facts["self_loops"] == 1 and graph.facts["duplicates"] == 1 and graph.facts["split"] == "given"
    torch.testing.assert_close(graph.x, tensors["x"])  # features as given


def test_pt_file_without_split_gets_a_seeded_stratified_one(tmp_path):
    torch.save(_toy_tensors(), tmp_path / "toy.pt")
    graph = load_node_graph(f"file:{tmp_path / 'toy.pt'}", split_seed=1)
    assert (len(graph.train_idx), len(graph.val_idx), len(graph.test_idx)) == (18, 6, 6)
    assert graph.facts["split"] == "0.6/0.2/0.2" and graph.facts["split_seed"] == 1
    planetoid_style = load_node_graph(f"file:{tmp_path / 'toy.pt'}", split="per-class:2/5/10")
    assert torch.bincount(planetoid_style.y[planetoid_style.train_idx]).tolist() == [2, 2, 2]


def test_npz_with_the_same_keys_and_index_split(tmp_path):
    tensors = _toy_tensors()
    np.savez(tmp_path / "toy.npz", x=tensors["x"].numpy(), edge_index=tensors["edge_index"].numpy(),
             y=tensors["y"].numpy(), train_idx=np.arange(5), val_idx=np.arange(5, 10), test_idx=np.arange(10, 30))
    graph = load_node_graph(f"file:{tmp_path / 'toy.npz'}")
    assert graph.num_nodes == 30 and len(graph.test_idx) == 20 and graph.edge_index.shape[1] == 8


def test_gnn_benchmark_npz_layout(tmp_path):
    import scipy.sparse as sp

    adj = sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 1, 3], [1, 2, 4])), shape=(30, 30))
    attr = sp.csr_matrix(np.eye(30, 5, dtype=np.float32))
    np.savez(tmp_path / "bench.npz", adj_data=adj.data, adj_indices=adj.indices, adj_indptr=adj.indptr,
             adj_shape=adj.shape, attr_data=attr.data, attr_indices=attr.indices, attr_indptr=attr.indptr,
             attr_shape=attr.shape, labels=np.arange(30) % 3)
    graph = load_node_graph(f"file:{tmp_path / 'bench.npz'}")
    # 3 % non-zero: the features stay sparse (CSR), never densified on the way in
    assert graph.x.layout == torch.sparse_csr and torch.equal(graph.x.to_dense(), torch.eye(30, 5))
    assert graph.edge_index.shape[1] == 6 and graph.facts["reverse_added"] == 3


def _bad(tensors, **changes):
    return {**{k: v for k, v in tensors.items() if changes.get(k, 0) is not None}, **{k: v for k, v in changes.items()
                                                                                     if v is not None}}


@pytest.mark.parametrize("change, message", [
    ({"x": None}, "lacks x"),
    ({"x": torch.rand(30)}, "x must be a non-empty 2-D float"),
    ({"x": torch.full((30, 4), float("nan"))}, "NaN"),
    ({"edge_index": torch.tensor([[0], [30]])}, "outside 0..29"),
    ({"edge_index": torch.zeros(3, 2, dtype=torch.long)}, r"edge_index must be an integer \(2, E\)"),
    ({"y": torch.arange(30) % 3 - 1}, "negative label"),
    ({"y": torch.zeros(30)}, "integer"),
    ({"y": torch.zeros(30, dtype=torch.long)}, "at least 2 classes"),
    ({"y": torch.arange(29) % 3}, r"\(30,\)"),
    ({"train_mask": torch.ones(30, dtype=torch.bool), "val_mask": torch.ones(30, dtype=torch.bool),
      "test_mask": torch.zeros(30, dtype=torch.bool)}, "test split is empty"),
    ({"train_idx": torch.arange(10), "val_idx": torch.arange(5, 15), "test_idx": torch.arange(20, 30)},
     "train and val splits overlap"),
    ({"train_mask": torch.ones(29, dtype=torch.bool), "val_mask": torch.ones(30, dtype=torch.bool),
      "test_mask": torch.ones(30, dtype=torch.bool)}, "29 entries for 30 nodes"),
    ({"train_idx": torch.arange(10)}, "needs all three"),
    ({"train_idx": torch.tensor([0, 0, 1]), "val_idx": torch.arange(5, 15), "test_idx": torch.arange(20, 30)},
     "repeat a node"),
])
def test_bad_graph_files_fail_with_one_line(tmp_path, change, message):
    torch.save(_bad(_toy_tensors(), **change), tmp_path / "bad.pt")
    with pytest.raises(InputError, match=message) as caught:
        load_node_graph(f"file:{tmp_path / 'bad.pt'}")
    assert "\n" not in str(caught.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InputError, match="graph file not found"):
        load_node_graph(f"file:{tmp_path / 'nothing.pt'}")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="unreadable graph file"):
        load_node_graph(f"file:{tmp_path / 'junk.npz'}")


def _write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")


def _tiny_ogb(root, name="ogbn_arxiv", split="time"):
    folder = root / "ogb" / name
    _write_csv(folder / "raw" / "edge.csv.gz", [[0, 1], [1, 2], [2, 3], [4, 5], [6, 7], [8, 9]])
    _write_csv(folder / "raw" / "node-feat.csv.gz", [[i * 0.5, 1.0 - i * 0.1] for i in range(12)])
    _write_csv(folder / "raw" / "node-label.csv.gz", [[i % 3] for i in range(12)])
    for part, nodes in (("train", range(0, 6)), ("valid", range(6, 9)), ("test", range(9, 12))):
        _write_csv(folder / "split" / split / f"{part}.csv.gz", [[n] for n in nodes])
    return folder


def test_ogb_layout_is_read_in_place(tmp_path):
    _tiny_ogb(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    graph = load_node_graph("ogbn-arxiv", tmp_path)
    assert graph.num_nodes == 12 and graph.num_features == 2 and graph.num_classes == 3
    assert graph.edge_index.shape[1] == 12  # made undirected, as GCond does for arxiv
    assert torch.equal(graph.val_idx, torch.tensor([6, 7, 8]))
    torch.testing.assert_close(graph.x[3], torch.tensor([1.5, 0.7]))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written under the data root


def test_ogb_missing_file_is_named(tmp_path):
    folder = _tiny_ogb(tmp_path, "ogbn_products", "sales_ranking")
    (folder / "raw" / "node-label.csv.gz").unlink()
    with pytest.raises(InputError, match="node-label.csv.gz"):
        load_node_graph("ogbn-products", tmp_path)
    with pytest.raises(InputError, match="ogbn-arxiv's OGB files"):
        load_node_graph("ogbn-arxiv", tmp_path)


def test_csbm_is_deterministic_sized_and_as_homophilous_as_asked():
    spec = parse_csbm("csbm:nodes=4000,classes=5,features=8,degree=10,homophily=0.6,snr=1.0,seed=3")
    first, second = generate_csbm(spec), generate_csbm(spec)
    assert all(torch.equal(first[k], second[k]) for k in ("x", "y", "edges"))
    assert not torch.equal(generate_csbm(CSBMSpec(**{**spec.__dict__, "seed": 4}))["edges"], first["edges"])
    graph = load_csbm("csbm:nodes=4000,classes=5,features=8,degree=10,homophily=0.6,snr=1.0,seed=3")
    assert graph.num_nodes == 4000 and graph.num_features == 8 and graph.num_classes == 5
    assert abs(graph.edge_index.shape[1] / 2 - 20_000) < 200  # N * degree / 2 undirected edges, few repeats
    homophily = (graph.y[graph.edge_index[0]] == graph.y[graph.edge_index[1]]).float().mean().item()
    assert abs(homophily - 0.6) < 0.02
    sizes = torch.bincount(graph.y)
    assert sizes[0] > 2 * sizes[-1]  # Zipf-shaped classes
    assert (len(graph.train_idx), len(graph.val_idx)) == (round(0.54 * 4000), round(0.18 * 4000)) or \
        abs(len(graph.train_idx) - 2160) <= 5


def test_csbm_presets_copy_the_real_graphs_sizes():
    arxiv, products = parse_csbm("csbm-arxiv"), parse_csbm("csbm-products")
    assert (arxiv.nodes, arxiv.classes, arxiv.features) == (169_343, 40, 128)
    assert abs(arxiv.undirected_edges() - 1_166_243) < 1_000
    assert (products.nodes, products.classes, products.features) == (2_449_029, 47, 100)
    assert abs(products.undirected_edges() - 61_859_140) < 10_000


def test_csbm_is_cached_and_the_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHDISTILL_CACHE", str(tmp_path))
    name = "csbm:nodes=300,classes=3,features=4,degree=4,homophily=0.7"
    first = load_csbm(name)
    cached = list((tmp_path / "csbm").glob("*.pt"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = load_csbm(name)
    assert cached[0].stat().st_mtime_ns == stamp and torch.equal(first.edge_index, again.edge_index)


@pytest.mark.parametrize("name, message", [
    ("csbm:nodes=10,classes=5", "at least 15 nodes"),
    ("csbm:nodes=1000,color=3", "unknown setting 'color'"),
    ("csbm:nodes=1000,classes=2,imbalance=0,homophily=0.1", "below chance"),
])
def test_bad_csbm_specs(name, message):
    with pytest.raises(InputError, match=message):
        load_csbm(name)


def test_inductive_condensation_never_sees_validation_or_test_nodes(tmp_path):
    tensors = _toy_tensors(60)
    tensors["edge_index"] = torch.randint(0, 60, (2, 400), generator=torch.Generator().manual_seed(1))
    torch.save(tensors, tmp_path / "toy.pt")
    args = argparse.Namespace(dataset=f"file:{tmp_path / 'toy.pt'}", split=None, split_seed=None,
                              setting="inductive", download=False)
    full = load_node_graph(args.dataset)
    seen = NODE_GRAPHS.load_data(args, None)
    held_out = torch.cat([full.val_idx, full.test_idx])
    assert seen.num_nodes == len(full.train_idx) and len(seen.val_idx) == len(seen.test_idx) == 0
    torch.testing.assert_close(seen.x, full.x[full.train_idx])  # only training nodes' features, in order
    assert not any(torch.equal(row, held) for row in seen.x for held in full.x[held_out])
    # its edges are exactly the full graph's edges among training nodes
    global_edges = full.train_idx[seen.edge_index]
    train = set(full.train_idx.tolist())
    expected = {tuple(e) for e in full.edge_index.t().tolist() if e[0] in train and e[1] in train}
    assert {tuple(e) for e in global_edges.t().tolist()} == expected and len(expected) > 0


def test_sparse_features_stay_sparse_and_condense_as_dense_ones(cora, tmp_path):
    """Cora's bag-of-words (1.3 % non-zero) given as a sparse tensor: kept CSR through loading, the SGC real
    side, the inductive subgraph and evaluation, with the dense graph's numbers."""
    from graphdistill.core.method import RunOptions
    from graphdistill.graph.budget import resolve_budget
    from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed
    from graphdistill.graph.methods import METHODS, CoresetConfig, GradientMatchingConfig
    from graphdistill.graph.propagation import propagate_rows

    torch.save({"x": cora.x.to_sparse(), "edge_index": cora.edge_index, "y": cora.y, "train_idx": cora.train_idx,
                "val_idx": cora.val_idx, "test_idx": cora.test_idx}, tmp_path / "cora.pt")
    sparse = load_node_graph(f"file:{tmp_path / 'cora.pt'}")
    assert sparse.x.layout == torch.sparse_csr and sparse.x.values().numel() == cora.x.count_nonzero()
    assert sparse.training_subgraph().x.layout == torch.sparse_csr
    assert sparse.memory_bytes() < cora.memory_bytes() / 10  # what placing it on a device costs
    torch.testing.assert_close(propagate_rows(sparse.operators(), sparse.x, 2, sparse.train_idx),
                               propagate_rows(cora.operators(), cora.x, 2, cora.train_idx), atol=1e-6, rtol=0)
    assert torch.equal(sparse.feature_rows(cora.val_idx[:7]), cora.x[cora.val_idx[:7]])
    assert isinstance(RealGraphView(sparse).x, type(RealGraphView(cora).x))  # the evaluator's sparse operator

    budget = resolve_budget(cora, 14)
    options = RunOptions(seed=0, progress=False)
    gcond_x = GradientMatchingConfig(epochs=2, outer_steps=2, inner_steps=0, structure=False, lr_feat=1e-2,
                                     init_hops=2, checkpoint_every=0)
    for method, config in (("gcond-x", gcond_x), ("herding", CoresetConfig(strategy="herding", iterations=30))):
        from_sparse = METHODS[method].condense(sparse, budget, config, options).data
        from_dense = METHODS[method].condense(cora, budget, config, options).data
        torch.testing.assert_close(from_sparse["x"], from_dense["x"], atol=1e-5, rtol=0)
        assert torch.equal(from_sparse["adj"], from_dense["adj"])
    quick = EvalConfig(runs=1, iterations=50)
    scores = [evaluate_condensed(graph, from_dense["x"], from_dense["adj"], from_dense["y"], quick)["test_accs"]
              for graph in (sparse, cora)]
    assert scores[0] == scores[1]
