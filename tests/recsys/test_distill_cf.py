import dataclasses

import pytest
import torch

from graphdistill.core.errors import InputError
from recsys.distill_cf import (DistillCFConfig, DistillCFProblem, RealRows, SparseSyntheticUsers, SyntheticUsers,
                               _GumbelSoftmaxSum)
from recsys.infae import evaluate_support, validation_scores
from recsys.learners import EASE, InfiniteAE
from graphdistill.core.method import RunOptions
from recsys.methods import METHODS


def _unpack(condensed):
    return condensed.data["interactions"], condensed.meta


def _distill(setup, users, config, run):
    return _unpack(METHODS["distill-cf"].condense(setup, users, config, run))


def test_mean_relaxation_is_the_expected_gumbel_sum_at_high_temperature():
    logits = torch.tensor([[2.0, 0.0, -1.0, 0.5, 1.5]])
    config = DistillCFConfig(gamma=3, tau=10.0)
    closed_form = SyntheticUsers(logits, config).materialize()
    draws = sum(d.sum(0) for d in _GumbelSoftmaxSum._draws(logits, 40_000, config.tau, seed=0)) / 40_000
    sampled = config.gamma * draws  # the mean of the un-clipped Gumbel sum (nothing reaches 1 here)
    assert torch.allclose(closed_form[0], sampled[0], rtol=0.02)


def test_gumbel_sum_backward_matches_autograd_of_the_plain_sum():
    logits = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(3, 7, dtype=torch.float64)
    (_GumbelSoftmaxSum.apply(logits, 5, 2.0, 11) * weights).sum().backward()
    ours = logits.grad.clone()
    logits.grad = None
    plain = sum(draws.sum(0) for draws in _GumbelSoftmaxSum._draws(logits, 5, 2.0, 11))
    (plain * weights).sum().backward()
    assert torch.allclose(ours, logits.grad)


def test_gumbel_relaxation_sums_gamma_samples_clipped_to_one():
    users = SyntheticUsers(torch.zeros(2, 50), DistillCFConfig(relaxation="gumbel", gamma=20, tau=10.0))
    soft = users.materialize(seed=0).detach()
    assert soft.shape == (2, 50) and float(soft.max()) <= 1.0
    assert torch.allclose(soft.sum(1), torch.full((2,), 20.0), atol=1e-4)  # nothing reaches the clip here


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="relaxation"):
        DistillCFConfig(relaxation="expected")
    with pytest.raises(InputError, match="impossible"):
        DistillCFConfig(gamma=0)
    with pytest.raises(InputError, match="selection metric 'mrr'"):
        DistillCFConfig(select_metric="mrr")
    with pytest.raises(InputError, match="precision 'float16'; choose one of float32, float64"):
        DistillCFConfig(precision="float16")


def test_selection_metric_picks_the_ridge_and_the_kept_state(ml100k):
    config = DistillCFConfig(steps=6, eval_every=3, select_metric="ndcg@10")
    support, info = _distill(ml100k, 8, config, RunOptions(seed=2, progress=False))
    scores = validation_scores(support, ml100k)
    best = max(range(len(InfiniteAE.grid)), key=lambda i: scores[i]["ndcg@10"])
    assert info["ridge"] == {"infae": InfiniteAE.grid[best]}
    kept = max(score for _, score in info["valid_ndcg@10_history"])
    assert scores[best]["ndcg@10"] == pytest.approx(kept, abs=1e-6)


def test_callback_sees_every_step_and_the_kept_state_is_one_it_saw(ml100k):
    seen = {}
    def record(epoch, loss, synthetic):
        with torch.no_grad():
            seen[epoch] = synthetic.materialize().clone()
    config = DistillCFConfig(steps=6, eval_every=3)
    support, info = _distill(ml100k, 8, config, RunOptions(seed=1, progress=False, callback=record))
    assert sorted(seen) == list(range(6))
    assert torch.equal(support, seen[info["selected_step"] - 1])


@pytest.mark.slow
def test_short_distill_cf_beats_random_users(ml100k):
    config = DistillCFConfig(steps=30, eval_every=10)
    distilled, info = _distill(ml100k, 20, config, RunOptions(progress=False))
    random_users, _ = _unpack(METHODS["random"].condense(ml100k, 20, None, RunOptions(seed=0)))
    ours = evaluate_support(distilled, ml100k)["test"]["ndcg@10"]
    baseline = evaluate_support(random_users.float(), ml100k)["test"]["ndcg@10"]
    assert ours > 1.2 * baseline
    assert info["selected_step"] in (10, 20, 30)


