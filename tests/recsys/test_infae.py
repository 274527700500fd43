import torch

from recsys.infae import evaluate_support, score_chunks, validation_scores
from recsys.learners import InfiniteAE


def test_chunking_does_not_change_scores(ml100k):
    support = torch.as_tensor(ml100k.data.train[:40].toarray())
    scorer = InfiniteAE().fit(support, (0.1,))
    whole = torch.cat([s[0] for _, s in score_chunks(ml100k.data.train[:100], scorer, support.device, chunk=1000)])
    pieces = torch.cat([s[0] for _, s in score_chunks(ml100k.data.train[:100], scorer, support.device, chunk=7)])
    assert torch.allclose(whole, pieces, atol=1e-5)


def test_full_data_beats_a_few_users_and_ridge_is_chosen_on_validation(ml100k):
    full = evaluate_support(torch.as_tensor(ml100k.data.train.toarray()), ml100k)
    few = evaluate_support(torch.as_tensor(ml100k.data.train[:10].toarray()), ml100k)
    assert full["ridge"] in InfiniteAE.grid
    valid = validation_scores(torch.as_tensor(ml100k.data.train.toarray()), ml100k)
    assert full["valid"]["hr@100"] == max(v["hr@100"] for v in valid)
    assert full["test"]["ndcg@10"] > few["test"]["ndcg@10"] + 5
    assert 30 < full["test"]["ndcg@10"] < 40 and 85 < full["test"]["auc"] < 100
    assert full["test"]["users"] == 943
