"""Node-classification graphs: Planetoid, a user's ``file:``, the OGB node-property layout and seeded csbm graphs.

Every source ends in :func:`build_node_graph`, which validates the tensors and cleans the edges in one place.
Sets of graphs are in :mod:`graphdistill.graph.classification.data`. Raw files are read in place, so a read-only
data root works, and nothing is downloaded unless asked for.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphdistill.core.data_root import cache_dir, not_found, resolve_data_root
from graphdistill.core.errors import InputError, describe
from graphdistill.core.split import SplitSpec
from graphdistill.graph.propagation import SPARSE_DENSITY, GraphOperators, at_rows, dense, density

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
_PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
DEFAULT_SPLIT = "0.6/0.2/0.2"
SPLIT_PARTS = ("train", "val", "test")


@dataclass
class NodeGraph:
    """A node-classification graph with its split.

    Attributes:
        name: dataset name as given (Planetoid names in lower case).
        x: ``(N, F)`` float32 node features as given (Planetoid's row-normalised): dense, or sparse CSR for a
            sparse input under 10 % non-zero (a ``file:`` graph's bag-of-words), which then stays sparse
            wherever the real graph is processed whole; :meth:`feature_rows` gives dense rows.
        edge_index: ``(2, E)`` directed edges sorted by source, each undirected edge twice, no self-loops.
        y: ``(N,)`` class labels ``0..C-1``.
        train_idx, val_idx, test_idx: sorted node indices of the split (validation and test may be empty in
            the inductive setting's training subgraph).
        facts: how the graph was read and split (recorded in ``meta.json``).
    """

    name: str
    x: Tensor
    edge_index: Tensor
    y: Tensor
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        return self.x.shape[1]

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1

    def feature_rows(self, rows: Tensor) -> Tensor:
        """Dense ``(k, F)`` features of the nodes ``rows (k,)``."""
        return dense(at_rows(self.x, rows))

    def memory_bytes(self) -> int:
        """Bytes the graph takes on a device: its tensors plus the CSR normalised adjacency its models build
        (12 bytes an edge and 8 a node)."""
        features = [self.x.crow_indices(), self.x.col_indices(), self.x.values()] \
            if self.x.layout == torch.sparse_csr else [self.x]
        tensors = features + [self.edge_index, self.y, self.train_idx, self.val_idx, self.test_idx]
        return sum(t.numel() * t.element_size() for t in tensors) + 12 * self.edge_index.shape[1] + 8 * self.num_nodes

    def operators(self) -> GraphOperators:
        """The normalised adjacency operators of this (undirected) graph, symmetric ones stored once."""
        return GraphOperators(self.adjacency(), symmetric=True)

    def adjacency(self) -> Tensor:
        """Unweighted ``(N, N)`` sparse COO adjacency."""
        values = torch.ones(self.edge_index.shape[1], dtype=self.x.dtype, device=self.x.device)
        return torch.sparse_coo_tensor(self.edge_index, values, (self.num_nodes, self.num_nodes),
                                       is_coalesced=True)

    def to(self, device: torch.device | str) -> "NodeGraph":
        return NodeGraph(self.name, self.x.to(device), self.edge_index.to(device), self.y.to(device),
                         self.train_idx.to(device), self.val_idx.to(device), self.test_idx.to(device), self.facts)

    def edges_among(self, nodes: Tensor) -> Tensor:
        """``(2, e)`` edges with both ends in ``nodes (k,)``, renumbered by position in ``nodes``; ``O(N + E)``."""
        position = torch.full((self.num_nodes,), -1, dtype=torch.long, device=self.edge_index.device)
        position[nodes] = torch.arange(len(nodes), device=position.device)
        ends = position[self.edge_index]
        return ends[:, (ends >= 0).all(0)]

    def induced_adjacency(self, nodes: Tensor) -> Tensor:
        """Dense unweighted ``(k, k)`` adjacency among ``nodes (k,)``, in their order (never ``N x N``)."""
        ends = self.edges_among(nodes)
        adj = torch.zeros(len(nodes), len(nodes), dtype=self.x.dtype, device=self.x.device)
        adj[ends[0], ends[1]] = 1.0
        return adj

    def training_subgraph(self) -> "NodeGraph":
        """The inductive setting's condensation input: the subgraph induced by the training nodes alone
        (their features, labels and the edges among them, renumbered ``0..n_train-1``); no validation or test
        node, feature or edge is in it."""
        edges = self.edges_among(self.train_idx)
        empty = self.train_idx.new_zeros(0)
        return NodeGraph(self.name, at_rows(self.x, self.train_idx), edges, self.y[self.train_idx],
                         torch.arange(len(self.train_idx), device=self.x.device), empty, empty,
                         {**self.facts, "setting": "inductive", "condensation_nodes": len(self.train_idx),
                          "condensation_edges": edges.shape[1]})


def symmetric_edges(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, dict[str, int]]:
    """Both directions of every edge, without self-loops or duplicates, sorted by source then target.

    Works on one flat ``int64`` key per edge, so memory stays a few multiples of ``E``.

    Returns:
        The ``(2, E')`` edges and counts of what was dropped or added (``self_loops``, ``duplicates``,
        ``reverse_added``).
    """
    rows, cols = edge_index[0].long(), edge_index[1].long()
    loops = rows == cols
    rows, cols = rows[~loops], cols[~loops]
    given = torch.unique(rows * num_nodes + cols)
    keys = torch.unique(torch.cat([given, cols * num_nodes + rows]))
    counts = {"self_loops": int(loops.sum()), "duplicates": len(rows) - len(given),
              "reverse_added": len(keys) - len(given)}
    return torch.stack([keys // num_nodes, keys % num_nodes]), counts


def build_node_graph(name: str, x: Tensor, edge_index: Tensor, y: Tensor, source: str,
                     split: tuple[Tensor, Tensor, Tensor] | None = None, split_spec: str | None = None,
                     split_seed: int = 0, facts: dict[str, Any] | None = None) -> NodeGraph:
    """Validate a graph's tensors, clean its edges (:func:`symmetric_edges`) and give it its split.

    Args:
        x: ``(N, F)`` float features, dense or sparse (kept as CSR under 10 % non-zero, else made dense);
            ``edge_index``: ``(2, E)`` integer; ``y``: ``(N,)`` integer labels.
        source: what the tensors came from, for error messages.
        split: the dataset's own ``(train, val, test)``, each a boolean ``(N,)`` mask or an index tensor.
        split_spec: a :class:`~graphdistill.core.split.SplitSpec` that replaces the dataset's split (and is
            used when it has none, default ``0.6/0.2/0.2``), drawn with ``split_seed``.

    Raises:
        InputError: every inconsistency, in one line naming ``source``.
    """
    if not isinstance(x, Tensor) or x.dim() != 2 or not x.is_floating_point() or x.shape[0] == 0:
        raise InputError(f"{source}: x must be a non-empty 2-D float (N, F) tensor, got {_shape(x)}")
    num_nodes = x.shape[0]
    if not isinstance(y, Tensor) or y.dim() != 1 or y.is_floating_point() or y.shape[0] != num_nodes:
        raise InputError(f"{source}: y must be an integer ({num_nodes},) tensor of node labels, got {_shape(y)}")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2 \
            or edge_index.is_floating_point():
        raise InputError(f"{source}: edge_index must be an integer (2, E) tensor, got {_shape(edge_index)}")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= num_nodes):
        raise InputError(f"{source}: edge_index names nodes outside 0..{num_nodes - 1}")
    if y.min() < 0:
        raise InputError(f"{source}: y holds the negative label {int(y.min())} (unlabelled nodes are not supported)")
    if len(torch.unique(y)) < 2:
        raise InputError(f"{source}: every node has the same label; node classification needs at least 2 classes")
    if x.layout != torch.strided:
        x = x.to_sparse_csr().float()  # duplicate COO entries are summed here
        if density(x) >= SPARSE_DENSITY:
            x = x.to_dense()
    else:
        x = x.float().contiguous()
    if not torch.isfinite(x.values() if x.layout == torch.sparse_csr else x).all():
        raise InputError(f"{source}: node features contain NaN or infinite values")
    y = y.long()
    if split_spec is not None or split is None:
        spec = SplitSpec.parse(split_spec or DEFAULT_SPLIT)
        train_idx, val_idx, test_idx = spec.apply(y, split_seed)
        split_facts: dict[str, Any] = {"split": str(spec), "split_seed": split_seed}
    else:
        train_idx, val_idx, test_idx = (_indices(part, num_nodes, f"{source}: {kind}")
                                        for part, kind in zip(split, SPLIT_PARTS))
        split_facts = {"split": "given"}
    parts = dict(zip(SPLIT_PARTS, (train_idx, val_idx, test_idx)))
    for kind, part in parts.items():
        if len(part) == 0:
            raise InputError(f"{source}: the {kind} split is empty")
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        if bool(torch.isin(parts[first], parts[second]).any()):
            raise InputError(f"{source}: the {first} and {second} splits overlap")
    edges, edge_facts = symmetric_edges(edge_index, num_nodes)
    split_facts.update({kind: len(part) for kind, part in parts.items()})
    return NodeGraph(name, x, edges, y, train_idx, val_idx, test_idx,
                     {**(facts or {}), **split_facts, "nodes": num_nodes, "edges": edges.shape[1], **edge_facts})


def _shape(value: Any) -> str:
    return f"{tuple(value.shape)} {value.dtype}" if isinstance(value, Tensor) else type(value).__name__


def _indices(part: Tensor, num_nodes: int, what: str) -> Tensor:
    """A boolean mask or an index tensor as sorted unique indices."""
    if not isinstance(part, Tensor) or part.dim() != 1:
        raise InputError(f"{what} must be a 1-D mask or index tensor, got {_shape(part)}")
    if part.dtype == torch.bool:
        if part.shape[0] != num_nodes:
            raise InputError(f"{what} mask has {part.shape[0]} entries for {num_nodes} nodes")
        return torch.nonzero(part).flatten()
    if part.is_floating_point():
        raise InputError(f"{what} must be a boolean mask or integer indices, got {part.dtype}")
    if part.numel() and (part.min() < 0 or part.max() >= num_nodes):
        raise InputError(f"{what} indices lie outside 0..{num_nodes - 1}")
    unique = torch.unique(part.long())
    if len(unique) != len(part):
        raise InputError(f"{what} indices repeat a node")
    return unique


def load_node_graph(name: str, data_root: str | os.PathLike | None = None, download: bool = False,
                    split: str | None = None, split_seed: int = 0) -> NodeGraph:
    """Load a node-classification graph by name.

    Args:
        name: ``cora|citeseer|pubmed`` (Planetoid, public split, row-normalised features); ``file:PATH``
            (a ``.pt`` or ``.npz``, see :mod:`graphdistill.graph.graph_file`); ``ogbn-arxiv|ogbn-products``
            (the OGB layout under the data root, see :mod:`graphdistill.graph.ogb`); ``csbm-arxiv``,
            ``csbm-products`` or ``csbm:key=value,...`` (generated and cached, see :mod:`graphdistill.graph.csbm`).
        data_root: see :func:`~graphdistill.core.data_root.resolve_data_root`.
        download: let PyG download Planetoid when there is no data root (a machine with internet).
        split, split_seed: a split spec that replaces the dataset's own split (see :func:`build_node_graph`).

    Raises:
        InputError: an unknown name, missing files (each one named), or anything :func:`build_node_graph` rejects.
    """
    from graphdistill.graph import csbm, graph_file, ogb

    if name.startswith(graph_file.FILE_PREFIX):
        return graph_file.read_graph_file(name, split, split_seed)
    if csbm.is_csbm(name):
        return csbm.load_csbm(name, split, split_seed)
    if name.lower() in ogb.OGB_NODE_DATASETS:
        return ogb.read_ogb_node_dataset(name, resolve_data_root(data_root), split, split_seed)
    key = name.lower()
    if key not in PLANETOID:
        raise InputError(f"unknown dataset {name!r}; node-classification datasets: {', '.join(PLANETOID)}, "
                         f"{', '.join(ogb.OGB_NODE_DATASETS)}, {', '.join(csbm.PRESETS)}, csbm:key=value,... "
                         f"or file:PATH")
    return _load_planetoid(key, resolve_data_root(data_root), download, split, split_seed)


def _load_planetoid(key: str, root: Path | None, download: bool, split: str | None, split_seed: int) -> NodeGraph:
    """Planetoid raw files from ``<root>/planetoid/<Name>/raw`` or ``<root>/<Name>/raw``; nothing is downloaded
    unless ``download`` is set (PyG's download into the cache dir, for a machine with internet)."""
    proper = PLANETOID[key]
    if root is None and download:
        from torch_geometric.datasets import Planetoid

        data = Planetoid(str(cache_dir() / "planetoid"), proper)[0]
    else:
        candidates = [root / "planetoid" / proper / "raw", root / proper / "raw"] if root is not None else []
        raw_dir = next((c for c in candidates if c.is_dir()), None)
        if raw_dir is None:
            raise not_found(f"{proper}'s Planetoid raw files (ind.{key}.x, .tx, .allx, .y, .ty, .ally, .graph, "
                            ".test.index)", [c / f"ind.{key}.x" for c in candidates], root,
                            ", or --download on a machine with internet")
        for suffix in _PLANETOID_SUFFIXES:
            if not (raw_dir / f"ind.{key}.{suffix}").is_file():
                raise not_found(f"{proper}'s Planetoid raw file", [raw_dir / f"ind.{key}.{suffix}"], root)
        from torch_geometric.io import read_planetoid_data

        try:
            data = read_planetoid_data(str(raw_dir), key)
        except Exception as exc:
            raise InputError(f"unreadable Planetoid files in {raw_dir}: {describe(exc)}") from exc
    x = data.x.float()
    x = x / x.sum(dim=-1, keepdim=True).clamp(min=1.0)
    return build_node_graph(key, x, data.edge_index, data.y, proper, (data.train_mask, data.val_mask, data.test_mask),
                            split, split_seed, {"source": f"planetoid {proper}"})

