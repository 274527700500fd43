"""Seeded synthetic interaction logs of any size (``synth:users=..,items=..,interactions=..`` and presets).

No Netflix file exists offline, so its shape is generated: a topic model (LDA-like) whose user x item probability
matrix has rank ``topics``, so collaborative filtering has structure to find and beats popularity. Items have
Zipf popularity (exponent ``item_exponent``); each topic re-weights them with log-normal preferences of spread
``topic_spread``; a user mixes topics with Dirichlet(``concentration``) weights; user activity is Pareto with tail
index ``activity_tail`` (at least 3 interactions a user, at most a fifth of the items). Every interaction draws a topic
from its user's mix and an item from that topic, in chunks of ``chunk`` draws; repeated (user, item) pairs are
kept once and the shortfall is drawn again, so memory is O(interactions) and the log has exactly
``interactions`` distinct pairs (when the users' caps allow it). The split is Distill-CF's per-user 80/10/10.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from graphdistill.core.atomic import atomic_torch_save, load_torch_file
from graphdistill.core.data_root import cache_dir
from graphdistill.core.errors import InputError
from recsys.data import SPLITS, InteractionData

PREFIX = "synth:"
ROUNDS = 8
#: part of the cache key: a change to the generator invalidates the logs cached by earlier versions
GENERATOR_VERSION = 1
PRESETS = {
    # Netflix Prize as Distill-CF uses it: 480,189 users, 17,770 items, 100,480,507 ratings.
    "netflix": "users=480189,items=17770,interactions=100480507",
}


@dataclass(frozen=True)
class SyntheticLogSpec:
    """The generator's settings (see the module docstring); ``seed`` fixes the log."""

    users: int
    items: int
    interactions: int
    topics: int = 32
    concentration: float = 0.05
    item_exponent: float = 0.7
    topic_spread: float = 2.5
    activity_tail: float = 1.2
    seed: int = 0
    chunk: int = 1_000_000

    def __post_init__(self) -> None:
        if min(self.users, self.items, self.topics, self.chunk) < 1:
            raise InputError(f"a synthetic log needs at least one user, item and topic: {self}")
        if self.items < 15:
            raise InputError(f"a synthetic log needs at least 15 items (got {self.items}): a user has 3 or more and "
                             "at most a fifth of them")
        if not 3 * self.users <= self.interactions <= self.users * (self.items // 5):
            raise InputError(f"interactions={self.interactions} is impossible for {self.users} users and {self.items} "
                             f"items: choose between {3 * self.users} (3 a user) and {self.users * (self.items // 5)} "
                             "(a fifth of the items a user)")
        if min(self.concentration, self.item_exponent, self.activity_tail) <= 0 or self.topic_spread < 0:
            raise InputError(f"concentration, item_exponent and activity_tail must be positive: {self}")


def parse_synthetic(name: str) -> SyntheticLogSpec | None:
    """The spec a dataset name asks for (``netflix`` or ``synth:key=value,...``), ``None`` for other names."""
    text = PRESETS.get(name, name[len(PREFIX):] if name.startswith(PREFIX) else None)
    if text is None:
        return None
    fields = {f.name: f.type for f in dataclasses.fields(SyntheticLogSpec)}
    values: dict[str, float | int] = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in fields:
            raise InputError(f"{name!r}: expected key=value with keys {', '.join(fields)}; got {part!r}")
        try:
            values[key] = float(value) if fields[key] == "float" else int(float(value))
        except ValueError:
            raise InputError(f"{name!r}: {key} must be a number, got {value!r}") from None
    missing = {"users", "items", "interactions"} - set(values)
    if missing:
        raise InputError(f"{name!r}: missing {', '.join(sorted(missing))}")
    return SyntheticLogSpec(**values)


def load_synthetic_log(spec: SyntheticLogSpec, name: str) -> InteractionData:
    """The log of ``spec`` from the cache (:func:`~graphdistill.core.data_root.cache_dir`), or generated now and
    cached atomically (a read-only cache only costs the next run a regeneration)."""
    path = cache_dir() / "synthetic-logs" / f"{_key(spec)}.pt"
    stored = load_torch_file(path, "cached synthetic log") if path.is_file() else None
    if stored is None or stored.get("spec") != repr(spec):
        log = generate_log(spec, name)
        stored = {"spec": repr(spec), **{f"{split}_{part}": torch.from_numpy(getattr(matrix, part))
                                         for split, matrix in zip(SPLITS, (log.train, log.valid, log.test))
                                         for part in ("indptr", "indices")}}
        with contextlib.suppress(OSError):
            atomic_torch_save(stored, path)
        return log
    train, valid, test = (sp.csr_matrix((np.ones(len(stored[f"{split}_indices"]), dtype=np.float32),
                                         stored[f"{split}_indices"].numpy(), stored[f"{split}_indptr"].numpy()),
                                        shape=(spec.users, spec.items)) for split in SPLITS)
    return InteractionData(name, *_tokens(spec), train, valid, test, source=f"generated: {spec} (cache {path})")


def _key(spec: SyntheticLogSpec) -> str:
    return f"log-{spec.users}-{hashlib.sha256(f'{GENERATOR_VERSION} {spec!r}'.encode()).hexdigest()[:16]}"


def _tokens(spec: SyntheticLogSpec) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(spec.users).astype(str), np.arange(spec.items).astype(str)


def generate_log(spec: SyntheticLogSpec, name: str) -> InteractionData:
    """The log of ``spec`` split into train / valid / test matrices (tokens ``0..n-1``)."""
    rng = np.random.default_rng(spec.seed)
    popularity = np.empty(spec.items)
    popularity[rng.permutation(spec.items)] = np.arange(1, spec.items + 1, dtype=np.float64) ** -spec.item_exponent
    preferences = popularity * np.exp(spec.topic_spread * rng.standard_normal((spec.topics, spec.items)))
    item_tables = np.cumsum(preferences / preferences.sum(1, keepdims=True), axis=1)
    topic_tables = np.cumsum(rng.dirichlet(np.full(spec.topics, spec.concentration), size=spec.users), axis=1)
    caps = _activity(spec, rng)

    keys = np.empty(0, dtype=np.int64)
    counts = np.zeros(spec.users, dtype=np.int64)
    for attempt in range(ROUNDS):
        missing = np.maximum(caps - counts, 0)
        if not missing.any():
            break
        # later rounds over-draw (trimmed below): a heavy user's last distinct items are rare ones
        draws = np.repeat(np.arange(spec.users), missing * 2 ** attempt)
        fresh = np.unique(np.concatenate([_draw_items(users, topic_tables, item_tables, rng) + users * np.int64(spec.items)
                                          for users in np.array_split(draws, max(1, len(draws) // spec.chunk))]))
        if len(keys):
            at = np.minimum(np.searchsorted(keys, fresh), len(keys) - 1)
            fresh = fresh[keys[at] != fresh]
        keys = np.sort(np.concatenate([keys, fresh]), kind="stable")  # two sorted runs: a merge
        counts = np.bincount(keys // spec.items, minlength=spec.users)
    if (counts > caps).any():  # users that drew more distinct items than they need: drop a random few
        keys = _trim(keys, counts, caps, spec.items, rng)
        counts = np.minimum(counts, caps)
    users, items = keys // spec.items, (keys % spec.items).astype(np.int32)
    split = _split(users, counts, rng)
    indptr_of = {code: np.concatenate([[0], np.cumsum(np.bincount(users[split == code], minlength=spec.users))])
                 for code in range(3)}
    train, valid, test = (sp.csr_matrix((np.ones(int((split == code).sum()), dtype=np.float32), items[split == code],
                                         indptr_of[code]), shape=(spec.users, spec.items)) for code in range(3))
    return InteractionData(name, *_tokens(spec), train, valid, test, source=f"generated: {spec}")


def _activity(spec: SyntheticLogSpec, rng: np.random.Generator) -> np.ndarray:
    """Interactions per user: Pareto weights scaled to ``spec.interactions``, each in ``[3, items // 5]``."""
    weights = rng.pareto(spec.activity_tail, spec.users) + 1.0
    low, high = 3, spec.items // 5
    scale_low, scale_high = 0.0, spec.interactions / weights.min()
    for _ in range(100):  # the scale whose clipped counts add up to the target
        scale = (scale_low + scale_high) / 2
        total = np.clip(np.floor(weights * scale), low, high).sum()
        scale_low, scale_high = (scale, scale_high) if total < spec.interactions else (scale_low, scale)
    caps = np.clip(np.floor(weights * scale_high), low, high).astype(np.int64)
    excess = int(caps.sum() - spec.interactions)
    if excess > 0:  # take the rounding excess from the heaviest users
        heaviest = np.argsort(-caps, kind="stable")[:excess]
        caps[heaviest] -= 1
    return caps


def _draw_items(users: np.ndarray, topic_tables: np.ndarray, item_tables: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """One item per entry of ``users``: a topic from the user's mix, then an item from the topic."""
    topics = np.minimum((rng.random(len(users))[:, None] > topic_tables[users]).sum(1), len(item_tables) - 1)
    items = np.empty(len(users), dtype=np.int64)
    uniform = rng.random(len(users))
    for topic in np.unique(topics):
        where = topics == topic
        items[where] = np.searchsorted(item_tables[topic], uniform[where])
    return np.minimum(items, item_tables.shape[1] - 1)


def _trim(keys: np.ndarray, counts: np.ndarray, caps: np.ndarray, items: int, rng: np.random.Generator) -> np.ndarray:
    """Keep ``caps[u]`` random distinct pairs of every user ``u`` over its cap (``keys`` sorted by user)."""
    users = keys // items
    over = (counts > caps)[users]
    heavy_keys, heavy_users = keys[over], users[over]
    order = np.lexsort((rng.random(len(heavy_keys)), heavy_users))
    heavy_counts = counts * (counts > caps)
    starts = np.cumsum(heavy_counts) - heavy_counts
    rank = np.arange(len(heavy_keys)) - starts[heavy_users[order]]
    kept = heavy_keys[order[rank < caps[heavy_users[order]]]]
    return np.sort(np.concatenate([keys[~over], kept]))


def _split(users: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distill-CF's rule per user (``users`` sorted): a random order; its first pair and positions from 0.9 n
    to test, ``[0, 0.8 n)`` to train, ``[0.8 n, 0.9 n)`` to valid. Codes 0 train, 1 valid, 2 test."""
    order = np.lexsort((rng.random(len(users)), users))
    position = np.empty(len(users), dtype=np.int64)
    position[order] = np.arange(len(users)) - np.repeat(np.cumsum(counts) - counts, counts)
    n = counts[users]
    split = np.where(position < (0.8 * n).astype(np.int64), 0, np.where(position < (0.9 * n).astype(np.int64), 1, 2))
    split[position == 0] = 2
    return split
