"""GEOM's curriculum (after CLNode): training nodes ordered from easy to hard, and the share of them an expert
trains on at each epoch.

A node is hard when its neighbourhood's labels disagree: its difficulty is the entropy of the label
distribution over itself and its neighbours. Labels of non-training nodes are not known; GEOM's code reads the
true labels of every node there (test nodes included), which leaks the test labels into the experts. Here the
training nodes keep their labels and every other node takes the label that label propagation from the training
nodes gives it (``alpha = 0.9``, 10 rounds over ``D^-1/2 (A+I) D^-1/2``), so no validation or test label is read.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.propagation import matmul

#: How the share of training nodes grows from ``start`` at epoch 0 to 1 at epoch ``epochs`` (GEOM's three).
SCHEDULERS = ("linear", "root", "geom")


def propagated_labels(graph: NodeGraph, rounds: int = 10, alpha: float = 0.9) -> Tensor:
    """``(N,)`` labels: the training nodes' own, label propagation's argmax elsewhere."""
    seeds = torch.zeros(graph.num_nodes, graph.num_classes, device=graph.x.device)
    seeds[graph.train_idx] = F.one_hot(graph.y[graph.train_idx], graph.num_classes).float()
    operator = graph.operators()("gcn")
    scores = seeds
    for _ in range(rounds):
        scores = alpha * matmul(operator, scores) + (1 - alpha) * seeds
    labels = scores.argmax(1)
    labels[graph.train_idx] = graph.y[graph.train_idx]
    return labels


def neighbourhood_difficulty(graph: NodeGraph) -> Tensor:
    """``(len(train_idx),)`` entropy of the labels of each training node and its neighbours."""
    labels = propagated_labels(graph)
    source, target = graph.edge_index
    counts = F.one_hot(labels, graph.num_classes).float()  # each node counts itself
    counts = counts.index_add(0, source, F.one_hot(labels[target], graph.num_classes).float())
    share = counts[graph.train_idx] / counts[graph.train_idx].sum(1, keepdim=True)
    return -(share * share.clamp_min(1e-12).log()).sum(1)


def curriculum_order(graph: NodeGraph) -> Tensor:
    """The training node ids from easiest to hardest (a stable sort: ties keep the ``train_idx`` order)."""
    order = torch.sort(neighbourhood_difficulty(graph), stable=True).indices
    return graph.train_idx[order]


def curriculum_share(epoch: int, start: float, epochs: int, scheduler: str) -> float:
    """The share of the ordered training nodes used at ``epoch``: ``start`` at epoch 0, growing to 1 at
    ``epochs`` (``linear``, ``root``: square-root pacing, or ``geom``: geometric)."""
    progress = epoch / epochs
    if scheduler == "linear":
        share = start + (1 - start) * progress
    elif scheduler == "root":
        share = math.sqrt(start ** 2 + (1 - start ** 2) * progress)
    elif scheduler == "geom":
        share = start ** (1 - progress)
    else:
        raise InputError(f"unknown curriculum scheduler {scheduler!r}; choose one of {SCHEDULERS}")
    return min(1.0, share)
