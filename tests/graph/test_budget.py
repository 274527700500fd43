from collections import Counter

import pytest

from graphdistill.core import InputError
from graphdistill.graph.budget import allocate_labels, labels_from_allocation, resolve_budget


def gcond_generate_labels_syn(labels_train, reduction_rate):
    """GCond's rule as its paper's code states it (float reduction rate, Counter order, stable sort)."""
    counter = Counter(labels_train)
    n = len(labels_train)
    ordered = sorted(counter.items(), key=lambda item: item[1])
    out, total = {}, 0
    for i, (c, num) in enumerate(ordered):
        if i == len(ordered) - 1:
            out[c] = int(n * reduction_rate) - total
        else:
            out[c] = max(int(num * reduction_rate), 1)
            total += out[c]
    return out


@pytest.mark.parametrize("nodes,rate", [(35, 0.25), (70, 0.5), (140, 1.0)])
def test_allocation_equals_gcond_on_cora(cora, nodes, rate):
    train = cora.y[cora.train_idx].tolist()
    ours = allocate_labels(cora.y[cora.train_idx], nodes)
    expected = gcond_generate_labels_syn(train, rate)
    assert list(ours.items()) == list(expected.items())
    assert set(ours.values()) == {nodes // 7}
    labels = labels_from_allocation(ours)
    assert labels.tolist() == [c for c, k in expected.items() for _ in range(k)]


def test_allocation_with_unbalanced_classes():
    labels = __import__("torch").tensor([0] * 2 + [1] * 30 + [2] * 8)
    assert allocate_labels(labels, 10) == {0: 1, 2: 2, 1: 7}


def test_budget_semantics(cora):
    assert resolve_budget(cora, budget=70).nodes == 70
    assert resolve_budget(cora, ratio=0.5, ratio_of="labelled").as_dict() == {
        "nodes": 70, "ratio": 0.5, "basis": "labelled", "basis_size": 140}
    assert resolve_budget(cora, ratio=0.026, ratio_of="graph").nodes == 70
    assert resolve_budget(cora, ratio=0.25, ratio_of="train").nodes == 35


@pytest.mark.parametrize("kwargs,message", [
    ({"budget": 6}, "below the number of classes"),
    ({"budget": 141}, "above the 140 training nodes"),
    ({"ratio": 1.5}, r"--ratio must be in \(0, 1\]"),
    ({}, "exactly one"),
    ({"budget": 70, "ratio": 0.5}, "exactly one"),
    ({"ratio": 0.5, "ratio_of": "edges"}, "unknown --ratio-of"),
])
def test_impossible_budgets(cora, kwargs, message):
    with pytest.raises(InputError, match=message):
        resolve_budget(cora, **kwargs)


def test_a_budget_whose_dense_side_exceeds_memory_warns(cora, monkeypatch):
    import os

    import pytest

    from graphdistill.graph import budget as budget_module

    monkeypatch.setattr(os, "sysconf", lambda name: {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 1000}[name])
    with pytest.warns(UserWarning, match="100 synthetic nodes: a learned dense structure needs"):
        budget_module.resolve_budget(cora, budget=100)
