"""GDEM: the real eigenpairs, the eigenbasis loss in closed form, a signed propagation matrix on disk, and a short
run against random nodes."""
import json
import subprocess
import sys

import pytest
import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import RunOptions
from graphdistill.graph.budget import resolve_budget
from graphdistill.graph.evaluate import EvalConfig, evaluate_condensed
from graphdistill.graph.gdem import class_means, subspace_covariance_mismatch
from graphdistill.graph.io import read_condensed
from graphdistill.graph.methods import METHODS, CoresetConfig
from graphdistill.graph.spectral import largest_component, laplacian_eigenpairs


def test_lanczos_eigenpairs_equal_the_dense_decomposition_on_coras_largest_component(cora):
    nodes = largest_component(cora)
    assert len(nodes) == 2485  # Cora's giant component
    dense_values, dense_vectors = laplacian_eigenpairs(cora, nodes, 8, 4)
    values, vectors = laplacian_eigenpairs(cora, nodes, 8, 4, dense_limit=0)
    torch.testing.assert_close(values, dense_values, rtol=0, atol=1e-8)
    assert values[0].abs() < 1e-10 and values[-1] < 2 and bool((values[1:] >= values[:-1]).all())
    # each eigenvector up to its sign (the eigenvalues here are simple)
    alignment = (vectors * dense_vectors).sum(0).abs()
    torch.testing.assert_close(alignment, torch.ones_like(alignment), rtol=0, atol=1e-6)
    torch.testing.assert_close(vectors.t() @ vectors, torch.eye(12, dtype=torch.float64), rtol=0, atol=1e-10)
    with pytest.raises(InputError, match="cannot take 2485 \\+ 1 eigenpairs"):
        laplacian_eigenpairs(cora, nodes, 2485, 1)


def test_subspace_covariance_mismatch_equals_the_mean_over_the_covariance_matrices():
    generator = torch.Generator().manual_seed(0)
    real, synthetic = torch.randn(5, 7, generator=generator), torch.randn(5, 7, generator=generator)
    outer = lambda rows: rows[:, :, None] * rows[:, None, :]  # noqa: E731
    expected = ((outer(real) - outer(synthetic)) ** 2).mean()
    torch.testing.assert_close(subspace_covariance_mismatch(real, synthetic), expected)
    assert float(subspace_covariance_mismatch(real, -real)) < 1e-12  # a direction's sign does not matter


def test_class_means_are_unit_length_means_of_each_class():
    rows = torch.tensor([[3.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    means = class_means(rows, torch.tensor([0, 0, 1]), torch.tensor([1, 0]))
    torch.testing.assert_close(means, torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_short_gdem_beats_random_nodes_and_its_signed_graph_is_evaluated_as_given(cora, data_root, tmp_path):
    budget = resolve_budget(cora, budget=35)
    config = METHODS["gdem"].config_class(epochs=200, select_every=100, init_steps=300)
    condensed = METHODS["gdem"].condense(cora, budget, config, RunOptions(seed=0, progress=False))
    random = METHODS["random"].condense(cora, budget, CoresetConfig(), RunOptions(seed=0))
    adj = condensed.data["adj"]
    assert condensed.meta["adjacency"] == "propagation" and bool((adj < 0).any())
    torch.testing.assert_close(adj, adj.t())
    # the propagation matrix has the real eigenvalues' 1 - lambda as its spectrum (the eigenvectors stay orthonormal)
    spectrum = 1 - torch.tensor(condensed.meta["eigenpairs"]["eigenvalues"])
    torch.testing.assert_close(torch.linalg.eigvalsh(adj.double()).float(), spectrum.sort().values, rtol=0, atol=0.1)
    score = {name: evaluate_condensed(cora, c.data["x"], c.data["adj"], c.data["y"], EvalConfig(runs=2),
                                      propagation=name == "gdem")["test_acc_mean"]
             for name, c in (("gdem", condensed), ("random", random))}
    assert score["gdem"] > score["random"] + 0.03, score
    with pytest.raises(InputError, match="non-negative"):
        evaluate_condensed(cora, condensed.data["x"], adj, condensed.data["y"], EvalConfig(runs=1))

    out = tmp_path / "gdem"
    done = subprocess.run([sys.executable, "-m", "graphdistill.cli", "condense", "graph", "--dataset", "cora",
                           "--method", "gdem", "--budget", "35", "--set", "epochs=20", "--set", "select_every=0",
                           "--set", "init_steps=20", "--out", str(out), "--quiet", "--data-root", str(data_root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
    x, stored, _, meta = read_condensed(out)
    assert meta["adjacency"] == "propagation" and bool((stored < 0).any())
    done = subprocess.run([sys.executable, "-m", "graphdistill.cli", "evaluate", "graph", "--dataset", "cora",
                           "--condensed", str(out), "--runs", "1", "--json", "--quiet", "--data-root", str(data_root)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
    assert 0.3 < json.loads(done.stdout)["test_acc_mean"] <= 1
