"""The method layer every modality shares: a registry entry (:class:`Method`), what a run returns
(:class:`Condensed`) and the settings of one run that are not hyper-parameters (:class:`RunOptions`)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from graphdistill.core.runinfo import real_data_device
from graphdistill.core.seed import seed_everything


@dataclass
class Condensed:
    """A condensed dataset.

    Args:
        data: the modality's tensors by name (graph: ``x (n, F)``, ``adj (n, n)``, ``y (n,)``; images:
            ``x (n, C, H, W)``, ``y``; interaction logs: ``interactions (users, items)``), on the CPU.
        meta: facts for ``meta.json`` (the method's own facts; the run adds dataset, budget, config,
            seed, wall time, peak memory, versions and command).
        history: per-epoch records of the loop (``epoch``, ``loss``, and ``score`` where selection ran).
        aux: parts of the output that are not tensors (the item tokens of a log's columns).
    """

    data: dict[str, Tensor]
    meta: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    aux: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_loop(cls, data: dict[str, Tensor], result: Any, **meta: Any) -> "Condensed":
        """``data`` with the facts every loop-based method records, from a :class:`~graphdistill.core.loop.LoopResult`."""
        scores = dict(result.scores)
        history = [{"epoch": epoch + 1, "loss": loss, **({"score": scores[epoch + 1]} if epoch + 1 in scores else {})}
                   for epoch, loss in enumerate(result.losses)]
        facts = {"final_loss": result.losses[-1] if result.losses else None, "epochs_run": len(result.losses),
                 "resumed_from": result.resumed_from, "selected_epoch": result.selected_epoch,
                 "stopped_early": result.stopped_early}
        return cls(data, {**facts, **meta}, history)


@dataclass(frozen=True)
class RunOptions:
    """Settings of one condensation run that are not the method's hyper-parameters.

    Args:
        seed: the run's seed; :meth:`Method.condense` seeds every global generator with it, and
            :meth:`generator` / :meth:`numpy_generator` give the method's own generators from it.
        device: where the method computes.
        real_data: where the real data lives (``auto|cpu|same``, see
            :func:`~graphdistill.core.runinfo.real_data_device`); methods that can move batches per step ask
            :meth:`real_data_device`, the others keep the data on ``device``.
        checkpoint_path: where :func:`~graphdistill.core.run_bilevel` writes its state (``None``: no checkpoints).
        resume: continue from ``checkpoint_path`` if it exists.
        progress: show progress bars.
        callback: called after every epoch as ``callback(epoch, loss, synthetic)`` (RNG states restored after it).
        fingerprint: what defines the run (data digest, method, budget, config, seed); a checkpoint written
            under another fingerprint is refused on resume.
    """

    seed: int = 0
    device: torch.device = torch.device("cpu")
    real_data: str = "auto"
    checkpoint_path: str | os.PathLike | None = None
    resume: bool = False
    progress: bool = True
    callback: Callable[[int, float, Any], None] | None = None
    fingerprint: Mapping[str, Any] = field(default_factory=dict)

    def epoch_callback(self, synthetic: Any) -> Callable[[int, float], None] | None:
        """``callback`` bound to ``synthetic``, in the shape the loop calls (``None`` without one)."""
        if self.callback is None:
            return None
        return lambda epoch, loss: self.callback(epoch, loss, synthetic)

    def real_data_device(self, nbytes: int) -> torch.device:
        """Where real data of ``nbytes`` bytes lives while this run computes on ``device``."""
        return real_data_device(nbytes, self.device, self.real_data)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU torch generator seeded from the run seed (``offset`` separates independent streams)."""
        return torch.Generator().manual_seed(self.seed + offset)

    def numpy_generator(self, offset: int = 0) -> np.random.Generator:
        return np.random.default_rng(self.seed + offset)


def fingerprint_digest(fingerprint: Mapping[str, Any]) -> str:
    """The one rule that turns a run's defining settings into a checkpoint tag."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()


def data_digest(*parts: Any) -> str:
    """A SHA-256 of tensors (dense or sparse), arrays and plain values (the data a run reads), for checkpoint
    fingerprints."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Tensor) and part.layout != torch.strided:
            coo = part.detach().cpu().to_sparse_coo().coalesce()
            part = data_digest("sparse", coo.indices(), coo.values(), tuple(coo.shape))
        if isinstance(part, Tensor):
            part = part.detach().cpu().contiguous().numpy()
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes() if part.dtype != object else repr(part.tolist()).encode())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class EvaluationRuns:
    """The fields every evaluation protocol shares: ``runs`` trainings of a fresh model (run ``i`` seeded
    ``seed + i``) with learning rate ``lr`` and weight decay ``weight_decay``."""

    lr: float = 0.01
    weight_decay: float = 5e-4
    runs: int = 5
    seed: int = 0


@dataclass(frozen=True)
class Method:
    """A registry entry: the frozen config class and ``function(data, budget, config, run) -> Condensed``."""

    config_class: type
    function: Callable[[Any, Any, Any, RunOptions], Condensed]

    def condense(self, data: Any, budget: Any, config: Any, run: RunOptions = RunOptions()) -> Condensed:
        """Seed every global generator from ``run.seed`` (the only place a run is seeded) and add the
        config, budget and seed to the run's fingerprint (the one fingerprint rule), then condense."""
        seed_everything(run.seed)
        facts = {"config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else repr(config),
                 "budget": repr(budget) if not isinstance(budget, (int, float, str)) else budget, "seed": run.seed}
        run = dataclasses.replace(run, fingerprint={**facts, **run.fingerprint})
        return self.function(data, budget, config, run)
