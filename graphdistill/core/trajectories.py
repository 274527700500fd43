"""Trajectory matching (MTT, SFGC, GEOM): buffers of expert trajectories and the unrolled student.

An expert is a model trained on the real data; its parameters at a few epochs form its trajectory. A student
started at an expert's parameters at epoch ``s`` and trained ``steps`` times on the synthetic set (plain gradient
descent with a learnable learning rate) should land near the expert's parameters at epoch ``s + M``:

    loss = |theta_student - theta_{s+M}|^2 / |theta_s - theta_{s+M}|^2.

The buffer keeps only the epochs a schedule can sample (the starts and the starts + M), in float16, one file per
expert written atomically, so a killed build continues at the next expert and a buffer costs
``experts x kept epochs x parameters x 2`` bytes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from graphdistill.core.atomic import atomic_torch_save, crash_point, load_torch_file, read_json_if_present, write_json
from graphdistill.core.errors import InputError

BUFFER_FILE = "buffer.json"
STORED_DTYPE = torch.float16


class FlatParameters:
    """The layout of a module's parameters as one flat vector (``named_parameters`` order)."""

    def __init__(self, names: list[str], shapes: list[list[int]]):
        self.names, self.shapes = list(names), [list(shape) for shape in shapes]
        self.sizes = [int(torch.Size(shape).numel()) for shape in self.shapes]

    @classmethod
    def of(cls, module: nn.Module) -> "FlatParameters":
        named = list(module.named_parameters())
        return cls([name for name, _ in named], [list(p.shape) for _, p in named])

    @property
    def numel(self) -> int:
        return sum(self.sizes)

    def flatten(self, module: nn.Module) -> Tensor:
        """``(P,)`` detached copy of ``module``'s parameters."""
        parameters = dict(module.named_parameters())
        return torch.cat([parameters[name].detach().reshape(-1) for name in self.names])

    def unflatten(self, flat: Tensor) -> dict[str, Tensor]:
        """Views of ``flat (P,)`` by parameter name, for ``torch.func.functional_call``."""
        return {name: part.view(shape) for name, part, shape in zip(self.names, flat.split(self.sizes), self.shapes)}


def unroll_student(loss_of: Callable[[dict[str, Tensor]], Tensor], start: Tensor, lr: Tensor, steps: int,
                   layout: FlatParameters, recompute_every: int = 0, reads: Sequence[Tensor] = ()) -> Tensor:
    """``steps`` gradient-descent steps ``theta <- theta - lr grad loss_of(theta)`` from ``start (P,)``, kept
    differentiable in whatever ``loss_of`` reads (the synthetic set) and in ``lr``; returns the last ``theta``.

    Args:
        recompute_every: 0 keeps every step's parameters and gradient in the autograd graph (memory grows with
            ``steps``). ``k > 0`` keeps only the parameters of every ``k``-th step and, on the backward pass,
            recomputes the ``k`` steps after each kept one (gradient checkpointing): memory grows with
            ``steps / k + k`` parameter vectors, at the cost of running every step twice; the gradients are the
            same up to float rounding.
        reads: with ``recompute_every``, the leaf tensors ``loss_of`` reads that gradients must reach (the
            synthetic set's parameters); ``lr`` is always one.
    """
    if recompute_every > 0:
        return _RecomputedUnroll.apply(loss_of, layout, steps, recompute_every, start, lr, *reads)
    theta = start.detach().requires_grad_(True)
    for _ in range(steps):
        theta = theta - lr * _student_gradient(loss_of, theta, layout, create_graph=True)
    return theta


def _student_gradient(loss_of: Callable[[dict[str, Tensor]], Tensor], theta: Tensor, layout: FlatParameters,
                      create_graph: bool) -> Tensor:
    (grad,) = torch.autograd.grad(loss_of(layout.unflatten(theta)), theta, create_graph=create_graph)
    return grad


class _RecomputedUnroll(torch.autograd.Function):
    """The unrolled student with gradient checkpointing (see :func:`unroll_student`)."""

    @staticmethod
    def forward(ctx, loss_of, layout, steps, every, start, lr, *reads):
        kept, theta = [], start.detach()
        with torch.enable_grad():
            for step in range(steps):
                if step % every == 0:
                    kept.append(theta)
                theta = theta.detach().requires_grad_(True)
                theta = (theta - lr.detach() * _student_gradient(loss_of, theta, layout, create_graph=False)).detach()
        ctx.loss_of, ctx.layout, ctx.steps, ctx.every, ctx.kept = loss_of, layout, steps, every, kept
        ctx.save_for_backward(lr, *reads)
        return theta

    @staticmethod
    def backward(ctx, grad_theta):
        lr, *reads = ctx.saved_tensors
        needs = list(ctx.needs_input_grad[5:])  # lr, then reads
        totals: list[Tensor | None] = [None] * len(needs)
        for index in reversed(range(len(ctx.kept))):
            with torch.enable_grad():
                origin = ctx.kept[index].detach().requires_grad_(True)
                theta = origin
                step_lr = lr.detach().requires_grad_(needs[0])
                for _ in range(min(ctx.every, ctx.steps - index * ctx.every)):
                    theta = theta - step_lr * _student_gradient(ctx.loss_of, theta, ctx.layout, create_graph=True)
                targets = [origin, *(t for t, need in zip([step_lr, *reads], needs) if need)]
                found = torch.autograd.grad(theta, targets, grad_theta, allow_unused=True)
            grad_theta, found = found[0], iter(found[1:])
            for i, need in enumerate(needs):
                if need:
                    part = next(found)
                    if part is not None:
                        totals[i] = part if totals[i] is None else totals[i] + part
        return (None, None, None, None, None, *totals)


