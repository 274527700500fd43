"""Interaction logs: RecBole atomic ``.inter`` files, fixed or rule-based splits, sparse user x item matrices.

Every rating is a positive (implicit feedback, Distill-CF's convention); repeated ``(user, item)`` rows
add up, as ∞-AE's CSR build does.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from graphdistill.core.data_root import not_found, resolve_data_root
from graphdistill.core.errors import InputError

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class AtomicRows:
    """The rows of one ``.inter`` file: user and item tokens and ratings (1.0 where the file has none)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray


def read_atomic(path: str | os.PathLike, min_rating: float | None = None) -> AtomicRows:
    """Read a RecBole atomic ``.inter`` file (tab-separated, typed header such as ``user_id:token``).

    Args:
        min_rating: keep only rows rated at least this (needs a ``rating`` column); ``None`` keeps all.

    Raises:
        InputError: missing file, no typed header, no ``user_id``/``item_id`` column, a row with the wrong
            number of fields, a non-numeric rating, or no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"interaction file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x})") from None
    header_line, _, body = text.partition("\n")
    header = header_line.rstrip("\r").split("\t")
    lines = body.splitlines()
    fields = [column.partition(":") for column in header]
    if not header or any(not sep or not name for name, sep, _ in fields):
        raise InputError(f"{path}: the first line must be a typed header such as "
                         f"'user_id:token<TAB>item_id:token', got {header[:4]!r}")
    names = [name for name, _, _ in fields]
    for needed in ("user_id", "item_id"):
        if needed not in names:
            raise InputError(f"{path}: no {needed} column in header {names}")
    if min_rating is not None and "rating" not in names:
        raise InputError(f"{path}: --min-rating needs a rating column")
    user_col, item_col = names.index("user_id"), names.index("item_id")
    rating_col = names.index("rating") if "rating" in names else None
    rows = [line.split("\t") for line in lines if line.strip()]
    if not rows:
        raise InputError(f"{path}: no interactions (empty file)")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(names):
            raise InputError(f"{path}, line {number}: expected {len(names)} tab-separated fields, got {len(row)}")
    table = np.array(rows, dtype=object)
    ratings = np.ones(len(rows))
    if rating_col is not None:
        try:
            ratings = table[:, rating_col].astype(float)
        except ValueError:
            bad = next(i for i, value in enumerate(table[:, rating_col]) if not _is_number(value))
            raise InputError(f"{path}, line {bad + 2}: rating {table[bad, rating_col]!r} is not a number") from None
        if not np.isfinite(ratings).all():
            bad = int(np.flatnonzero(~np.isfinite(ratings))[0])
            raise InputError(f"{path}, line {bad + 2}: rating {table[bad, rating_col]!r} is not finite")
    users, items = table[:, user_col].astype(str), table[:, item_col].astype(str)
    if min_rating is not None:
        keep = ratings >= min_rating
        users, items, ratings = users[keep], items[keep], ratings[keep]
        if not keep.any():
            raise InputError(f"{path}: no interaction is rated >= {min_rating}")
    return AtomicRows(users, items, ratings)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class InteractionData:
    """A log split into train / valid / test user x item count matrices with one id map.

    Attributes:
        name: dataset name.
        user_tokens, item_tokens: the token of each row / column.
        train, valid, test: ``(num_users, num_items)`` CSR ``float32`` matrices (counts of interactions).
        source: where the log was read from, for ``meta.json``.
    """

    name: str
    user_tokens: np.ndarray
    item_tokens: np.ndarray
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    source: str

    @property
    def num_users(self) -> int:
        return self.train.shape[0]

    @property
    def num_items(self) -> int:
        return self.train.shape[1]

    @property
    def train_interactions(self) -> int:
        """Stored training interactions (rows of the training file, repeats included)."""
        return int(self.train.sum())


def recbole_bundled_ml100k() -> Path | None:
    """The ``ml-100k.inter`` shipped inside the recbole wheel (found without importing recbole)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k" / "ml-100k.inter"
    return path if path.is_file() else None


