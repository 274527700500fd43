"""A reference point for structure-free condensation: every synthetic node is its class's mean training feature.

    python benchmarks/class_mean_reference.py csbm-arxiv 454 OUT_DIR
    graphdistill evaluate graph --dataset csbm-arxiv --feat OUT_DIR/agg2_feat.pt --labels OUT_DIR/labels.pt --runs 1

Writes, for GCond's allocation of ``BUDGET`` nodes, the labels and two feature files: ``raw_feat.pt`` (class means of
``X``) and ``agg2_feat.pt`` (class means of ``A_hat^2 X``, what a 2-layer GCN sees), and prints both feature
scales. Gradient matching at random weights pulls each class's synthetic features towards such a mean, so this
shows what the learned methods can reach without a structure. Not a test: the figures are quoted in the README.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from graphdistill.graph.budget import allocate_labels, labels_from_allocation
from graphdistill.graph.data import load_node_graph
from graphdistill.graph.propagation import propagate_rows


def main(dataset: str, budget: int, out: Path) -> None:
    graph = load_node_graph(dataset)
    train_x, train_y = graph.x[graph.train_idx], graph.y[graph.train_idx]
    labels = labels_from_allocation(allocate_labels(train_y, budget))
    aggregated = propagate_rows(graph.operators(), graph.x, 2, graph.train_idx)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(labels, out / "labels.pt")
    for name, features in (("raw", train_x), ("agg2", aggregated)):
        means = torch.stack([features[train_y == c].mean(0) for c in range(graph.num_classes)])
        torch.save(means[labels], out / f"{name}_feat.pt")
        print(f"{name}: feature std {float(features.std()):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
