import gzip

import numpy as np
import pytest
import torch

from graphdistill.core.errors import InputError
from images.data import from_tensors, load_digits_dataset, load_mnist, read_idx


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_read_idx_plain_and_gzipped(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(_idx(array))
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(array)))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        parsed = read_idx(tmp_path / name)
        assert parsed.shape == (2, 3, 4) and (parsed == array).all()


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc", "bad magic"),
    (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "payload has 3 bytes"),
    (b"\x00\x00\x08\x02" + (5).to_bytes(4, "big"), "truncated header"),
])
def test_read_idx_rejects_corrupt_files(tmp_path, payload, message):
    (tmp_path / "bad").write_bytes(payload)
    with pytest.raises(InputError, match=message):
        read_idx(tmp_path / "bad")


def test_mnist_shapes_labels_and_counts(data_root):
    data = load_mnist(data_root)
    assert data.train_x.shape == (60000, 1, 28, 28) and data.test_x.shape == (10000, 1, 28, 28)
    assert data.class_counts() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(data.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(data.train_x.mean())) < 1e-3 and abs(float(data.train_x.std()) - 1) < 1e-3  # 0.1307 / 0.3081


def test_missing_mnist_file_is_named(tmp_path):
    (tmp_path / "images" / "MNIST" / "raw").mkdir(parents=True)
    with pytest.raises(InputError, match="MNIST file .* not found"):
        load_mnist(tmp_path)


def test_digits_split_is_stratified_and_normalised():
    data = load_digits_dataset()
    assert data.shape == (1, 8, 8) and data.num_classes == 10
    assert len(data.train_y) + len(data.test_y) == 1797
    test_share = torch.bincount(data.test_y, minlength=10) / torch.bincount(torch.cat([data.train_y, data.test_y]))
    assert ((test_share - 0.2).abs() < 0.01).all()


@pytest.mark.parametrize("x, y, message", [
    (torch.full((4, 1, 2, 2), float("nan")), torch.tensor([0, 1, 0, 1]), "NaN"),
    (torch.rand(4, 2, 2), torch.tensor([0, 1, 0, 1]), r"\(N, C, H, W\)"),
    (torch.rand(4, 1, 2, 2), torch.tensor([0, 2, 0, 2]), "class 1 has no training image"),
])
def test_user_tensors_are_checked(x, y, message):
    with pytest.raises(InputError, match=message):
        from_tensors("mine", x, y, torch.rand(2, 1, 2, 2), torch.tensor([0, 0]))
