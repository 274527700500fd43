"""Condensed graphs on disk: ``graph.pt`` (a dict of tensors) + ``meta.json``; never a pickled object."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphdistill.core.atomic import load_torch_file, read_output, staged_directory, write_json
from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed

GRAPH_FILE = "graph.pt"
META_FILE = "meta.json"


def save_condensed(out: str | os.PathLike, condensed: Condensed, overwrite: bool = False) -> Path:
    """Write ``<out>/graph.pt`` (``x (n, F)``, dense weighted ``adj (n, n)``, ``y (n,)`` class labels or
    ``(n, C)`` soft labels as log-probabilities) and ``<out>/meta.json``.

    Both files appear together or not at all (written in a temporary sibling directory, then renamed).
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
    x, adj, y = (condensed.data[k].detach().cpu().contiguous() for k in ("x", "adj", "y"))
    with staged_directory(out, overwrite=overwrite) as stage:
        torch.save({"x": x, "adj": adj, "y": labels_tensor(y)}, stage / GRAPH_FILE)
        write_json(condensed.meta, stage / META_FILE)
    return out


def _load_tensor(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    return load_torch_file(path, what)


#: ``meta.json["adjacency"]`` of a graph whose ``adj`` is the propagation matrix itself (GDEM), used as it is by
#: every model and allowed negative values; absent: ``adj`` holds non-negative edge weights, normalised per model.
PROPAGATION = "propagation"


def is_propagation_matrix(meta: dict[str, Any]) -> bool:
    return meta.get("adjacency") == PROPAGATION


def check_graph_tensors(x: Tensor, adj: Tensor, y: Tensor | None, source: str, num_classes: int | None = None,
                        signed: bool = False) -> None:
    """Shapes, dtypes and values of a condensed graph; every problem is an :class:`InputError` naming
    ``source`` and the field. ``signed``: ``adj`` is a propagation matrix, negative values allowed."""
    if x.dim() != 2 or x.shape[0] == 0:
        raise InputError(f"{source}: x must be a non-empty 2-D (n, F) tensor, got shape {tuple(x.shape)}")
    n = x.shape[0]
    if not x.is_floating_point() or not torch.isfinite(x).all():
        raise InputError(f"{source}: x must hold finite floating-point values (found NaN, infinite or integer)")
    if tuple(adj.shape) != (n, n):
        raise InputError(f"{source}: adj must be ({n}, {n}) for {n} nodes, got shape {tuple(adj.shape)}")
    if not torch.isfinite(adj).all():
        raise InputError(f"{source}: adj must hold finite values")
    if not signed and bool((adj < 0).any()):
        raise InputError(f"{source}: adj must hold non-negative edge weights")
    if y is None:
        return
    if y.dim() == 2:
        check_soft_labels(y, n, source, num_classes)
        return
    if y.dim() != 1 or y.shape[0] != n:
        raise InputError(f"{source}: y must be ({n},) class labels or ({n}, C) soft labels for {n} nodes, "
                         f"got shape {tuple(y.shape)}")
    if y.is_floating_point() and not torch.equal(y, y.round()):
        raise InputError(f"{source}: y must hold integer class labels")
    if n and int(y.min()) < 0:
        raise InputError(f"{source}: y holds the negative label {int(y.min())}")
    if num_classes is not None and n and int(y.max()) >= num_classes:
        raise InputError(f"{source}: y holds label {int(y.max())} but the dataset has {num_classes} classes")


def check_soft_labels(y: Tensor, n: int, source: str, num_classes: int | None) -> None:
    """Soft labels (GEOM's): ``(n, C)`` log-probabilities, each row's probabilities summing to 1."""
    if y.shape[0] != n or (num_classes is not None and y.shape[1] != num_classes):
        raise InputError(f"{source}: soft labels y must be ({n}, {num_classes or 'C'}), got shape {tuple(y.shape)}")
    if not y.is_floating_point() or not torch.isfinite(y).all() or (y > 0).any():
        raise InputError(f"{source}: soft labels y must hold finite log-probabilities (at most 0)")
    if not torch.allclose(y.exp().sum(1), y.new_ones(n), atol=1e-4):
        raise InputError(f"{source}: soft labels y must be log-probabilities whose rows sum to 1 once exponentiated")


def labels_tensor(y: Tensor) -> Tensor:
    """``y`` as stored: class labels as int64, soft labels (``(n, C)`` log-probabilities) as float32."""
    return y.float() if y.dim() == 2 else y.long()


def read_condensed(path: str | os.PathLike) -> tuple[Tensor, Tensor, Tensor, dict[str, Any]]:
    """``(x, adj, y, meta)`` from a directory written by :func:`save_condensed` (or its ``graph.pt``), validated."""
    file, tensors, meta = read_output(path, GRAPH_FILE, "condensed graph")
    if not isinstance(tensors, dict) or not {"x", "adj", "y"} <= set(tensors) or not all(
            isinstance(tensors[k], Tensor) for k in ("x", "adj", "y")):
        raise InputError(f"{file} is not a condensed graph (needs tensors x, adj, y)")
    classes = meta.get("num_classes")
    check_graph_tensors(tensors["x"], tensors["adj"], tensors["y"], str(file),
                        classes if isinstance(classes, int) else None, signed=is_propagation_matrix(meta))
    return tensors["x"].float(), tensors["adj"].float(), labels_tensor(tensors["y"]), meta


def read_external(feat: str | os.PathLike, adj: str | os.PathLike | None,
                  labels: str | os.PathLike | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Tensors saved by other toolkits (GCond's ``saved_ours``, GraphSLIM, SFGC): ``feat (n, F)``, ``adj (n, n)``
    (dense, or sparse which is densified; ``None``: structure-free, no edges), optional ``labels (n,)``."""
    x = _load_tensor(Path(feat), "feature")
    if isinstance(x, Tensor) and adj is None:
        a = torch.zeros(x.shape[0], x.shape[0]) if x.dim() == 2 else torch.zeros(0)
    else:
        a = _load_tensor(Path(adj), "adjacency")
    y = _load_tensor(Path(labels), "label") if labels is not None else None
    for name, value in (("feature", x), ("adjacency", a), ("label", y)):
        if value is not None and not isinstance(value, Tensor):
            raise InputError(f"the {name} file does not hold a single tensor")
    if a.layout != torch.strided:
        a = a.to_dense()
    if x.dim() != 2:
        raise InputError(f"features in {feat} must be 2-D (n, F), got shape {tuple(x.shape)}")
    if a.shape != (x.shape[0], x.shape[0]):
        raise InputError(f"adjacency shape {tuple(a.shape)} in {adj} does not match {x.shape[0]} feature rows")
    return x.float(), a.float(), (y.long() if y is not None else None)


def load_condensed(path: str | os.PathLike):
    """Load a condensed graph as a PyG ``Data`` with ``x``, ``y``, ``edge_index``, ``edge_weight``
    (the non-zero entries of the weighted adjacency), ready for any PyG model."""
    from torch_geometric.data import Data

    x, adj, y, _ = read_condensed(path)
    edge_index = adj.nonzero().t().contiguous()
    return Data(x=x, y=y, edge_index=edge_index, edge_weight=adj[edge_index[0], edge_index[1]],
                num_nodes=x.shape[0])
