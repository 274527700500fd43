"""Atomic, pickle-free checkpoints of a loop's full state."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from graphdistill.core.atomic import atomic_torch_save
from graphdistill.core.errors import InputError, describe


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) so a crash never corrupts it."""
    atomic_torch_save(state, path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which one
        raise InputError(f"unreadable checkpoint {path}: {describe(exc)}") from exc
