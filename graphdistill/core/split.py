"""Seeded train/validation/test splits of labelled items (nodes, graphs), made once and recorded with the output.

A split is named by a short spec so that ``meta.json`` can say how to make it again:

- ``"0.6/0.2/0.2"``: per class, a seeded shuffle whose first 20 % go to test, the next 20 % to validation and
  the next 60 % to training (fractions may sum to less than one; the rest is left out);
- ``"per-class:20/500/1000"``: Planetoid's random split as GCond uses it: 20 training items per class, then 500
  validation and 1000 test items drawn from all the rest.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphdistill.core.errors import InputError


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split spec.

    Attributes:
        kind: ``"fractions"`` or ``"per-class"``.
        sizes: ``(train, val, test)``: fractions for ``fractions``; for ``per-class``, training items per
            class and the validation and test totals.
    """

    kind: str
    sizes: tuple[float, float, float]

    @classmethod
    def parse(cls, spec: str) -> "SplitSpec":
        """``"a/b/c"`` or ``"per-class:a/b/c"``.

        Raises:
            InputError: not three numbers, a negative part, fractions summing to more than one, or
                non-integer per-class counts.
        """
        kind, _, body = spec.rpartition(":")
        if kind not in ("", "per-class"):
            raise InputError(f"unknown split {spec!r}; write train/val/test fractions (0.6/0.2/0.2) or "
                             f"per-class:TRAIN/VAL/TEST counts (per-class:20/500/1000)")
        try:
            sizes = tuple(float(part) for part in body.split("/"))
        except ValueError:
            sizes = ()
        if len(sizes) != 3 or min(sizes) < 0:
            raise InputError(f"split {spec!r} must be three non-negative numbers separated by '/'")
        if kind == "per-class":
            if any(s != int(s) for s in sizes) or sizes[0] < 1:
                raise InputError(f"split {spec!r}: per-class counts must be whole numbers, at least 1 training item")
            return cls("per-class", sizes)
        if sum(sizes) > 1 + 1e-9 or sizes[0] == 0:
            raise InputError(f"split {spec!r}: fractions must sum to at most 1 and give training items")
        return cls("fractions", sizes)

    def __str__(self) -> str:
        if self.kind == "per-class":
            return "per-class:" + "/".join(str(int(s)) for s in self.sizes)
        return "/".join(f"{s:g}" for s in self.sizes)

    def apply(self, y: Tensor, seed: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(train, val, test)`` sorted index tensors of ``y (n,)``; the same ``seed`` gives the same split."""
        if self.kind == "per-class":
            return per_class_split(y, seed, *(int(s) for s in self.sizes))
        return stratified_split(y, seed, self.sizes)


def stratified_split(y: Tensor, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """Per class, a seeded shuffle: the first ``round(test * n)`` items (at least one) go to test, the next
    ``round(val * n)`` (at least one) to validation, then ``round(train * n)`` to training (all the rest when
    the fractions sum to one). Each returned index set is sorted.

    Raises:
        InputError: a class with fewer than 3 items (it cannot appear in all three parts).
    """
    generator = torch.Generator().manual_seed(seed)
    parts: list[list[Tensor]] = [[], [], []]
    take_rest = abs(sum(fractions) - 1) < 1e-9
    for cls in torch.unique(y).tolist():
        members = torch.nonzero(y == cls).flatten()
        if len(members) < 3:
            raise InputError(f"class {cls} has {len(members)} items; a train/val/test split needs at least 3")
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = max(1, int(round(fractions[2] * len(members))))
        n_val = max(1, int(round(fractions[1] * len(members))))
        end = None if take_rest else n_test + n_val + max(1, int(round(fractions[0] * len(members))))
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test:n_test + n_val])
        parts[0].append(members[n_test + n_val:end])
    train, val, test = (torch.cat(p).sort().values for p in parts)
    return train, val, test


def per_class_split(y: Tensor, seed: int, train_per_class: int, num_val: int, num_test: int
                    ) -> tuple[Tensor, Tensor, Tensor]:
    """``train_per_class`` seeded items of every class for training, then ``num_val`` and ``num_test`` items drawn
    from all the others (Planetoid's random split). Each returned index set is sorted.

    Raises:
        InputError: a class with no more than ``train_per_class`` items, or too few items left for val + test.
    """
    generator = torch.Generator().manual_seed(seed)
    train = []
    for cls in torch.unique(y).tolist():
        members = torch.nonzero(y == cls).flatten()
        if len(members) <= train_per_class:
            raise InputError(f"class {cls} has {len(members)} items; per-class:{train_per_class} needs more")
        train.append(members[torch.randperm(len(members), generator=generator)[:train_per_class]])
    train_idx = torch.cat(train)
    rest = torch.ones(len(y), dtype=torch.bool)
    rest[train_idx] = False
    rest_idx = torch.nonzero(rest).flatten()
    if len(rest_idx) < num_val + num_test:
        raise InputError(f"{len(rest_idx)} items are left after the training picks; {num_val} validation + "
                         f"{num_test} test asked for")
    rest_idx = rest_idx[torch.randperm(len(rest_idx), generator=generator)]
    val_idx, test_idx = rest_idx[:num_val], rest_idx[num_val:num_val + num_test]
    return train_idx.sort().values, val_idx.sort().values, test_idx.sort().values
