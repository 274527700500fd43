import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphdistill.core.errors import InputError
from recsys.data import read_atomic
from recsys.io import align_items, binarize, keep_largest, read_distilled, write_distilled


def test_inter_and_npz_round_trip(tmp_path):
    matrix = torch.tensor([[0.5, 0.0, 0.25], [0.0, 1.0, 0.125]])
    tokens = np.array(["a", "b", "c"])
    write_distilled(tmp_path / "out", "toy", matrix, tokens, {"seed": 3})
    stored, stored_tokens, meta = read_distilled(tmp_path / "out")
    assert np.allclose(stored.toarray(), matrix.numpy()) and stored_tokens.tolist() == ["a", "b", "c"]
    assert meta["seed"] == 3 and meta["inter_file"] == "toy.inter"
    rows = read_atomic(tmp_path / "out" / "toy.inter")
    assert rows.users.tolist() == ["syn_0", "syn_0", "syn_1", "syn_1"]
    assert rows.items.tolist() == ["a", "c", "b", "c"]
    assert rows.ratings.tolist() == [0.5, 0.25, 1.0, 0.125]
    assert np.allclose(sp.load_npz(tmp_path / "out" / "distilled.npz").toarray(), matrix.numpy())  # plain scipy reads it
    with pytest.raises(InputError, match="already exists"):
        write_distilled(tmp_path / "out", "toy", matrix, tokens, {})


def test_keep_largest_and_binarize():
    matrix = torch.tensor([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.05, 0.6]])
    kept = keep_largest(matrix, 3)
    assert torch.equal(kept, torch.tensor([[0.9, 0.0, 0.0, 0.0], [0.0, 0.8, 0.0, 0.6]]))
    # row sums 1.8 and 1.65 round to 2: each user keeps their two largest items
    assert binarize(matrix, "top-k").tolist() == [[1, 0, 1, 0], [0, 1, 0, 1]]
    assert binarize(matrix, "threshold", 0.55).tolist() == [[1, 0, 0, 0], [0, 1, 0, 1]]
    with pytest.raises(InputError):
        keep_largest(matrix, 0)
    with pytest.raises(InputError, match="no value reaches --threshold 0.95"):
        binarize(matrix, "threshold", 0.95)


def test_align_items_reorders_columns_and_refuses_unknown_items():
    matrix = sp.csr_matrix(np.array([[1.0, 2.0]]))
    aligned = align_items(matrix, np.array(["y", "x"]), np.array(["x", "y", "z"]))
    assert aligned.toarray().tolist() == [[2.0, 1.0, 0.0]]
    with pytest.raises(InputError, match="unknown to the dataset"):
        align_items(matrix, np.array(["y", "w"]), np.array(["x", "y"]))


def test_corrupt_npz_is_an_input_error(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "distilled.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="unreadable distilled log"):
        read_distilled(tmp_path / "d")
