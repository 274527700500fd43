"""Loading node-classification graphs (Planetoid); sets of graphs are in :mod:`graphdistill.graph.classification.data`.

Raw files are read with PyG's readers straight from the data root, so a read-only root works and
nothing is written next to ``raw/``. Missing files are reported before PyG is asked for anything, and
nothing is downloaded unless asked for.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from graphdistill.core.data_root import not_found, resolve_data_root
from graphdistill.core.errors import InputError, describe

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
_PLANETOID_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


@dataclass
class NodeGraph:
    """A node-classification graph with its public split.

    Attributes:
        name: dataset name (lower case).
        x: ``(N, F)`` row-normalised node features (dense float32).
        edge_index: ``(2, E)`` directed edges (each undirected edge appears twice).
        y: ``(N,)`` class labels.
        train_idx, val_idx, test_idx: node indices of the split.
    """

    name: str
    x: Tensor
    edge_index: Tensor
    y: Tensor
    train_idx: Tensor
    val_idx: Tensor
    test_idx: Tensor

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        return self.x.shape[1]

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1

    def adjacency(self) -> Tensor:
        """Unweighted ``(N, N)`` sparse COO adjacency."""
        values = torch.ones(self.edge_index.shape[1], dtype=self.x.dtype, device=self.x.device)
        return torch.sparse_coo_tensor(self.edge_index, values, (self.num_nodes, self.num_nodes)).coalesce()

    def to(self, device: torch.device | str) -> "NodeGraph":
        return NodeGraph(self.name, self.x.to(device), self.edge_index.to(device), self.y.to(device),
                         self.train_idx.to(device), self.val_idx.to(device), self.test_idx.to(device))


def _download_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graphdistill"


def load_node_graph(name: str, data_root: str | os.PathLike | None = None, download: bool = False) -> NodeGraph:
    """Load a Planetoid graph with the public split and row-normalised features.

    The raw files are looked up in ``<root>/planetoid/<Name>/raw`` and ``<root>/<Name>/raw`` (the root
    by :func:`~graphdistill.core.data_root.resolve_data_root`). Nothing is downloaded unless ``download``
    is set (PyG's download into ``~/.cache/graphdistill``, for a machine with internet).

    Raises:
        InputError: unknown name, or no raw files (naming the first missing one and where it was looked for).
    """
    key = name.lower()
    if key not in PLANETOID:
        raise InputError(f"unknown dataset {name!r}; node-classification datasets: {', '.join(PLANETOID)}")
    proper = PLANETOID[key]
    root = resolve_data_root(data_root)
    if root is None and download:
        from torch_geometric.datasets import Planetoid

        data = Planetoid(str(_download_root() / "planetoid"), proper)[0]
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
    if not torch.isfinite(x).all():
        raise InputError(f"{name}: features contain NaN or infinite values")
    arange = torch.arange(data.num_nodes)
    return NodeGraph(key, x, data.edge_index, data.y, arange[data.train_mask], arange[data.val_mask],
                     arange[data.test_mask])

