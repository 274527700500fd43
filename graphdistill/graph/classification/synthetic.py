"""Learnable synthetic graph sets: every graph has ``n`` nodes, free features and a free symmetric adjacency."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn

from graphdistill.core.errors import InputError
from graphdistill.core.synthetic import SyntheticSet
from graphdistill.graph.classification.batch import DenseGraphBatch
from graphdistill.graph.classification.data import GraphSet

# Real edges start at sigmoid(5) ~ 0.99 and absent ones at sigmoid(-5) ~ 0.007 (DosCond's initialisation).
_LOGIT_SCALE = 5.0


class SyntheticGraphSet(SyntheticSet):
    """``G`` synthetic graphs of ``n`` nodes with fixed labels (rows of a class contiguous).

    The adjacency is ``sigmoid`` of symmetrised free logits with an empty diagonal; with ``discrete`` the
    forward pass uses a Bernoulli sample of it and the straight-through gradient of the probabilities
    (DosCond's discrete structures).

    Args:
        features: ``(G, n, F)`` initial features; logits: ``(G, n, n)`` initial edge logits; labels: ``(G,)``.
    """

    def __init__(self, features: Tensor, logits: Tensor, labels: Tensor, discrete: bool = False):
        super().__init__(labels)
        self.features = nn.Parameter(features.clone())
        self.logits = nn.Parameter(logits.clone())
        self.discrete = discrete
        self.register_buffer("mask", torch.ones(features.shape[:2], dtype=torch.bool))

    def parameter_groups(self) -> Mapping[str, list[nn.Parameter]]:
        return {"features": [self.features], "structure": [self.logits]}

    def probabilities(self) -> Tensor:
        """``(G, n, n)`` edge probabilities."""
        # Mirroring one triangle makes the result exactly symmetric (a vectorised sigmoid of the two triangles
        # may differ in the last bit).
        upper = torch.sigmoid((self.logits + self.logits.transpose(1, 2)) / 2).triu(1)
        return upper + upper.transpose(1, 2)

    def materialize(self, rows: slice | Tensor = slice(None)) -> DenseGraphBatch:
        """The batch of graphs ``rows`` (all by default), sampled when ``discrete``."""
        probs = self.probabilities()[rows]
        if self.discrete:
            upper = torch.bernoulli(probs.detach()).triu(1)
            probs = upper + upper.transpose(1, 2) + probs - probs.detach()
        return DenseGraphBatch(self.features[rows], probs, self.mask[rows])

    def export(self, discrete: bool) -> dict[str, Tensor]:
        """The condensed tensors: ``x (G, n, F)``, ``adj`` (thresholded at 0.5 when ``discrete``, else the
        probabilities), ``mask``, ``y``."""
        with torch.no_grad():
            probs = self.probabilities()
            adj = (probs > 0.5).float() if discrete else probs
            return {"x": self.features.detach().cpu().clone(), "adj": adj.cpu(), "mask": self.mask.cpu().clone(),
                    "y": self.labels.cpu().clone()}


def per_class_labels(graphs: GraphSet, per_class: int) -> Tensor:
    """``(C * per_class,)`` labels, class after class.

    Raises:
        InputError: a class with fewer training graphs than ``per_class``.
    """
    train_labels = graphs.y[graphs.train_idx]
    for cls in range(graphs.num_classes):
        available = int((train_labels == cls).sum())
        if available < per_class:
            raise InputError(f"class {cls} has {available} training graphs, fewer than --per-class {per_class}")
    return torch.arange(graphs.num_classes).repeat_interleave(per_class)


def initial_graphs(graphs: GraphSet, labels: Tensor, nodes: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random real training graphs of each label, preferring graphs of at most ``nodes`` nodes and keeping
    the first ``nodes`` nodes otherwise (DosCond's initialisation): ``features (G, n, F)``, ``logits (G, n, n)``."""
    train_labels, sizes = graphs.y[graphs.train_idx], graphs.sizes()[graphs.train_idx]
    picked = []
    for cls, count in zip(*torch.unique_consecutive(labels, return_counts=True)):
        members = torch.nonzero(train_labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        small_first = torch.cat([members[sizes[members] <= nodes], members[sizes[members] > nodes]])
        picked.append(graphs.train_idx[small_first[:int(count)]])
    x, adj, _ = graphs.dense(torch.cat(picked), max_nodes=nodes)
    return x, (2 * adj - 1) * _LOGIT_SCALE
