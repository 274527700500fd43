"""Condensed graphs on disk: ``graph.pt`` (a dict of tensors) + ``meta.json``; never a pickled object."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphdistill.core.atomic import read_json_if_present, staged_directory, write_json
from graphdistill.core.errors import InputError, describe

GRAPH_FILE = "graph.pt"
META_FILE = "meta.json"


def save_condensed(out: str | os.PathLike, x: Tensor, adj: Tensor, y: Tensor, meta: dict[str, Any],
                   overwrite: bool = False) -> Path:
    """Write ``<out>/graph.pt`` (``x (n, F)``, dense weighted ``adj (n, n)``, ``y (n,)``) and ``<out>/meta.json``.

    Both files appear together or not at all (written in a temporary sibling directory, then renamed).
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
    with staged_directory(out, overwrite=overwrite) as stage:
        torch.save({"x": x.detach().cpu().contiguous(), "adj": adj.detach().cpu().contiguous(),
                    "y": y.detach().cpu().long().contiguous()}, stage / GRAPH_FILE)
        write_json(meta, stage / META_FILE)
    return out


def _load_tensor(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"unreadable {what} file {path}: {describe(exc)}") from exc


def read_condensed(path: str | os.PathLike) -> tuple[Tensor, Tensor, Tensor, dict[str, Any]]:
    """``(x, adj, y, meta)`` from a directory written by :func:`save_condensed` (or its ``graph.pt``)."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    tensors = _load_tensor(directory / GRAPH_FILE, "condensed graph")
    if not isinstance(tensors, dict) or not {"x", "adj", "y"} <= set(tensors):
        raise InputError(f"{directory / GRAPH_FILE} is not a condensed graph (needs tensors x, adj, y)")
    meta = read_json_if_present(directory / META_FILE)
    return tensors["x"].float(), tensors["adj"].float(), tensors["y"].long(), meta


def read_external(feat: str | os.PathLike, adj: str | os.PathLike,
                  labels: str | os.PathLike | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Tensors saved by other toolkits (GCond's ``saved_ours``, GraphSLIM): ``feat (n, F)``, ``adj (n, n)``
    (dense, or sparse which is densified), optional ``labels (n,)``."""
    x = _load_tensor(Path(feat), "feature")
    a = _load_tensor(Path(adj), "adjacency")
    y = _load_tensor(Path(labels), "label") if labels is not None else None
    for name, value in (("feature", x), ("adjacency", a), ("label", y)):
        if value is not None and not isinstance(value, Tensor):
            raise InputError(f"the {name} file does not hold a single tensor")
    if a.layout != torch.strided:
        a = a.to_dense()
    if x.dim() != 2:
        raise InputError(f"features must be 2-D (n, F), got shape {tuple(x.shape)}")
    if a.shape != (x.shape[0], x.shape[0]):
        raise InputError(f"adjacency shape {tuple(a.shape)} does not match {x.shape[0]} feature rows")
    return x.float(), a.float(), (y.long() if y is not None else None)


def load_condensed(path: str | os.PathLike):
    """Load a condensed graph as a PyG ``Data`` with ``x``, ``y``, ``edge_index``, ``edge_weight``
    (the non-zero entries of the weighted adjacency), ready for any PyG model."""
    from torch_geometric.data import Data

    x, adj, y, _ = read_condensed(path)
    edge_index = adj.nonzero().t().contiguous()
    return Data(x=x, y=y, edge_index=edge_index, edge_weight=adj[edge_index[0], edge_index[1]],
                num_nodes=x.shape[0])