def trajectory_loss(student: Tensor, start: Tensor, target: Tensor) -> Tensor:
    """The normalised parameter distance ``|student - target|^2 / |start - target|^2``."""
    return (student - target).pow(2).sum() / (start - target).pow(2).sum()


class ExpertBuffer:
    """A directory of expert trajectories: ``buffer.json`` (the parameter layout, the kept epochs and the
    ``spec`` that produced them) and ``expert-0000.pt``, ... each ``{"snapshots": (epochs, P) float16,
    "wall_s": float}``.

    Args:
        directory: the buffer's folder.
        meta: the content of ``buffer.json``.
    """

    def __init__(self, directory: Path, meta: dict[str, Any]):
        self.directory, self.meta = directory, meta
        self.layout = FlatParameters(meta["names"], meta["shapes"])
        self.epochs: list[int] = list(meta["epochs"])
        self._stored: dict[int, dict[str, Any]] = {}

    @classmethod
    def prepare(cls, directory: str | os.PathLike, spec: dict[str, Any], layout: FlatParameters,
                epochs: list[int]) -> "ExpertBuffer":
        """Open the buffer at ``directory`` built with ``spec``, or start an empty one there.

        Raises:
            InputError: the directory holds a buffer built with another spec (named key by key).
        """
        directory = Path(directory)
        meta = {"spec": spec, "names": layout.names, "shapes": layout.shapes, "epochs": sorted(set(epochs)),
                "dtype": str(STORED_DTYPE).removeprefix("torch.")}
        existing = read_json_if_present(directory / BUFFER_FILE)
        if existing:
            ours, theirs = _settings(meta), _settings(existing)
            different = [f"{key}: {theirs.get(key)!r} there, {value!r} here" for key, value in ours.items()
                         if theirs.get(key) != value]
            if different:
                raise InputError(f"{directory} holds a buffer built with other settings ({'; '.join(different)}); "
                                 "use another directory")
            return cls(directory, existing)
        directory.mkdir(parents=True, exist_ok=True)
        staged = directory / f".{BUFFER_FILE}.tmp"
        write_json(meta, staged)
        os.replace(staged, directory / BUFFER_FILE)
        return cls(directory, meta)

    @classmethod
    def open(cls, directory: str | os.PathLike) -> "ExpertBuffer":
        """An existing buffer (at least one expert).

        Raises:
            InputError: no ``buffer.json`` or no expert in ``directory``.
        """
        directory = Path(directory)
        meta = read_json_if_present(directory / BUFFER_FILE)
        if not meta:
            raise InputError(f"no expert buffer at {directory} (no {BUFFER_FILE}); build one with "
                             "`graphdistill experts ...`")
        buffer = cls(directory, meta)
        if buffer.count() == 0:
            raise InputError(f"the expert buffer at {directory} holds no expert yet; build it with "
                             "`graphdistill experts ...`")
        return buffer

    def path(self, index: int) -> Path:
        return self.directory / f"expert-{index:04d}.pt"

    def count(self) -> int:
        """Experts stored, counted from 0 up to the first missing file."""
        index = 0
        while self.path(index).is_file():
            index += 1
        return index

    def save(self, index: int, snapshots: Tensor, wall_s: float) -> None:
        """Store expert ``index``: ``snapshots (len(epochs), P)``, one row per kept epoch in order."""
        expected = (len(self.epochs), self.layout.numel)
        if tuple(snapshots.shape) != expected:
            raise ValueError(f"expert snapshots have shape {tuple(snapshots.shape)}, expected {expected}")
        atomic_torch_save({"snapshots": snapshots.detach().to("cpu", STORED_DTYPE), "wall_s": float(wall_s)},
                          self.path(index))
        crash_point("expert-saved")

    def _read(self, index: int) -> dict[str, Any]:
        """Expert ``index``'s file, read once and then kept in memory."""
        if index not in self._stored:
            stored = load_torch_file(self.path(index), "expert trajectory")
            if not isinstance(stored, dict) or not isinstance(stored.get("snapshots"), Tensor):
                raise InputError(f"{self.path(index)} is not an expert trajectory")
            self._stored[index] = stored
        return self._stored[index]

    def snapshots(self, index: int) -> Tensor:
        """``(len(epochs), P)`` float16 rows of expert ``index``."""
        return self._read(index)["snapshots"]

    def parameters_at(self, index: int, epoch: int, device: torch.device | str = "cpu") -> Tensor:
        """``(P,)`` float32 parameters of expert ``index`` at ``epoch``."""
        if epoch not in self.epochs:
            raise InputError(f"the expert buffer at {self.directory} keeps epochs {self.epochs}, not {epoch}")
        return self.snapshots(index)[self.epochs.index(epoch)].to(device, torch.float32)

    def wall_times(self) -> Iterator[float]:
        for index in range(self.count()):
            yield float(self._read(index)["wall_s"])

    def bytes_on_disk(self) -> int:
        return sum(path.stat().st_size for path in self.directory.iterdir() if path.is_file())

    def facts(self) -> dict[str, Any]:
        """What ``meta.json`` and the ``experts`` command report of this buffer."""
        return {"directory": str(self.directory), "experts": self.count(), "kept_epochs": self.epochs,
                "bytes": self.bytes_on_disk(), "expert_wall_s": round(sum(self.wall_times()), 1)}


def _settings(meta: dict[str, Any]) -> dict[str, Any]:
    """``buffer.json``'s layout and kept epochs with its spec's keys, as one flat mapping to compare."""
    return {**{key: value for key, value in meta.items() if key != "spec"}, **meta.get("spec", {})}
