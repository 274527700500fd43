"""Graph classifiers that run unchanged on sparse (real) and dense padded (synthetic) batches."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core.errors import InputError
from graphdistill.graph.classification.batch import POOLINGS, GraphBatch

ARCHITECTURES = ("gcn", "gin")


class GraphClassifier(nn.Module):
    """``layers`` message-passing layers with ReLU, a graph pooling and a linear classifier; returns
    ``(G, classes)`` log-probabilities.

    Args:
        arch: ``gcn`` (``GCNConv``: ``D^-1/2 (A+I) D^-1/2 h W + b``, DosCond's model) or ``gin``
            (GIN-0: ``MLP(h + A h)`` with a two-layer MLP, KiDD's evaluation model).
        pooling: ``mean`` or ``sum`` over each graph's nodes.
        dropout: on the pooled representation during training.
    """

    def __init__(self, in_features: int, hidden: int, classes: int, layers: int = 3, arch: str = "gcn",
                 pooling: str = "mean", dropout: float = 0.0):
        super().__init__()
        if arch not in ARCHITECTURES:
            raise InputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if layers < 1:
            raise InputError(f"a graph classifier needs at least one layer, got {layers}")
        self.arch, self.pooling, self.dropout = arch, pooling, dropout
        sizes = [in_features] + [hidden] * layers
        if arch == "gcn":
            self.weights = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:]))
            self.biases = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in sizes[1:])
        else:
            self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b))
                                      for a, b in zip(sizes, sizes[1:]))
        self.classifier = nn.Linear(hidden, classes)

    def embed(self, batch: GraphBatch) -> Tensor:
        """``(G, hidden)`` pooled graph representations."""
        h = batch.x
        if self.arch == "gcn":
            for weight, bias in zip(self.weights, self.biases):
                h = F.relu(batch.gcn(weight(h)) + bias)
        else:
            for mlp in self.mlps:
                h = F.relu(mlp(h + batch.neighbour_sum(h)))
        return batch.pool(h, self.pooling)

    def forward(self, batch: GraphBatch) -> Tensor:
        h = F.dropout(self.embed(batch), self.dropout, self.training)
        return F.log_softmax(self.classifier(h), dim=-1)

