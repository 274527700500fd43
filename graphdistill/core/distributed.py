"""More than one process: the synthetic set replicated, the real-side work sharded, one ``all_reduce``.

The pattern is FRePo's ``pmap`` one, written for ``torch.distributed``: every rank holds the same synthetic set
(same seed, same initialisation) and the same global random generators, so it draws the same real batches and
the same inner models; a problem that shards computes only its part of a loss that is a sum (its classes, or
its rows of a real batch), and :func:`sum_gradients` adds the ranks' synthetic-set gradients (and losses) in one
flat buffer before every rank takes the same optimizer step. The result equals the one-process run up to the
order of floating-point sums. DDP does not fit: the synthetic set is no module parameter and the outer
gradient goes through inner training.

A process joins a group when ``WORLD_SIZE`` is set (``torchrun``, ``python -m torch.distributed.run`` or
``graphdistill ... --nproc N``, which starts them through the same launcher).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor

from graphdistill.core.errors import InputError


class PeerLost(RuntimeError):
    """A collective failed: another process died, hung past ``--timeout`` or closed its connection."""


_entered = 0  # collectives this process has entered, published so a failing rank can tell who stayed behind
PROGRESS_KEY = "graphdistill/collectives/{rank}"


@contextlib.contextmanager
def _collective(what: str) -> Iterator[None]:
    global _entered
    _entered += 1
    store = dist.distributed_c10d._get_default_store()
    store.set(PROGRESS_KEY.format(rank=world().rank), str(_entered))
    try:
        yield
    except RuntimeError as exc:  # gloo and NCCL report a lost or late peer as a RuntimeError (DistError)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PeerLost(f"rank {world().rank}: {what} failed, another process died or is late: {first}"
                       f"{_stragglers(store)}") from exc


def _stragglers(store: Any) -> str:
    """Which ranks never entered the collective this one failed in (read from the group's store)."""
    behind = []
    for rank in range(world().size):
        key = PROGRESS_KEY.format(rank=rank)
        try:
            entered = int(store.get(key)) if store.check([key]) else 0
        except RuntimeError:  # the store went away with the launcher: say nothing rather than guess
            return ""
        if entered < _entered:
            behind.append(f"rank {rank} ({entered} of {_entered})")
    return f"; never reached it: {', '.join(behind)}" if behind else ""


@dataclass(frozen=True)
class World:
    """This process's place in the group (``rank 0 of 1`` without one)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes outputs, checkpoints and progress bars (rank 0)."""
        return self.rank == 0


def world() -> World:
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()


def launched() -> bool:
    """Whether a launcher started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def owned(count: int) -> list[int]:
    """The indices of ``range(count)`` this rank computes: every ``size``-th, from its rank (balanced when
    the items differ in size in order, as classes sorted by label do)."""
    here = world()
    if count < here.size:
        raise InputError(f"cannot split {count} classes over {here.size} processes; use --nproc {count} or fewer")
    return list(range(here.rank, count, here.size))


def owned_block(rows: Tensor) -> Tensor:
    """This rank's contiguous block of the rows of ``rows`` (a real batch split without overlap; a view)."""
    here = world()
    if len(rows) < here.size:
        raise InputError(f"cannot split a batch of {len(rows)} rows over {here.size} processes")
    return rows.tensor_split(here.size)[here.rank]


def sum_over_ranks(tensors: Sequence[Tensor], what: str = "summing over the processes") -> list[Tensor]:
    """``tensors`` summed over every rank in one flat all-reduce (the inputs themselves without a group; they
    are never modified)."""
    if world().size == 1:
        return list(tensors)
    flat = torch.cat([t.detach().reshape(-1).to(tensors[0].dtype) for t in tensors])
    with _collective(what):
        dist.all_reduce(flat)
    return [part.view_as(t).to(t.dtype) for t, part in zip(tensors, flat.split([t.numel() for t in tensors]))]


def sum_gradients(params: Sequence[Tensor], loss: Tensor) -> float:
    """Replace each parameter's gradient by its sum over ranks, in one flat all-reduce that also carries the
    loss; return the summed loss. A missing gradient counts as zero (a rank whose part did not touch it)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    *summed, total = sum_over_ranks([*grads, loss.reshape(1)], "summing the synthetic-set gradients")
    for param, grad in zip(params, summed):
        param.grad = grad
    return float(total)


def gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order (``[value]`` without a group)."""
    if world().size == 1:
        return [value]
    values: list[Any] = [None] * world().size
    with _collective("gathering the random states"):
        dist.all_gather_object(values, value)
    return values


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank."""
    if world().size == 1:
        return value
    box = [value if world().main else None]
    with _collective("receiving rank 0's checkpoint"):
        dist.broadcast_object_list(box, src=0)
    return box[0]


def join(device: torch.device, backend: str | None = None, timeout_s: float = 600.0) -> torch.device:
    """Join the process group described by the launcher's environment and return this rank's device.

    The backend follows the device (``nccl`` for CUDA, ``gloo`` for CPU) unless ``backend`` is given; a CUDA
    device without an index becomes ``cuda:LOCAL_RANK``. Each process keeps ``cores / local processes`` torch
    threads, so local ranks share the cores instead of fighting over them. A collective that waits longer
    than ``timeout_s`` (a rank died or hangs) raises instead of hanging.
    """
    local_rank, local_size = int(os.environ.get("LOCAL_RANK", "0")), int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.set_num_threads(_threads_per_process(local_size))
    dist.init_process_group(backend or ("nccl" if device.type == "cuda" else "gloo"),
                            timeout=timedelta(seconds=timeout_s), device_id=device if device.type == "cuda" else None)
    return device


def _threads_per_process(local_processes: int) -> int:
    """This machine's usable cores shared out among ``local_processes``."""
    return max(1, len(os.sched_getaffinity(0)) // local_processes)


def leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: Sequence[str], after_failure: str = "") -> int:
    """Run ``python -m graphdistill.cli argv`` as ``nproc`` local processes (``torchrun --standalone``'s
    semantics: one rendezvous on this machine, every process restarted never) and wait for them.

    When a process fails, the others are stopped and the returned exit code is the failed rank's; a line names
    the rank and how it ended, followed by ``after_failure`` (what the user can do next).
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=uuid.uuid4().hex,
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.2)
    # the launcher's own failure log repeats what the line below says
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    os.environ.setdefault("OMP_NUM_THREADS", str(_threads_per_process(nproc)))
    try:
        elastic_launch(config, sys.executable)("-m", "graphdistill.cli", *argv)
    except ChildFailedError as failed:
        rank, failure = failed.get_first_failure()
        if failure.exitcode == 2:  # bad input: rank 0 has said what is wrong
            return 2
        how = (f"was killed by {signal.Signals(-failure.exitcode).name}" if failure.exitcode < 0
               else f"exited with code {failure.exitcode}")
        print(f"graphdistill: process rank {rank} (pid {failure.pid}) {how}; the other processes were stopped"
              f"{'; ' + after_failure if after_failure else ''}", file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    return 0
