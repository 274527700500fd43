"""OGB node-property datasets read in place from their released layout, without the ``ogb`` package or a download.

The layout (as unpacked from OGB's zip files) under the data root::

    ogb/ogbn_arxiv/raw/{edge,node-feat,node-label}.csv.gz
    ogb/ogbn_arxiv/split/time/{train,valid,test}.csv.gz

(``<root>/ogbn_arxiv/...`` works too). Edges are made undirected, as GCond does for ogbn-arxiv.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from graphdistill.core.data_root import not_found
from graphdistill.core.errors import InputError
from graphdistill.graph.data import NodeGraph, build_node_graph

OGB_NODE_DATASETS = ("ogbn-arxiv", "ogbn-products")
_RAW_FILES = ("edge", "node-feat", "node-label")
_SPLIT_FILES = ("train", "valid", "test")


def read_ogb_node_dataset(name: str, root: Path | None, split: str | None = None, split_seed: int = 0) -> NodeGraph:
    """``ogbn-arxiv`` or ``ogbn-products`` with OGB's split (or ``split`` drawn with ``split_seed``).

    Raises:
        InputError: no data root, a missing file (each one named), or a malformed table.
    """
    folder_name = name.lower().replace("-", "_")
    candidates = [root / "ogb" / folder_name, root / folder_name] if root is not None else []
    folder = next((c for c in candidates if (c / "raw").is_dir()), None)
    if folder is None:
        raise not_found(f"{name}'s OGB files (raw/edge.csv.gz, node-feat.csv.gz, node-label.csv.gz)",
                        [c / "raw" for c in candidates], root)
    raw = folder / "raw"
    for stem in _RAW_FILES:
        if not (raw / f"{stem}.csv.gz").is_file():
            raise not_found(f"{name}'s OGB file", [raw / f"{stem}.csv.gz"], root)
    edges = _read_csv(raw / "edge.csv.gz", np.int64)
    x = _read_csv(raw / "node-feat.csv.gz", np.float32)
    y = _read_csv(raw / "node-label.csv.gz", np.float64)
    if edges.shape[1] != 2 or y.shape[1] != 1:
        raise InputError(f"{raw}: edge.csv.gz must have 2 columns and node-label.csv.gz 1, got {edges.shape[1]} "
                         f"and {y.shape[1]}")
    if np.isnan(y).any():
        raise InputError(f"{raw / 'node-label.csv.gz'}: some nodes have no label")
    given = None
    if split is None:
        split_dirs = sorted(p for p in (folder / "split").glob("*") if p.is_dir())
        if not split_dirs:
            raise not_found(f"{name}'s OGB split (split/<name>/train.csv.gz, valid, test)", [folder / "split"], root,
                            "; or pass --split to draw one")
        given = tuple(torch.from_numpy(_read_csv(split_dirs[0] / f"{part}.csv.gz", np.int64)[:, 0])
                      for part in _SPLIT_FILES)
    return build_node_graph(name.lower(), torch.from_numpy(x), torch.from_numpy(edges.T.copy()),
                            torch.from_numpy(y[:, 0].astype(np.int64)), str(folder), given, split, split_seed,
                            {"source": f"ogb layout {folder}"})


def _read_csv(path: Path, dtype: type) -> np.ndarray:
    """A headerless comma-separated table (gzip) as ``(rows, columns)``."""
    if not path.is_file():
        raise InputError(f"OGB file not found: {path}")
    import pandas as pd

    try:
        table = pd.read_csv(path, header=None, dtype=dtype).to_numpy(copy=True)
    except (ValueError, OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"{path} is malformed: {str(exc).splitlines()[0]}") from exc
    return table.reshape(len(table), -1)
