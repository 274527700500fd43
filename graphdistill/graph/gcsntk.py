"""GC-SNTK (Wang et al., WWW 2024): condensation by kernel ridge regression with the structure-based NTK.

The synthetic nodes are structure-free (the released graphs are the paper's "X" variant) and hold fixed
one-hot labels. Each step fits KRR on the synthetic nodes with the SNTK and scores how well it predicts the
labels of the real training nodes (MSE); Adam moves the synthetic features. The real side is GCN-propagated
``hops`` times on the whole graph, then aggregated over the subgraph the training nodes induce (as in the
paper's code); the synthetic features stay in the raw feature space, so a GCN trained on them reads the
real graph's features as it was trained to.

The SNTK carries each side's kernel with itself, so the real side costs its node count squared. On large graphs
``real_nodes`` draws that many training nodes at every step (their induced subgraph is the aggregation's) and
``score_nodes`` scores a fixed draw of validation and test nodes instead of all of them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core.errors import InputError
from graphdistill.core.kernels import krr_fit
from graphdistill.core.loop import BilevelSchedule, WithoutInnerTraining, run_bilevel
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.graph.budget import Budget
from graphdistill.graph.condensation import export, start_from_real_nodes
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.propagation import normalize_adjacency, propagate_rows
from graphdistill.graph.sntk import structure_ntk
from graphdistill.graph.synthetic import SyntheticGraph


@dataclass(frozen=True)
class GCSNTKConfig:
    """GC-SNTK's settings (the paper's Cora command: K=2, L=2, ridge 1, Adam lr 0.01, 200 epochs).

    Args:
        epochs, lr: Adam steps on the synthetic features and their learning rate.
        ridge: relative KRR ridge (``ridge * tr(K) / n``).
        aggregations, layers: SNTK rounds of neighbourhood aggregation and ReLU layers per round.
        hops: GCN propagations of the real features on the whole graph before the kernel.
        select_every: every this many epochs score the synthetic nodes by KRR accuracy on the real validation
            nodes and keep the best state (0: the last).
        checkpoint_every: epochs between checkpoints.
        real_nodes: training nodes drawn at every step for the loss (0: all of them, every step).
        score_nodes: validation and test nodes scored by KRR, a draw fixed by the seed (0: all of them).
    """

    epochs: int = 200
    lr: float = 0.01
    ridge: float = 1.0
    aggregations: int = 2
    layers: int = 2
    hops: int = 2
    select_every: int = 20
    checkpoint_every: int = 20
    real_nodes: int = 0
    score_nodes: int = 0

    def __post_init__(self) -> None:
        if (self.epochs < 0 or self.lr <= 0 or self.ridge <= 0
                or min(self.aggregations, self.layers, self.hops, self.real_nodes, self.score_nodes) < 0):
            raise InputError(f"impossible GC-SNTK settings: {self}")


class NodeSet:
    """Real nodes as the SNTK sees them: propagated features and the normalised subgraph they induce."""

    def __init__(self, graph: NodeGraph, propagated: Tensor, nodes: Tensor):
        self.x = propagated[nodes]
        self.adj = normalize_adjacency(graph.induced_adjacency(nodes))
        self.y = graph.y[nodes]


def krr_predictions(real: NodeSet, x: Tensor, targets: Tensor, config: GCSNTKConfig) -> Tensor:
    """``(n_real, classes)`` predictions for ``real`` of KRR with the SNTK fitted on the structure-free synthetic
    nodes ``x`` and their ``targets``."""
    k_rs, _, k_ss = structure_ntk(real.x, real.adj, x, torch.eye(len(x), device=x.device), config.aggregations,
                                  config.layers)
    return k_rs @ krr_fit(k_ss, targets, config.ridge, escalate=True)


def krr_accuracy(real: NodeSet, x: Tensor, y: Tensor, num_classes: int, config: GCSNTKConfig) -> float:
    """Accuracy on ``real`` of :func:`krr_predictions` with one-hot targets of the labels ``y``."""
    with torch.no_grad():
        predictions = krr_predictions(real, x, F.one_hot(y, num_classes).to(x.dtype), config)
    return float((predictions.argmax(1) == real.y).float().mean())


def draw(nodes: Tensor, count: int, generator: torch.Generator | None = None) -> Tensor:
    """``count`` of ``nodes`` drawn without replacement (all of them when ``count`` is 0 or not fewer)."""
    if count == 0 or count >= len(nodes):
        return nodes
    return nodes[torch.randperm(len(nodes), generator=generator)[:count].to(nodes.device)]


class KernelRegressionMatching(WithoutInnerTraining):
    """MSE of the SNTK-KRR predictions for the real training nodes' one-hot labels (a fresh draw of
    ``config.real_nodes`` of them at every step, or all of them)."""

    def __init__(self, graph: NodeGraph, propagated: Tensor, synthetic: SyntheticGraph, config: GCSNTKConfig):
        self.graph, self.propagated, self.synthetic, self.config = graph, propagated, synthetic, config
        drawn = 0 < config.real_nodes < len(graph.train_idx)
        self.all_training = None if drawn else NodeSet(graph, propagated, graph.train_idx)
        self.syn_targets = F.one_hot(synthetic.labels, graph.num_classes).float()

    def outer_loss(self, model: nn.Module) -> Tensor:
        real = self.all_training
        if real is None:
            real = NodeSet(self.graph, self.propagated, draw(self.graph.train_idx, self.config.real_nodes))
        x, _ = self.synthetic.materialize()
        targets = F.one_hot(real.y, self.graph.num_classes).float()
        return F.mse_loss(krr_predictions(real, x, self.syn_targets, self.config), targets)


def condense_gcsntk(graph: NodeGraph, budget: Budget, config: GCSNTKConfig, run: RunOptions) -> Condensed:
    graph, synthetic, allocation = start_from_real_nodes(graph, budget, run)
    labels = synthetic.labels
    propagated = propagate_rows(graph.operators(), graph.x, config.hops)
    valid = NodeSet(graph, propagated, draw(graph.val_idx, config.score_nodes, run.generator(1)))
    schedule = BilevelSchedule(config.epochs, 1, 0, checkpoint_every=config.checkpoint_every,
                               select_every=config.select_every)
    select = None
    if config.select_every:
        def select() -> float:
            return krr_accuracy(valid, synthetic.features.detach(), labels, graph.num_classes, config)

    result = run_bilevel(KernelRegressionMatching(graph, propagated, synthetic, config), synthetic,
                         {"features": torch.optim.Adam([synthetic.features], lr=config.lr)}, schedule, run,
                         select=select)
    test = NodeSet(graph, propagated, draw(graph.test_idx, config.score_nodes, run.generator(2)))
    return export(synthetic, result, allocation, krr_test_nodes=len(test.y), krr_test_acc=krr_accuracy(
        test, synthetic.features.detach(), labels, graph.num_classes, config))