def load_interactions(name: str, root: str | os.PathLike | None = None, min_rating: float | None = None,
                      split_seed: int = 0) -> InteractionData:
    """Load ``<root>/recsys/<name>/`` (fixed split files if present, else ``<name>.inter`` split by
    :func:`split_interactions`); ``ml-100k`` without such a folder is RecBole's bundled copy (a data root
    that does not exist is an error, never replaced by it).

    The item universe is ``<name>.inter`` when it exists (else the training file); users of valid/test
    must appear in train and their items in that universe.
    """
    base = resolve_data_root(root)
    folder = base / "recsys" / name if base is not None else None
    if folder is not None and folder.is_dir():
        full = folder / f"{name}.inter"
        if (folder / f"{name}.train.inter").is_file():
            parts = {split: read_atomic(folder / f"{name}.{split}.inter", min_rating) for split in SPLITS}
            if full.is_file():
                return _from_parts(name, parts, read_atomic(full, min_rating).items, f"{name}.inter", str(folder))
            return _from_parts(name, parts, parts["train"].items, "train", str(folder))
        if full.is_file():
            return _from_rows(name, read_atomic(full, min_rating), split_seed, str(full))
        raise InputError(f"{folder} has neither {name}.inter nor {name}.train.inter")
    bundled = recbole_bundled_ml100k() if name == "ml-100k" else None
    if bundled is not None:
        return _from_rows(name, read_atomic(bundled, min_rating), split_seed, f"recbole wheel: {bundled}")
    looked = [folder / f"{name}.inter", folder / f"{name}.train.inter"] if folder is not None else []
    if name == "ml-100k":
        raise InputError("ml-100k's offline copy ships with RecBole, which is not installed: "
                         "pip install 'graphdistill[recsys]', or pass --data-root")
    raise not_found(f"interaction log {name!r} (RecBole atomic files)", looked, base)


def split_interactions(users: np.ndarray, seed: int, min_user_interactions: int = 3) -> np.ndarray:
    """Distill-CF's split rule: the split (0 train, 1 valid, 2 test, -1 dropped) of every row.

    Users with fewer than ``min_user_interactions`` rows are dropped. For every other user (in order of
    first appearance) a permutation of their rows from ``numpy.random.RandomState(seed)``: its first row
    goes to test, rows at permutation positions ``[0, 0.8 n)`` to train, ``[0.8 n, 0.9 n)`` to valid,
    the rest to test.
    """
    labels = np.full(len(users), -1, dtype=np.int64)
    _, first, inverse = np.unique(users, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rows_of = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    rng = np.random.RandomState(seed)
    for user in order:
        rows = rows_of[user]
        n = len(rows)
        if n < min_user_interactions:
            continue
        permutation = rng.permutation(n)
        split = np.full(n, 2)
        split[permutation[:int(0.8 * n)]] = 0
        split[permutation[int(0.8 * n):int(0.9 * n)]] = 1
        split[permutation[0]] = 2
        labels[rows] = split
    return labels


def _from_rows(name: str, rows: AtomicRows, seed: int, source: str) -> InteractionData:
    labels = split_interactions(rows.users, seed)
    if (labels < 0).all():
        raise InputError(f"{source}: every user has fewer than 3 interactions; nothing to split")
    parts = {split: AtomicRows(rows.users[labels == code], rows.items[labels == code], rows.ratings[labels == code])
             for code, split in enumerate(SPLITS)}
    kept = labels >= 0
    return _from_parts(name, parts, rows.items[kept], "the log", source)


def _from_parts(name: str, parts: dict[str, AtomicRows], universe: np.ndarray, universe_name: str,
                source: str) -> InteractionData:
    user_tokens = np.unique(parts["train"].users)
    item_tokens = np.unique(universe)
    matrices = {}
    for split, rows in parts.items():
        user_idx = np.searchsorted(user_tokens, rows.users)
        item_idx = np.searchsorted(item_tokens, rows.items)
        unknown_user = (user_idx >= len(user_tokens)) | (user_tokens[np.minimum(user_idx, len(user_tokens) - 1)] != rows.users)
        if unknown_user.any():
            raise InputError(f"{source}: {split} has user {str(rows.users[unknown_user][0])!r} with no training interaction")
        unknown_item = (item_idx >= len(item_tokens)) | (item_tokens[np.minimum(item_idx, len(item_tokens) - 1)] != rows.items)
        if unknown_item.any():
            raise InputError(f"{source}: {split} has item {str(rows.items[unknown_item][0])!r} unknown to {universe_name}")
        matrices[split] = sp.csr_matrix((np.ones(len(user_idx), dtype=np.float32), (user_idx, item_idx)),
                                        shape=(len(user_tokens), len(item_tokens)))
    return InteractionData(name, user_tokens, item_tokens, matrices["train"], matrices["valid"], matrices["test"], source)


def matrix_interactions(name: str, train: sp.spmatrix, valid: sp.spmatrix, test: sp.spmatrix) -> InteractionData:
    """An :class:`InteractionData` from user x item matrices that share one shape (tokens ``0..n-1``)."""
    shapes = {tuple(m.shape) for m in (train, valid, test)}
    if len(shapes) != 1:
        raise InputError(f"train/valid/test matrices differ in shape: {sorted(shapes)}")
    matrices = [sp.csr_matrix(m, dtype=np.float32) for m in (train, valid, test)]
    if any(m.nnz and (not np.isfinite(m.data).all() or (m.data < 0).any()) for m in matrices):
        raise InputError("interaction matrices must hold finite, non-negative values")
    num_users, num_items = matrices[0].shape
    return InteractionData(name, np.arange(num_users).astype(str), np.arange(num_items).astype(str), *matrices,
                           source="matrices")
