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
from graphdistill.graph.condensation import export, start_from_real_nodes, validation_selector
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
    """

    lr: float = 0.4
    momentum: float = 0.0
    weight_decay: float = 0.0
    hidden: int = 256
    max_start_epoch: int = 300
    start_every: int = 100
    expert_epochs: int = 1200

    def __post_init__(self) -> None:
        if (self.lr <= 0 or self.hidden < 1 or self.max_start_epoch < 0 or self.start_every < 1
                or self.expert_epochs < 1 or self.momentum < 0 or self.weight_decay < 0):
            raise InputError(f"impossible expert settings: {self}")

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
    return {"graph": data_digest(graph.x, graph.edge_index, graph.y, graph.train_idx), "seed": seed,
            **dataclasses.asdict(config)}


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
    labels = graph.y[graph.train_idx]
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
            optimizer.zero_grad(set_to_none=True)
            F.nll_loss(model(real.x, real.ops, graph.train_idx), labels).backward()
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
        select_every: every this many iterations train a GCN on the synthetic nodes and keep the best real
            validation accuracy (SFGC keeps the best by a GNTK score instead; 0: the last state).
        checkpoint_every: iterations between checkpoints.
    """

    experts: str = ""
    expert_count: int = 20
    iterations: int = 300
    syn_steps: int = 500
    lr_feat: float = 1e-4
    lr_student: float = 0.5
    lr_lr: float = 1e-6
    select_every: int = 25
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.expert_count < 1 or self.iterations < 0 or self.syn_steps < 1
                or min(self.lr_feat, self.lr_student, self.lr_lr) <= 0):
            raise InputError(f"impossible SFGC settings: {self}")

    @property
    def expert_settings(self) -> ExpertConfig:
        return ExpertConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(ExpertConfig)})


class StudentLearningGraph(SyntheticGraph):
    """Structure-free synthetic nodes plus the student's learnable learning rate (parameter group
    ``"student_lr"``), so checkpoints carry both."""

    def __init__(self, features: Tensor, labels: Tensor, lr: float):
        super().__init__(features, labels, structure=False)
        self.student_lr = nn.Parameter(torch.tensor(float(lr)))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"features": [self.features], "student_lr": [self.student_lr]}


class TrajectoryMatching(WithoutInnerTraining):
    """One expert and start per call, drawn from torch's generator (checkpointed by the loop)."""

    def __init__(self, synthetic: StudentLearningGraph, buffer: ExpertBuffer, model: GCN, config: SFGCConfig):
        self.synthetic, self.buffer, self.model, self.config = synthetic, buffer, model, config
        self.experts = buffer.count()
        n = synthetic.features.shape[0]
        self.no_edges = GraphOperators(torch.zeros(n, n, device=synthetic.features.device))

    def outer_loss(self, model: nn.Module) -> Tensor:
        config, device = self.config, self.synthetic.features.device
        expert = int(torch.randint(self.experts, ()))
        start = config.starts[int(torch.randint(len(config.starts), ()))]
        origin = self.buffer.parameters_at(expert, start, device)
        target = self.buffer.parameters_at(expert, start + config.expert_epochs, device)
        x, labels = self.synthetic.features, self.synthetic.labels

        def loss_of(parameters: dict[str, Tensor]) -> Tensor:
            return F.nll_loss(functional_call(self.model, parameters, (x, self.no_edges)), labels)

        student = unroll_student(loss_of, origin, self.synthetic.student_lr, config.syn_steps, self.buffer.layout)
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
    graph, start, allocation = start_from_real_nodes(graph, budget, run)
    buffer = open_buffer(graph, config, run.progress)
    model = _expert_model(graph, config.hidden)
    layout = FlatParameters.of(model)
    if (layout.names, layout.shapes) != (buffer.layout.names, buffer.layout.shapes):
        raise InputError(f"the expert buffer at {buffer.directory} holds another model "
                         f"({buffer.layout.shapes}); its hidden width must be {config.hidden}")
    synthetic = StudentLearningGraph(start.features.detach(), start.labels, config.lr_student).to(run.device)
    schedule = BilevelSchedule(config.iterations, 1, 0, checkpoint_every=config.checkpoint_every,
                               select_every=config.select_every)
    optimizers = {"features": torch.optim.Adam([synthetic.features], lr=config.lr_feat),
                  "student_lr": torch.optim.SGD([synthetic.student_lr], lr=config.lr_lr, momentum=0.5)}
    select = validation_selector(graph, synthetic, 1, run.seed) if config.select_every else None
    result = run_bilevel(TrajectoryMatching(synthetic, buffer, model, config), synthetic, optimizers, schedule, run,
                         select=select)
    return export(synthetic, result, allocation, student_lr=float(synthetic.student_lr.detach()),
                  buffer=buffer.facts())
