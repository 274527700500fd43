"""Evaluation protocols for condensed graph sets: train a fresh classifier ``runs`` times on the condensed (or
whole) training set, keep the epoch with the best validation accuracy, report test accuracy of real graphs."""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.core.method import EvaluationRuns
from graphdistill.core.progress import progress_bar
from graphdistill.core.seed import seed_everything
from graphdistill.graph.classification.batch import DenseGraphBatch, GraphBatch, SparseGraphBatch
from graphdistill.graph.classification.data import GraphSet
from graphdistill.graph.classification.models import GraphClassifier


@dataclass(frozen=True)
class GraphEvalConfig(EvaluationRuns):
    """One evaluation protocol.

    Args:
        arch, hidden, layers, pooling, dropout: the classifier (see :class:`GraphClassifier`).
        epochs: passes over the training set; batch_size: graphs per step.
        schedule: ``half`` (learning rate cut by 10 at half the epochs, DosCond) or ``step`` (halved every
            ``step_epochs``, KiDD's ``StepLR(50, 0.5)``).
    """

    arch: str = "gcn"
    hidden: int = 128
    layers: int = 3
    pooling: str = "mean"
    dropout: float = 0.0
    epochs: int = 500
    batch_size: int = 128
    schedule: str = "half"
    step_epochs: int = 50

    def __post_init__(self) -> None:
        if self.schedule not in ("half", "step"):
            raise InputError(f"unknown learning-rate schedule {self.schedule!r}; choose half or step")
        if self.epochs < 1 or self.runs < 1 or self.batch_size < 1:
            raise InputError(f"epochs, runs and batch_size must be positive ({self.epochs}, {self.runs}, "
                             f"{self.batch_size})")


PROTOCOLS = {
    # DosCond's graph-level evaluation: GCN, 3 layers, 128 hidden, mean pooling, no dropout, 500 epochs.
    "gcn": GraphEvalConfig(lr=1e-3, weight_decay=0.0, runs=10),
    # KiDD's evaluation: GIN, 64 hidden, sum pooling, 200 epochs, weight decay 5e-4, StepLR(50, 0.5).
    "gin": GraphEvalConfig(arch="gin", hidden=64, pooling="sum", epochs=200, lr=1e-3, weight_decay=5e-4,
                           schedule="step", runs=10),
}


def protocol(arch: str, **overrides: Any) -> GraphEvalConfig:
    """The published protocol of ``arch`` with ``overrides`` (``None`` values are ignored)."""
    if arch not in PROTOCOLS:
        raise InputError(f"unknown architecture {arch!r}; choose one of {', '.join(PROTOCOLS)}")
    return dataclasses.replace(PROTOCOLS[arch], **{k: v for k, v in overrides.items() if v is not None})


Batches = Callable[[torch.Generator], Iterator[tuple[GraphBatch, Tensor]]]


def dense_batches(x: Tensor, adj: Tensor, mask: Tensor, y: Tensor, batch_size: int) -> Batches:
    """Shuffled mini-batches of a condensed set (one batch when it is small, as it usually is). A set that is
    mostly padding (real graphs of a coreset, padded to the largest: PROTEINS' go up to 620 nodes against a
    mean of 39) runs sparse, which is the same model on the same graphs."""
    layout = SparseGraphBatch.from_padded if mask.numel() > 2 * int(mask.sum()) else DenseGraphBatch

    def batches(generator: torch.Generator) -> Iterator[tuple[GraphBatch, Tensor]]:
        order = torch.randperm(len(y), generator=generator).to(y.device)
        for start in range(0, len(y), batch_size):
            rows = order[start:start + batch_size]
            yield layout(x[rows], adj[rows], mask[rows]), y[rows]
    return batches


def sparse_batches(graphs: GraphSet, indices: Tensor, batch_size: int, device: torch.device) -> Batches:
    """Shuffled mini-batches of real graphs."""
    def batches(generator: torch.Generator) -> Iterator[tuple[GraphBatch, Tensor]]:
        order = indices[torch.randperm(len(indices), generator=generator)]
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            yield SparseGraphBatch.of(graphs, rows, device), graphs.y[rows].to(device)
    return batches


def accuracy(model: GraphClassifier, batch: GraphBatch, labels: Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(batch).argmax(1) == labels).float().mean())


def train_and_test(config: GraphEvalConfig, train: Batches, graphs: GraphSet, seed: int, device: torch.device,
                   held_out: tuple[tuple[GraphBatch, Tensor], tuple[GraphBatch, Tensor]] | None = None
                   ) -> tuple[float, float, GraphClassifier]:
    """One run: train a fresh classifier seeded ``seed``; return validation and test accuracy of the epoch with
    the best validation accuracy (the earliest among ties), and that model."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    (val, val_y), (test, test_y) = held_out or held_out_batches(graphs, device)
    model = GraphClassifier(graphs.num_features, config.hidden, graphs.num_classes, config.layers, config.arch,
                            config.pooling, config.dropout).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "half":
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [config.epochs // 2], gamma=0.1)
    else:
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, config.step_epochs, gamma=0.5)
    best_val, best_state = -1.0, None
    for _ in range(config.epochs):
        model.train()
        for batch, labels in train(generator):
            optimizer.zero_grad(set_to_none=True)
            F.nll_loss(model(batch), labels).backward()
            optimizer.step()
        scheduler.step()
        val_acc = accuracy(model, val, val_y)
        if val_acc > best_val:
            best_val, best_state = val_acc, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return best_val, accuracy(model, test, test_y), model


def held_out_batches(graphs: GraphSet, device: torch.device) -> tuple[tuple[GraphBatch, Tensor], tuple[GraphBatch, Tensor]]:
    """The validation and test graphs, each as one batch."""
    return tuple((SparseGraphBatch.of(graphs, idx, device), graphs.y[idx].to(device))
                 for idx in (graphs.val_idx, graphs.test_idx))  # type: ignore[return-value]


def evaluate_runs(config: GraphEvalConfig, train: Batches, graphs: GraphSet, device: torch.device,
                  progress: bool = False) -> dict[str, Any]:
    """``config.runs`` runs (run ``i`` seeded ``config.seed + i``); mean and std of test and validation accuracy."""
    held_out = held_out_batches(graphs, device)
    vals, tests = [], []
    for run in progress_bar(range(config.runs), progress, desc=f"evaluate {config.arch}", unit="run"):
        val, test, _ = train_and_test(config, train, graphs, config.seed + run, device, held_out)
        vals.append(val)
        tests.append(test)
    test_tensor, val_tensor = torch.tensor(tests), torch.tensor(vals)
    return {"test_acc_mean": float(test_tensor.mean()), "test_acc_std": float(test_tensor.std(unbiased=False)),
            "val_acc_mean": float(val_tensor.mean()), "test_accs": tests, "runs": config.runs, "arch": config.arch,
            "protocol": dataclasses.asdict(config)}
