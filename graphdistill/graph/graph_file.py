"""A user's node-classification graph from one file (``--dataset file:PATH``).

Two containers, one set of keys:

- ``.pt``: a dict of tensors saved with ``torch.save`` and read with ``weights_only=True``;
- ``.npz``: the same keys as arrays, or the sparse layout of the ``gnn-benchmark`` files (Shchur et al.): the
  adjacency as ``adj_data/adj_indices/adj_indptr/adj_shape`` (CSR), the features as ``attr_data/attr_indices/
  attr_indptr/attr_shape`` (CSR, kept sparse) or ``attr_matrix``, and ``labels``.

Keys: ``x (N, F)`` float (dense, or a sparse COO/CSR tensor in a ``.pt``), ``edge_index (2, E)`` integer,
``y (N,)`` integer, and optionally a split as
``train_mask/val_mask/test_mask`` (boolean) or ``train_idx/val_idx/test_idx`` (indices). Without a split, one is
drawn (see :func:`~graphdistill.graph.data.build_node_graph`).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphdistill.core.atomic import load_torch_file
from graphdistill.core.errors import InputError
from graphdistill.graph.data import SPLIT_PARTS, NodeGraph, build_node_graph

FILE_PREFIX = "file:"
_CSR_PARTS = ("data", "indices", "indptr", "shape")


def read_graph_file(name: str, split: str | None = None, split_seed: int = 0) -> NodeGraph:
    """``file:PATH`` as a :class:`~graphdistill.graph.data.NodeGraph` (features as given, edges made undirected).

    Raises:
        InputError: a missing or unreadable file, a missing key, or anything ``build_node_graph`` rejects.
    """
    path = Path(name[len(FILE_PREFIX):]).expanduser()
    if not path.is_file():
        raise InputError(f"graph file not found: {path}")
    if path.suffix == ".npz":
        tensors = _read_npz(path)
    else:
        tensors = load_torch_file(path, "graph")
        if not isinstance(tensors, dict):
            raise InputError(f"{path} must hold a dict of tensors (x, edge_index, y), got {type(tensors).__name__}")
    missing = [key for key in ("x", "edge_index", "y") if key not in tensors]
    if missing:
        raise InputError(f"{path} lacks {', '.join(missing)}; a graph file holds x (N, F), edge_index (2, E), y (N,)")
    given = [tuple(tensors.get(f"{part}_{kind}") for part in SPLIT_PARTS) for kind in ("mask", "idx")]
    complete = [parts for parts in given if all(p is not None for p in parts)]
    if any(any(p is not None for p in parts) and parts not in complete for parts in given):
        raise InputError(f"{path}: a split needs all three of train/val/test (_mask or _idx)")
    return build_node_graph(path.stem, tensors["x"], tensors["edge_index"], tensors["y"], str(path),
                            complete[0] if complete else None, split, split_seed, {"source": f"file {path}"})


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"unreadable graph file {path}: {exc}") from exc
    sparse_x = None
    if "adj_data" in arrays:
        arrays["edge_index"] = np.stack(_csr(arrays, "adj", path).nonzero())
        if "attr_data" in arrays:
            sparse_x = _torch_csr(_csr(arrays, "attr", path))
        elif "attr_matrix" in arrays:
            arrays["x"] = arrays["attr_matrix"]
        if "labels" in arrays:
            if arrays["labels"].ndim != 1:
                raise InputError(f"{path}: labels must be one class per node (multi-label files are not supported)")
            arrays["y"] = arrays["labels"]
    if arrays.get("x") is not None and arrays["x"].dtype.kind in "iub":
        arrays["x"] = arrays["x"].astype(np.float32)
    tensors = {key: _tensor(value) for key, value in arrays.items() if value.dtype.kind in "biuf"}
    return tensors if sparse_x is None else {**tensors, "x": sparse_x}


def _csr(arrays: dict[str, np.ndarray], prefix: str, path: Path):
    import scipy.sparse

    missing = [f"{prefix}_{part}" for part in _CSR_PARTS if f"{prefix}_{part}" not in arrays]
    if missing:
        raise InputError(f"{path}: a sparse {prefix} matrix needs {', '.join(missing)}")
    try:
        return scipy.sparse.csr_matrix(tuple(arrays[f"{prefix}_{p}"] for p in _CSR_PARTS[:3]),
                                       shape=tuple(arrays[f"{prefix}_shape"]))
    except ValueError as exc:
        raise InputError(f"{path}: malformed sparse {prefix} matrix: {exc}") from exc


def _torch_csr(matrix) -> Tensor:
    """A scipy CSR matrix as a float32 torch CSR tensor (never densified: bag-of-words features are ~1 % dense)."""
    return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(np.int64)),
                                   torch.from_numpy(matrix.indices.astype(np.int64)),
                                   torch.from_numpy(matrix.data.astype(np.float32)), matrix.shape)


def _tensor(array: np.ndarray) -> Tensor:
    if array.dtype.kind == "f":
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if array.dtype.kind == "b":
        return torch.from_numpy(np.ascontiguousarray(array))
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64))
