"""∞-AE (Sachdeva et al., NeurIPS 2022): kernel ridge regression with the NTK of an infinitely wide
one-hidden-layer ReLU autoencoder, used as the recommender and as Distill-CF's inner model.

Scores for users with context rows ``Q`` given support users ``S`` (the training users, or synthetic ones):
``K(Q, S) (K(S, S) + lambda tr(K(S, S)) / n I)^-1 S``. The kernel rows are computed in chunks of users so
that ML-1M (6,040 x 3,706) fits in memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from graphdistill.core.kernels import krr_fit, relu_kernels
from recsys.data import InteractionData
from recsys.metrics import RankingAccumulator, chunk_masks, fixed_negatives, item_propensity

#: Distill-CF's and ∞-AE's grid of relative ridges, chosen by validation HR@100.
RIDGE_GRID: tuple[float, ...] = (1e-5, 1e-3, 0.1, 1.0, 5.0, 50.0)
SELECTION_METRIC = "hr@100"
KS = (10, 100)
#: The validation metrics a selection can use (AUC is scored on test only).
VALIDATION_METRICS: tuple[str, ...] = tuple(f"{kind}@{k}" for kind in ("hr", "ndcg", "psp") for k in KS)


def ntk(x: Tensor, y: Tensor | None = None) -> Tensor:
    """∞-AE's kernel: the NTK with weight variance 2 and bias variance 0.01, ``(n, d), (m, d) -> (n, m)``."""
    return relu_kernels(x, y, weight_var=2.0, bias_var=0.01)[0]


def dual_coefficients(support: Tensor, ridges: tuple[float, ...]) -> list[Tensor]:
    """``(K(S,S) + ridge tr/n I)^-1 S`` for every ridge, solved in float64 (small ridges on a 6,040-user
    kernel are not positive definite in float32); returned in ``support``'s dtype.

    A ridge too small for the kernel to be numerically positive definite (near-identical synthetic users)
    is solved with the smallest larger power-of-ten multiple that is, as a plain solve would silently do
    with garbage; validation then judges it like any other."""
    kernel = ntk(support.double())
    target = support.double()
    return [krr_fit(kernel, target, ridge, escalate=True).to(support.dtype) for ridge in ridges]


def _dense_rows(matrix: sp.csr_matrix, rows: slice, device: torch.device, dtype: torch.dtype) -> Tensor:
    return torch.as_tensor(matrix[rows].toarray(), device=device, dtype=dtype)


def score_chunks(context: sp.csr_matrix, support: Tensor, alphas: list[Tensor],
                 chunk: int = 1024) -> Iterator[tuple[slice, list[Tensor]]]:
    """For each chunk of users: ``(rows, [K(Q, S) alpha for alpha in alphas])``, ``Q`` = their context rows."""
    support64 = support.double()
    for start in range(0, context.shape[0], chunk):
        rows = slice(start, min(start + chunk, context.shape[0]))
        kernel = ntk(_dense_rows(context, rows, support.device, torch.float64), support64).to(support.dtype)
        yield rows, [kernel @ alpha for alpha in alphas]


@dataclass
class EvaluationSetup:
    """What every evaluation of one dataset shares: propensities, fixed AUC negatives, contexts."""

    data: InteractionData
    propensity: Tensor
    negatives: np.ndarray
    test_context: sp.csr_matrix

    @classmethod
    def of(cls, data: InteractionData, negative_seed: int = 0) -> "EvaluationSetup":
        return cls(data, torch.as_tensor(item_propensity(data.train), dtype=torch.float64),
                   fixed_negatives(data.train, data.test, seed=negative_seed), (data.train + data.valid).tocsr())

    def split(self, name: str) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(context, held-out)``: train rows for ``valid``; train + valid rows for ``test``."""
        if name == "valid":
            return self.data.train, self.data.valid
        if name == "test":
            return self.test_context, self.data.test
        raise ValueError(f"unknown split {name!r}")


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
def evaluate_support(support: Tensor, setup: EvaluationSetup, ridges: tuple[float, ...] = RIDGE_GRID,
                     chunk: int = 1024) -> dict[str, object]:
    """∞-AE on ``support`` (``(n, items)``, real or synthetic users) with Distill-CF's protocol.

    Every ridge is scored on validation (context: train rows); the one with the best HR@100 is scored on
    test (context: train + valid rows), with AUC.

    Returns:
        ``{"test": metrics, "valid": metrics of the chosen ridge, "ridge": chosen ridge}``.
    """
    ridge, valid_metrics = pick_ridge(ridges, validation_scores(support, setup, ridges, chunk))
    context, _ = setup.split("test")
    alphas = dual_coefficients(support, (ridge,))
    test = evaluate_scores(setup, "test", score_chunks(context, support, alphas, chunk), 1, with_auc=True)[0]
    return {"test": {**test, "auc_negatives": int(setup.negatives.shape[1])}, "valid": valid_metrics, "ridge": ridge}


def pick_ridge(ridges: tuple[float, ...], metrics: list[dict[str, float]],
               metric: str = SELECTION_METRIC) -> tuple[float, dict[str, float]]:
    """The ridge whose validation ``metrics`` (one dict per ridge) are best by ``metric``, with those metrics."""
    return max(zip(ridges, metrics), key=lambda pair: pair[1][metric])


@torch.no_grad()
def validation_scores(support: Tensor, setup: EvaluationSetup, ridges: tuple[float, ...] = RIDGE_GRID,
                      chunk: int = 1024) -> list[dict[str, float]]:
    """Validation metrics of ∞-AE on ``support`` for every ridge (the kernel rows are computed once)."""
    context, _ = setup.split("valid")
    alphas = dual_coefficients(support, ridges)
    return evaluate_scores(setup, "valid", score_chunks(context, support, alphas, chunk), len(ridges), with_auc=False)
