"""Interaction-log condensation methods by name: ``distill-cf`` and the ``random`` / ``head`` user baselines.

Each entry pairs a frozen config class with ``function(setup, users, config, run) -> Condensed`` whose
``data["interactions"]`` is the ``(users, items)`` synthetic interaction matrix.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graphdistill.core.method import Condensed, Method, RunOptions
from graphdistill.core.registry import Registry
from recsys.distill_cf import DistillCFConfig, distill_cf
from recsys.infae import EvaluationSetup


@dataclass(frozen=True)
class SubsetConfig:
    """User-subset baselines have no settings."""


METHODS: Registry[Method] = Registry("method")


def _subset(setup: EvaluationSetup, rows: np.ndarray, how: str) -> Condensed:
    return Condensed({"interactions": torch.as_tensor(setup.data.train[rows].toarray())},
                     {"selection": how, "real_users": rows.tolist()})


def _random_users(setup: EvaluationSetup, users: int, config: SubsetConfig, run: RunOptions):
    active = np.flatnonzero(setup.data.train.getnnz(1) > 0)
    rows = np.sort(run.numpy_generator().choice(active, size=users, replace=False))
    return _subset(setup, rows, "uniformly random users")


def _head_users(setup: EvaluationSetup, users: int, config: SubsetConfig, run: RunOptions):
    activity = np.asarray(setup.data.train.sum(1)).ravel()
    rows = np.argsort(-activity, kind="stable")[:users]
    return _subset(setup, np.sort(rows), "most active users (training interactions)")


METHODS.register("distill-cf")(Method(DistillCFConfig, distill_cf))
METHODS.register("random")(Method(SubsetConfig, _random_users))
METHODS.register("head")(Method(SubsetConfig, _head_users))
