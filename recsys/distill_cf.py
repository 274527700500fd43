"""Distill-CF (Sachdeva et al., WSDM 2023): learn a few synthetic users whose ∞-AE solution reconstructs
the real users' interactions.

Synthetic users are logits over items, initialised from the rows of random real users. A relaxation of
sampling turns them into a soft interaction matrix ``S`` in ``[0, 1]``; the loss is the multinomial
log-likelihood of the real rows under ``K(X, S) (K(S, S) + lambda tr/n I)^-1 S`` plus a cardinality
regulariser. With ``learners=infae,ease`` (any of :mod:`recsys.learners`) the log-likelihood term is a weighted sum
over learners, each learner's term rescaled to start at the first learner's initial value (so the weights compare
like with like, and ``infae`` alone is the paper's loss); each learner's regulariser is chosen on validation.
Two relaxations:

- ``gumbel`` (the paper): the sum of ``gamma`` Gumbel-softmax samples at temperature ``tau``, clipped to 1.
- ``mean``: ``min(1, gamma softmax(logits / tau))``, the expectation of that sum to first order in
  ``1 / tau`` (a Gumbel-softmax draw at a high temperature is ``softmax(logits / tau)`` plus zero-mean noise),
  without drawing anything: about 40x cheaper per step. ``benchmarks/recsys.py`` compares the two.

The closed form ``1 - (1 - softmax(logits))^gamma`` (the expectation of the clipped hard sample) was tried
first and dropped: without the temperature the synthetic rows become sharp early, which on
amazon-magazine (users with 1-2 training items) fell to nDCG@10 8.6 against 22.7 for ``gumbel``.
"""
from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch
from torch import Tensor, nn

from graphdistill.core import distributed
from graphdistill.core.errors import InputError
from graphdistill.core.loop import BilevelSchedule, WithoutInnerTraining, run_bilevel
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.core.synthetic import SyntheticSet
from recsys.infae import SELECTION_METRIC, VALIDATION_METRICS, EvaluationSetup, pick_ridge, validation_scores
from recsys.learners import LEARNERS, parse_learners

