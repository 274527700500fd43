"""Interaction-log condensation methods by name: ``distill-cf`` and the ``random`` / ``head`` user baselines.

Each entry pairs a frozen config class with ``condense(setup, users, config, run) -> (matrix, info)``,
``matrix`` being the ``(users, items)`` synthetic interactions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from graphdistill.core.errors import InputError
from graphdistill.core.loop import RunOptions
from graphdistill.core.registry import Registry
from recsys.distill_cf import DistillCFConfig, distill_cf
from recsys.infae import EvaluationSetup


@dataclass(frozen=True)
class SubsetConfig:
    """User-subset baselines have no settings."""


@dataclass(frozen=True)
class Method:
    config_class: type
    condense: Callable[[EvaluationSetup, int, Any, RunOptions], tuple[Tensor, dict[str, Any]]]


METHODS: Registry[Method] = Registry("method")


def check_user_budget(setup: EvaluationSetup, users: int) -> None:
    """A budget must be between 1 and the number of users with training interactions."""
    available = int((setup.data.train.getnnz(1) > 0).sum())
    if not 1 <= users <= available:
        raise InputError(f"--users {users} is impossible: choose between 1 and {available} "
                         f"(users with training interactions in {setup.data.name})")


def _subset(setup: EvaluationSetup, rows: np.ndarray, how: str) -> tuple[Tensor, dict[str, Any]]:
    return torch.as_tensor(setup.data.train[rows].toarray()), {"selection": how, "real_users": rows.tolist()}


def _random_users(setup: EvaluationSetup, users: int, config: SubsetConfig, run: RunOptions):
    active = np.flatnonzero(setup.data.train.getnnz(1) > 0)
    rows = np.sort(np.random.default_rng(run.seed).choice(active, size=users, replace=False))
    return _subset(setup, rows, "uniformly random users")


def _head_users(setup: EvaluationSetup, users: int, config: SubsetConfig, run: RunOptions):
    activity = np.asarray(setup.data.train.sum(1)).ravel()
    rows = np.argsort(-activity, kind="stable")[:users]
    return _subset(setup, np.sort(rows), "most active users (training interactions)")


METHODS.register("distill-cf")(Method(DistillCFConfig, distill_cf))
METHODS.register("random")(Method(SubsetConfig, _random_users))
METHODS.register("head")(Method(SubsetConfig, _head_users))
