"""Condensed graph sets on disk: ``graphs.pt`` (a dict of padded dense tensors) + ``meta.json``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphdistill.core.atomic import read_output, staged_directory, write_json
from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed

GRAPHS_FILE = "graphs.pt"
META_FILE = "meta.json"
_FIELDS = ("x", "adj", "mask", "y")


def save_graph_set(out: str | os.PathLike, condensed: Condensed, overwrite: bool = False) -> Path:
    """Write ``<out>/graphs.pt`` (``x (G, n, F)``, ``adj (G, n, n)``, ``mask (G, n)``, ``y (G,)``) and
    ``<out>/meta.json``, both or neither."""
    out = Path(out)
    tensors = {name: condensed.data[name].detach().cpu().contiguous() for name in _FIELDS}
    tensors["mask"], tensors["y"] = tensors["mask"].bool(), tensors["y"].long()
    with staged_directory(out, overwrite=overwrite) as stage:
        torch.save(tensors, stage / GRAPHS_FILE)
        write_json(condensed.meta, stage / META_FILE)
    return out


def read_graph_set(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The validated tensors and ``meta`` of a directory written by :func:`save_graph_set` (or its ``graphs.pt``)."""
    file, tensors, meta = read_output(path, GRAPHS_FILE, "condensed graph set")
    if not isinstance(tensors, dict) or not all(isinstance(tensors.get(k), Tensor) for k in _FIELDS):
        raise InputError(f"{file} is not a condensed graph set (needs tensors {', '.join(_FIELDS)})")
    check_graph_set(tensors, str(file))
    return ({"x": tensors["x"].float(), "adj": tensors["adj"].float(), "mask": tensors["mask"].bool(),
             "y": tensors["y"].long()}, meta)


def check_graph_set(tensors: dict[str, Tensor], source: str) -> None:
    """Shapes and values; every problem is an :class:`InputError` naming ``source`` and the field."""
    x, adj, mask, y = (tensors[k] for k in _FIELDS)
    if x.dim() != 3 or x.shape[0] == 0 or not x.is_floating_point() or not torch.isfinite(x).all():
        raise InputError(f"{source}: x must be a finite float (G, n, F) tensor, got {tuple(x.shape)} {x.dtype}")
    g, n = x.shape[:2]
    if tuple(adj.shape) != (g, n, n) or not torch.isfinite(adj).all() or bool((adj < 0).any()):
        raise InputError(f"{source}: adj must be ({g}, {n}, {n}) with finite non-negative weights, "
                         f"got {tuple(adj.shape)}")
    if tuple(mask.shape) != (g, n):
        raise InputError(f"{source}: mask must be ({g}, {n}), got {tuple(mask.shape)}")
    if not bool(mask.bool().any(1).all()):
        raise InputError(f"{source}: a graph has no nodes (its mask is all False)")
    if y.shape != (g,) or y.is_floating_point() or bool((y < 0).any()):
        raise InputError(f"{source}: y must hold {g} non-negative integer labels, got {tuple(y.shape)} {y.dtype}")


def load_graph_set_output(path: str | os.PathLike) -> list:
    """A condensed graph set as a list of PyG ``Data`` (``x``, ``edge_index``, ``edge_weight``, ``y``), padding
    nodes removed; ``torch_geometric.data.Batch.from_data_list`` batches them."""
    from torch_geometric.data import Data

    tensors, _ = read_graph_set(path)
    graphs = []
    for x, adj, mask, y in zip(tensors["x"], tensors["adj"], tensors["mask"], tensors["y"]):
        keep = mask.nonzero().flatten()
        sub = adj[keep][:, keep]
        edge_index = sub.nonzero().T.contiguous()
        graphs.append(Data(x=x[keep], edge_index=edge_index, edge_weight=sub[edge_index[0], edge_index[1]],
                           y=y.view(1), num_nodes=len(keep)))
    return graphs