RELAXATIONS = ("mean", "gumbel")
PRECISIONS = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class DistillCFConfig:
    """Distill-CF settings; defaults are the paper's.

    Args:
        steps: Adam steps on the logits.
        lr: Adam learning rate.
        gamma: draws per synthetic user (Gumbel samples, or the exponent of the closed form).
        tau: Gumbel-softmax temperature (``gumbel`` relaxation only).
        cardinality_reg: weight ``c`` of ``mean row sum of S / mean real row sum``.
        relaxation: ``mean`` (closed form, default) or ``gumbel`` (the paper's sampling).
        eval_every: steps between validation scorings (ridge grid); the best state is kept.
        select_metric: the validation metric that picks each learner's regulariser and the kept state (the
            paper's ``hr@100``; any key of the validation metrics, e.g. ``ndcg@10``); with several learners the
            kept state is the best by the weighted mean of their scores.
        learners: comma-separated learners of the outer loss (``infae``, ``ease``, ``itemknn``).
        learner_weights: comma-separated weights of ``learners`` (normalised to sum 1; empty: equal).
        patience: stop this many steps after the best validation score (0: never).
        batch_users: real users per step (0: all of them, the paper's full batch).
        checkpoint_every: steps between checkpoints (with an output directory).
        keep_fraction: sparse output: after the steps, keep only the largest values of the best state,
            ``keep_fraction`` x the training interactions in all, and optimise those values (in ``(0, 1)``,
            the rest fixed at zero) for ``sparse_steps`` more steps with the same loss and selection
            (1.0: the dense soft matrix).
        precision: ``float32`` (default) or ``float64`` for the logits and the real rows. Adam's first steps
            move every logit by the full learning rate in the direction of its gradient's sign, so a logit whose
            gradient is zero up to float32 rounding moves either way when the sums run in another order (another
            thread count, or ``--nproc``): in float32 such runs agree on the losses and on about 99.9 % of the
            values; in float64 they agree on every value (a test). ML-1M at 500 users in float64: 1.6x the time and
            1.7x the memory.
    """

    steps: int = 500
    lr: float = 0.04
    gamma: int = 200
    tau: float = 10.0
    cardinality_reg: float = 1e-3
    relaxation: str = "mean"
    eval_every: int = 25
    select_metric: str = SELECTION_METRIC
    patience: int = 150
    batch_users: int = 0
    checkpoint_every: int = 50
    keep_fraction: float = 1.0
    sparse_steps: int = 300
    learners: str = "infae"
    learner_weights: str = ""
    precision: str = "float32"

    def __post_init__(self) -> None:
        parse_learners(self.learners, self.learner_weights)
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")
        if self.select_metric not in VALIDATION_METRICS:
            raise InputError(f"unknown selection metric {self.select_metric!r}; choose one of "
                             f"{', '.join(VALIDATION_METRICS)}")
        if self.relaxation not in RELAXATIONS:
            raise InputError(f"unknown relaxation {self.relaxation!r}; choose one of {', '.join(RELAXATIONS)}")
        if (self.steps < 0 or self.gamma < 1 or self.tau <= 0 or self.lr <= 0 or self.eval_every < 1
                or not 0 < self.keep_fraction <= 1 or self.sparse_steps < 0):
            raise InputError(f"impossible Distill-CF settings: {self}")

    @property
    def mixture(self) -> tuple[tuple[str, ...], tuple[float, ...]]:
        """The learners' names and their weights, normalised to sum 1."""
        return parse_learners(self.learners, self.learner_weights)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the logits and the real rows."""
        return PRECISIONS[self.precision]


class _GumbelSoftmaxSum(torch.autograd.Function):
    """Sum of ``samples`` Gumbel-softmax draws of each row; the backward pass regenerates the noise from
    ``seed`` instead of storing ``samples`` copies of the matrix (ML-1M at 500 users: 1.5 GB)."""

    @staticmethod
    def _draws(logits: Tensor, samples: int, tau: float, seed: int):
        """Chunks ``(c, n, d)`` of draws ``softmax((logits + g) / tau)`` with standard Gumbel ``g``, about 4M
        values per chunk."""
        generator = torch.Generator(device=logits.device).manual_seed(seed)
        chunk = max(1, min(samples, 4_000_000 // max(1, logits.numel())))
        for start in range(0, samples, chunk):
            uniform = torch.rand((min(chunk, samples - start), *logits.shape), generator=generator,
                                 device=logits.device, dtype=logits.dtype)
            gumbel = uniform.clamp_min_(torch.finfo(logits.dtype).tiny).log_().neg_().log_().neg_()
            yield torch.softmax((logits + gumbel) / tau, dim=-1)

    @staticmethod
    def forward(ctx, logits: Tensor, samples: int, tau: float, seed: int) -> Tensor:
        ctx.save_for_backward(logits)
        ctx.settings = (samples, tau, seed)
        total = torch.zeros_like(logits)
        for draws in _GumbelSoftmaxSum._draws(logits, samples, tau, seed):
            total += draws.sum(0)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor):
        (logits,) = ctx.saved_tensors
        samples, tau, seed = ctx.settings
        total = torch.zeros_like(logits)
        for draws in _GumbelSoftmaxSum._draws(logits, samples, tau, seed):
            total += (draws * (grad - (grad * draws).sum(-1, keepdim=True))).sum(0)
        return total / tau, None, None, None


class SyntheticUsers(SyntheticSet):
    """``(users, items)`` learnable logits; :meth:`materialize` gives the relaxed interactions in ``[0, 1]``.

    Each learner's regulariser (chosen on validation) and loss scale are buffers, so checkpoints and the kept
    best state carry them.
    """

    def __init__(self, logits: Tensor, config: DistillCFConfig):
        super().__init__(None)
        self.logits = nn.Parameter(logits.to(config.dtype, copy=True))
        names, _ = config.mixture
        self.register_buffer("ridges", torch.tensor([LEARNERS[name].grid[0] for name in names], dtype=torch.float64))
        self.register_buffer("loss_scales", torch.full((len(names),), float("nan"), dtype=torch.float64))
        self.config = config

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"logits": [self.logits]}

    def materialize(self, seed: int | None = None) -> Tensor:
        """The relaxed interaction matrix; ``seed`` fixes the Gumbel draws (default: from torch's generator)."""
        if self.config.relaxation == "mean":
            return (self.config.gamma * torch.softmax(self.logits / self.config.tau, dim=-1)).clamp(max=1.0)
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()))
        draws = _GumbelSoftmaxSum.apply(self.logits, self.config.gamma, self.config.tau, seed)
        return draws.clamp(max=1.0)


