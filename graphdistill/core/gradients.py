"""Per-class (or any weighted-subset) parameter gradients in one batched call, with torch.func."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, autograd, nn
from torch.func import functional_call, grad, vmap


def weighted_nll_gradients(model: nn.Module, args: tuple[Any, ...], targets: Tensor, weights: Tensor,
                           rows: Tensor | None = None, vectorize: bool = True,
                           create_graph: bool = True) -> list[Tensor]:
    """Gradients of ``K`` weighted negative log-likelihoods w.r.t. the model's parameters.

    Loss ``k`` is ``sum_i weights[k, i] * -log p(targets[i] | row i)``: with ``weights[k]`` equal to
    ``1/n_k`` on the rows of class ``k`` and 0 elsewhere it is the mean loss of that class, so this
    returns every per-class gradient of gradient matching in one pass. The forward is evaluated once
    (it does not depend on ``k``); only the backward is batched. The result stays differentiable
    w.r.t. tensors in ``args`` (synthetic data), so an outer ``backward`` works through it.

    Args:
        model: returns ``(n, classes)`` log-probabilities for ``model(*args)``.
        targets: ``(m,)`` labels of the scored rows.
        weights: ``(K, m)`` per-loss row weights.
        rows: ``(m,)`` output rows scored (``None``: all ``n == m`` rows).
        vectorize: batch the ``K`` backward passes with ``vmap``; ``False`` loops over them with
            ``torch.autograd.grad`` instead, for models ``vmap`` cannot trace (sparse operators).
        create_graph: keep the result differentiable (the synthetic side); ``False`` for real data.

    Returns:
        One ``(K, *param.shape)`` tensor per parameter, in ``model.parameters()`` order.
    """
    if not vectorize:
        params = list(model.parameters())
        logp = model(*args)
        if rows is not None:
            logp = logp[rows]
        nll = -logp.gather(1, targets[:, None]).squeeze(1)
        per_loss = [autograd.grad((w * nll).sum(), params, retain_graph=True, create_graph=create_graph)
                    for w in weights]
        return [torch.stack(grads) for grads in zip(*per_loss)]

    names = [name for name, _ in model.named_parameters()]
    params = {name: p.detach() for name, p in model.named_parameters()}

    def loss(values: dict[str, Tensor], row_weights: Tensor) -> Tensor:
        logp = functional_call(model, values, args)
        if rows is not None:
            logp = logp[rows]
        return -(row_weights * logp.gather(1, targets[:, None]).squeeze(1)).sum()

    grads = vmap(grad(loss), in_dims=(None, 0))(params, weights)
    return [grads[name] if create_graph else grads[name].detach() for name in names]
