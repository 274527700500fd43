import json

import pytest
import torch

from graphdistill import load_condensed
from graphdistill.core import InputError
from graphdistill.core.method import Condensed
from graphdistill.graph.io import read_condensed, read_external, save_condensed


def _graph(x, adj, y, meta):
    return Condensed({"x": x, "adj": adj, "y": y}, meta)


def test_save_and_load_round_trip(tmp_path):
    x, y = torch.randn(4, 3), torch.tensor([0, 0, 1, 2])
    adj = torch.tensor([[0, .5, 0, 0], [.5, 0, .2, 0], [0, .2, 0, 0], [0, 0, 0, 0]])
    out = save_condensed(tmp_path / "run", _graph(x, adj, y, {"method": "test"}))
    assert sorted(p.name for p in out.iterdir()) == ["graph.pt", "meta.json"]
    tensors = torch.load(out / "graph.pt", weights_only=True)
    assert set(tensors) == {"x", "adj", "y"} and torch.equal(tensors["adj"], adj)
    assert json.loads((out / "meta.json").read_text()) == {"method": "test"}
    data = load_condensed(out)
    assert data.num_nodes == 4 and torch.equal(data.x, x) and torch.equal(data.y, y)
    assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
    torch.testing.assert_close(data.edge_weight, torch.tensor([.5, .5, .2, .2]))


def test_existing_output_is_not_replaced_without_overwrite(tmp_path):
    save_condensed(tmp_path / "run", _graph(torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2), {}))
    with pytest.raises(InputError, match="already exists"):
        save_condensed(tmp_path / "run", _graph(torch.ones(2, 2), torch.zeros(2, 2), torch.zeros(2), {}))
    save_condensed(tmp_path / "run", _graph(torch.ones(2, 2), torch.zeros(2, 2), torch.zeros(2), {}), overwrite=True)
    assert torch.equal(read_condensed(tmp_path / "run")[0], torch.ones(2, 2))


def test_external_tensors_are_checked(tmp_path):
    torch.save(torch.randn(5, 3), tmp_path / "feat.pt")
    torch.save(torch.rand(4, 4), tmp_path / "adj4.pt")
    torch.save(torch.rand(5, 5).to_sparse(), tmp_path / "adj5.pt")
    x, adj, y = read_external(tmp_path / "feat.pt", tmp_path / "adj5.pt")
    assert adj.layout == torch.strided and adj.shape == (5, 5) and y is None
    with pytest.raises(InputError, match=r"adjacency shape \(4, 4\) in .*adj4.pt does not match 5 feature rows"):
        read_external(tmp_path / "feat.pt", tmp_path / "adj4.pt")
    with pytest.raises(InputError, match="feature file not found"):
        read_external(tmp_path / "missing.pt", tmp_path / "adj5.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(InputError, match="unreadable feature file"):
        read_external(tmp_path / "junk.pt", tmp_path / "adj5.pt")