class SparseSyntheticUsers(SyntheticSet):
    """Synthetic users with a fixed support: the ``keep`` largest entries of ``dense`` stay, as learnable
    values ``sigmoid(theta)`` in ``(0, 1)``; every other entry is zero. Carries on the regularisers and loss
    scales of the :class:`SyntheticUsers` it is made from."""

    def __init__(self, dense: Tensor, keep: int, ridges: Tensor, loss_scales: Tensor):
        super().__init__(None)
        positions = dense.flatten().topk(min(keep, dense.numel())).indices.sort().values
        self.register_buffer("positions", positions)
        self.register_buffer("ridges", ridges.detach().clone())
        self.register_buffer("loss_scales", loss_scales.detach().clone())
        self.shape = tuple(dense.shape)
        kept = dense.flatten()[positions].clamp(1e-4, 1 - 1e-4)
        self.values = nn.Parameter(torch.logit(kept))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"values": [self.values]}

    def materialize(self, seed: int | None = None) -> Tensor:
        """The ``(users, items)`` matrix (``seed`` is accepted for the same call shape; nothing is drawn)."""
        flat = self.values.new_zeros(self.shape[0] * self.shape[1])
        return flat.index_put((self.positions,), torch.sigmoid(self.values)).view(self.shape)


class RealRows:
    """The real training users: dense on the device when they hold at most ``DENSE_LIMIT`` values, otherwise
    the CSR matrix, whose drawn rows are made dense at each step (memory bounded by the batch, not the users);
    rows come in ``dtype``."""

    DENSE_LIMIT = 2 ** 28

    def __init__(self, train: sp.csr_matrix, device: torch.device, dtype: torch.dtype = torch.float32):
        self.count, self.device, self.dtype = train.shape[0], device, dtype
        self.mean_row_sum = float(train.sum() / max(1, train.shape[0]))
        small = train.shape[0] * train.shape[1] <= self.DENSE_LIMIT
        self.dense = torch.as_tensor(train.toarray(), device=device, dtype=dtype) if small else None
        self.sparse = None if small else train

    def rows(self, index: Tensor) -> Tensor:
        """``(len(index), items)`` dense rows."""
        if self.dense is not None:
            return self.dense[index.to(self.device)]
        return torch.as_tensor(self.sparse[index.cpu().numpy()].toarray(), device=self.device, dtype=self.dtype)


class DistillCFProblem(WithoutInnerTraining):
    """The loss of :class:`SyntheticUsers` against the real training rows (see the module docstring).

    Under a process group each rank scores its block of the step's real rows (``K(real, S)`` by row blocks;
    the support's own solve is computed on every rank) and rank 0 adds the cardinality term.
    """

    sharding = "rows"

    def __init__(self, synthetic: SyntheticUsers | SparseSyntheticUsers, real: RealRows, config: DistillCFConfig):
        self.synthetic, self.real, self.config = synthetic, real, config
        self.learners, weights = config.mixture
        self.weights = torch.tensor(weights, dtype=torch.float64, device=synthetic.loss_scales.device)

    def outer_loss(self, model: nn.Module) -> Tensor:
        support = self.synthetic.materialize()
        rows = self.real.count
        if 0 < self.config.batch_users < rows:
            drawn = torch.randperm(rows)[:self.config.batch_users]
            target, rows = self.real.rows(distributed.owned_block(drawn)), len(drawn)
        else:
            target = distributed.owned_block(self.real.dense)
        overlap = target @ support.t()
        # this rank's part of each learner's mean log-likelihood over the step's rows
        losses = torch.stack([
            -(torch.log_softmax(LEARNERS[name]().fit(support, (float(ridge),))(target, overlap)[0], dim=-1) * target)
            .sum() / rows for name, ridge in zip(self.learners, self.synthetic.ridges)])
        scales = self.synthetic.loss_scales
        if scales.isnan().any():  # the first step: every learner's term is rescaled to start where the first's does
            (whole,) = distributed.sum_over_ranks([losses.detach().double()])
            scales.copy_(whole[0] / whole)
        weighted = (losses * (scales * self.weights).to(losses.dtype)).sum()
        if not distributed.world().main:
            return weighted
        cardinality = support.sum(1).mean() / self.real.mean_row_sum
        return weighted + self.config.cardinality_reg * cardinality


