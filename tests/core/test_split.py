import pytest
import torch

from graphdistill.core import InputError
from graphdistill.core.split import SplitSpec, per_class_split, stratified_split


def test_fraction_split_is_stratified_disjoint_and_seeded():
    y = torch.arange(100) % 4
    train, val, test = SplitSpec.parse("0.6/0.2/0.2").apply(y, seed=3)
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    for part, share in ((train, 15), (val, 5), (test, 5)):
        assert torch.bincount(y[part], minlength=4).tolist() == [share] * 4
    assert len(torch.unique(torch.cat([train, val, test]))) == 100
    again = SplitSpec.parse("0.6/0.2/0.2").apply(y, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))
    assert not torch.equal(SplitSpec.parse("0.6/0.2/0.2").apply(y, seed=4)[0], train)


def test_fractions_below_one_leave_items_out():
    y = torch.arange(100) % 2
    train, val, test = stratified_split(y, 0, (0.1, 0.1, 0.2))
    assert (len(train), len(val), len(test)) == (10, 10, 20)


def test_per_class_split_is_planetoid_style():
    y = torch.arange(300) % 3
    train, val, test = per_class_split(y, 0, 20, 50, 100)
    assert torch.bincount(y[train]).tolist() == [20, 20, 20]
    assert (len(val), len(test)) == (50, 100)
    assert not set(train.tolist()) & set(val.tolist()) and not set(val.tolist()) & set(test.tolist())
    assert str(SplitSpec.parse("per-class:20/50/100")) == "per-class:20/50/100"


@pytest.mark.parametrize("spec, message", [
    ("0.6/0.2", "three non-negative numbers"),
    ("0.7/0.3/0.2", "sum to at most 1"),
    ("per-class:2.5/1/1", "whole numbers"),
    ("random:1/2/3", "unknown split"),
])
def test_bad_split_specs(spec, message):
    with pytest.raises(InputError, match=message):
        SplitSpec.parse(spec)


def test_per_class_split_needs_enough_items():
    with pytest.raises(InputError, match="class 1 has 2 items"):
        per_class_split(torch.tensor([0, 0, 0, 0, 1, 1]), 0, 2, 1, 1)
