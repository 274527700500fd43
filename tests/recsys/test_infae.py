import torch

from graphdistill.core.kernels import relu_kernels
from recsys.infae import RIDGE_GRID, dual_coefficients, evaluate_support, ntk, score_chunks, validation_scores


def test_ntk_is_the_infinite_ae_kernel():
    x = (torch.rand(6, 40) < 0.3).float()
    assert torch.allclose(ntk(x), relu_kernels(x, weight_var=2.0, bias_var=0.01)[0])


def test_dual_coefficients_match_a_direct_solve_for_every_ridge():
    support = (torch.rand(12, 30, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    kernel = ntk(support)
    for ridge, alpha in zip((1e-3, 1.0), dual_coefficients(support, (1e-3, 1.0))):
        regularised = kernel + ridge * torch.trace(kernel) / 12 * torch.eye(12, dtype=torch.float64)
        assert torch.allclose(alpha, torch.linalg.solve(regularised, support), atol=1e-8)


def test_chunking_does_not_change_scores(ml100k):
    support = torch.as_tensor(ml100k.data.train[:40].toarray())
    alphas = dual_coefficients(support, (0.1,))
    whole = torch.cat([s[0] for _, s in score_chunks(ml100k.data.train[:100], support, alphas, chunk=1000)])
    pieces = torch.cat([s[0] for _, s in score_chunks(ml100k.data.train[:100], support, alphas, chunk=7)])
    assert torch.allclose(whole, pieces, atol=1e-5)


def test_full_data_beats_a_few_users_and_ridge_is_chosen_on_validation(ml100k):
    full = evaluate_support(torch.as_tensor(ml100k.data.train.toarray()), ml100k)
    few = evaluate_support(torch.as_tensor(ml100k.data.train[:10].toarray()), ml100k)
    assert full["ridge"] in RIDGE_GRID
    valid = validation_scores(torch.as_tensor(ml100k.data.train.toarray()), ml100k)
    assert full["valid"]["hr@100"] == max(v["hr@100"] for v in valid)
    assert full["test"]["ndcg@10"] > few["test"]["ndcg@10"] + 5
    assert 30 < full["test"]["ndcg@10"] < 40 and 85 < full["test"]["auc"] < 100
    assert full["test"]["users"] == 943
