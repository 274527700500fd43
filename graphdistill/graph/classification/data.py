"""Sets of small graphs for graph classification: TU folders read in place, a user's ``file:`` set, the split.

A TU folder (``<root>/TUDataset/<NAME>/raw``) is parsed here rather than by PyG's reader so that every
inconsistency (a graph without nodes, files of different lengths, edges across graphs) is a one-line
:class:`~graphdistill.core.errors.InputError` naming the file, and nothing is ever written next to ``raw/``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphdistill.core.atomic import load_torch_file
from graphdistill.core.data_root import not_found, resolve_data_root
from graphdistill.core.errors import InputError
from graphdistill.core.split import stratified_split

TUDATASETS = ("MUTAG", "PROTEINS", "NCI1", "NCI109", "ENZYMES", "PTC_MR", "DD", "IMDB-BINARY", "IMDB-MULTI", "COLLAB")
FILE_PREFIX = "file:"


@dataclass
class GraphSet:
    """A labelled set of graphs, stored flat (PyG's batch layout) with a train/val/test split of graph indices.

    Attributes:
        name: dataset name as given.
        x: ``(N, F)`` node features of all graphs, graph after graph.
        edge_index: ``(2, E)`` directed edges in global node numbering (each undirected edge twice), sorted by graph.
        ptr: ``(G + 1,)`` node offsets: graph ``g`` owns nodes ``ptr[g]:ptr[g + 1]``.
        edge_ptr: ``(G + 1,)`` edge offsets, likewise.
        y: ``(G,)`` class labels ``0..C-1``.
        train_idx, val_idx, test_idx: graph indices of the split.
        split: how the split was made (recorded in ``meta.json``).
    """

    name: str
    x: Tensor
    edge_index: Tensor
    ptr: Tensor
    edge_ptr: Tensor
    y: Tensor
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor
    split: dict[str, Any] = field(default_factory=dict)

    @property
    def num_graphs(self) -> int:
        return self.y.shape[0]

    @property
    def num_features(self) -> int:
        return self.x.shape[1]

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1

    def sizes(self) -> Tensor:
        """``(G,)`` node counts."""
        return self.ptr[1:] - self.ptr[:-1]

    def mean_nodes(self) -> int:
        """The mean graph size, rounded: the size of every synthetic graph (DosCond)."""
        return max(1, int(round(float(self.sizes().float().mean()))))

    def graph(self, index: int) -> tuple[Tensor, Tensor]:
        """``(x (n, F), edge_index (2, e))`` of one graph, in local node numbering."""
        start, end = int(self.ptr[index]), int(self.ptr[index + 1])
        edges = self.edge_index[:, int(self.edge_ptr[index]):int(self.edge_ptr[index + 1])] - start
        return self.x[start:end], edges

    def dense(self, indices: Tensor, max_nodes: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Graphs ``indices`` padded to one size: ``x (B, n, F)``, ``adj (B, n, n)``, ``mask (B, n)``; graphs larger
        than ``max_nodes`` keep their first ``max_nodes`` nodes (DosCond's initialisation)."""
        sizes = self.sizes()[indices]
        n = int(sizes.max()) if max_nodes is None else max_nodes
        x = self.x.new_zeros(len(indices), n, self.num_features)
        adj = self.x.new_zeros(len(indices), n, n)
        mask = torch.zeros(len(indices), n, dtype=torch.bool)
        for row, index in enumerate(indices.tolist()):
            features, edges = self.graph(index)
            keep = min(n, features.shape[0])
            x[row, :keep] = features[:keep]
            mask[row, :keep] = True
            inside = (edges < keep).all(0)
            adj[row, edges[0, inside], edges[1, inside]] = 1.0
        return x, adj, mask


def load_graph_set(name: str, data_root: str | os.PathLike | None = None, split_seed: int = 0) -> GraphSet:
    """A TU dataset by name (from ``<root>/TUDataset/<NAME>/raw``; any folder in TU's text format works; node
    features are the node attributes followed by the one-hot node labels, as PyG's ``use_node_attr=True``, or a
    constant 1 when the folder has neither) or ``file:PATH`` (a ``.pt`` dict of tensors
    ``x (N, F)``, ``edge_index (2, E)``, ``batch (N,)`` or ``ptr (G+1,)``, ``y (G,)``), with a stratified
    80/10/10 split drawn with ``split_seed``.

    Raises:
        InputError: unknown name, missing or inconsistent files (one line naming the file and the problem).
    """
    if name.startswith(FILE_PREFIX):
        x, edge_index, graph_of_node, y, num_graphs = _read_file_set(Path(name[len(FILE_PREFIX):]))
        source = name
    else:
        x, edge_index, graph_of_node, y, num_graphs = _read_tu(name, resolve_data_root(data_root))
        source = f"TUDataset {name}"
    return _assemble(name, x, edge_index, graph_of_node, y, num_graphs, source, split_seed)


def _read_tu(name: str, root: Path | None) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    proper = next((t for t in TUDATASETS if t.lower() == name.lower()), name)
    raw = root / "TUDataset" / proper / "raw" if root is not None else None
    if proper not in TUDATASETS and (raw is None or not raw.is_dir()):
        raise InputError(f"unknown dataset {name!r}; graph-classification datasets: {', '.join(TUDATASETS)}, any "
                         f"folder TUDataset/<NAME>/raw under the data root, or {FILE_PREFIX}PATH")
    for suffix in ("A", "graph_indicator", "graph_labels"):
        if raw is None or not (raw / f"{proper}_{suffix}.txt").is_file():
            raise not_found(f"{proper}'s TUDataset raw file {proper}_{suffix}.txt",
                            [raw / f"{proper}_{suffix}.txt"] if raw is not None else [], root)
    indicator = _read_table(raw / f"{proper}_graph_indicator.txt")[:, 0] - 1
    labels = _read_table(raw / f"{proper}_graph_labels.txt")[:, 0]
    edges = _read_table(raw / f"{proper}_A.txt", 2).T - 1
    num_nodes, num_graphs = len(indicator), len(labels)
    if indicator.min() < 0 or indicator.max() >= num_graphs:
        raise InputError(f"{proper}_graph_indicator.txt names graph {int(indicator.max()) + 1} but "
                         f"{proper}_graph_labels.txt has {num_graphs} graphs")
    if edges.size and (edges.min() < 0 or edges.max() >= num_nodes):
        raise InputError(f"{proper}_A.txt names node {int(edges.max()) + 1} but {proper}_graph_indicator.txt "
                         f"has {num_nodes} nodes")
    def per_node(path: Path, columns: int | None, dtype: type) -> np.ndarray:
        values = _read_table(path, columns, dtype)
        if len(values) != num_nodes:
            raise InputError(f"{path.name} has {len(values)} lines but {proper}_graph_indicator.txt has "
                             f"{num_nodes}: the files do not describe the same nodes")
        return values

    features = []
    attributes = raw / f"{proper}_node_attributes.txt"
    if attributes.is_file():
        features.append(per_node(attributes, None, np.float32))
    node_labels = raw / f"{proper}_node_labels.txt"
    if node_labels.is_file():
        codes = np.unique(per_node(node_labels, 1, np.int64)[:, 0], return_inverse=True)[1]
        features.append(np.eye(codes.max() + 1, dtype=np.float32)[codes])
    x = np.concatenate(features, 1) if features else np.ones((num_nodes, 1), dtype=np.float32)
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise InputError(f"{proper}_graph_labels.txt holds a single class")
    return (torch.from_numpy(x), torch.from_numpy(edges).long(), torch.from_numpy(indicator).long(),
            torch.from_numpy(y).long(), num_graphs)


def _read_table(path: Path, columns: int | None = 1, dtype: type = np.int64) -> np.ndarray:
    """A TU text file as ``(lines, columns)`` (comma-separated; ``columns=None``: any number)."""
    try:
        values = np.loadtxt(path, delimiter=None if columns == 1 else ",", dtype=dtype, ndmin=2)
    except ValueError as exc:
        raise InputError(f"{path.name} is malformed: {str(exc).splitlines()[0]}") from exc
    if values.shape[0] == 0 or (columns is not None and values.shape[1] != columns):
        raise InputError(f"{path.name} must hold {columns} number column(s) per line, got shape {values.shape}")
    return values


def _read_file_set(path: Path) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    if not path.is_file():
        raise InputError(f"graph set file not found: {path}")
    data = load_torch_file(path, "graph set")
    if not isinstance(data, dict) or not {"x", "edge_index", "y"} <= set(data) or not ({"batch", "ptr"} & set(data)):
        raise InputError(f"{path} must be a dict of tensors x, edge_index, y and batch or ptr")
    x, edge_index, y = data["x"], data["edge_index"], data["y"]
    if not all(isinstance(t, Tensor) for t in (x, edge_index, y)):
        raise InputError(f"{path}: x, edge_index and y must be tensors")
    if x.dim() != 2 or not x.is_floating_point():
        raise InputError(f"{path}: x must be a 2-D float (N, F) tensor, got {tuple(x.shape)} {x.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_index.is_floating_point():
        raise InputError(f"{path}: edge_index must be an integer (2, E) tensor, got {tuple(edge_index.shape)}")
    if y.dim() != 1 or y.is_floating_point():
        raise InputError(f"{path}: y must be an integer (G,) tensor of graph labels, got {tuple(y.shape)}")
    if "batch" in data:
        graph_of_node = data["batch"].long()
    else:
        ptr = data["ptr"].long()
        if ptr.dim() != 1 or ptr[0] != 0 or ptr[-1] != x.shape[0] or bool((ptr[1:] < ptr[:-1]).any()):
            raise InputError(f"{path}: ptr must rise from 0 to {x.shape[0]} (the number of nodes)")
        graph_of_node = torch.repeat_interleave(torch.arange(len(ptr) - 1), ptr[1:] - ptr[:-1])
    if graph_of_node.shape != (x.shape[0],):
        raise InputError(f"{path}: batch has {graph_of_node.numel()} entries but x has {x.shape[0]} nodes")
    if graph_of_node.numel() and (graph_of_node.min() < 0 or graph_of_node.max() >= len(y)):
        raise InputError(f"{path}: batch names graphs outside 0..{len(y) - 1} (y has {len(y)} labels)")
    if edge_index.numel() and (edge_index.min() < 0 or edge_index.max() >= x.shape[0]):
        raise InputError(f"{path}: edge_index names nodes outside 0..{x.shape[0] - 1}")
    if y.numel() and y.min() < 0:
        raise InputError(f"{path}: y holds the negative label {int(y.min())}")
    return x.float(), edge_index.long(), graph_of_node, y.long(), len(y)


def _assemble(name: str, x: Tensor, edge_index: Tensor, graph_of_node: Tensor, y: Tensor, num_graphs: int,
              source: str, split_seed: int) -> GraphSet:
    if not torch.isfinite(x).all():
        raise InputError(f"{source}: node features contain NaN or infinite values")
    sizes = torch.bincount(graph_of_node, minlength=num_graphs)
    if bool((sizes == 0).any()):
        empty = int(torch.nonzero(sizes == 0)[0])
        raise InputError(f"{source}: graph {empty + 1} of {num_graphs} has no nodes")
    if bool((graph_of_node[1:] < graph_of_node[:-1]).any()):
        raise InputError(f"{source}: nodes must be listed graph after graph (the graph indicator is not sorted)")
    if edge_index.numel() and bool((graph_of_node[edge_index[0]] != graph_of_node[edge_index[1]]).any()):
        raise InputError(f"{source}: an edge joins nodes of two different graphs")
    ptr = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    undirected = torch.cat([edge_index, edge_index.flip(0)], 1)
    undirected = undirected[:, undirected[0] != undirected[1]]
    undirected = torch.unique(undirected, dim=1)  # sorted by source node, hence by graph
    edge_graph = graph_of_node[undirected[0]]
    edge_ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.bincount(edge_graph, minlength=num_graphs).cumsum(0)])
    train_idx, val_idx, test_idx = stratified_split(y, split_seed, (0.8, 0.1, 0.1))
    split = {"kind": "stratified 80/10/10", "seed": split_seed, "train": len(train_idx), "val": len(val_idx),
             "test": len(test_idx)}
    return GraphSet(name, x, undirected, ptr, edge_ptr, y, train_idx, val_idx, test_idx, split)
