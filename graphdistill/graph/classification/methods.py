"""Graph-level condensation methods: DosCond, KiDD and the coreset baselines at the same per-class budget.

Every method is ``function(graphs, per_class, config, run)`` returning a
:class:`~graphdistill.core.Condensed` whose ``data`` holds padded dense ``x (G, n, F)``, ``adj (G, n, n)``,
``mask (G, n)`` and ``y (G,)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from graphdistill.core.coreset import herding, kcenter
from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, Method, RunOptions
from graphdistill.core.registry import Registry
from graphdistill.graph.classification.batch import SparseGraphBatch
from graphdistill.graph.classification.data import GraphSet
from graphdistill.graph.classification.doscond import DosCondGraphConfig, condense_doscond_graphs
from graphdistill.graph.classification.evaluate import protocol, sparse_batches, train_and_test
from graphdistill.graph.classification.kidd import KiDDConfig, condense_kidd
from graphdistill.graph.classification.synthetic import per_class_labels

STRATEGIES = ("random", "herding", "kcenter")


@dataclass(frozen=True)
class GraphCoresetConfig:
    """Real training graphs per class: ``random``, or ``herding`` / ``kcenter`` on the pooled embeddings of a
    GCN (DosCond's evaluation model) trained for ``embedding_epochs`` on all training graphs."""

    strategy: str = "random"
    embedding_epochs: int = 100

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InputError(f"unknown coreset strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")


def condense_graph_coreset(graphs: GraphSet, per_class: int, config: GraphCoresetConfig,
                           run: RunOptions) -> Condensed:
    per_class_labels(graphs, per_class)  # impossible budgets fail before any training
    train_labels = graphs.y[graphs.train_idx]
    info = {}
    if config.strategy != "random":
        model_config = protocol("gcn", epochs=config.embedding_epochs, runs=1, seed=run.seed)
        train = sparse_batches(graphs, graphs.train_idx, model_config.batch_size, run.device)
        val_acc, _, model = train_and_test(model_config, train, graphs, run.seed, run.device)
        model.eval()
        with torch.no_grad():
            embeddings = model.embed(SparseGraphBatch.of(graphs, graphs.train_idx, run.device)).cpu()
        info["embedding_model_val_acc"] = val_acc
    generator = run.generator()
    picked = []
    for cls in range(graphs.num_classes):
        pool = torch.nonzero(train_labels == cls).flatten()
        if config.strategy == "random":
            chosen = pool[torch.randperm(len(pool), generator=generator)[:per_class]]
        else:
            select = herding if config.strategy == "herding" else kcenter
            chosen = pool[select(embeddings[pool], per_class)]
        picked.append(graphs.train_idx[chosen])
    selected = torch.cat(picked)
    x, adj, mask = graphs.dense(selected)
    return Condensed({"x": x, "adj": adj, "mask": mask, "y": graphs.y[selected].clone()},
                     {**info, "selected_graphs": selected.tolist()})


METHODS: Registry[Method] = Registry("method")
METHODS.register("doscond")(Method(DosCondGraphConfig, condense_doscond_graphs))
METHODS.register("kidd")(Method(KiDDConfig, condense_kidd))
for _name in STRATEGIES:
    METHODS.register(_name)(Method(GraphCoresetConfig, condense_graph_coreset))
