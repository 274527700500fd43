"""The standard evaluation: train a fresh network on the synthetic set, report real test accuracy."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from graphdistill.core.progress import progress_bar

from graphdistill.core.errors import InputError
from graphdistill.core.method import EvaluationRuns
from graphdistill.core.seed import seed_everything
from images.data import ImageData
from images.dc_augment import DCAugment
from images.dsa import DSA
from images.models import ARCHITECTURES, build

AUGMENTATIONS: dict[str, Callable[[], Callable[[Tensor], Tensor] | None]] = {
    "dsa": DSA, "dc": DCAugment, "none": lambda: None}


@dataclass(frozen=True)
class EvalConfig(EvaluationRuns):
    """DC / DSA / DM's protocol: SGD (momentum 0.9, weight decay 5e-4) at lr 0.01, batch 256, ``epochs``
    (default 1000 with augmentation, 300 without), lr x 0.1 at the halfway epoch; test accuracy at the end;
    run ``i`` uses seed ``seed + i``.

    ``augment``: ``dsa`` (DSA and DM's protocol), ``dc`` (the DC paper's per-image crop / scale / rotate, with
    which its MNIST numbers were measured) or ``none``.
    """

    arch: str = "convnet"
    epochs: int = 0
    momentum: float = 0.9
    batch: int = 256
    augment: str = "dsa"

    def __post_init__(self) -> None:
        ARCHITECTURES[self.arch]
        if self.augment not in AUGMENTATIONS:
            raise InputError(f"unknown augmentation {self.augment!r}; choose from {', '.join(AUGMENTATIONS)}")
        if self.runs < 1 or self.epochs < 0 or self.batch < 1:
            raise InputError(f"impossible evaluation settings: {self}")

    @property
    def total_epochs(self) -> int:
        return self.epochs or (300 if self.augment == "none" else 1000)


def _loss(logits: Tensor, targets: Tensor) -> Tensor:
    # Learned (KIP) labels are regression targets; class labels use cross-entropy.
    return F.mse_loss(logits, targets) if targets.dim() == 2 else F.cross_entropy(logits, targets)


def train_network(model: nn.Module, x: Tensor, y: Tensor, config: EvalConfig, progress: bool = False) -> nn.Module:
    """Train ``model`` on ``(x, y)`` with the protocol's schedule (global RNG for batches and DSA)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    halfway = config.total_epochs // 2
    augment = AUGMENTATIONS[config.augment]()
    model.train()
    for epoch in progress_bar(range(config.total_epochs), progress, nested=True, desc="train", unit="epoch", leave=False):
        if epoch == halfway:
            for group in optimizer.param_groups:
                group["lr"] *= 0.1
        order = torch.randperm(x.shape[0], device=x.device)
        for start in range(0, x.shape[0], config.batch):
            batch = order[start:start + config.batch]
            inputs = augment(x[batch]) if augment is not None else x[batch]
            optimizer.zero_grad(set_to_none=True)
            _loss(model(inputs), y[batch]).backward()
            optimizer.step()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(y), batch))
    return correct / len(y)


def evaluate_synthetic(data: ImageData, x: Tensor, y: Tensor, config: EvalConfig,
                       device: torch.device = torch.device("cpu"), progress: bool = False) -> dict:
    """Mean and std test accuracy (fractions) of ``config.runs`` networks trained on ``(x, y)``."""
    started = time.perf_counter()
    x, y = x.to(device), y.to(device)
    test_x, test_y = data.test_x.to(device), data.test_y.to(device)
    accs = []
    for run in progress_bar(range(config.runs), progress, desc="evaluate", unit="run"):
        seed_everything(config.seed + run)
        model = build(config.arch, data.shape, data.num_classes, device)
        train_network(model, x, y, config, progress=progress)
        accs.append(accuracy(model, test_x, test_y))
    return {"test_acc_mean": float(np.mean(accs)), "test_acc_std": float(np.std(accs)), "test_accs": accs,
            "runs": config.runs, "arch": config.arch, "epochs": config.total_epochs, "augment": config.augment,
            "wall_s": time.perf_counter() - started}
