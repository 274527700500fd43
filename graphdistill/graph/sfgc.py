"""SFGC (Zheng et al., NeurIPS 2023, structure-free graph condensation): trajectory matching of GCN experts.

Experts are two-layer GCNs trained on the whole real graph (SGD, the training nodes' labels); the buffer keeps
their parameters at the start epochs ``0, start_every, ..., max_start_epoch`` and ``expert_epochs`` later (see
:mod:`graphdistill.core.trajectories`). Each iteration draws an expert and a start, trains a student from the
start for ``syn_steps`` steps on the synthetic nodes with no edges (the identity adjacency: the GCN's weights act
as an MLP), and moves the synthetic features (Adam) and the student's learning rate (SGD) to bring the student
near the expert's later parameters. The output is structure-free (``adj`` is all zeros), as SFGC's.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from graphdistill.core.data_root import cache_dir
from graphdistill.core.errors import InputError
from graphdistill.core.loop import BilevelSchedule, WithoutInnerTraining, run_bilevel
from graphdistill.core.method import Condensed, RunOptions, data_digest, fingerprint_digest
from graphdistill.core.progress import progress_bar
from graphdistill.core.seed import generators_kept, seed_everything
from graphdistill.core.trajectories import ExpertBuffer, FlatParameters, trajectory_loss, unroll_student
from graphdistill.graph.budget import Budget
from graphdistill.graph.condensation import CORESET_STRATEGIES, export, start_from_real_nodes, validation_selector
from graphdistill.graph.curriculum import SCHEDULERS, curriculum_order, curriculum_share
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.evaluate import RealGraphView
from graphdistill.graph.models import GCN
from graphdistill.graph.propagation import GraphOperators
from graphdistill.graph.synthetic import SyntheticGraph


@dataclass(frozen=True)
class ExpertConfig:
    """How the GCN experts are trained and which epochs are kept (SFGC's Cora buffer: SGD lr 0.4, no weight
    decay, hidden 256, no dropout).

    Args:
        lr, momentum, weight_decay: the experts' SGD.
        hidden: the GCN's width.
        max_start_epoch, start_every: the start epochs ``0, start_every, ..., max_start_epoch``.
        expert_epochs: how far after a start the target lies (``M``); the experts train to
            ``max_start_epoch + expert_epochs`` epochs.
        curriculum: empty: every epoch trains on all training nodes (SFGC); ``linear|root|geom``: GEOM's
            curriculum, the easiest ``curriculum_start`` share of the training nodes at epoch 0 growing by this
            pacing to all of them at ``curriculum_epochs`` (see :mod:`graphdistill.graph.curriculum`).
    """

    lr: float = 0.4
    momentum: float = 0.0
    weight_decay: float = 0.0
    hidden: int = 256
    max_start_epoch: int = 300
    start_every: int = 100
    expert_epochs: int = 1200
    curriculum: str = ""
    curriculum_start: float = 0.75
    curriculum_epochs: int = 1500

    def __post_init__(self) -> None:
        if (self.lr <= 0 or self.hidden < 1 or self.max_start_epoch < 0 or self.start_every < 1
                or self.expert_epochs < 1 or self.momentum < 0 or self.weight_decay < 0
                or not 0 < self.curriculum_start <= 1 or self.curriculum_epochs < 1):
            raise InputError(f"impossible expert settings: {self}")
        if self.curriculum and self.curriculum not in SCHEDULERS:
            raise InputError(f"unknown curriculum {self.curriculum!r}; choose one of {SCHEDULERS} (or none)")

    @property
    def starts(self) -> list[int]:
        return list(range(0, self.max_start_epoch + 1, self.start_every))

    @property
    def kept_epochs(self) -> list[int]:
        return sorted(set(self.starts) | {start + self.expert_epochs for start in self.starts})


def _expert_model(graph: NodeGraph, hidden: int) -> GCN:
    return GCN(graph.num_features, hidden, graph.num_classes, dropout=0.0).to(graph.x.device)


def buffer_spec(graph: NodeGraph, config: ExpertConfig, seed: int) -> dict:
    """What a buffer is built from: the graph (a digest), the expert settings and the seed."""
    settings = dataclasses.asdict(config)
    if not config.curriculum:
        # Buffers built before the curriculum existed record no curriculum keys; they stay valid.
        for key in ("curriculum", "curriculum_start", "curriculum_epochs"):
            del settings[key]
    return {"graph": data_digest(graph.x, graph.edge_index, graph.y, graph.train_idx), "seed": seed, **settings}


def build_experts(graph: NodeGraph, directory: str | Path, count: int, config: ExpertConfig, seed: int = 0,
                  progress: bool = False) -> ExpertBuffer:
    """Train experts into the buffer at ``directory`` until it holds ``count`` (expert ``i`` is seeded
    ``seed + i``, so a build killed and started again ends with the same buffer). The global generators are left
    as they were: a condensation that builds its buffer first draws what one that finds it built draws."""
    if count < 1:
        raise InputError(f"--experts must be at least 1 (got {count})")
    with generators_kept():
        return _build_experts(graph, directory, count, config, seed, progress)


def _build_experts(graph: NodeGraph, directory: str | Path, count: int, config: ExpertConfig, seed: int,
                   progress: bool) -> ExpertBuffer:
    layout = FlatParameters.of(_expert_model(graph, config.hidden))
    buffer = ExpertBuffer.prepare(directory, buffer_spec(graph, config, seed), layout, config.kept_epochs)
    real = RealGraphView(graph)
    order = curriculum_order(graph) if config.curriculum else graph.train_idx
    last = max(config.kept_epochs)
    for index in progress_bar(range(buffer.count(), count), progress, desc="experts", unit="expert"):
        started = time.perf_counter()
        seed_everything(seed + index)
        model = _expert_model(graph, config.hidden)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
        snapshots = []
        for epoch in range(last + 1):
            if epoch in buffer.epochs:
                snapshots.append(layout.flatten(model))
            if epoch == last:
                break
            rows = order
            if config.curriculum:
                share = curriculum_share(epoch, config.curriculum_start, config.curriculum_epochs, config.curriculum)
                rows = order[:max(1, int(share * len(order)))]
            optimizer.zero_grad(set_to_none=True)
            F.nll_loss(model(real.x, real.ops, rows), graph.y[rows]).backward()
            optimizer.step()
        buffer.save(index, torch.stack(snapshots), time.perf_counter() - started)
    return buffer


@dataclass(frozen=True)
class SFGCConfig(ExpertConfig):
    """SFGC's settings (Cora at half the training nodes: ``expert_epochs`` 1200, starts up to epoch 300,
    ``syn_steps`` 500, student lr 0.5, lr_feat 1e-4, lr_lr 1e-6).

    Args:
        experts: the buffer directory (``graphdistill experts graph ...``); empty: a buffer of ``expert_count``
            experts built with this config's expert settings and seed 0 under the cache directory (reused by later
            runs of any seed, as one buffer serves every run of SFGC).
        expert_count: experts in that default buffer.
        iterations: outer iterations (one expert and start each).
        syn_steps: student steps on the synthetic nodes.
        lr_feat: Adam learning rate of the features.
        lr_student: the student's starting learning rate (learned, SGD with momentum 0.5 at ``lr_lr``).
        recompute_every: 0 keeps the whole unrolled student in memory; ``k``: keep every ``k``-th step and
            recompute the others on the backward pass (gradient checkpointing, about 1.5x the time, memory in
            ``syn_steps / k + k`` steps instead of ``syn_steps``).
        select_every: every this many iterations train a GCN on the synthetic nodes and keep the best real
            validation accuracy (SFGC keeps the best by a GNTK score instead; 0: the last state).
        checkpoint_every: iterations between checkpoints.
        start: the real training nodes the synthetic ones start from: ``random`` (default) or ``kcenter`` /
            ``herding`` on a whole-graph GCN's outputs (the authors' k-center start; see
            :func:`~graphdistill.graph.condensation.pick_training_nodes`).
    """

    experts: str = ""
    expert_count: int = 20
    iterations: int = 300
    syn_steps: int = 500
    lr_feat: float = 1e-4
    lr_student: float = 0.5
    lr_lr: float = 1e-6
    recompute_every: int = 0
    select_every: int = 25
    checkpoint_every: int = 25
    start: str = "random"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.start not in CORESET_STRATEGIES:
            raise InputError(f"unknown start {self.start!r}; choose one of {', '.join(CORESET_STRATEGIES)}")
        if (self.expert_count < 1 or self.iterations < 0 or self.syn_steps < 1 or self.recompute_every < 0
                or min(self.lr_feat, self.lr_student, self.lr_lr) <= 0):
            raise InputError(f"impossible SFGC settings: {self}")

    @property
    def expert_settings(self) -> ExpertConfig:
        return ExpertConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ExpertConfig)})


def structure_free_log_probs(model: GCN, parameters: dict[str, Tensor], x: Tensor,
                             no_edges: GraphOperators | None = None) -> Tensor:
    """``(n, C)`` log-probabilities of ``model`` with ``parameters`` on nodes ``x (n, F)`` without edges (the GCN's
    self-loops alone: it acts as an MLP), as SFGC trains and scores its structure-free graph. ``no_edges``: the
    operators of ``n`` nodes without edges, kept by a caller that runs this every student step."""
    n = x.shape[0]
    no_edges = no_edges or GraphOperators(torch.zeros(n, n, device=x.device))
    return functional_call(model, parameters, (x, no_edges))


class StudentLearningGraph(SyntheticGraph):
    """Structure-free synthetic nodes plus the student's learnable learning rate (parameter group
    ``"student_lr"``), so checkpoints carry both."""

    def __init__(self, features: Tensor, labels: Tensor, lr: float):
        super().__init__(features, labels, structure=False)
        self.student_lr = nn.Parameter(torch.tensor(float(lr)))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"features": [self.features], "student_lr": [self.student_lr]}

    def label_loss(self, log_probs: Tensor) -> Tensor:
        """The student's training loss on the synthetic nodes' ``(n, C)`` log-probabilities."""
        return F.nll_loss(log_probs, self.labels)


class TrajectoryMatching(WithoutInnerTraining):
    """One expert and start per call, drawn from torch's generator (checkpointed by the loop); subclasses choose
    the start (:meth:`draw_start`) and add terms to :meth:`outer_loss`."""

    def __init__(self, synthetic: StudentLearningGraph, buffer: ExpertBuffer, model: GCN, config: SFGCConfig):
        self.synthetic, self.buffer, self.model, self.config = synthetic, buffer, model, config
        self.experts = buffer.count()
        n = synthetic.features.shape[0]
        self.no_edges = GraphOperators(torch.zeros(n, n, device=synthetic.features.device))

    @classmethod
    def synthetic_from(cls, start: SyntheticGraph, buffer: ExpertBuffer, model: GCN,
                       config: SFGCConfig) -> StudentLearningGraph:
        """The learnable synthetic set, started from ``start``'s real nodes."""
        return StudentLearningGraph(start.features.detach(), start.labels, config.lr_student)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Adam on the features, SGD with momentum 0.5 on the student's learning rate (SFGC's)."""
        return {"features": torch.optim.Adam([self.synthetic.features], lr=self.config.lr_feat),
                "student_lr": torch.optim.SGD([self.synthetic.student_lr], lr=self.config.lr_lr, momentum=0.5)}

    def outer_loss(self, model: nn.Module) -> Tensor:
        return self.match(self.draw_expert(), self.draw_start())

    def draw_expert(self) -> int:
        return int(torch.randint(self.experts, ()))

    def draw_start(self) -> int:
        starts = self.config.starts
        return starts[int(torch.randint(len(starts), ()))]

    def log_probs(self, parameters: dict[str, Tensor]) -> Tensor:
        return structure_free_log_probs(self.model, parameters, self.synthetic.features, self.no_edges)

    def match(self, expert: int, start: int) -> Tensor:
        """The trajectory loss of a student started at ``expert``'s epoch ``start``."""
        device = self.synthetic.features.device
        origin = self.buffer.parameters_at(expert, start, device)
        target = self.buffer.parameters_at(expert, start + self.config.expert_epochs, device)
        reads = [tensor for name, tensor in self.synthetic.named_parameters() if name != "student_lr"]
        student = unroll_student(lambda parameters: self.synthetic.label_loss(self.log_probs(parameters)), origin,
                                 self.synthetic.student_lr, self.config.syn_steps, self.buffer.layout,
                                 self.config.recompute_every, reads)
        return trajectory_loss(student, origin, target)


