import json

import pytest

from graphdistill.cli import main
from tests.recsys.conftest import write_inter

METRICS = {"hr@10", "ndcg@10", "hr@100", "ndcg@100", "psp@10", "auc", "users", "wall_s"}


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphdistill: error: ")
    return lines[0]


@pytest.mark.slow
def test_condense_then_evaluate_json(capsys, tmp_path, data_root):
    out = tmp_path / "dcf"
    assert main(["condense", "recsys", "--dataset", "ml-100k-fixed", "--data-root", str(data_root), "--users", "10",
                 "--set", "steps=10", "--set", "eval_every=5", "--set", "sparse_steps=10", "--keep-fraction", "0.05", "--out", str(out),
                 "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    meta = json.loads((out / "meta.json").read_text())
    assert summary["budget"] == 10 and meta["compression"]["stored_values"] == int(0.05 * 78676)
    assert meta["compression"]["values_ratio"] == pytest.approx(0.05, abs=1e-4)
    assert meta["config"]["steps"] == 10 and meta["users"] == 10 and meta["peak_rss_mib"] > 0
    assert meta["config"]["keep_fraction"] == 0.05 and meta["sparse_steps_run"] == 10
    assert (out / "ml-100k-fixed.inter").is_file() and not (tmp_path / "dcf.partial").exists()
    assert main(["evaluate", "recsys", "--dataset", "ml-100k-fixed", "--data-root", str(data_root),
                 "--condensed", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert METRICS <= set(result) and result["users"] == 943 and result["support_users"] == 10
    assert 5 < result["ndcg@10"] < 40


@pytest.mark.parametrize("argv, message", [
    (["--users", "0"], "--users 0 is impossible"),
    (["--users", "944"], "--users 944 is impossible"),
    (["--users", "5", "--method", "nope"], "unknown method 'nope'"),
    (["--users", "5", "--set", "gamma=0"], "impossible Distill-CF settings"),
    (["--users", "5", "--keep-fraction", "2"], "--keep-fraction must be in"),
])
def test_condense_bad_input(capsys, tmp_path, data_root, argv, message):
    out = tmp_path / "out"
    code = main(["condense", "recsys", "--dataset", "ml-100k-fixed", "--data-root", str(data_root),
                 "--out", str(out), "--quiet", *argv])
    assert code == 2 and message in _error(capsys)
    assert not out.exists() and not (tmp_path / "out.partial").exists()


@pytest.mark.parametrize("rows, header, message", [
    ([(1, 2, 3)], "user_id\titem_id\trating", "typed header"),
    ([(1, 2, "x")], "user_id:token\titem_id:token\trating:float", "rating 'x' is not a number"),
    ([], "user_id:token\titem_id:token\trating:float", "empty file"),
])
def test_malformed_logs_exit_2(capsys, tmp_path, rows, header, message):
    write_inter(tmp_path / "data" / "recsys" / "bad" / "bad.inter", rows, header=header)
    code = main(["condense", "recsys", "--dataset", "bad", "--data-root", str(tmp_path / "data"), "--users", "1",
                 "--method", "random", "--out", str(tmp_path / "out")])
    assert code == 2 and message in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_valid_items_unknown_to_train_exit_2(capsys, tmp_path):
    folder = tmp_path / "recsys" / "split"
    write_inter(folder / "split.train.inter", [(1, 10, 1, 0), (2, 11, 1, 0)])
    write_inter(folder / "split.valid.inter", [(1, 12, 1, 0)])
    write_inter(folder / "split.test.inter", [(2, 10, 1, 0)])
    code = main(["evaluate", "recsys", "--dataset", "split", "--data-root", str(tmp_path)])
    assert code == 2 and "valid has item '12' unknown to train" in _error(capsys)


@pytest.mark.parametrize("model, message", [
    ("recbole:BPR", "one embedding per user"),
    ("recbole:LightGCN", "one embedding per user"),
    ("svd", "unknown model 'svd'"),
])
def test_evaluate_refuses_models(capsys, data_root, model, message):
    code = main(["evaluate", "recsys", "--dataset", "ml-100k-fixed", "--data-root", str(data_root), "--model", model])
    assert code == 2 and message in _error(capsys)


def test_full_data_infae_json(capsys, data_root):
    assert main(["evaluate", "recsys", "--dataset", "ml-100k-fixed", "--data-root", str(data_root), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert METRICS <= set(result) and result["support_users"] == 943
    assert 30 < result["ndcg@10"] < 40
