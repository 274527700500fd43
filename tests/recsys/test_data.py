import numpy as np
import pytest

from graphdistill.core.errors import InputError
from recsys.data import load_interactions, read_atomic, split_interactions
from tests.recsys.conftest import write_inter


def test_read_atomic_parses_typed_columns(tmp_path):
    path = write_inter(tmp_path / "a.inter", [(1, 10, 4, 100), (1, 11, 2.5, 101), (2, 10, 5, 102)])
    rows = read_atomic(path)
    assert rows.users.tolist() == ["1", "1", "2"]
    assert rows.items.tolist() == ["10", "11", "10"]
    assert rows.ratings.tolist() == [4.0, 2.5, 5.0]
    assert read_atomic(path, min_rating=3).items.tolist() == ["10", "10"]


@pytest.mark.parametrize("header, rows, message", [
    ("user_id\titem_id", [(1, 2)], "typed header"),
    ("user_id:token\titem_id:token\trating:float", [(1, 2, "good")], "line 2: rating 'good' is not a number"),
    ("user_id:token\titem_id:token\trating:float", [], "empty file"),
    ("user_id:token\titem_id:token\trating:float", [(1, 2, 3), "4\t5"], "line 3: expected 3"),
    ("user:token\titem_id:token", [(1, 2)], "no user_id column"),
])
def test_read_atomic_rejects_malformed_files(tmp_path, header, rows, message):
    path = write_inter(tmp_path / "bad.inter", rows, header=header)
    with pytest.raises(InputError, match=message):
        read_atomic(path)


def test_split_rule_counts_forced_test_item_and_seed():
    users = np.array(["a"] * 10 + ["b"] * 2 + ["c"] * 20)
    labels = split_interactions(users, seed=0)
    assert (labels[10:12] == -1).all()  # fewer than 3 interactions: dropped
    for rows, n in ((slice(0, 10), 10), (slice(12, 32), 20)):
        split = labels[rows]
        train = int(0.8 * n) - 1  # the forced test row comes out of the train share
        assert np.bincount(split, minlength=3).tolist() == [train, int(0.9 * n) - int(0.8 * n), n - train - (int(0.9 * n) - int(0.8 * n))]
    # the first row of each user's permutation is the forced test row
    first = np.random.RandomState(0).permutation(10)[0]
    assert labels[first] == 2
    assert (split_interactions(users, seed=0) == labels).all()
    assert not (split_interactions(users, seed=1) == labels).all()


def _fixed_split(root, name, train, valid, test, full=None):
    folder = root / "recsys" / name
    write_inter(folder / f"{name}.train.inter", train)
    write_inter(folder / f"{name}.valid.inter", valid)
    write_inter(folder / f"{name}.test.inter", test)
    if full is not None:
        write_inter(folder / f"{name}.inter", full)


def test_fixed_split_loads_one_id_map(tmp_path):
    train = [(1, 10, 1, 0), (1, 11, 1, 0), (2, 10, 1, 0), (2, 10, 1, 0)]
    _fixed_split(tmp_path, "tiny", train, [(1, 12, 1, 0)], [(2, 11, 1, 0)], full=train + [(1, 12, 1, 0), (2, 11, 1, 0)])
    data = load_interactions("tiny", tmp_path)
    assert (data.num_users, data.num_items) == (2, 3)
    assert data.train.toarray().tolist() == [[1, 1, 0], [2, 0, 0]]  # repeated rows add up, as in ∞-AE
    assert data.valid.toarray().tolist() == [[0, 0, 1], [0, 0, 0]]
    assert data.train_interactions == 4


def test_items_unknown_to_train_are_refused(tmp_path):
    train = [(1, 10, 1, 0), (2, 11, 1, 0)]
    _fixed_split(tmp_path, "tiny", train, [(1, 99, 1, 0)], [(2, 10, 1, 0)])
    with pytest.raises(InputError, match="valid has item '99' unknown to train"):
        load_interactions("tiny", tmp_path)
    # with the full log present the item universe is the full log (Distill-CF's id map) ...
    _fixed_split(tmp_path, "tiny", train, [(1, 99, 1, 0)], [(2, 10, 1, 0)], full=train + [(1, 99, 1, 0), (2, 10, 1, 0)])
    assert load_interactions("tiny", tmp_path).num_items == 3
    # ... and an item outside it is still refused
    _fixed_split(tmp_path, "tiny", train, [(1, 99, 1, 0)], [(2, 77, 1, 0)], full=train + [(1, 99, 1, 0)])
    with pytest.raises(InputError, match="test has item '77' unknown to tiny.inter"):
        load_interactions("tiny", tmp_path)


def test_users_without_training_rows_are_refused(tmp_path):
    _fixed_split(tmp_path, "tiny", [(1, 10, 1, 0)], [(1, 10, 1, 0)], [(3, 10, 1, 0)])
    with pytest.raises(InputError, match="test has user '3' with no training interaction"):
        load_interactions("tiny", tmp_path)


def test_missing_dataset_is_named(tmp_path):
    with pytest.raises(InputError, match="interaction log 'nope'.* not found"):
        load_interactions("nope", tmp_path)


def test_ml100k_defaults_to_the_recbole_copy_split_by_the_rule(tmp_path):
    data = load_interactions("ml-100k", tmp_path)  # no recsys/ml-100k folder under tmp_path
    assert "recbole" in data.source
    assert (data.num_users, data.num_items) == (943, 1682)
    total = data.train.nnz + data.valid.nnz + data.test.nnz
    assert total == 100_000
    assert data.test.getnnz(1).min() >= 1  # every user has the forced test item


def test_shared_ml1m_matches_its_readme(data_root):
    data = load_interactions("amazon-magazine", data_root)
    assert (data.num_users, data.num_items) == (3092, 1305)
    assert data.train_interactions == 5984
