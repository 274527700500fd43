"""Ranking metrics exactly as Distill-CF / ∞-AE compute them (full ranking over all items).

- ``HR@k`` = hits in the top ``k`` / ``min(k, #held-out)`` (truncated recall).
- ``nDCG@k`` with binary gains, ideal DCG over ``min(k, #held-out)`` positions.
- ``PSP@k``: propensity-weighted hits / ``min(k, #held-out)``, divided by the sum of the
  ``min(k, #held-out)`` largest propensities among the held-out items (the official normalisation).
- ``AUC``: one pooled AUC over every (user, held-out item) and (user, fixed negative) score.

Averages run over users with at least one held-out item.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from scipy.stats import rankdata
from torch import Tensor


def item_propensity(train: sp.csr_matrix, a: float = 0.55, b: float = 1.5) -> np.ndarray:
    """Jain et al.'s inverse propensities ``1 + C (n_i + B)^-A``, ``C = (log N - 1)(B + 1)^A`` with item
    counts ``n_i`` and ``N`` training interactions, from the training matrix ``(users, items)``."""
    counts = np.asarray(train.sum(0)).ravel()
    total = float(counts.sum())
    c = (math.log(total) - 1) * (b + 1) ** a
    return 1.0 + c * np.power(counts + b, -a)


def fixed_negatives(train: sp.csr_matrix, test: sp.csr_matrix, count: int = 50, seed: int = 0) -> np.ndarray:
    """``(users, n)`` distinct random items per user outside their train and test items (the AUC
    negatives; fixed by ``seed`` so every evaluation of a dataset uses the same ones).

    ``n`` is ``count``, or fewer on a small log: the smallest number of unseen items of any user (0 when
    some user has seen every item, and AUC is then not reported); results record it as ``auc_negatives``.
    """
    rng = np.random.default_rng(seed)
    num_users, num_items = train.shape
    seen = (train + test).tocsr()
    seen.sum_duplicates()
    if num_users:
        count = min(count, num_items - int(np.diff(seen.indptr).max()))
    negatives = np.empty((num_users, count), dtype=np.int64)
    for user in range(num_users if count else 0):
        excluded = seen.indices[seen.indptr[user]:seen.indptr[user + 1]]
        picked: set[int] = set()
        blocked = set(excluded.tolist())
        while len(picked) < count:
            for item in rng.integers(0, num_items, size=2 * count).tolist():
                if item not in blocked and item not in picked:
                    picked.add(item)
                    if len(picked) == count:
                        break
        negatives[user] = sorted(picked)
    return negatives


def chunk_masks(seen: sp.csr_matrix, heldout: sp.csr_matrix,
                device: torch.device) -> tuple[np.ndarray, Tensor, Tensor] | None:
    """``(rows with a held-out item, their seen mask, their held-out mask)`` of one chunk; ``None`` if no row has one."""
    rows = np.flatnonzero(np.asarray(heldout.getnnz(1)).ravel() > 0)
    if len(rows) == 0:
        return None
    return (rows, torch.as_tensor((seen[rows] > 0).toarray(), device=device),
            torch.as_tensor((heldout[rows] > 0).toarray(), device=device))


@dataclass
class RankingAccumulator:
    """Sums of per-user metrics over score chunks, then :meth:`result` in percent."""

    ks: tuple[int, ...]
    propensity: Tensor
    sums: dict[str, float] = field(default_factory=dict)
    users: int = 0
    auc_scores: list[np.ndarray] = field(default_factory=list)
    auc_labels: list[np.ndarray] = field(default_factory=list)
    depth: int = 0

    def add(self, scores: Tensor, seen: sp.csr_matrix, heldout: sp.csr_matrix, negatives: np.ndarray | None) -> None:
        """Score one chunk of users.

        Args:
            scores: ``(b, items)`` predictions (not modified).
            seen: ``(b, items)`` items to exclude from the ranking (the context).
            heldout: ``(b, items)`` items to find.
            negatives: ``(b, n)`` fixed negative items for AUC, or ``None`` to skip AUC.
        """
        masks = chunk_masks(seen, heldout, scores.device)
        if masks is not None:
            self.add_masked(scores, *masks, negatives)

    def add_masked(self, scores: Tensor, rows: np.ndarray, seen: Tensor, target: Tensor,
                   negatives: np.ndarray | None) -> None:
        """:meth:`add` with the masks of :func:`chunk_masks` (built once when several score sets share a chunk)."""
        scores = scores[torch.as_tensor(rows, device=scores.device)]
        if negatives is not None:
            negative_scores = torch.gather(scores, 1, torch.as_tensor(negatives[rows], device=scores.device))
            self.auc_scores += [scores[target].double().cpu().numpy(), negative_scores.flatten().double().cpu().numpy()]
            self.auc_labels += [np.ones(int(target.sum())), np.zeros(negative_scores.numel())]
        masked = scores.masked_fill(seen, -math.inf)
        # A log with fewer items than the largest k ranks them all: hr@100 on 60 items is hr@60.
        self.depth = min(max(self.ks), scores.shape[1])
        top = torch.topk(masked, self.depth, dim=1).indices
        hits = torch.gather(target, 1, top).double()
        positives = target.sum(1).double()
        discount = 1.0 / torch.log2(torch.arange(2, self.depth + 2, device=scores.device, dtype=torch.float64))
        propensity = self.propensity.to(scores.device)
        ranked_propensity = torch.where(target, propensity, torch.zeros_like(propensity)).sort(1, descending=True).values
        for name in self.ks:
            k = min(name, self.depth)
            cutoff = torch.clamp(positives, max=k)
            within = torch.arange(k, device=scores.device)[None, :] < cutoff[:, None]
            ideal = (discount[:k] * within).sum(1)
            psp = (hits[:, :k] * propensity[top[:, :k]]).sum(1) / cutoff
            best_psp = (ranked_propensity[:, :k] * within).sum(1)
            self._add(f"hr@{name}", (hits[:, :k].sum(1) / cutoff).sum())
            self._add(f"ndcg@{name}", ((hits[:, :k] * discount[:k]).sum(1) / ideal).sum())
            self._add(f"psp@{name}", (psp / best_psp).sum())
        self.users += len(rows)

    def _add(self, name: str, value: Tensor) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(value)

    def result(self) -> dict[str, float]:
        """Metrics in percent (as the papers print them), ``auc`` in percent, and ``users``."""
        if self.users == 0:
            raise ValueError("no user has a held-out item; nothing to evaluate")
        out = {name: 100.0 * value / self.users for name, value in sorted(self.sums.items())}
        if self.auc_scores:
            out["auc"] = 100.0 * pooled_auc(np.concatenate(self.auc_labels), np.concatenate(self.auc_scores))
        out["users"] = self.users
        if self.depth < max(self.ks):
            out["ranking_depth"] = self.depth
        return out


def pooled_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of binary ``labels`` by ``scores`` (Mann-Whitney, ties count half)."""
    positives = labels > 0
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
