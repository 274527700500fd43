"""Distilled logs on disk: ``<name>.inter`` (RecBole atomic), ``distilled.npz`` (scipy CSR + item tokens)
and ``meta.json``, written together or not at all; plus the sparse / binary storage options."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from graphdistill.core.atomic import read_json_if_present, staged_directory, write_json
from graphdistill.core.errors import InputError, describe

MATRIX_FILE = "distilled.npz"
META_FILE = "meta.json"
BINARIZE = ("top-k", "threshold")


def keep_largest(matrix: Tensor, values: int) -> Tensor:
    """Zero all but the ``values`` largest entries of ``matrix`` (the sparse storage option)."""
    if values < 1:
        raise InputError(f"cannot keep {values} values; keep at least 1")
    flat = matrix.flatten()
    if values >= int((flat > 0).sum()):
        return matrix.clone()
    kept = torch.zeros_like(flat)
    top = flat.topk(values).indices
    kept[top] = flat[top]
    return kept.view_as(matrix)


def binarize(matrix: Tensor, mode: str, threshold: float = 0.5) -> Tensor:
    """A 0/1 log from soft interactions.

    ``top-k``: each user keeps their ``max(1, round(row sum))`` largest non-zero items (the row sum is the
    expected number of interactions); ``threshold``: entries ``>= threshold``.
    """
    if mode == "threshold":
        kept = matrix >= threshold
        if not kept.any():
            raise InputError(f"no value reaches --threshold {threshold} (the largest is {float(matrix.max()):.4g}); "
                             "lower it or use --binarize top-k")
        return kept.to(matrix.dtype)
    if mode != "top-k":
        raise InputError(f"unknown --binarize {mode!r}; choose one of {', '.join(BINARIZE)}")
    counts = torch.minimum(matrix.sum(1).round().clamp(min=1), (matrix > 0).sum(1)).long()
    order = matrix.argsort(dim=1, descending=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(matrix.shape[1], device=matrix.device).expand_as(order))
    return (ranks < counts[:, None]).to(matrix.dtype)


def _npz_bytes(matrix: sp.csr_matrix, item_tokens: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, format=np.array("csr"), shape=np.array(matrix.shape), data=matrix.data,
                        indices=matrix.indices, indptr=matrix.indptr, item_tokens=item_tokens.astype(str))
    return buffer.getvalue()


def inter_text(matrix: sp.csr_matrix, item_tokens: np.ndarray, user_prefix: str = "syn_") -> str:
    """RecBole atomic text: one ``syn_<row>  item  value`` line per stored value."""
    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    lines = ["user_id:token\titem_id:token\trating:float"]
    lines += [f"{user_prefix}{r}\t{item_tokens[c]}\t{v:.6g}" for r, c, v in
              zip(coo.row[order], coo.col[order], coo.data[order])]
    return "\n".join(lines) + "\n"


def compression(matrix: sp.csr_matrix, item_tokens: np.ndarray, original: sp.csr_matrix,
                original_interactions: int) -> dict[str, Any]:
    """Stored values and compressed ``.npz`` bytes of ``matrix`` against the original training log
    (its interactions, and its binary matrix written the same way)."""
    original_bytes = len(_npz_bytes((original > 0).astype(np.float32).tocsr(), item_tokens))
    stored = int(matrix.nnz)
    return {"stored_values": stored, "original_interactions": original_interactions,
            "values_ratio": stored / original_interactions, "npz_bytes": len(_npz_bytes(matrix, item_tokens)),
            "original_npz_bytes": original_bytes}


def write_distilled(out: str | os.PathLike, name: str, matrix: Tensor, item_tokens: np.ndarray,
                    meta: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``<out>/<name>.inter``, ``<out>/distilled.npz`` and ``<out>/meta.json`` atomically."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
    csr = sp.csr_matrix(matrix.detach().cpu().numpy().astype(np.float32))
    csr.eliminate_zeros()
    with staged_directory(out, overwrite=overwrite) as stage:
        (stage / f"{name}.inter").write_text(inter_text(csr, item_tokens))
        (stage / MATRIX_FILE).write_bytes(_npz_bytes(csr, item_tokens))
        write_json({**meta, "inter_file": f"{name}.inter"}, stage / META_FILE)
    return out


def read_distilled(path: str | os.PathLike) -> tuple[sp.csr_matrix, np.ndarray, dict[str, Any]]:
    """``(matrix (users, items) CSR, item tokens, meta)`` from a directory written by :func:`write_distilled`."""
    directory = Path(path)
    npz = directory / MATRIX_FILE if directory.is_dir() else directory
    if not npz.is_file():
        raise InputError(f"no {MATRIX_FILE} in {directory}")
    try:
        with np.load(npz, allow_pickle=False) as stored:
            matrix = sp.csr_matrix((stored["data"], stored["indices"], stored["indptr"]),
                                   shape=tuple(int(v) for v in stored["shape"]))
            tokens = stored["item_tokens"].astype(str)
    except Exception as exc:
        raise InputError(f"unreadable distilled log {npz}: {describe(exc)}") from exc
    if matrix.shape[1] != len(tokens):
        raise InputError(f"{npz}: {matrix.shape[1]} columns but {len(tokens)} item tokens")
    if matrix.nnz and not np.isfinite(matrix.data).all():
        raise InputError(f"{npz}: non-finite interaction values")
    meta = read_json_if_present(npz.parent / META_FILE)
    return matrix, tokens, meta


def align_items(matrix: sp.csr_matrix, tokens: np.ndarray, item_tokens: np.ndarray) -> sp.csr_matrix:
    """Reorder the columns of a distilled ``matrix`` (items ``tokens``) to a dataset's ``item_tokens``."""
    position = {token: i for i, token in enumerate(item_tokens)}
    missing = [t for t in tokens if t not in position]
    if missing:
        raise InputError(f"the distilled log has {len(missing)} items unknown to the dataset (e.g. {missing[0]!r})")
    columns = np.array([position[t] for t in tokens], dtype=np.int64)
    coo = matrix.tocoo()
    return sp.csr_matrix((coo.data, (coo.row, columns[coo.col])), shape=(matrix.shape[0], len(item_tokens)))
