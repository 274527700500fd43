"""Atomic, pickle-free checkpoints of a loop's full state."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from graphdistill.core.atomic import atomic_torch_save, load_torch_file
from graphdistill.core.errors import InputError


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) so a crash never corrupts it."""
    atomic_torch_save(state, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no checkpoint at {path}")
    state = load_torch_file(path, "checkpoint")
    if not isinstance(state, dict) or "fingerprint" not in state:
        raise InputError(f"{path} is not a graphdistill checkpoint")
    return state
