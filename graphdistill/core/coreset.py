"""Coreset selection on embeddings, shared by every modality's ``herding`` / ``kcenter`` baselines."""
from __future__ import annotations

import torch
from torch import Tensor


def herding(embeddings: Tensor, count: int) -> list[int]:
    """Welling's herding: greedily pick rows of ``(n, d)`` ``embeddings`` whose running mean tracks the
    mean of all rows; returns ``count`` distinct row indices in pick order."""
    mean = embeddings.mean(0, keepdim=True)
    chosen: list[int] = []
    remaining = list(range(len(embeddings)))
    for i in range(count):
        target = mean * (i + 1) - embeddings[chosen].sum(0, keepdim=True)
        best = int(torch.cdist(target, embeddings[remaining]).argmin())
        chosen.append(remaining.pop(best))
    return chosen


def kcenter(embeddings: Tensor, count: int) -> list[int]:
    """Greedy k-center: start at the row nearest the mean, then repeatedly add the row farthest from the
    chosen ones; returns ``count`` row indices."""
    mean = embeddings.mean(0, keepdim=True)
    chosen = [int(torch.cdist(embeddings, mean)[:, 0].argmin())]
    for _ in range(count - 1):
        nearest = torch.cdist(embeddings, embeddings[chosen]).min(dim=1).values
        chosen.append(int(nearest.argmax()))
    return chosen
