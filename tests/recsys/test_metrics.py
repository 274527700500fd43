import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recsys.metrics import RankingAccumulator, fixed_negatives, item_propensity, pooled_auc


def _csr(rows, shape):
    return sp.csr_matrix(np.array(rows, dtype=np.float32).reshape(shape))


def test_hand_made_rankings():
    # 2 users x 6 items. User 0 saw item 0; held-out {1, 4}. User 1 saw nothing; held-out {5}.
    scores = torch.tensor([[9.0, 5.0, 4.0, 3.0, 6.0, 1.0],
                           [6.0, 5.0, 4.0, 3.0, 2.0, 1.0]])
    seen = _csr([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], (2, 6))
    heldout = _csr([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]], (2, 6))
    propensity = torch.tensor([1.0, 2.0, 1.0, 1.0, 4.0, 3.0], dtype=torch.float64)
    accumulator = RankingAccumulator((2, 5), propensity)
    accumulator.add(scores, seen, heldout, None)
    result = accumulator.result()
    # user 0 ranking (item 0 masked): 4, 1, 2, 3, 5 -> both hits at ranks 1, 2; user 1: 0..4, item 5 at rank 6.
    assert result["hr@2"] == pytest.approx(100 * (1.0 + 0.0) / 2)
    assert result["hr@5"] == pytest.approx(100 * (1.0 + 0.0) / 2)
    assert result["ndcg@2"] == pytest.approx(100 * (1.0 + 0.0) / 2)
    # PSP@2 user 0: (4 + 2) / min(2, 2) / (4 + 2) = 0.5 (the official normalisation)
    assert result["psp@2"] == pytest.approx(100 * (0.5 + 0.0) / 2)
    assert result["users"] == 2


def test_truncated_recall_and_ndcg_with_a_partial_hit():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    seen = _csr([[0, 0, 0, 0, 0]], (1, 5))
    heldout = _csr([[0, 1, 0, 1, 1]], (1, 5))  # 3 held-out items, one in the top 2 at rank 2
    accumulator = RankingAccumulator((2,), torch.ones(5, dtype=torch.float64))
    accumulator.add(scores, seen, heldout, None)
    result = accumulator.result()
    assert result["hr@2"] == pytest.approx(100 * 1 / 2)
    assert result["ndcg@2"] == pytest.approx(100 * (1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert result["psp@2"] == pytest.approx(100 * (1 / 2) / 2)


def test_users_without_heldout_items_are_not_averaged():
    scores = torch.tensor([[2.0, 1.0], [2.0, 1.0]])
    seen = _csr([[0, 0], [0, 0]], (2, 2))
    heldout = _csr([[1, 0], [0, 0]], (2, 2))
    accumulator = RankingAccumulator((1,), torch.ones(2, dtype=torch.float64))
    accumulator.add(scores, seen, heldout, None)
    assert accumulator.result()["hr@1"] == 100.0 and accumulator.users == 1


def test_pooled_auc_counts_ties_half():
    assert pooled_auc(np.array([1, 0, 0]), np.array([3.0, 1.0, 2.0])) == 1.0
    assert pooled_auc(np.array([1, 0]), np.array([1.0, 1.0])) == 0.5
    assert pooled_auc(np.array([1, 1, 0, 0]), np.array([1.0, 4.0, 2.0, 3.0])) == 0.5


def test_propensity_formula_and_fixed_negatives():
    train = _csr([[1, 1, 0, 0], [1, 0, 0, 0]], (2, 4))
    counts = np.array([2, 1, 0, 0])
    c = (math.log(3) - 1) * 2.5 ** 0.55
    assert np.allclose(item_propensity(train), 1 + c * (counts + 1.5) ** -0.55)
    train = sp.random(20, 80, density=0.1, format="csr", random_state=0)
    test = sp.random(20, 80, density=0.05, format="csr", random_state=1)
    negatives = fixed_negatives(train, test, count=10, seed=3)
    assert negatives.shape == (20, 10)
    for user in range(20):
        assert len(set(negatives[user])) == 10
        assert not set(negatives[user]) & set(train[user].indices) | set(test[user].indices) & set(negatives[user])
    assert (fixed_negatives(train, test, count=10, seed=3) == negatives).all()