def open_buffer(graph: NodeGraph, config: SFGCConfig, progress: bool) -> ExpertBuffer:
    """The buffer named by ``config.experts``, or the default one under the cache directory (built or completed
    first); either way it must keep every epoch the schedule samples."""
    if config.experts:
        buffer = ExpertBuffer.open(config.experts)
    else:
        spec = buffer_spec(graph, config.expert_settings, 0)
        directory = cache_dir() / "experts" / fingerprint_digest(spec)[:16]
        buffer = build_experts(graph, directory, config.expert_count, config.expert_settings, 0, progress)
    missing = sorted(set(config.expert_settings.kept_epochs) - set(buffer.epochs))
    if missing:
        raise InputError(f"the expert buffer at {buffer.directory} does not keep epochs {missing} that this "
                         f"schedule samples (it keeps {buffer.epochs}); build one with the same max_start_epoch, "
                         "start_every and expert_epochs")
    return buffer


def condense_sfgc(graph: NodeGraph, budget: Budget, config: SFGCConfig, run: RunOptions) -> Condensed:
    return condense_by_trajectories(graph, budget, config, run, TrajectoryMatching)


def condense_by_trajectories(graph: NodeGraph, budget: Budget, config: SFGCConfig, run: RunOptions,
                             matching: type[TrajectoryMatching]) -> Condensed:
    """The trajectory-matching pipeline (SFGC, GEOM): GCond's start from real nodes, the buffer, ``matching``'s
    synthetic set and optimizers, the loop with validation selection, the export."""
    graph, start, allocation = start_from_real_nodes(graph, budget, run, start=config.start)
    buffer = open_buffer(graph, config, run.progress)
    model = _expert_model(graph, config.hidden)
    layout = FlatParameters.of(model)
    if (layout.names, layout.shapes) != (buffer.layout.names, buffer.layout.shapes):
        raise InputError(f"the expert buffer at {buffer.directory} holds another model "
                         f"({buffer.layout.shapes}); its hidden width must be {config.hidden}")
    synthetic = matching.synthetic_from(start, buffer, model, config).to(run.device)
    problem = matching(synthetic, buffer, model, config)
    schedule = BilevelSchedule(config.iterations, 1, 0, checkpoint_every=config.checkpoint_every,
                               select_every=config.select_every)
    select = validation_selector(graph, synthetic, 1, run.seed) if config.select_every else None
    result = run_bilevel(problem, synthetic, problem.optimizers(), schedule, run, select=select)
    return export(synthetic, result, allocation, student_lr=float(synthetic.student_lr.detach()),
                  buffer=buffer.facts())
