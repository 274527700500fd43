"""The steps every learned graph condensation method shares: GCond's start from real nodes, selection by a GCN
trained on the synthetic graph and scored on the real validation nodes, and the export of the kept state."""
from __future__ import annotations

from typing import Any, Callable

import torch

from graphdistill.core.loop import LoopResult
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.core.synthetic import sample_per_class
from graphdistill.graph.budget import Budget, allocate_labels, labels_from_allocation
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed
from graphdistill.graph.io import PROPAGATION
from graphdistill.graph.propagation import propagate_rows
from graphdistill.graph.synthetic import SyntheticGraph


def start_from_real_nodes(graph: NodeGraph, budget: Budget, run: RunOptions, structure: bool = False,
                          pge_hidden: int = 128, pge_layers: int = 3, init_hops: int = 0,
                          real_device: torch.device | None = None) -> tuple[NodeGraph, SyntheticGraph, dict[int, int]]:
    """GCond's allocation of ``budget`` to classes, a synthetic graph started from random real training nodes of
    each class (drawn from the run's generator) on ``run.device``, and the real graph on ``real_device`` (default
    ``run.device``; a method that moves its batches per step may keep it on the CPU).

    ``init_hops > 0`` starts the synthetic rows from those nodes' propagated features ``(A_hat^init_hops X)[picked]``
    instead of their raw features ``X[picked]``."""
    allocation = allocate_labels(graph.y[graph.train_idx].cpu(), budget.nodes)
    picked = sample_per_class(graph.y[graph.train_idx].cpu(), allocation, run.generator())
    graph = graph.to(real_device or run.device)
    rows = graph.train_idx[picked.to(graph.y.device)]
    features = propagate_rows(graph.operators(), graph.x, init_hops, rows) if init_hops else graph.feature_rows(rows)
    synthetic = SyntheticGraph(features.to(run.device), labels_from_allocation(allocation), structure, pge_hidden,
                               pge_layers).to(run.device)
    return graph, synthetic, allocation


def validation_selector(graph: NodeGraph, synthetic: SyntheticGraph, runs: int, seed: int,
                        real: RealGraphView | None = None) -> Callable[[], float]:
    """The loop's ``select``: mean real validation accuracy of ``runs`` GCNs trained on the current synthetic graph
    (test nodes are never looked at)."""
    real = real or RealGraphView(graph)

    def select() -> float:
        with torch.no_grad():
            x, adj, y = synthetic.export()
        return evaluate_condensed(graph, x, adj, y, EvalConfig(runs=runs, seed=seed), real=real,
                                  propagation=synthetic.propagation_matrix)["val_acc_mean"]

    return select


def export(synthetic: SyntheticGraph, result: LoopResult, allocation: dict[int, int], **facts: Any) -> Condensed:
    """The kept state as a :class:`~graphdistill.core.Condensed` on the CPU, with the loop's facts (and
    ``adjacency: propagation`` for a graph whose ``adj`` is its propagation matrix)."""
    with torch.no_grad():
        x, adj, y = synthetic.export()
    if synthetic.propagation_matrix:
        facts["adjacency"] = PROPAGATION
    return Condensed.from_loop({"x": x.cpu(), "adj": adj.cpu(), "y": y.cpu()}, result,
                               allocation={str(c): n for c, n in allocation.items()}, **facts)
