import dataclasses

import numpy as np
import pytest
import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import RunOptions
from recsys.distill_cf import DistillCFConfig, RealRows
from recsys.infae import EvaluationSetup, evaluate_scores, evaluate_support, score_chunks
from recsys.methods import METHODS
from recsys.synthetic_log import PRESETS, SyntheticLogSpec, generate_log, parse_synthetic

SMALL = "synth:users=2000,items=1000,interactions=80000"


@pytest.fixture(scope="module")
def small_log():
    return generate_log(parse_synthetic(SMALL), SMALL)


def test_the_log_has_the_asked_size_and_distill_cf_split(small_log):
    matrices = (small_log.train, small_log.valid, small_log.test)
    assert small_log.num_users == 2000 and small_log.num_items == 1000
    assert sum(m.nnz for m in matrices) == 80_000
    assert all(m.data.min() == 1 for m in matrices)  # each (user, item) pair once
    per_user = sum(np.diff(m.indptr) for m in matrices)
    assert per_user.min() >= 3 and per_user.max() <= 1000 // 5
    assert (np.diff(small_log.test.indptr) >= 1).all()  # the first of each user's order is a test pair
    assert 0.75 < small_log.train.nnz / 80_000 < 0.82 and 0.08 < small_log.valid.nnz / 80_000 < 0.11
    overlap = small_log.train.multiply(small_log.test).nnz + small_log.train.multiply(small_log.valid).nnz
    assert overlap == 0


def test_popularity_and_activity_are_heavy_tailed(small_log):
    full = small_log.train + small_log.valid + small_log.test
    items = np.sort(np.asarray(full.sum(0)).ravel())[::-1]
    users = np.diff(full.indptr)
    assert items[:10].sum() > 0.05 * items.sum() > 100 * items[-10:].sum() / 10
    assert users.max() > 5 * np.median(users)


def test_the_same_seed_gives_the_same_log_and_another_seed_another():
    spec = parse_synthetic("synth:users=300,items=200,interactions=6000")
    first, again = generate_log(spec, "a"), generate_log(spec, "a")
    other = generate_log(dataclasses.replace(spec, seed=1), "a")
    assert (first.train != again.train).nnz == 0 and (first.test != again.test).nnz == 0
    assert (first.train != other.train).nnz > 0


def test_collaborative_filtering_beats_popularity(small_log):
    setup = EvaluationSetup.of(small_log)
    popularity = torch.as_tensor(np.asarray(small_log.train.sum(0)).ravel(), dtype=torch.float64)
    context, _ = setup.split("test")
    chunks = score_chunks(context, lambda rows, overlap: [popularity.expand(len(rows), -1)], torch.device("cpu"))
    by_popularity = evaluate_scores(setup, "test", chunks, 1, with_auc=False)[0]["ndcg@10"]
    by_infae = evaluate_support(torch.as_tensor(small_log.train.toarray()), setup, grid=(1.0,))["test"]["ndcg@10"]
    assert by_infae > 1.5 * by_popularity


def test_the_netflix_preset_and_bad_names():
    netflix = parse_synthetic("netflix")
    assert (netflix.users, netflix.items, netflix.interactions) == (480_189, 17_770, 100_480_507)
    assert parse_synthetic("ml-1m") is None and "netflix" in PRESETS
    assert parse_synthetic("synth:users=10,items=100,interactions=50,seed=3") == SyntheticLogSpec(10, 100, 50, seed=3)
    for bad, message in [("synth:users=10,items=100", "missing interactions"),
                         ("synth:users=10,items=100,interactions=5", "impossible"),
                         ("synth:users=10,items=100,interactions=50,colour=2", "expected key=value"),
                         ("synth:users=ten,items=100,interactions=50", "users must be a number")]:
        with pytest.raises(InputError, match=message):
            parse_synthetic(bad)


def test_a_user_sample_scores_those_users_only(small_log):
    whole, sample = EvaluationSetup.of(small_log), EvaluationSetup.of(small_log, eval_users=300)
    assert not whole.sampled and sample.sampled and len(sample.users) == 300
    assert np.array_equal(sample.users, EvaluationSetup.of(small_log, eval_users=300).users)
    context, heldout = sample.split("test")
    assert context.shape == (300, 1000) and (heldout != small_log.test[sample.users]).nnz == 0
    assert sample.negatives.shape[0] == 300
    torch.testing.assert_close(sample.propensity, whole.propensity)  # from every training row


def test_distill_cf_draws_sparse_real_rows_like_dense_ones(small_log, monkeypatch):
    setup = EvaluationSetup.of(small_log, eval_users=400)
    config = DistillCFConfig(steps=3, eval_every=3, batch_users=256)
    dense = METHODS["distill-cf"].condense(setup, 10, config, RunOptions(progress=False)).data["interactions"]
    monkeypatch.setattr(RealRows, "DENSE_LIMIT", 0)
    sparse = METHODS["distill-cf"].condense(setup, 10, config, RunOptions(progress=False)).data["interactions"]
    assert torch.equal(dense, sparse)
    with pytest.raises(InputError, match="batch_users"):
        METHODS["distill-cf"].condense(setup, 10, dataclasses.replace(config, batch_users=0), RunOptions(progress=False))


def test_a_generated_log_is_cached_and_read_back_unchanged():
    from graphdistill.core.data_root import cache_dir
    from recsys.synthetic_log import load_synthetic_log

    spec = parse_synthetic("synth:users=400,items=300,interactions=9000,seed=7")
    fresh = load_synthetic_log(spec, "x")
    assert list((cache_dir() / "synthetic-logs").glob("log-400-*.pt"))
    cached = load_synthetic_log(spec, "x")
    assert "cache" in cached.source and "cache" not in fresh.source
    for a, b in zip((fresh.train, fresh.valid, fresh.test), (cached.train, cached.valid, cached.test)):
        assert (a != b).nnz == 0 and a.dtype == b.dtype


def test_condense_and_evaluate_a_generated_log_on_a_user_sample(tmp_path, capsys):
    import json

    from graphdistill.cli import main

    name = "synth:users=600,items=300,interactions=15000"
    out = tmp_path / "log"
    assert main(["condense", "recsys", "--dataset", name, "--users", "8", "--eval-users", "200", "--set", "steps=2",
                 "--set", "eval_every=2", "--set", "batch_users=128", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["eval_users"]["count"] == 200 and len(meta["eval_users"]["user_tokens"]) == 200
    assert sum(meta["real_interactions"].values()) == 15000
    capsys.readouterr()
    assert main(["evaluate", "recsys", "--dataset", name, "--eval-users", "200", "--condensed", str(out),
                 "--ridges", "1,5", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["eval_users"] == 200 and result["ridge"] in (1.0, 5.0) and 0 < result["ndcg@10"] < 100
    assert main(["evaluate", "recsys", "--dataset", name, "--ridges", "one", "--quiet"]) == 2
    assert "--ridges must be comma-separated numbers" in capsys.readouterr().err
