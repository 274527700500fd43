"""Closed-form infinite-width kernels and kernel ridge regression (∞-AE, KIP)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

_COS_CLAMP = 1e-6


def relu_kernels(x: Tensor, y: Tensor | None = None, weight_var: float = 2.0,
                 bias_var: float = 0.01, dot: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """NTK and NNGP kernels of an infinitely wide one-hidden-layer ReLU network.

    The network is ``f(x) = sqrt(weight_var / h) v . relu(sqrt(weight_var / d) W x + sqrt(bias_var) b)
    + sqrt(bias_var) b_out`` with standard-normal parameters (NTK parametrisation). With
    ``s(x, y) = weight_var * x.y / d + bias_var`` and ``theta`` the angle between ``x`` and ``y`` under
    ``s`` (its cosine clamped to ``[-1 + 1e-6, 1 - 1e-6]``, without which gradients at ``x == y`` are
    infinite):

    - ``E[relu relu] = sqrt(s(x,x) s(y,y)) / (2 pi) * (sin theta + (pi - theta) cos theta)``
    - ``NNGP = weight_var * E[relu relu] + bias_var``
    - ``NTK = NNGP + weight_var * s(x, y) * (pi - theta) / (2 pi)``

    With the defaults (weight variance 2, bias variance 0.01) this is ∞-AE's kernel (Sachdeva et al.).

    Args:
        x: ``(n, d)``; y: ``(m, d)`` (default ``x``).
        dot: ``x @ y.T`` where the caller has it already (shared with other uses of the same product).

    Returns:
        ``(ntk, nngp)``, each ``(n, m)``; differentiable w.r.t. ``x`` and ``y``.
    """
    y = x if y is None else y
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected (n, d) and (m, d) inputs, got {tuple(x.shape)} and {tuple(y.shape)}")
    d = x.shape[1]
    s_xy = weight_var * (x @ y.t() if dot is None else dot) / d + bias_var
    s_xx = weight_var * (x * x).sum(1) / d + bias_var
    s_yy = weight_var * (y * y).sum(1) / d + bias_var
    norm = torch.sqrt(s_xx[:, None] * s_yy[None, :])
    cos = (s_xy / norm).clamp(-1 + _COS_CLAMP, 1 - _COS_CLAMP)
    theta = torch.acos(cos)
    expected_relu = norm / (2 * math.pi) * (torch.sin(theta) + (math.pi - theta) * cos)
    expected_step = (math.pi - theta) / (2 * math.pi)
    nngp = weight_var * expected_relu + bias_var
    return nngp + weight_var * s_xy * expected_step, nngp


def relu_ntk_layer(sigma: Tensor, theta: Tensor, diag_x: Tensor, diag_y: Tensor) -> tuple[Tensor, Tensor]:
    """One infinitely wide ReLU layer of the NTK recursion (weight variance 2, no bias), as in the GNTK and
    SNTK: with ``cos t = sigma / sqrt(diag_x diag_y)``,

    - ``sigma' = sqrt(diag_x diag_y) / pi * (sin t + (pi - t) cos t)`` (the NNGP; diagonals are unchanged),
    - ``theta' = theta * (pi - t) / pi + sigma'``.

    Args:
        sigma, theta: ``(n, m)`` NNGP and NTK before the layer; diag_x ``(n,)``, diag_y ``(m,)``: the NNGP
            diagonals of the two sides.
    Returns:
        ``(sigma', theta')``.
    """
    norm = torch.sqrt(diag_x[:, None] * diag_y[None, :]).clamp_min(1e-12)
    cos = (sigma / norm).clamp(-1 + _COS_CLAMP, 1 - _COS_CLAMP)
    angle = torch.acos(cos)
    sigma_next = norm / math.pi * (torch.sin(angle) + (math.pi - angle) * cos)
    return sigma_next, theta * (math.pi - angle) / math.pi + sigma_next


def feature_kernel(x: Tensor, y: Tensor | None = None) -> Tensor:
    """``(n, d), (m, d) -> (n, m)``: the inner product of explicit features divided by their dimension, e.g.
    random-network embeddings as a sampled estimate of that network's NNGP kernel."""
    return x @ (x if y is None else y).T / x.shape[1]


def krr_fit(k_train: Tensor, targets: Tensor, ridge: float, escalate: bool = False) -> Tensor:
    """Dual coefficients ``(K + ridge * tr(K) / n * I)^-1 Y`` by Cholesky.

    The ridge is relative to the kernel's mean diagonal, so one grid of values fits kernels of any
    scale.

    Args:
        k_train: ``(n, n)`` symmetric positive semi-definite kernel of the support set.
        targets: ``(n, k)`` (or ``(n,)``) targets of the support set.
        ridge: relative regularisation ``lambda >= 0``.
        escalate: if the regularised kernel is not numerically positive definite (near-duplicate support
            rows), retry with the ridge multiplied by 10, up to six times, instead of raising.

    Returns:
        ``alpha`` with the shape of ``targets``.

    Raises:
        ValueError: if the regularised kernel is not positive definite (e.g. ``ridge=0`` on a
            singular kernel).
    """
    n = k_train.shape[0]
    if k_train.shape != (n, n) or targets.shape[0] != n:
        raise ValueError(f"kernel {tuple(k_train.shape)} and targets {tuple(targets.shape)} do not match")
    column = targets if targets.dim() == 2 else targets[:, None]
    alpha = torch.cholesky_solve(column, ridge_cholesky(k_train, ridge, escalate))
    return alpha if targets.dim() == 2 else alpha[:, 0]


def ridge_cholesky(kernel: Tensor, ridge: float, escalate: bool = False, in_place: bool = False) -> Tensor:
    """The Cholesky factor of ``K + ridge * tr(K) / n * I`` (see :func:`krr_fit` for ``ridge`` and ``escalate``).

    ``in_place`` adds the ridge to ``K``'s diagonal, factors and takes it off again instead of copying ``K``
    (for kernels too large to copy; ``K`` must not need gradients and is restored up to rounding).
    """
    n = kernel.shape[0]
    identity = None if in_place else torch.eye(n, dtype=kernel.dtype, device=kernel.device)
    for attempt in range(7 if escalate else 1):
        shift = ridge * 10**attempt * torch.trace(kernel) / n
        if in_place:
            kernel.diagonal().add_(shift)
            factor, info = torch.linalg.cholesky_ex(kernel)
            kernel.diagonal().sub_(shift)
        else:
            factor, info = torch.linalg.cholesky_ex(kernel + shift * identity)
        if int(info) == 0:
            return factor
    raise ValueError(f"regularised kernel is not positive definite (ridge={ridge}); increase the ridge")


def krr_predict(k_query_train: Tensor, alpha: Tensor) -> Tensor:
    """Predictions ``K(Q, S) alpha`` for query rows, ``(q, n) @ (n, k)``."""
    return k_query_train @ alpha
