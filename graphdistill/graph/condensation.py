"""The steps every learned graph condensation method shares: GCond's start from real nodes (drawn at random or
picked by a coreset), selection by a GCN trained on the synthetic graph and scored on the real validation nodes,
and the export of the kept state."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

from graphdistill.core.atomic import cached_torch_file
from graphdistill.core.coreset import herding, kcenter
from graphdistill.core.data_root import cache_dir
from graphdistill.core.errors import InputError
from graphdistill.core.loop import LoopResult
from graphdistill.core.method import Condensed, RunOptions, data_digest, fingerprint_digest
from graphdistill.core.synthetic import sample_per_class
from graphdistill.graph.budget import Budget, allocate_labels, labels_from_allocation
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed, fit_with_validation
from graphdistill.graph.io import PROPAGATION
from graphdistill.graph.propagation import propagate_rows
from graphdistill.graph.synthetic import SyntheticGraph


CORESET_STRATEGIES = ("random", "herding", "kcenter")


def coreset_embeddings(graph: NodeGraph, run: RunOptions, hidden: int = 256, dropout: float = 0.5,
                       iterations: int = 600) -> tuple[Tensor, float, bool]:
    """``(embeddings (n_train, C), validation accuracy, read from the cache)``: the outputs on the training nodes of
    GCond's coreset GCN (``hidden``, ``dropout``, ``iterations``) trained on the whole graph.

    The GCN depends on the graph, the seed, its settings and the device kind, not on the budget or on what picks
    nodes from it, so it is trained once per such key and its embeddings are cached under
    :func:`~graphdistill.core.data_root.cache_dir` (on a large graph that training is most of a coreset's cost).
    It is initialised from ``run.seed`` in a forked random state, so a cached read and a training leave the
    caller's random streams alike."""
    key = fingerprint_digest({"graph": data_digest(graph.x, graph.edge_index, graph.y, graph.train_idx, graph.val_idx),
                              "seed": run.seed, "device": graph.x.device.type, "hidden": hidden,
                              "dropout": dropout, "iterations": iterations})

    def train() -> dict[str, Any]:
        real = RealGraphView(graph)
        accelerators = [graph.x.device] if graph.x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=accelerators):
            torch.manual_seed(run.seed)
            model, val = fit_with_validation(EvalConfig(hidden=hidden, dropout=dropout, iterations=iterations), real,
                                             real.x, real.ops, graph.y[graph.train_idx], graph.train_idx)
        with torch.no_grad():
            return {"embeddings": model(real.x, real.ops)[graph.train_idx].cpu(), "val_acc": val}

    stored, cached = cached_torch_file(cache_dir() / "coreset-embeddings" / f"{key[:32]}.pt", key,
                                       "cached coreset embeddings", train)
    return stored["embeddings"], stored["val_acc"], cached


def pick_training_nodes(graph: NodeGraph, allocation: dict[int, int], strategy: str, run: RunOptions,
                        hidden: int = 256, dropout: float = 0.5, iterations: int = 600,
                        facts: dict[str, Any] | None = None) -> Tensor:
    """Positions in ``graph.train_idx`` of ``allocation[c]`` training nodes of each class ``c`` (classes in
    allocation order): drawn from the run's generator (``random``) or picked by ``herding`` / ``kcenter`` on
    :func:`coreset_embeddings`, whose validation accuracy and cache use go into ``facts``."""
    train_labels = graph.y[graph.train_idx].cpu()
    if strategy not in CORESET_STRATEGIES:
        raise InputError(f"unknown start {strategy!r}; choose one of {', '.join(CORESET_STRATEGIES)}")
    for cls, count in allocation.items():
        available = int((train_labels == cls).sum())
        if count > available:
            raise InputError(f"class {cls} has {available} training nodes but {count} were allocated")
    if strategy == "random":
        return sample_per_class(train_labels, allocation, run.generator())
    embeddings, val, cached = coreset_embeddings(graph, run, hidden, dropout, iterations)
    if facts is not None:
        facts.update(embedding_model_val_acc=val, embeddings_cached=cached)
    select = herding if strategy == "herding" else kcenter
    parts = []
    for cls, count in allocation.items():
        pool = torch.nonzero(train_labels == cls).flatten()
        parts.append(pool[select(embeddings[pool], count)])
    return torch.cat(parts)


def start_from_real_nodes(graph: NodeGraph, budget: Budget, run: RunOptions, structure: bool = False,
                          pge_hidden: int = 128, pge_layers: int = 3, init_hops: int = 0,
                          real_device: torch.device | None = None,
                          start: str = "random") -> tuple[NodeGraph, SyntheticGraph, dict[int, int]]:
    """GCond's allocation of ``budget`` to classes, a synthetic graph started from real training nodes of each
    class on ``run.device``, and the real graph on ``real_device`` (default ``run.device``; a method that moves its
    batches per step may keep it on the CPU).

    ``start`` picks those nodes (:func:`pick_training_nodes`): ``random`` (GCond's draw from the run's generator),
    ``herding`` or ``kcenter`` (SFGC's and GEOM's coreset start). ``init_hops > 0`` starts the synthetic rows from
    those nodes' propagated features ``(A_hat^init_hops X)[picked]`` instead of their raw features ``X[picked]``."""
    allocation = allocate_labels(graph.y[graph.train_idx].cpu(), budget.nodes)
    graph = graph.to(real_device or run.device)
    picked = pick_training_nodes(graph, allocation, start, run)
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
