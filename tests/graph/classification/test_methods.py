"""Graph-level methods end to end: condense, save, load, evaluate; DosCond against random real graphs."""
import json

import pytest
import torch
from torch_geometric.data import Batch

import graphdistill
from graphdistill.cli import main
from graphdistill.core.method import RunOptions
from graphdistill.graph.classification.data import load_graph_set
from graphdistill.graph.classification.evaluate import dense_batches, evaluate_runs, protocol
from graphdistill.graph.classification.methods import METHODS


@pytest.fixture(scope="module")
def mutag(data_root):
    return load_graph_set("MUTAG", data_root)


@pytest.mark.parametrize("method", ["doscond", "kidd", "random", "herding", "kcenter"])
def test_every_method_writes_a_loadable_set(method, data_root, tmp_path, capsys):
    settings = {"doscond": ["epochs=3"], "kidd": ["epochs=3"], "herding": ["embedding_epochs=2"],
                "kcenter": ["embedding_epochs=2"], "random": []}[method]
    out = tmp_path / method
    argv = ["condense", "graphs", "--data-root", str(data_root), "--dataset", "mutag", "--method", method,
            "--per-class", "3", "--out", str(out), "--quiet"]
    assert main(argv + [a for s in settings for a in ("--set", s)]) == 0
    tensors = torch.load(out / "graphs.pt", weights_only=True)
    assert tensors["x"].shape[0] == 6 and tensors["x"].shape[2] == 7
    assert tensors["y"].tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(tensors["adj"], tensors["adj"].transpose(1, 2))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["modality"] == "graphs" and meta["split"]["seed"] == 0 and meta["budget"] == 3
    graphs = graphdistill.load_condensed(out)
    assert len(graphs) == 6 and Batch.from_data_list(graphs).num_graphs == 6
    capsys.readouterr()
    assert main(["evaluate", "graphs", "--data-root", str(data_root), "--dataset", "MUTAG", "--condensed", str(out),
                 "--runs", "1", "--epochs", "2", "--arch", "gin", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= result["test_acc_mean"] <= 1.0 and result["train_graphs"] == 6 and result["arch"] == "gin"


def test_interrupted_doscond_resumes_to_the_same_result(mutag, tmp_path):
    method = METHODS["doscond"]
    config = method.config_class(epochs=6, lr_drop_epoch=3, checkpoint_every=2, real_batch=32)
    straight = method.condense(mutag, 2, config, RunOptions(seed=3, progress=False))

    calls = []

    def interrupt(epoch, loss, synthetic):
        calls.append(epoch)
        if len(calls) == 5:  # the fifth epoch, in the phase after the learning-rate cut
            raise KeyboardInterrupt

    checkpoint = tmp_path / "checkpoint.pt"
    with pytest.raises(KeyboardInterrupt):
        method.condense(mutag, 2, config, RunOptions(seed=3, progress=False, checkpoint_path=checkpoint,
                                                     callback=interrupt))
    resumed = method.condense(mutag, 2, config, RunOptions(seed=3, progress=False, checkpoint_path=checkpoint,
                                                            resume=True))
    assert torch.equal(straight.data["x"], resumed.data["x"]) and torch.equal(straight.data["adj"], resumed.data["adj"])
    assert resumed.meta["resumed_from"] == 2  # the first phase's last checkpoint


def test_short_doscond_run_beats_random_graphs_on_mutag(mutag):
    """Four graphs per class: DosCond's graphs (initialised from random real ones) against random real graphs,
    each scored by DosCond's GCN protocol (shortened) over 4 runs and 2 condensation seeds (MUTAG's lr_adj 0.1)."""
    config = protocol("gcn", epochs=150, runs=4)
    scores = {}
    for name, settings in (("doscond", {"epochs": 200, "lr_drop_epoch": 200, "lr_adj": 0.1}), ("random", {})):
        method = METHODS[name]
        accuracies = []
        for seed in (0, 1):
            data = method.condense(mutag, 4, method.config_class(**settings), RunOptions(seed=seed, progress=False)).data
            train = dense_batches(data["x"], data["adj"], data["mask"], data["y"], config.batch_size)
            accuracies.append(evaluate_runs(config, train, mutag, torch.device("cpu"))["test_acc_mean"])
        scores[name] = sum(accuracies) / 2
    assert scores["doscond"] > scores["random"] + 0.02, scores
