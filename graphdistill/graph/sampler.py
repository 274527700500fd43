"""A pure-torch neighbour sampler (GraphSAGE-style fan-outs) for message passing on graphs too large for one batch.

PyG's ``NeighborLoader`` needs pyg-lib or torch-sparse; this does the same job with CSR arithmetic: for each
layer, every frontier node keeps ``min(fan-out, degree)`` of its neighbours drawn uniformly without
replacement, and the union of the sampled nodes and edges is returned as one small subgraph whose first
rows are the seed nodes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphdistill.core.indexing import concatenated_ranges


@dataclass(frozen=True)
class SampledSubgraph:
    """The sampled computation graph of some seed nodes.

    Attributes:
        nodes: ``(n,)`` global ids; ``nodes[:num_seeds]`` are the seeds in the order given.
        edge_index: ``(2, e)`` sampled edges ``(target, neighbour)`` in local numbering (positions in ``nodes``).
        num_seeds: number of seed nodes.
    """

    nodes: Tensor
    edge_index: Tensor
    num_seeds: int

    def adjacency(self) -> Tensor:
        """``(n, n)`` sparse COO adjacency with a 1 at ``(target, neighbour)`` for every sampled edge."""
        n = len(self.nodes)
        values = torch.ones(self.edge_index.shape[1], device=self.nodes.device)
        return torch.sparse_coo_tensor(self.edge_index, values, (n, n)).coalesce()


class NeighbourSampler:
    """Samples fixed fan-outs of neighbours per layer, deterministically from a generator.

    Args:
        edge_index: ``(2, E)`` edges sorted by their first row (as :class:`~graphdistill.graph.data.NodeGraph`
            keeps them); node ``v``'s neighbours are the second entries of the edges that start at ``v``.
        num_nodes: ``N``.
        fanouts: neighbours kept per node, outermost layer first (GCond's ``[15, 8]`` by default).
    """

    def __init__(self, edge_index: Tensor, num_nodes: int, fanouts: tuple[int, ...] = (15, 8)):
        if any(f < 1 for f in fanouts):
            raise ValueError(f"fan-outs must be positive, got {fanouts}")
        if edge_index.shape[1] and bool((edge_index[0, 1:] < edge_index[0, :-1]).any()):
            raise ValueError("edge_index must be sorted by its first row")
        counts = torch.bincount(edge_index[0], minlength=num_nodes)
        self.rowptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self.neighbours = edge_index[1]
        self.fanouts = tuple(fanouts)
        self.num_nodes = num_nodes

    def sample(self, seeds: Tensor, generator: torch.Generator | None = None) -> SampledSubgraph:
        """The subgraph of ``seeds (b,)`` (distinct nodes) after one round of sampling per fan-out."""
        device = self.rowptr.device
        position = torch.full((self.num_nodes,), -1, dtype=torch.long, device=device)
        position[seeds] = torch.arange(len(seeds), device=device)
        nodes, frontier, targets, sources = [seeds], seeds, [], []
        for fanout in self.fanouts:
            starts, ends = self.rowptr[frontier], self.rowptr[frontier + 1]
            slots = concatenated_ranges(starts, ends)
            owner = torch.repeat_interleave(torch.arange(len(frontier), device=device), ends - starts)
            # a random order inside each node's neighbour list: sort by owner, then by a uniform key
            keys = torch.rand(len(slots), generator=generator, device=device)
            order = torch.argsort(owner.double() + keys, stable=True)
            first = torch.cumsum(ends - starts, 0) - (ends - starts)
            rank = torch.arange(len(slots), device=device) - first[owner[order]]
            kept = order[rank < fanout]
            neighbour, target = self.neighbours[slots[kept]], frontier[owner[kept]]
            fresh = torch.unique(neighbour[position[neighbour] < 0])
            position[fresh] = sum(len(part) for part in nodes) + torch.arange(len(fresh), device=device)
            nodes.append(fresh)
            targets.append(position[target])
            sources.append(position[neighbour])
            frontier = fresh
        edges = torch.stack([torch.cat(targets), torch.cat(sources)]) if targets else seeds.new_zeros(2, 0)
        return SampledSubgraph(torch.cat(nodes), edges, len(seeds))
