"""GCDM (Liu et al., 2022, graph condensation by receptive-field distribution matching): per-class distributions
of node embeddings under randomly initialised GCNs (a fresh network each epoch, never trained), real nodes on
the real graph against synthetic nodes on the synthetic graph, whose structure comes from GCond's pairwise
generator. The distance is the core's ``mean`` (squared distance of the class means) or ``mmd``."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core.errors import InputError
from graphdistill.core.loop import BilevelSchedule, WithoutInnerTraining, run_bilevel
from graphdistill.core.matching import distribution_distance
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.graph.budget import Budget
from graphdistill.graph.condensation import export, start_from_real_nodes, validation_selector
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.evaluate import RealGraphView
from graphdistill.graph.propagation import matmul, normalize_adjacency
from graphdistill.graph.synthetic import SyntheticGraph

DISTANCES = ("mean", "mmd")


@dataclass(frozen=True)
class GCDMConfig:
    """GCDM's settings.

    Args:
        epochs: outer epochs, each with a fresh random two-layer GCN of width ``hidden``.
        lr_feat, lr_adj: Adam learning rates of the features and of the structure generator.
        distance: ``mean`` or ``mmd`` (core distribution distances) between the class embeddings.
        structure: learn GCond's structure generator (default ``False``: a graph without edges; the generator's
            dense start averages every class together and needs hundreds of epochs to recover).
        pge_hidden, pge_layers: structure generator size.
        select_every, select_runs: every this many epochs train ``select_runs`` GCNs on the synthetic graph and
            keep the state with the best real validation accuracy (0: the last).
        checkpoint_every: epochs between checkpoints.
    """

    epochs: int = 400
    lr_feat: float = 1e-3
    lr_adj: float = 1e-4
    hidden: int = 256
    distance: str = "mean"
    structure: bool = False
    pge_hidden: int = 128
    pge_layers: int = 3
    select_every: int = 50
    select_runs: int = 1
    checkpoint_every: int = 20

    def __post_init__(self) -> None:
        if self.distance not in DISTANCES:
            raise InputError(f"unknown distance {self.distance!r}; choose one of {', '.join(DISTANCES)}")
        if self.epochs < 0 or self.hidden < 1 or min(self.lr_feat, self.lr_adj) <= 0:
            raise InputError(f"impossible GCDM settings: {self}")


class RandomGCNEmbedding(nn.Module):
    """``A_hat relu(A_hat X W + b)``: the two-hop receptive field of a random GCN layer, ``(n, hidden)``."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(hidden, features), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(hidden), requires_grad=False)
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: Tensor, a_hat) -> Tensor:
        return matmul(a_hat, F.relu(matmul(a_hat, matmul(x, self.weight.t())) + self.bias))


class ReceptiveFieldMatching(WithoutInnerTraining):
    def __init__(self, graph: NodeGraph, synthetic: SyntheticGraph, config: GCDMConfig):
        self.real, self.synthetic, self.config = RealGraphView(graph), synthetic, config
        self.train_idx, self.train_y = graph.train_idx, graph.y[graph.train_idx]
        self.features = graph.num_features

    def new_model(self) -> nn.Module:
        return RandomGCNEmbedding(self.features, self.config.hidden).to(self.train_y.device)

    def outer_loss(self, model: nn.Module) -> Tensor:
        with torch.no_grad():
            real = model(self.real.x, self.real.ops("gcn"))[self.train_idx]
        x, adj = self.synthetic.materialize()
        a_hat = normalize_adjacency(adj) if adj is not None else torch.eye(len(x), device=x.device)
        syn = model(x, a_hat)
        return sum(distribution_distance(real[self.train_y == cls], syn[rows], self.config.distance)
                   for cls, rows in self.synthetic.class_slices.items())


def condense_gcdm(graph: NodeGraph, budget: Budget, config: GCDMConfig, run: RunOptions) -> Condensed:
    graph, synthetic, allocation = start_from_real_nodes(graph, budget, run, config.structure, config.pge_hidden,
                                                         config.pge_layers)
    optimizers = {"features": torch.optim.Adam([synthetic.features], lr=config.lr_feat)}
    if config.structure:
        optimizers["structure"] = torch.optim.Adam(synthetic.structure.parameters(), lr=config.lr_adj)
    problem = ReceptiveFieldMatching(graph, synthetic, config)
    select = (validation_selector(graph, synthetic, config.select_runs, run.seed, problem.real)
              if config.select_every else None)
    schedule = BilevelSchedule(config.epochs, 1, 0, checkpoint_every=config.checkpoint_every,
                               select_every=config.select_every)
    return export(synthetic, run_bilevel(problem, synthetic, optimizers, schedule, run, select=select), allocation)
