"""DosCond for graph classification (Jin et al., KDD 2022): one-step gradient matching of a freshly initialised
GCN between mini-batches of real graphs and the synthetic graphs of each class, with discrete structures."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, autograd, nn

from graphdistill.core.errors import InputError
from graphdistill.core.loop import BilevelSchedule, LoopResult, WithoutInnerTraining, run_bilevel
from graphdistill.core.matching import GRADIENT_METRICS, gradient_distance
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.graph.classification.batch import SparseGraphBatch
from graphdistill.graph.classification.data import GraphSet
from graphdistill.graph.classification.models import GraphClassifier
from graphdistill.graph.classification.synthetic import SyntheticGraphSet, initial_graphs, per_class_labels


@dataclass(frozen=True)
class DosCondGraphConfig:
    """Defaults are DosCond's (``scripts/script.sh`` of its graph-level code; ``lr_adj`` per dataset in the
    packaged config).

    Args:
        epochs: outer steps, each with a fresh GCN (one-step matching: the GCN is never trained).
        lr_feat, lr_adj: Adam learning rates of the features and the edge logits, both cut by 10 after
            ``lr_drop_epoch`` epochs.
        real_batch: real graphs sampled per class and step.
        distance: gradient distance (``mse`` in DosCond's scripts, there divided by the real gradient's squared
            norm, as here).
        hidden, layers, pooling: the matching GCN.
        sparsity_weight: weight of ``relu(mean edge probability - that of the initial graphs)``.
        discrete: Bernoulli-sampled structures with a straight-through gradient, thresholded at 0.5 on export.
        checkpoint_every: epochs between checkpoints (with ``--out``; enables ``--resume``).
    """

    epochs: int = 1000
    lr_feat: float = 0.01
    lr_adj: float = 1.0
    lr_drop_epoch: int = 400
    real_batch: int = 256
    distance: str = "mse"
    hidden: int = 128
    layers: int = 3
    pooling: str = "mean"
    sparsity_weight: float = 0.1
    discrete: bool = True
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.distance not in GRADIENT_METRICS:
            raise InputError(f"unknown distance {self.distance!r}; choose one of {', '.join(GRADIENT_METRICS)}")
        if self.epochs < 1 or self.real_batch < 1:
            raise InputError(f"epochs and real_batch must be positive ({self.epochs}, {self.real_batch})")


class OneStepGraphMatching(WithoutInnerTraining):
    """The matching problem: per class, the distance between the GCN's gradients on a random real batch of the
    class and on the class's synthetic graphs, plus the sparsity penalty."""

    def __init__(self, graphs: GraphSet, synthetic: SyntheticGraphSet, config: DosCondGraphConfig,
                 device: torch.device):
        self.graphs, self.synthetic, self.config, self.device = graphs, synthetic, config, device
        train_labels = graphs.y[graphs.train_idx]
        self.members = {cls: graphs.train_idx[train_labels == cls] for cls in synthetic.class_slices}
        with torch.no_grad():
            self.initial_density = float(synthetic.probabilities().mean())

    def new_model(self) -> nn.Module:
        return GraphClassifier(self.graphs.num_features, self.config.hidden, self.graphs.num_classes,
                               self.config.layers, "gcn", self.config.pooling).to(self.device)

    def outer_loss(self, model: nn.Module) -> Tensor:
        params = list(model.parameters())
        loss = torch.zeros((), device=self.device)
        for cls, rows in self.synthetic.class_slices.items():
            pool = self.members[cls]
            # The global generator: its state is checkpointed, so a resumed run draws the same batches.
            sampled = pool[torch.randperm(len(pool))[:self.config.real_batch]]
            real = SparseGraphBatch.of(self.graphs, sampled, self.device)
            target = torch.full((len(sampled),), cls, device=self.device)
            real_grads = [g.detach() for g in autograd.grad(F.nll_loss(model(real), target), params)]
            syn_loss = F.nll_loss(model(self.synthetic.materialize(rows)), self.synthetic.labels[rows])
            syn_grads = autograd.grad(syn_loss, params, create_graph=True)
            distance = gradient_distance(syn_grads, real_grads, self.config.distance)
            if self.config.distance == "mse":
                # DosCond's MSE is relative to the real gradient's squared norm, so every class weighs alike.
                distance = distance / sum(float((g ** 2).sum()) for g in real_grads)
            loss = loss + distance
        density = self.synthetic.probabilities().mean()
        return loss + self.config.sparsity_weight * F.relu(density - self.initial_density)


def condense_doscond_graphs(graphs: GraphSet, per_class: int, config: DosCondGraphConfig,
                            run: RunOptions) -> Condensed:
    labels = per_class_labels(graphs, per_class)
    nodes = graphs.mean_nodes()
    features, logits = initial_graphs(graphs, labels, nodes, run.generator())
    synthetic = SyntheticGraphSet(features, logits, labels, discrete=config.discrete).to(run.device)
    optimizers = {"features": torch.optim.Adam([synthetic.features], lr=config.lr_feat),
                  "structure": torch.optim.Adam([synthetic.logits], lr=config.lr_adj)}
    problem = OneStepGraphMatching(graphs, synthetic, config, run.device)
    early = min(config.lr_drop_epoch, config.epochs)
    results = [run_bilevel(problem, synthetic, optimizers, BilevelSchedule(early, 1, 0, checkpoint_every=config.checkpoint_every), run)]
    if config.epochs > early:
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] *= 0.1
        late = BilevelSchedule(config.epochs - early, 1, 0, checkpoint_every=config.checkpoint_every)
        results.append(run_bilevel(problem, synthetic, optimizers, late, run, phase="late"))
    whole = LoopResult(losses=[loss for result in results for loss in result.losses],
                       resumed_from=results[0].resumed_from, scores=[], selected_epoch=None)
    return Condensed.from_loop(synthetic.export(config.discrete), whole, nodes_per_graph=nodes)
