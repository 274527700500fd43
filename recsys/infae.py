"""Distill-CF's evaluation protocol for ∞-AE and the other closed-form learners of :mod:`recsys.learners`.

A learner is fitted on support users (the training users, or synthetic ones) once per value of its regulariser
grid; every value is scored on validation (context: the train rows) and the best one, by HR@100 unless told
otherwise, on test (context: train + valid rows, with AUC). Scores are computed in chunks of users so that ML-1M
(6,040 x 3,706) fits in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from graphdistill.core.errors import InputError
from recsys.data import InteractionData
from recsys.learners import LEARNERS, Scorer
from recsys.metrics import RankingAccumulator, chunk_masks, fixed_negatives, item_propensity

SELECTION_METRIC = "hr@100"
KS = (10, 100)
#: The validation metrics a selection can use (AUC is scored on test only).
VALIDATION_METRICS: tuple[str, ...] = tuple(f"{kind}@{k}" for kind in ("hr", "ndcg", "psp") for k in KS)


def _dense_rows(matrix: sp.csr_matrix, rows: slice, device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.as_tensor(matrix[rows].toarray(), device=device, dtype=dtype)


def score_chunks(context: sp.csr_matrix, scorer: Scorer, device: torch.device,
                 chunk: int = 1024) -> Iterator[tuple[slice, list[Tensor]]]:
    """For each chunk of users: ``(rows, scorer(their context rows))``, the rows given in float64."""
    for start in range(0, context.shape[0], chunk):
        rows = slice(start, min(start + chunk, context.shape[0]))
        yield rows, scorer(_dense_rows(context, rows, device, torch.float64), None)


@dataclass
class EvaluationSetup:
    """What every evaluation of one dataset shares: propensities, fixed AUC negatives, contexts, and the users
    scored (every user, or a seeded sample of them on logs too large to score whole)."""

    data: InteractionData
    propensity: Tensor
    negatives: np.ndarray
    contexts: dict[str, tuple[sp.csr_matrix, sp.csr_matrix]]
    users: np.ndarray

    @classmethod
    def of(cls, data: InteractionData, negative_seed: int = 0, eval_users: int = 0,
           sample_seed: int = 0) -> "EvaluationSetup":
        """``eval_users`` > 0 scores that many users drawn with ``sample_seed`` (fewer than all); propensities
        always come from every training row."""
        if eval_users < 0:
            raise InputError(f"--eval-users must be positive (got {eval_users})")
        users = np.arange(data.num_users)
        if 0 < eval_users < data.num_users:
            users = np.sort(np.random.default_rng(sample_seed).choice(data.num_users, eval_users, replace=False))
        train, valid, test = (m if len(users) == data.num_users else m[users] for m in (data.train, data.valid, data.test))
        return cls(data, torch.as_tensor(item_propensity(data.train), dtype=torch.float64),
                   fixed_negatives(train, test, seed=negative_seed),
                   {"valid": (train, valid), "test": ((train + valid).tocsr(), test)}, users)

    def split(self, name: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(context, held-out)`` rows of the scored users: train rows for ``valid``; train + valid for ``test``."""
        if name not in self.contexts:
            raise ValueError(f"unknown split {name!r}")
        return self.contexts[name]

    @property
    def sampled(self) -> bool:
        return len(self.users) < self.data.num_users


def evaluate_scores(setup: EvaluationSetup, split: str, chunks: Iterator[tuple[slice, list[Tensor]]],
                    count: int, with_auc: bool) -> list[dict[str, float]]:
    """Metrics of ``count`` score sets streamed by ``chunks`` (as :func:`score_chunks` yields them)."""
    context, heldout = setup.split(split)
    accumulators = [RankingAccumulator(KS, setup.propensity) for _ in range(count)]
    for rows, scores in chunks:
        masks = chunk_masks(context[rows], heldout[rows], scores[0].device)
        if masks is None:
            continue
        negatives = setup.negatives[rows] if with_auc and setup.negatives.shape[1] else None
        for accumulator, score in zip(accumulators, scores):
            accumulator.add_masked(score, *masks, negatives)
    return [accumulator.result() for accumulator in accumulators]


@torch.no_grad()
def evaluate_support(support: Tensor, setup: EvaluationSetup, learner: str = "infae",
                     grid: tuple[float, ...] | None = None, chunk: int = 1024) -> dict[str, object]:
    """``learner`` trained on ``support`` (``(n, items)``, real or synthetic users) with Distill-CF's protocol.

    Every value of ``grid`` (default: the learner's) is scored on validation (context: train rows); the one with
    the best HR@100 is scored on test (context: train + valid rows), with AUC.

    Returns:
        ``{"test": metrics, "valid": metrics of the chosen value, "ridge": chosen value}``.
    """
    model = LEARNERS[learner]()
    ridge, valid_metrics = pick_ridge(grid or model.grid, validation_scores(support, setup, learner, grid, chunk))
    context, _ = setup.split("test")
    test = evaluate_scores(setup, "test", score_chunks(context, model.fit(support, (ridge,)), support.device, chunk),
                           1, with_auc=True)[0]
    return {"test": {**test, "auc_negatives": int(setup.negatives.shape[1])}, "valid": valid_metrics, "ridge": ridge}


def pick_ridge(ridges: tuple[float, ...], metrics: list[dict[str, float]],
               metric: str = SELECTION_METRIC) -> tuple[float, dict[str, float]]:
    """The ridge whose validation ``metrics`` (one dict per ridge) are best by ``metric``, with those metrics."""
    return max(zip(ridges, metrics), key=lambda pair: pair[1][metric])


@torch.no_grad()
def validation_scores(support: Tensor, setup: EvaluationSetup, learner: str = "infae",
                      grid: tuple[float, ...] | None = None, chunk: int = 1024) -> list[dict[str, float]]:
    """Validation metrics of ``learner`` on ``support`` for every value of ``grid`` (default: the learner's);
    the work the values share (∞-AE's kernel rows) is done once."""
    model = LEARNERS[learner]()
    grid = grid or model.grid
    context, _ = setup.split("valid")
    chunks = score_chunks(context, model.fit(support, grid), support.device, chunk)
    return evaluate_scores(setup, "valid", chunks, len(grid), with_auc=False)
