"""Closed-form recommenders trained on a user x item matrix, differentiable in that matrix.

Each learner is fitted on support users ``S (n, items)`` (real users, or Distill-CF's synthetic ones) with one
regulariser value and scores any users from their interaction rows ``Q (b, items) -> (b, items)``. Distill-CF
puts them in its outer loss (``learners=infae,ease``), and the evaluation protocol of :mod:`recsys.infae` scores
them on validation to choose the regulariser from the learner's grid.

- ``infae``: ∞-AE (Sachdeva et al., NeurIPS 2022), kernel ridge regression with the NTK of an infinitely wide
  one-hidden-layer ReLU autoencoder: ``K(Q, S) (K(S, S) + lambda tr(K) / n I)^-1 S``; lambda relative.
- ``ease``: EASE (Steck, WWW 2019), ``Q B`` with ``B = I - P diag(1 / diag P)``, ``P = (S^T S + lambda I)^-1``
  (RecBole's ``reg_weight`` is lambda, absolute). With fewer users than items the item x item inverse is never
  formed: by Woodbury, ``P = (I - S^T (S S^T + lambda I)^-1 S) / lambda``, so a step costs one users x users
  Cholesky and products of the size of ``Q S^T``.
- ``itemknn``: ItemKNN's item-item cosine without neighbour truncation, ``Q W - Q diag(W)`` with
  ``W = S_hat^T S_hat`` and ``S_hat`` the column-normalised ``S`` (RecBole's default ``shrink=0``); as
  ``(Q S_hat^T) S_hat`` it never forms the item x item matrix either. Nothing to choose on validation.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.core.kernels import krr_fit, relu_kernels, ridge_cholesky
from graphdistill.core.registry import Registry

#: ``(rows (b, items), overlap)`` -> one ``(b, items)`` score matrix per regulariser value fitted; ``overlap`` is
#: ``rows @ support.T`` (``(b, n)``, in the support's dtype) when the caller has it, which ∞-AE and EASE start
#: from, so learners scoring the same rows share that product (and its backward); ``None``: computed by the
#: scorer.
Scorer = Callable[[Tensor, "Tensor | None"], list[Tensor]]


def ntk(x: Tensor, y: Tensor | None = None, dot: Tensor | None = None) -> Tensor:
    """∞-AE's kernel: the NTK with weight variance 2 and bias variance 0.01, ``(n, d), (m, d) -> (n, m)``
    (``dot``: ``x @ y.T`` if already computed)."""
    return relu_kernels(x, y, weight_var=2.0, bias_var=0.01, dot=dot)[0]


def dual_coefficients(support: Tensor, ridges: tuple[float, ...]) -> list[Tensor]:
    """``(K(S,S) + ridge tr/n I)^-1 S`` for every ridge, solved in float64 (small ridges on a 6,040-user
    kernel are not positive definite in float32); returned in ``support``'s dtype.

    A ridge too small for the kernel to be numerically positive definite (near-identical synthetic users)
    is solved with the smallest larger power-of-ten multiple that is, as a plain solve would silently do
    with garbage; validation then judges it like any other."""
    if len(support) > BLOCKED_ABOVE and not (torch.is_grad_enabled() and support.requires_grad):
        return _blocked_dual_coefficients(support, ridges)
    kernel = ntk(support.double())
    target = support.double()
    return [krr_fit(kernel, target, ridge, escalate=True).to(support.dtype) for ridge in ridges]


#: support sizes above which evaluation solves in blocks (a 24,000-user support's n x n temporaries alone would
#: take ~30 GB in float64)
BLOCKED_ABOVE = 8192


def _blocked_dual_coefficients(support: Tensor, ridges: tuple[float, ...], block: int = 2048) -> list[Tensor]:
    """:func:`dual_coefficients` for a large support that needs no gradient, in bounded memory: the kernel is
    built in blocks, each ridge is added to its diagonal in place and factored (escalated like
    :func:`dual_coefficients`), and the targets are solved in column blocks, all in float64 one block at a
    time. Memory: the float64 kernel and one factor (``2 n^2`` values) besides the support and the results."""
    n = len(support)
    kernel = torch.empty(n, n, dtype=torch.float64, device=support.device)
    for row in range(0, n, block):
        left = support[row:row + block].double()
        for column in range(0, n, block):
            kernel[row:row + block, column:column + block] = ntk(left, support[column:column + block].double())
    alphas = []
    for ridge in ridges:
        factor = ridge_cholesky(kernel, ridge, escalate=True, in_place=True)
        alpha = torch.empty_like(support)
        for start in range(0, support.shape[1], block):
            alpha[:, start:start + block] = torch.cholesky_solve(support[:, start:start + block].double(), factor)
        alphas.append(alpha)
        del factor  # before the next ridge's factor is built: two would not fit beside the kernel
    return alphas


class Learner(ABC):
    """A recommender with a closed form in its training matrix.

    Attributes:
        grid: regulariser values validation chooses from.
    """

    grid: tuple[float, ...]

    @abstractmethod
    def fit(self, support: Tensor, values: tuple[float, ...]) -> Scorer:
        """Train on ``support (n, items)`` once per regulariser value; the :data:`Scorer` maps rows
        ``(b, items)`` to a list of scores ``(b, items)``, one per value, differentiably in ``support`` and
        sharing the work the values have in common."""

    def solver(self, users: int, items: int) -> str:
        """What one fit solves, for ``meta.json``."""
        return f"{users} x {users} Cholesky"


LEARNERS: Registry[type[Learner]] = Registry("learner")


@LEARNERS.register("infae")
class InfiniteAE(Learner):
    #: Distill-CF's and ∞-AE's grid of relative ridges.
    grid = (1e-5, 1e-3, 0.1, 1.0, 5.0, 50.0)

    def fit(self, support: Tensor, values: tuple[float, ...]) -> Scorer:
        alphas = dual_coefficients(support, values)

        def score(rows: Tensor, overlap: Tensor | None = None) -> list[Tensor]:
            if overlap is not None:
                rows = rows.to(support.dtype)
            kernel = ntk(rows, support.to(rows.dtype), overlap).to(support.dtype)
            return [kernel @ alpha for alpha in alphas]

        return score


@LEARNERS.register("ease")
class EASE(Learner):
    #: around RecBole's default reg_weight (250), which the transfer table's EASE uses
    grid = (50.0, 250.0, 1000.0)

    def fit(self, support: Tensor, values: tuple[float, ...]) -> Scorer:
        users, items = support.shape
        wide = support.double()
        if users < items:
            heads = []
            for value in values:
                gram = wide @ wide.t() + value * torch.eye(users, dtype=wide.dtype, device=wide.device)
                solved = torch.cholesky_solve(wide, torch.linalg.cholesky(gram))  # (S S^T + lambda I)^-1 S
                # Q B = Q - (Q P) / diag(P) with Q P = (Q - (Q S^T) solved) / lambda, regrouped as
                # Q (1 - c) + (Q S^T) (solved c), c = 1 / (lambda diag P): the per-item scaling lands on the
                # (users, items) factor instead of a (rows, items) product
                scale = (1 / (1 - (wide * solved).sum(0))).to(support.dtype)
                heads.append((1 - scale, solved.to(support.dtype) * scale))

            def score(rows: Tensor, overlap: Tensor | None = None) -> list[Tensor]:
                rows = rows.to(support.dtype)
                overlap = rows @ support.t() if overlap is None else overlap
                return [torch.addmm(rows * keep, overlap, weights) for keep, weights in heads]

            return score
        identity = torch.eye(items, dtype=wide.dtype, device=wide.device)
        weights = []
        for value in values:
            inverse = torch.cholesky_inverse(torch.linalg.cholesky(wide.t() @ wide + value * identity))
            weights.append((identity - inverse / inverse.diagonal()).to(support.dtype))
        return lambda rows, overlap=None: [rows.to(support.dtype) @ weight for weight in weights]

    def solver(self, users: int, items: int) -> str:
        if users < items:
            return f"Woodbury: {users} x {users} Cholesky"
        return f"{items} x {items} Cholesky (items)"


@LEARNERS.register("itemknn")
class ItemKNN(Learner):
    grid = (0.0,)

    def fit(self, support: Tensor, values: tuple[float, ...]) -> Scorer:
        normalized = support / support.pow(2).sum(0).clamp_min(1e-12).sqrt()
        self_similarity = normalized.pow(2).sum(0)

        def score(rows: Tensor, overlap: Tensor | None = None) -> list[Tensor]:
            # the item-normalised product Q S_hat^T cannot be had from Q S^T: overlap is not used
            rows = rows.to(support.dtype)
            return [(rows @ normalized.t()) @ normalized - rows * self_similarity] * len(values)

        return score

    def solver(self, users: int, items: int) -> str:
        return "no solve (cosine products)"


def parse_learners(text: str, weights: str = "") -> tuple[tuple[str, ...], tuple[float, ...]]:
    """``"infae,ease"`` and ``"1,2"`` -> the learner names (checked) and their weights normalised to sum 1
    (default equal)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or len(set(names)) != len(names):
        raise InputError(f"learners must name distinct learners, e.g. infae,ease; got {text!r}")
    unknown = [name for name in names if name not in LEARNERS]
    if unknown:
        raise InputError(f"unknown learner {unknown[0]!r}; choose from {', '.join(LEARNERS)}")
    if not weights.strip():
        values = [1.0] * len(names)
    else:
        try:
            values = [float(part) for part in weights.split(",")]
        except ValueError as exc:
            raise InputError(f"learner_weights must be numbers separated by commas, got {weights!r}") from exc
        if len(values) != len(names) or any(not v >= 0 for v in values) or sum(values) <= 0:
            raise InputError(f"learner_weights needs {len(names)} non-negative numbers, not all zero; got "
                             f"{weights!r}")
    return tuple(names), tuple(v / sum(values) for v in values)