def select_ridge(synthetic: SyntheticUsers | SparseSyntheticUsers, setup: EvaluationSetup, seed: int,
                 config: DistillCFConfig) -> float:
    """Score the current synthetic users on validation with every learner and every value of its grid; store
    each learner's best value (by ``config.select_metric``) in ``synthetic`` and return the weighted mean of
    those best scores."""
    with torch.no_grad():
        support = synthetic.materialize(seed)
    names, weights = config.mixture
    score = 0.0
    for index, (name, weight) in enumerate(zip(names, weights)):
        ridge, metrics = pick_ridge(LEARNERS[name].grid, validation_scores(support, setup, name), config.select_metric)
        synthetic.ridges[index] = ridge
        score += weight * metrics[config.select_metric]
    return score


def selection_draw_seed(seed: int) -> int:
    """The seed of the Gumbel draw that validation scores (and the output is) for a run of ``seed``: fixed, so
    the kept state is the one scored."""
    return seed + 1


def distill_cf(setup: EvaluationSetup, users: int, config: DistillCFConfig, run: RunOptions = RunOptions()) -> Condensed:
    """Run Distill-CF; ``data["interactions"]`` is the ``(users, items)`` soft interaction matrix of the best
    validation state; ``meta`` has each learner's regulariser and solver, the selection history and the steps
    run."""
    device = run.device
    train = setup.data.train
    active = torch.as_tensor((train.getnnz(1) > 0).nonzero()[0])
    picked = active[torch.randperm(len(active), generator=run.generator())[:users]]
    real = RealRows(train, device, config.dtype)
    if real.dense is None and not 0 < config.batch_users < real.count:
        raise InputError(f"{real.count:,} users x {train.shape[1]:,} items do not fit densely; draw real users at "
                         "each step with --set batch_users=2048 (or another size)")
    synthetic = SyntheticUsers(real.rows(picked), config).to(device)
    selection_seed = selection_draw_seed(run.seed)
    initial_score = select_ridge(synthetic, setup, selection_seed, config)
    result = _optimise(synthetic, setup, real, config, config.steps, run, selection_seed)
    metric = config.select_metric
    names, weights = config.mixture
    info = {"ridge": _by_learner(names, synthetic.ridges), "learner_weights": dict(zip(names, weights)),
            "loss_scales": _by_learner(names, synthetic.loss_scales),
            "solvers": {name: LEARNERS[name]().solver(users, train.shape[1]) for name in names},
            f"initial_valid_{metric}": initial_score,
            f"valid_{metric}_history": result.scores, "selected_step": result.selected_epoch,
            "steps_run": len(result.losses)}
    with torch.no_grad():
        support = synthetic.materialize(selection_seed)
    if config.keep_fraction < 1:
        sparse = SparseSyntheticUsers(support, max(1, int(config.keep_fraction * setup.data.train_interactions)),
                                      synthetic.ridges, synthetic.loss_scales).to(device)
        finetune = _optimise(sparse, setup, real, config, config.sparse_steps, run, selection_seed, phase="sparse")
        info.update({"ridge": _by_learner(names, sparse.ridges), f"sparse_valid_{metric}_history": finetune.scores,
                     "sparse_selected_step": finetune.selected_epoch, "sparse_steps_run": len(finetune.losses)})
        with torch.no_grad():
            support = sparse.materialize()
    return Condensed.from_loop({"interactions": support.cpu()}, result, **info)


def _by_learner(names: tuple[str, ...], values: Tensor) -> dict[str, float]:
    return {name: float(value) for name, value in zip(names, values)}


def _optimise(synthetic: SyntheticSet, setup: EvaluationSetup, real: RealRows, config: DistillCFConfig, steps: int,
              run: RunOptions, selection_seed: int, phase: str = ""):
    """Adam on the synthetic parameters through the core loop, validation every ``eval_every`` steps, best kept."""
    problem = DistillCFProblem(synthetic, real, config)
    schedule = BilevelSchedule(epochs=steps, outer_steps=1, inner_steps=0, select_every=config.eval_every,
                               patience=config.patience, checkpoint_every=config.checkpoint_every)
    optimizers = {name: torch.optim.Adam(params, lr=config.lr) for name, params in synthetic.parameter_groups().items()}
    return run_bilevel(problem, synthetic, optimizers, schedule, run, phase=phase,
                       select=lambda: select_ridge(synthetic, setup, selection_seed, config))