def test_resume_continues_exactly(ml100k, tmp_path):
    config = DistillCFConfig(steps=6, eval_every=3, checkpoint_every=3)
    checkpoint = tmp_path / "checkpoint.pt"
    straight, _ = _distill(ml100k, 8, config, RunOptions(seed=1, checkpoint_path=checkpoint, progress=False))
    assert checkpoint.is_file()  # written at step 3, the run then went on to step 6
    resumed, info = _distill(ml100k, 8, config, RunOptions(seed=1, checkpoint_path=checkpoint, resume=True, progress=False))
    assert torch.equal(straight, resumed)
    other = dataclasses.replace(config, lr=0.01)
    with pytest.raises(InputError, match="other settings"):
        _distill(ml100k, 8, other, RunOptions(seed=1, checkpoint_path=checkpoint, resume=True, progress=False))


def test_head_users_are_the_most_active(ml100k):
    matrix, info = _unpack(METHODS["head"].condense(ml100k, 5, None, RunOptions()))
    counts = ml100k.data.train.sum(1).A.ravel()
    assert sorted(matrix.sum(1).tolist()) == sorted(counts[counts.argsort()[::-1][:5]].tolist())


def test_sparse_users_keep_the_largest_entries_and_learn_only_them():
    dense = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.8, 0.05]])
    sparse = SparseSyntheticUsers(dense, 3, torch.tensor([0.1]), torch.tensor([1.0]))
    matrix = sparse.materialize()
    assert torch.allclose(matrix, torch.tensor([[0.9, 0.0, 0.5], [0.0, 0.8, 0.0]]), atol=1e-5)
    matrix.sum().backward()
    assert sparse.values.grad.shape == (3,) and (sparse.values.grad > 0).all()


def test_keep_fraction_stores_that_share_of_the_training_interactions(ml100k):
    config = DistillCFConfig(steps=5, eval_every=5, keep_fraction=0.02, sparse_steps=5)
    matrix, info = _distill(ml100k, 10, config, RunOptions(progress=False))
    assert int((matrix > 0).sum()) == int(0.02 * ml100k.data.train_interactions)
    assert info["sparse_steps_run"] == 5


@pytest.mark.slow
def test_ease_in_the_loop_makes_the_log_better_for_ease(ml100k):
    run = RunOptions(seed=0, progress=False)
    scores = {}
    for learners in ("infae", "infae,ease"):
        config = DistillCFConfig(steps=500, eval_every=100, learners=learners)
        support, info = _distill(ml100k, 20, config, run)
        scores[learners] = evaluate_support(support, ml100k, "ease", (250.0,))["test"]["ndcg@10"]
    assert set(info["ridge"]) == {"infae", "ease"} and info["solvers"]["ease"].startswith("Woodbury")
    assert info["loss_scales"]["infae"] == 1.0
    assert scores["infae,ease"] > scores["infae"] + 2


def test_learner_weights_normalise_the_loss_to_the_first_learners_start(ml100k):
    rows = RealRows(ml100k.data.train[:200], torch.device("cpu"))
    real = rows.dense
    config = DistillCFConfig(learners="infae,ease", learner_weights="1,3")
    synthetic = SyntheticUsers(real[:10], config)
    first = DistillCFProblem(synthetic, rows, config).outer_loss(None).detach()
    alone = {name: DistillCFProblem(SyntheticUsers(real[:10], DistillCFConfig(learners=name, cardinality_reg=0.0)),
                                    rows, dataclasses.replace(config, learners=name, learner_weights="",
                                                              cardinality_reg=0.0)).outer_loss(None).detach()
             for name in ("infae", "ease")}
    scales = synthetic.loss_scales
    assert float(scales[0]) == 1.0
    assert float(scales[1]) == pytest.approx(float(alone["infae"] / alone["ease"]), rel=1e-5)
    cardinality = config.cardinality_reg * synthetic.materialize().detach().sum(1).mean() / real.sum(1).mean()
    # both terms start equal, so weights 1:3 give the first learner's initial loss in all
    assert float(first) == pytest.approx(float(alone["infae"] + cardinality), rel=1e-5)


def test_sparse_output_with_two_learners_keeps_their_ridges_and_scales(ml100k):
    config = DistillCFConfig(steps=4, eval_every=2, keep_fraction=0.05, sparse_steps=4, learners="infae,ease")
    matrix, info = _distill(ml100k, 10, config, RunOptions(progress=False))
    assert int((matrix > 0).sum()) == int(0.05 * ml100k.data.train_interactions)
    assert set(info["ridge"]) == {"infae", "ease"} and info["ridge"]["ease"] in EASE.grid
    assert info["sparse_steps_run"] == 4 and info["loss_scales"]["infae"] == 1.0
