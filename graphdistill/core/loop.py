"""The bilevel loop shared by every gradient-matching method.

Each outer epoch draws a fresh model; ``outer_steps`` times it updates the synthetic parameters from
the matching loss, and between two outer updates trains the model for ``inner_steps`` on the detached
synthetic data. ``outer_steps=1, inner_steps=0`` is one-step matching (DosCond). Parameter groups can
alternate by epoch (GCond: structure for 10 epochs, then features for 40).
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from graphdistill.core import distributed
from graphdistill.core.atomic import crash_point
from graphdistill.core.checkpoint import load_checkpoint, save_checkpoint
from graphdistill.core.errors import InputError
from graphdistill.core.method import RunOptions, fingerprint_digest
from graphdistill.core.progress import progress_bar
from graphdistill.core.seed import generators_kept, rng_state, set_rng_state
from graphdistill.core.synthetic import SyntheticSet


@dataclass(frozen=True)
class BilevelSchedule:
    """How long and in which order the loop runs.

    Args:
        epochs: outer epochs (a fresh model each).
        outer_steps: synthetic-set updates per epoch.
        inner_steps: model training steps between two outer updates (0: the model stays at init).
        inner_lr: learning rate of the inner model.
        phases: cyclic ``((group, epochs), ...)``; epoch ``e`` updates the group whose window contains
            ``e mod sum(epochs)``. Empty: every group is updated every epoch.
        checkpoint_every: save the loop state every this many epochs (0: never).
        select_every: every this many epochs score the synthetic set with the ``select`` callback of
            :func:`run_bilevel` and, at the end, restore the best-scoring state (0: keep the last).
        patience: with selection, stop once this many epochs passed since the best score (0: never).
        inner_optimizer: ``adam`` (fused Adam) or ``sgd`` (plain SGD, as DC trains its matching network).
    """

    epochs: int
    outer_steps: int
    inner_steps: int
    inner_lr: float = 0.01
    phases: tuple[tuple[str, int], ...] = ()
    checkpoint_every: int = 0
    select_every: int = 0
    patience: int = 0
    inner_optimizer: str = "adam"

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.outer_steps < 1 or self.inner_steps < 0 or self.patience < 0:
            raise InputError(f"impossible schedule: epochs={self.epochs}, outer_steps={self.outer_steps}, "
                             f"inner_steps={self.inner_steps}, patience={self.patience}")
        if self.inner_optimizer not in ("adam", "sgd"):
            raise InputError(f"unknown inner optimizer {self.inner_optimizer!r}; choose adam or sgd")
        if any(length < 1 for _, length in self.phases):
            raise InputError(f"every phase needs at least one epoch: {self.phases}")

    def active_groups(self, epoch: int, groups: list[str]) -> list[str]:
        """The parameter groups updated in ``epoch`` (a phase naming an absent group is skipped)."""
        phases = [(name, length) for name, length in self.phases if name in groups]
        if not phases:
            return groups
        position = epoch % sum(length for _, length in phases)
        for name, length in phases:
            if position < length:
                return [name]
            position -= length
        raise AssertionError("unreachable")


class MatchingProblem(Protocol):
    """What a method supplies to :func:`run_bilevel`."""

    def new_model(self) -> nn.Module:
        """A freshly initialised model (drawn from the global torch generator); a module without
        parameters where the inner problem is solved in closed form (KRR) and ``inner_steps=0``."""

    def outer_loss(self, model: nn.Module) -> Tensor:
        """Scalar matching loss, differentiable w.r.t. the synthetic parameters."""

    def inner_data(self) -> Any:
        """The detached synthetic batch for inner training (called under ``no_grad``)."""

    def inner_loss(self, model: nn.Module, data: Any) -> Tensor:
        """Training loss of ``model`` on ``data``."""

    # Optional: what this problem splits over the ranks of a process group ("classes", "rows"). A problem that
    # sets it returns from ``outer_loss`` only this rank's part of a sum (see graphdistill.core.distributed) and
    # the loop sums the synthetic-set gradients over the ranks; one that does not is computed whole on every rank.
    sharding: str


class ClosedFormInner(nn.Module):
    """The loop's model for methods whose inner problem is solved in closed form inside the outer loss
    (kernel ridge regression in Distill-CF and KIP); it holds nothing, and their schedules have
    ``inner_steps=0``."""


class WithoutInnerTraining:
    """Base for problems whose schedule has ``inner_steps=0`` (closed-form inner solutions, DM's untrained
    networks): the loop never asks them for inner data or an inner loss."""

    def new_model(self) -> nn.Module:
        return ClosedFormInner()

    def inner_data(self) -> None:
        return None

    def inner_loss(self, model: nn.Module, data: Any) -> Tensor:
        raise AssertionError(f"{type(self).__name__} has no inner training; use inner_steps=0")


@dataclass
class LoopResult:
    """Per-epoch mean outer loss, the epoch the run started from (non-zero after a resume) and, with
    selection, every ``(epoch, score)``, the epoch whose state was kept and whether patience ended the run."""

    losses: list[float]
    resumed_from: int
    scores: list[tuple[int, float]]
    selected_epoch: int | None
    stopped_early: bool = False


def _inner_optimizer(params, schedule: BilevelSchedule) -> torch.optim.Optimizer:
    params = list(params)
    if schedule.inner_optimizer == "sgd":
        return torch.optim.SGD(params, lr=schedule.inner_lr)
    # The inner model takes thousands of tiny steps per run; the fused kernel cuts their overhead ~30 %.
    fused = all(p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64) for p in params)
    return torch.optim.Adam(params, lr=schedule.inner_lr, fused=fused)


def run_bilevel(problem: MatchingProblem, synthetic: SyntheticSet, optimizers: Mapping[str, torch.optim.Optimizer],
                schedule: BilevelSchedule, run: RunOptions = RunOptions(), *,
                select: Callable[[], float] | None = None, phase: str = "") -> LoopResult:
    """Run the bilevel loop, optionally resuming from and writing checkpoints.

    Args:
        optimizers: one optimizer per parameter group of ``synthetic`` (same keys).
        run: ``run.checkpoint_path`` receives the full loop state (synthetic parameters and buffers,
            optimizer states, every RNG state, epoch, losses) every ``schedule.checkpoint_every`` epochs;
            with ``run.resume`` the loop continues from it exactly; a checkpoint whose ``run.fingerprint``
            (plus the schedule and ``phase``) differs is refused instead of silently mixing two runs;
            ``run.callback`` is called as ``callback(epoch, mean_outer_loss, synthetic)`` after each epoch
            (RNG states restored after it, like ``select``).
            Under a process group only rank 0 reads and writes checkpoints, shows progress and calls
            ``run.callback``; every rank's RNG states are saved, and resuming with another number of
            processes is refused.
        select: scores the current synthetic set (higher is better, e.g. validation accuracy of a model
            trained on it); called every ``schedule.select_every`` epochs and after the last one. Every
            RNG state is restored after it, so selection never changes the trajectory.
        phase: names a second loop of the same run (its own checkpoint and fingerprint).
    """
    groups = synthetic.parameter_groups()
    if set(groups) != set(optimizers):
        raise ValueError(f"optimizers {sorted(optimizers)} do not match parameter groups {sorted(groups)}")
    checkpoint_path, progress, callback = run.checkpoint_path, run.progress, run.epoch_callback(synthetic)
    if checkpoint_path is not None and phase:
        checkpoint_path = Path(checkpoint_path).with_suffix(f".{phase}.pt")
    tag = fingerprint_digest({**run.fingerprint, "schedule": asdict(schedule), "phase": phase})
    if schedule.select_every and select is None:
        raise ValueError("select_every needs a select callback")
    losses: list[float] = []
    scores: list[tuple[int, float]] = []
    best: dict[str, Any] = {}
    start = 0
    stopped_early = False
    here = distributed.world()
    sharded = bool(getattr(problem, "sharding", "")) and here.size > 1
    state = None
    if run.resume and checkpoint_path is not None:
        state = distributed.broadcast(_read_checkpoint(Path(checkpoint_path), tag) if here.main else None)
    if state is not None:
        rng_by_rank = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]
        if len(rng_by_rank) != here.size:
            raise InputError(f"checkpoint {checkpoint_path} was written by {len(rng_by_rank)} process(es); resume "
                             f"it with --nproc {len(rng_by_rank)} (this run has {here.size})")
        synthetic.load_state_dict(state["synthetic"])
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        set_rng_state(rng_by_rank[here.rank])
        start, losses = int(state["epoch"]), list(state["losses"])
        scores = [(int(e), float(v)) for e, v in state["scores"]]
        best = state["best"]
    progress = progress and here.main
    callback = callback if here.main else None

    names = list(groups)
    bar = progress_bar(range(start, schedule.epochs), progress, initial=start, total=schedule.epochs,
                       desc="condense", unit="epoch", dynamic_ncols=True)
    for epoch in bar:
        active = schedule.active_groups(epoch, names)
        # Only the updated group needs gradients; the others stay in the graph as constants, so the
        # update is the same as computing every gradient and stepping one optimizer.
        for name, params in groups.items():
            for param in params:
                param.requires_grad_(name in active)
        active_params = [p for name in active for p in groups[name]]

        model = problem.new_model()
        inner_optimizer = _inner_optimizer(model.parameters(), schedule) if schedule.inner_steps else None
        total = 0.0
        for step in range(schedule.outer_steps):
            loss = problem.outer_loss(model)
            for name in active:
                optimizers[name].zero_grad(set_to_none=True)
            loss.backward(inputs=active_params)
            total += distributed.sum_gradients(active_params, loss) if sharded else loss.item()
            for name in active:
                optimizers[name].step()
            if step == schedule.outer_steps - 1 or schedule.inner_steps == 0:
                continue
            with torch.no_grad():
                data = problem.inner_data()
            for _ in range(schedule.inner_steps):
                inner_optimizer.zero_grad(set_to_none=True)
                problem.inner_loss(model, data).backward()
                inner_optimizer.step()
        losses.append(total / schedule.outer_steps)
        bar.set_postfix(loss=f"{losses[-1]:.4f}", group="+".join(active), refresh=False)
        if callback is not None:
            with generators_kept():
                callback(epoch, losses[-1])
        done = epoch + 1
        if schedule.select_every and (done % schedule.select_every == 0 or done == schedule.epochs):
            with generators_kept():
                score = float(select())
            scores.append((done, score))
            if not best or score > best["score"]:
                best = {"score": score, "epoch": done,
                        "state": {k: v.detach().clone() for k, v in synthetic.state_dict().items()}}
            elif schedule.patience and done - best["epoch"] >= schedule.patience:
                stopped_early = True
                bar.close()
                if progress:
                    tqdm.write(f"stopped at epoch {done}: no better validation score for {schedule.patience} epochs "
                               f"(patience); keeping epoch {best['epoch']} (score {best['score']:.4f})",
                               file=sys.stderr)
                break
        if (checkpoint_path is not None and schedule.checkpoint_every > 0
                and done % schedule.checkpoint_every == 0 and done < schedule.epochs):
            rng_by_rank = distributed.gather(rng_state())
            if here.main:
                save_checkpoint({"fingerprint": tag, "epoch": done, "losses": losses, "rng": rng_by_rank,
                                 "scores": scores, "best": best, "synthetic": synthetic.state_dict(),
                                 "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()}},
                                checkpoint_path)
            crash_point("checkpoint-taken")
    for params in groups.values():
        for param in params:
            param.requires_grad_(True)
    if best:
        synthetic.load_state_dict(best["state"])
    return LoopResult(losses=losses, resumed_from=start, scores=scores, selected_epoch=best.get("epoch"),
                      stopped_early=stopped_early)


def _read_checkpoint(path: Path, tag: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one, refused when another run (``tag``) wrote it."""
    if not path.is_file():
        return None
    state = load_checkpoint(path)
    if state["fingerprint"] != tag:
        raise InputError(f"checkpoint {path} was written by a run with other settings or other data; remove it "
                         "or rerun without --resume")
    return state
