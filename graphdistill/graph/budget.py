"""How many synthetic nodes, and how many of each class (GCond's allocation rule)."""
from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.graph.data import NodeGraph

RATIO_BASES = ("labelled", "train", "graph")


@dataclass(frozen=True)
class Budget:
    """A resolved budget: ``nodes`` synthetic nodes and how the user asked for them.

    Attributes:
        nodes: number of synthetic nodes.
        ratio: the requested ratio, or ``None`` when ``--budget`` was given.
        basis: what the ratio is of (``labelled``/``train``/``graph``), or ``"nodes"`` for ``--budget``.
        basis_size: size of that basis on the dataset.
    """

    nodes: int
    ratio: float | None
    basis: str
    basis_size: int

    def as_dict(self) -> dict:
        return {"nodes": self.nodes, "ratio": self.ratio, "basis": self.basis, "basis_size": self.basis_size}


def resolve_budget(graph: NodeGraph, budget: int | None = None, ratio: float | None = None,
                   ratio_of: str = "labelled") -> Budget:
    """Turn ``--budget N`` or ``--ratio r --ratio-of basis`` into a node count and check it.

    ``labelled`` is the number of labelled training nodes (GCond's ``reduction_rate``: r=0.5 on Cora is
    70 nodes), ``train`` the training set (equal to ``labelled`` for the transductive public splits),
    ``graph`` the whole graph (the "ratio" column of GCond's paper: 2.6% of Cora is 70 nodes).

    Raises:
        InputError: neither or both given, a ratio outside (0, 1], fewer nodes than classes, or more
            nodes than training nodes.
    """
    if (budget is None) == (ratio is None):
        raise InputError("give exactly one of --budget N or --ratio r")
    n_train = len(graph.train_idx)
    if ratio is not None:
        if ratio_of not in RATIO_BASES:
            raise InputError(f"unknown --ratio-of {ratio_of!r}; choose one of {', '.join(RATIO_BASES)}")
        if not 0 < ratio <= 1:
            raise InputError(f"--ratio must be in (0, 1], got {ratio}")
        size = graph.num_nodes if ratio_of == "graph" else n_train
        resolved = Budget(int(round(ratio * size, 9)), ratio, ratio_of, size)
    else:
        resolved = Budget(int(budget), None, "nodes", int(budget))
    classes = len(torch.unique(graph.y[graph.train_idx]))
    if resolved.nodes < classes:
        raise InputError(f"budget of {resolved.nodes} synthetic nodes is below the number of classes ({classes})")
    if resolved.nodes > n_train:
        raise InputError(f"budget of {resolved.nodes} synthetic nodes is above the {n_train} training nodes")
    _warn_if_dense_side_is_large(resolved.nodes)
    return resolved


# A learned structure (GCond's generator: 3 layers of 128 units per node pair, kept for the backward) costs
# about this much per synthetic node pair; the synthetic side is dense by design.
BYTES_PER_SYNTHETIC_PAIR = 3 * 128 * 4
DENSE_SHARE_OF_MEMORY = 0.5


def _warn_if_dense_side_is_large(nodes: int) -> None:
    """Warn when the dense ``n' x n'`` synthetic side may not fit in half of the machine's memory."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no estimate, no warning
        return
    needed = nodes * nodes * BYTES_PER_SYNTHETIC_PAIR
    if needed > DENSE_SHARE_OF_MEMORY * memory:
        warnings.warn(f"{nodes} synthetic nodes: a learned dense structure needs about {needed / 2**30:.1f} GiB "
                      f"({nodes}^2 node pairs), over half of this machine's {memory / 2**30:.1f} GiB; "
                      "a structure-free method (gcond-x, gc-sntk) or a smaller budget fits", stacklevel=3)


def allocate_labels(train_labels: Tensor, nodes: int) -> dict[int, int]:
    """GCond's rule: classes sorted by training count ascending (ties in order of first appearance);
    each class but the last gets ``max(floor(count * r), 1)`` with ``r = nodes / n_train``, the last
    (largest) gets the remainder.

    Returns:
        ``{class: count}`` in allocation order; synthetic rows are grouped by class in this order.
    """
    counts = Counter(train_labels.tolist())
    ordered = sorted(counts.items(), key=lambda item: item[1])
    n_train = len(train_labels)
    allocation: dict[int, int] = {}
    for cls, count in ordered[:-1]:
        allocation[cls] = max(count * nodes // n_train, 1)
    last = ordered[-1][0]
    allocation[last] = nodes - sum(allocation.values())
    if allocation[last] < 1:
        raise InputError(f"budget of {nodes} nodes leaves nothing for class {last} after one node per smaller class")
    return allocation


def labels_from_allocation(allocation: dict[int, int]) -> Tensor:
    """``(nodes,)`` label vector with rows grouped by class in allocation order."""
    return torch.cat([torch.full((count,), cls, dtype=torch.long) for cls, count in allocation.items()])
