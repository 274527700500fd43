"""Graph condensation methods: gradient matching (GCond, GCond-X, DosCond) and coreset baselines.

Every method has a frozen config (defaults per dataset in ``configs/<method>.toml``) and a
``function(graph, budget, config, run)`` returning a :class:`~graphdistill.core.Condensed` whose ``data``
holds ``x (n, F)``, dense weighted ``adj (n, n)`` and ``y (n,)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core import distributed
from graphdistill.core.errors import InputError
from graphdistill.core.gradients import weighted_nll_gradients
from graphdistill.core.loop import BilevelSchedule, run_bilevel
from graphdistill.core.matching import GRADIENT_METRICS, batched_gradient_distance
from graphdistill.core.method import Condensed, Method, RunOptions
from graphdistill.core.registry import Registry
from graphdistill.graph.budget import Budget, allocate_labels
from graphdistill.graph.condensation import (CORESET_STRATEGIES, export, pick_training_nodes, start_from_real_nodes,
                                             validation_selector)
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.evaluate import RealGraphView
from graphdistill.graph.gcdm import GCDMConfig, condense_gcdm
from graphdistill.graph.gdem import GDEMConfig, condense_gdem
from graphdistill.graph.geom import GEOMConfig, condense_geom
from graphdistill.graph.sfgc import SFGCConfig, condense_sfgc
from graphdistill.graph.gcsntk import GCSNTKConfig, condense_gcsntk
from graphdistill.graph.models import GCN
from graphdistill.graph.propagation import GraphOperators, normalize_adjacency, propagate, propagate_rows
from graphdistill.graph.sampler import NeighbourSampler
from graphdistill.graph.synthetic import SyntheticGraph


@dataclass(frozen=True)
class GradientMatchingConfig:
    """Gradient matching on graphs (GCond and its variants). Defaults are GCond's Cora settings.

    Args:
        epochs: outer epochs, each with a freshly initialised matching model.
        outer_steps, inner_steps: synthetic updates per epoch and model steps between them
            (``1, 0`` is DosCond's one-step matching).
        lr_feat, lr_adj: Adam learning rates of the features and of the structure generator.
        inner_lr: Adam learning rate of the matching model.
        distance: ``ours|mse|cos`` (see :func:`graphdistill.core.gradient_distance`).
        matching_model: ``sgc`` (one linear layer after ``hops`` propagations) or ``gcn`` (2 layers, ``hidden``).
        structure: learn a structure generator; ``False`` (GCond-X) condenses to a graph without edges.
        structure_epochs, feature_epochs: the alternation (10 epochs of structure updates, then 40 of features);
            ``structure_epochs=0`` updates both groups at every step (DosCond).
        pge_hidden, pge_layers: structure generator size.
        select_every: every this many epochs (and at the end) train one GCN on the synthetic graph and
            score it on the real validation nodes; the best-scoring state is returned (0: the last one).
            Test nodes are never looked at.
        select_runs: GCN runs averaged for each selection score (evaluations of graphs without edges
            vary by several points from run to run).
        real_batch: real training nodes per class drawn at every outer step for the real gradients
            (0: all of them, GCond's full-batch setting on small graphs; GCond uses 256 on large graphs).
        fanouts: with ``real_batch`` and the ``gcn`` matching model, the neighbours sampled per layer around the
            drawn nodes (GCond's ``[15, 8]``), so a step never touches the whole graph.
        init_hops: start the synthetic features from the drawn real nodes' ``A_hat^init_hops X`` rows instead of
            their raw features (0, GCond's start). For a graph without edges, ``init_hops = hops`` makes each
            synthetic node's SGC input equal to its real node's, so matching starts from a coreset in the space it
            matches in.
        checkpoint_every: epochs between checkpoints (used with ``--out``; enables ``--resume``).
    """

    epochs: int = 600
    outer_steps: int = 20
    inner_steps: int = 15
    lr_feat: float = 1e-4
    lr_adj: float = 1e-4
    inner_lr: float = 0.01
    distance: str = "ours"
    matching_model: str = "sgc"
    hops: int = 2
    hidden: int = 256
    structure: bool = True
    structure_epochs: int = 10
    feature_epochs: int = 40
    pge_hidden: int = 128
    pge_layers: int = 3
    select_every: int = 0
    select_runs: int = 1
    real_batch: int = 0
    fanouts: tuple = (15, 8)
    init_hops: int = 0
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        if self.distance not in GRADIENT_METRICS:
            raise InputError(f"unknown distance {self.distance!r}; choose one of {', '.join(GRADIENT_METRICS)}")
        if self.matching_model not in ("sgc", "gcn"):
            raise InputError(f"unknown matching_model {self.matching_model!r}; choose sgc or gcn")
        if min(self.lr_feat, self.lr_adj, self.inner_lr) < 0:
            raise InputError("learning rates must be non-negative")
        if self.init_hops < 0:
            raise InputError(f"init_hops must be >= 0, got {self.init_hops}")
        if self.real_batch < 0 or not self.fanouts or any(not isinstance(f, int) or f < 1 for f in self.fanouts):
            raise InputError(f"real_batch must be >= 0 and fanouts positive integers (got {self.real_batch}, "
                             f"{self.fanouts})")


class GraphGradientMatching:
    """The :class:`~graphdistill.core.MatchingProblem` of GCond.

    Real gradients are taken per class, on all training nodes or (``real_batch``) on a fresh draw of up to
    ``real_batch`` of each class at every outer step. For the SGC matching model the real side is linear in the
    weights after a fixed propagation, so ``A_hat^K X`` of the training nodes is computed once (the last hop for
    those rows only). The GCN matching model runs on the whole real graph, or with ``real_batch`` on the
    neighbour-sampled subgraph of the drawn nodes. All per-class gradients of one side come from one batched
    call (:func:`~graphdistill.core.weighted_nll_gradients`).

    Under a process group the real side is split by nodes and the synthetic side by classes: each rank takes the
    per-class gradients of its block of the real rows (all classes, weighted by the global class counts), the
    blocks are summed over ranks in one all-reduce, and each rank matches every ``size``-th class (the loss is a
    sum over classes). Every rank draws all real nodes, so the random streams and the result do not depend on
    the group, and a large class is split like a small one.
    """

    sharding = "classes"

    def __init__(self, graph: NodeGraph, synthetic: SyntheticGraph, allocation: dict[int, int],
                 config: GradientMatchingConfig):
        self.config = config
        self.synthetic = synthetic
        self.graph = graph
        self.num_features, self.num_classes = graph.num_features, graph.num_classes
        self.mine = distributed.owned(len(allocation))
        self.device = synthetic.labels.device  # where matching computes; the real graph may stay on the CPU
        self.all_classes = torch.tensor(list(allocation), device=self.device)
        self.real_y = graph.y[graph.train_idx].to(self.device)
        self.syn_weights = _class_mean_weights(synthetic.labels, self.all_classes[self.mine])
        counts = torch.tensor(list(allocation.values()), dtype=torch.float32, device=self.device)
        self.class_weights = (counts / counts.max())[self.mine]
        if config.matching_model == "sgc":
            # (n_train, F) even when the graph is far larger: computed where the graph is, kept where matching runs
            real_features = propagate_rows(graph.operators(), graph.x, config.hops, graph.train_idx)
            self.real_features = real_features.to(self.device)
        elif config.real_batch:
            self.sampler = NeighbourSampler(graph.edge_index, graph.num_nodes, config.fanouts)
        if config.real_batch:
            self.members = [torch.nonzero(self.real_y == cls).flatten() for cls in allocation]
        else:  # every step sees the same real side: build it once
            block = distributed.owned_block(torch.arange(len(self.real_y), device=self.real_y.device))
            weights = _class_mean_weights(self.real_y, self.all_classes)[:, block]
            if config.matching_model == "sgc":
                self.full_batch = ((self.real_features[block],), self.real_y[block], weights, None)
            else:
                view = RealGraphView(graph)
                self.full_batch = ((view.x, view.ops), self.real_y[block], weights, graph.train_idx[block])

    def real_side(self) -> tuple[tuple, Tensor, Tensor, Tensor | None]:
        """``(model args, labels, (K, m) class weights, scored rows)`` of this rank's block of the step's real
        nodes (every class; the weights make the blocks' gradients add up to the class means)."""
        if not self.config.real_batch:
            return self.full_batch
        # drawn from the global generator, which the loop checkpoints: a resumed run draws the same nodes
        picked = torch.cat([m[torch.randperm(len(m), device=m.device)[:self.config.real_batch]] for m in self.members])
        block = distributed.owned_block(torch.arange(len(picked), device=picked.device))
        y = self.real_y[picked]
        weights = _class_mean_weights(y, self.all_classes)[:, block]
        if self.config.matching_model == "sgc":
            return (self.real_features[picked[block]],), y[block], weights, None
        # all seeds: the same draws on every rank
        subgraph = self.sampler.sample(self.graph.train_idx[picked.to(self.graph.y.device)])
        args = (self.graph.feature_rows(subgraph.nodes).to(self.device),
                GraphOperators(subgraph.adjacency().to(self.device)))
        return args, y[block], weights, block

    def new_model(self) -> nn.Module:
        device = self.device
        if self.config.matching_model == "sgc":
            return nn.Sequential(nn.Linear(self.num_features, self.num_classes), nn.LogSoftmax(dim=-1)).to(device)
        return GCN(self.num_features, self.config.hidden, self.num_classes, dropout=0.0).to(device)

    def _synthetic_args(self, x: Tensor, adj: Tensor | None) -> tuple:
        if self.config.matching_model == "sgc":
            adj_norm = normalize_adjacency(adj) if adj is not None else None
            return (propagate(adj_norm, x, self.config.hops),)
        return (x, GraphOperators(adj if adj is not None else x.new_zeros(len(x), len(x))))

    def outer_loss(self, model: nn.Module) -> Tensor:
        # vmap cannot trace the GCN's sparse real graph; the SGC's inputs are dense on both sides.
        vectorize = self.config.matching_model == "sgc"
        partial = weighted_nll_gradients(model, *self.real_side(), vectorize, create_graph=False)
        real = [grads[self.mine] for grads in distributed.sum_over_ranks(partial, "summing the real gradients")]
        syn_args = self._synthetic_args(*self.synthetic.materialize())
        syn = weighted_nll_gradients(model, syn_args, self.synthetic.labels, self.syn_weights, vectorize=vectorize)
        return (self.class_weights * batched_gradient_distance(syn, real, self.config.distance)).sum()

    def inner_data(self) -> tuple:
        return self._synthetic_args(*self.synthetic.materialize())

    def inner_loss(self, model: nn.Module, data: tuple) -> Tensor:
        return F.nll_loss(model(*data), self.synthetic.labels)


def _class_mean_weights(labels: Tensor, classes: Tensor) -> Tensor:
    """``(K, n)`` weights making loss ``k`` the mean NLL over the rows of ``classes[k]``."""
    members = (labels[None, :] == classes[:, None]).float()
    return members / members.sum(1, keepdim=True)


def _allocation(graph: NodeGraph, budget: Budget) -> dict[int, int]:
    return allocate_labels(graph.y[graph.train_idx].cpu(), budget.nodes)


def condense_gradient_matching(graph: NodeGraph, budget: Budget, config: GradientMatchingConfig,
                               run: RunOptions) -> Condensed:
    """GCond / GCond-X / DosCond, depending on ``config``. The real graph stays on the CPU when ``run`` says so,
    except for full-batch GCN matching, which runs its model on the whole graph."""
    whole_graph_model = config.matching_model == "gcn" and not config.real_batch
    real_device = run.device if whole_graph_model else run.real_data_device(graph.memory_bytes())
    graph, synthetic, allocation = start_from_real_nodes(graph, budget, run, config.structure, config.pge_hidden,
                                                         config.pge_layers, config.init_hops, real_device)
    optimizers = {"features": torch.optim.Adam([synthetic.features], lr=config.lr_feat)}
    phases: tuple[tuple[str, int], ...] = ()
    if config.structure:
        optimizers["structure"] = torch.optim.Adam(synthetic.structure.parameters(), lr=config.lr_adj)
        if config.structure_epochs > 0:
            phases = (("structure", config.structure_epochs), ("features", config.feature_epochs))
    schedule = BilevelSchedule(config.epochs, config.outer_steps, config.inner_steps, config.inner_lr, phases,
                               config.checkpoint_every, config.select_every)
    problem = GraphGradientMatching(graph, synthetic, allocation, config)
    select = validation_selector(graph, synthetic, config.select_runs, run.seed) if config.select_every else None
    return export(synthetic, run_bilevel(problem, synthetic, optimizers, schedule, run, select=select), allocation)


@dataclass(frozen=True)
class CoresetConfig:
    """Coreset selection per class under GCond's allocation, returning the induced subgraph.

    Args:
        strategy: ``random``; ``herding`` or ``kcenter`` on the outputs of a GCN trained on the full graph
            (GCond's protocol, the evaluation settings below).
        hidden, dropout, iterations: that GCN's settings.
    """

    strategy: str = "random"
    hidden: int = 256
    dropout: float = 0.5
    iterations: int = 600

    def __post_init__(self) -> None:
        if self.strategy not in CORESET_STRATEGIES:
            raise InputError(f"unknown coreset strategy {self.strategy!r}")


def condense_coreset(graph: NodeGraph, budget: Budget, config: CoresetConfig, run: RunOptions) -> Condensed:
    """Random / herding / k-center nodes of each class, with the subgraph they induce."""
    allocation = _allocation(graph, budget)
    graph = graph.to(run.real_data_device(graph.memory_bytes()))  # its embedding GCN trains where the graph is
    info: dict[str, Any] = {"allocation": {str(c): n for c, n in allocation.items()}}
    picked = pick_training_nodes(graph, allocation, config.strategy, run, config.hidden, config.dropout,
                                 config.iterations, info)
    nodes = graph.train_idx.cpu()[picked]
    adj = graph.to("cpu").induced_adjacency(nodes)
    info["selected_nodes"] = nodes.tolist()
    features = graph.feature_rows(nodes.to(graph.x.device)).cpu()
    return Condensed({"x": features, "adj": adj, "y": graph.y.cpu()[nodes]}, info)


METHODS: Registry[Method] = Registry("method")
for _name in ("gcond", "gcond-x", "doscond"):
    METHODS.register(_name)(Method(GradientMatchingConfig, condense_gradient_matching))
for _name in CORESET_STRATEGIES:
    METHODS.register(_name)(Method(CoresetConfig, condense_coreset))
METHODS.register("gc-sntk")(Method(GCSNTKConfig, condense_gcsntk))
METHODS.register("gcdm")(Method(GCDMConfig, condense_gcdm))
METHODS.register("gdem")(Method(GDEMConfig, condense_gdem))
METHODS.register("sfgc")(Method(SFGCConfig, condense_sfgc))
METHODS.register("geom")(Method(GEOMConfig, condense_geom))
