"""KiDD (Xu et al., KDD 2023): kernel ridge regression with a graph NTK. The synthetic graphs are the KRR
support set; Adam moves their features and edge logits so that the KRR fit on them predicts the labels of
mini-batches of real training graphs."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.core.kernels import krr_fit, krr_predict
from graphdistill.core.loop import BilevelSchedule, WithoutInnerTraining, run_bilevel
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.core.progress import progress_bar
from graphdistill.core.indexing import concatenated_ranges
from graphdistill.graph.classification.batch import SparseGraphBatch
from graphdistill.graph.classification.data import GraphSet
from graphdistill.graph.classification.gntk import graph_kernel
from graphdistill.graph.classification.synthetic import SyntheticGraphSet, initial_graphs, per_class_labels


@dataclass(frozen=True)
class KiDDConfig:
    """Args:
        epochs: Adam steps, each against one mini-batch of ``real_batch`` real training graphs.
        layers: aggregation + ReLU layers of the graph NTK.
        ridge: KRR regularisation (relative to the kernel's mean diagonal).
        lr_feat, lr_adj: Adam learning rates of the features and the edge logits.
        normalize: use the cosine-normalised kernel ``K(G, H) / sqrt(K(G, G) K(H, H))`` (graphs of different
            sizes then weigh alike under the sum readout).
        discrete: threshold the learned edge probabilities at 0.5 on export (otherwise they are kept as weights).
        checkpoint_every: epochs between checkpoints.
    """

    epochs: int = 300
    layers: int = 2
    ridge: float = 1e-6
    lr_feat: float = 0.01
    lr_adj: float = 0.01
    real_batch: int = 128
    normalize: bool = True
    discrete: bool = False
    checkpoint_every: int = 25

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.layers < 1 or self.ridge < 0 or self.real_batch < 1:
            raise InputError(f"impossible KiDD settings: epochs={self.epochs}, layers={self.layers}, "
                             f"ridge={self.ridge}, real_batch={self.real_batch}")


class RealKernelSide:
    """What the kernel needs of real graphs ``indices``, computed once: the per-layer NNGP diagonals of their
    nodes and their self-kernels (for normalisation)."""

    def __init__(self, graphs: GraphSet, indices: Tensor, layers: int, device: torch.device, progress: bool,
                 chunk: int = 64):
        self.graphs, self.device = graphs, device
        sizes = graphs.sizes()[indices]
        self.starts = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
        self.diagonals = [torch.empty(int(self.starts[-1]), device=device) for _ in range(layers)]
        self.self_kernel = torch.empty(graphs.num_graphs, device=device)
        self.position = torch.full((graphs.num_graphs,), -1, dtype=torch.long)
        self.position[indices] = torch.arange(len(indices))
        with torch.no_grad():
            for start in progress_bar(range(0, len(indices), chunk), progress, desc="kernel of real graphs",
                                      unit="chunk"):
                rows = indices[start:start + chunk]
                kernel, diagonals = graph_kernel(SparseGraphBatch.of(graphs, rows, device), None, layers)
                first, last = int(self.starts[start]), int(self.starts[start + len(rows)])
                for layer in range(layers):
                    self.diagonals[layer][first:last] = diagonals[layer]
                self.self_kernel[rows] = kernel.diagonal()

    def batch(self, rows: Tensor) -> tuple[SparseGraphBatch, list[Tensor]]:
        """Graphs ``rows`` (graph indices, all among ``indices``) and the per-layer diagonals of their nodes."""
        positions = self.position[rows]
        nodes = concatenated_ranges(self.starts[positions], self.starts[positions + 1]).to(self.device)
        return SparseGraphBatch.of(self.graphs, rows, self.device), [d[nodes] for d in self.diagonals]


class KernelRidgeMatching(WithoutInnerTraining):
    """Outer loss: mean squared error of KRR (fit on the synthetic graphs) on a real mini-batch's one-hot labels."""

    def __init__(self, graphs: GraphSet, synthetic: SyntheticGraphSet, config: KiDDConfig, real: RealKernelSide):
        self.graphs, self.synthetic, self.config, self.real = graphs, synthetic, config, real
        self.targets = F.one_hot(synthetic.labels, graphs.num_classes).float()

    def outer_loss(self, model) -> Tensor:
        train = self.graphs.train_idx
        rows = train[torch.randperm(len(train))[:self.config.real_batch]]
        predictions = self.predict(self.real, rows)
        target = F.one_hot(self.graphs.y[rows], self.graphs.num_classes).float().to(predictions.device)
        return F.mse_loss(predictions, target)

    def predict(self, side: RealKernelSide, rows: Tensor) -> Tensor:
        """``(len(rows), C)`` KRR predictions for real graphs ``rows`` from the synthetic support set."""
        config = self.config
        real, real_diagonals = side.batch(rows)
        syn = self.synthetic.materialize()
        k_ss, syn_diagonals = graph_kernel(syn, None, config.layers)
        k_rs, _ = graph_kernel(real, syn, config.layers, (real_diagonals, syn_diagonals))
        if config.normalize:
            syn_norm = k_ss.diagonal().clamp_min(1e-12).sqrt()
            real_norm = side.self_kernel[rows.to(side.self_kernel.device)].clamp_min(1e-12).sqrt()
            k_ss = k_ss / (syn_norm[:, None] * syn_norm[None, :])
            k_rs = k_rs / (real_norm[:, None] * syn_norm[None, :])
        return krr_predict(k_rs, krr_fit(k_ss, self.targets, config.ridge, escalate=True))


def condense_kidd(graphs: GraphSet, per_class: int, config: KiDDConfig, run: RunOptions) -> Condensed:
    labels = per_class_labels(graphs, per_class)
    nodes = graphs.mean_nodes()
    features, logits = initial_graphs(graphs, labels, nodes, run.generator())
    synthetic = SyntheticGraphSet(features, logits, labels).to(run.device)
    real = RealKernelSide(graphs, graphs.train_idx, config.layers, run.device, run.progress)
    optimizers = {"features": torch.optim.Adam([synthetic.features], lr=config.lr_feat),
                  "structure": torch.optim.Adam([synthetic.logits], lr=config.lr_adj)}
    schedule = BilevelSchedule(config.epochs, 1, 0, checkpoint_every=config.checkpoint_every)
    problem = KernelRidgeMatching(graphs, synthetic, config, real)
    result = run_bilevel(problem, synthetic, optimizers, schedule, run)
    with torch.no_grad():
        # How well the kernel model itself classifies the validation graphs from the condensed set.
        val = RealKernelSide(graphs, graphs.val_idx, config.layers, run.device, False)
        predictions = problem.predict(val, graphs.val_idx).argmax(1).cpu()
    krr_val_acc = float((predictions == graphs.y[graphs.val_idx]).float().mean())
    return Condensed.from_loop(synthetic.export(config.discrete), result, nodes_per_graph=nodes,
                               krr_val_acc=krr_val_acc)
