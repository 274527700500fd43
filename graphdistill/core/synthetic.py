"""The learnable synthetic set shared by every modality."""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from graphdistill.core.errors import InputError


class SyntheticSet(nn.Module):
    """Learnable synthetic data, with fixed labels grouped by class where the modality has classes.

    Subclasses hold the parameters (raw features, a structure generator, logits, factorized bases, ...)
    and implement :meth:`parameter_groups` (name -> parameters, so the loop can give each group its
    own optimizer and schedule) and :meth:`materialize` (parameters -> the modality's batch).

    Args:
        labels: ``(n,)`` integer labels, rows of one class contiguous; ``None`` for unlabelled data
            (synthetic users of an interaction log), which then has no class slices.
    """

    def __init__(self, labels: Tensor | None = None):
        super().__init__()
        self.class_slices: dict[int, slice] = {}
        if labels is None:
            self.labels = None
            return
        if labels.dim() != 1 or labels.numel() == 0:
            raise InputError(f"synthetic labels must be a non-empty 1-D tensor, got shape {tuple(labels.shape)}")
        self.register_buffer("labels", labels.long().clone())
        self.class_slices = contiguous_class_slices(self.labels)

    def parameter_groups(self) -> Mapping[str, list[nn.Parameter]]:
        raise NotImplementedError

    def materialize(self) -> Any:
        raise NotImplementedError


def contiguous_class_slices(labels: Tensor) -> dict[int, slice]:
    """Map each class to the slice of rows holding it, in order of first appearance.

    Raises:
        InputError: if a class's rows are not contiguous.
    """
    slices: dict[int, slice] = {}
    values = labels.tolist()
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            if values[start] in slices:
                raise InputError(f"rows of class {values[start]} are not contiguous")
            slices[values[start]] = slice(start, i)
            start = i
    return slices


def sample_per_class(labels: Tensor, counts: Mapping[int, int], generator: torch.Generator | None = None) -> Tensor:
    """Indices of ``counts[c]`` random rows of each class ``c`` (without replacement), grouped by class
    in the order of ``counts``.

    Raises:
        InputError: if a class has fewer rows than requested.
    """
    picked = []
    for cls, count in counts.items():
        pool = torch.nonzero(labels == cls).flatten()
        if count > len(pool):
            raise InputError(f"class {cls} has {len(pool)} real samples but {count} were requested")
        picked.append(pool[torch.randperm(len(pool), generator=generator)[:count]])
    return torch.cat(picked)
