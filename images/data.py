"""Image datasets as normalised ``(N, C, H, W)`` float tensors: MNIST from IDX files, scikit-learn's
``load_digits`` (the offline default) and user tensors. No torchvision: IDX is parsed with numpy."""
from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from graphdistill.core.data_root import not_found, resolve_data_root
from graphdistill.core.errors import InputError

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class ImageData:
    """Train and test images, normalised per channel with ``mean`` / ``std`` (from the training set).

    Attributes:
        train_x: ``(N, C, H, W)`` float32; train_y: ``(N,)`` int64 labels ``0..classes-1``.
        test_x, test_y: the same for the test set.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def num_classes(self) -> int:
        return int(self.train_y.max()) + 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    def class_counts(self) -> list[int]:
        return torch.bincount(self.train_y, minlength=self.num_classes).tolist()

    def denormalize(self, x: Tensor) -> Tensor:
        """Back to the ``[0, 1]`` pixel scale, for pictures."""
        mean = torch.tensor(self.mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(1, -1, 1, 1)
        return x * std + mean


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (optionally gzipped): magic ``0 0 type ndim``, ``ndim`` big-endian sizes, data.

    Raises:
        InputError: missing file, bad magic, unknown type, or a payload whose size does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"IDX file not found: {path}")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"corrupt IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise InputError(f"corrupt IDX file {path}: bad magic number {raw[:4].hex()}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"corrupt IDX file {path}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise InputError(f"corrupt IDX file {path}: header says {shape} ({expected} bytes), "
                         f"payload has {len(raw) - header} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def from_tensors(name: str, train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                 mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None) -> ImageData:
    """An :class:`ImageData` from the user's ``(N, C, H, W)`` images (pixel scale) and integer labels.

    Images are normalised per channel with ``mean`` / ``std`` (default: the training set's).

    Raises:
        InputError: wrong ranks or shapes, label/image count mismatch, non-finite pixels, labels that are
            not ``0..K-1`` or a class without training images.
    """
    for what, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        if x.dim() != 4 or y.dim() != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise InputError(f"{what} images must be (N, C, H, W) with N labels, got {tuple(x.shape)} and "
                             f"{tuple(y.shape)}")
        if not torch.isfinite(x).all():
            raise InputError(f"{what} images contain NaN or infinite values")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise InputError(f"train images {tuple(train_x.shape[1:])} and test images {tuple(test_x.shape[1:])} differ")
    train_y, test_y = train_y.long(), test_y.long()
    classes = int(train_y.max()) + 1
    if int(train_y.min()) < 0 or int(test_y.min()) < 0 or int(test_y.max()) >= classes:
        raise InputError("labels must be 0..K-1 with every test label seen in training")
    counts = torch.bincount(train_y, minlength=classes)
    if (counts == 0).any():
        raise InputError(f"class {int((counts == 0).nonzero()[0])} has no training image")
    train_x, test_x = train_x.float(), test_x.float()
    if mean is None or std is None:
        mean = tuple(train_x.mean(dim=(0, 2, 3)).tolist())
        std = tuple(train_x.std(dim=(0, 2, 3)).tolist())
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ImageData(name, (train_x - m) / s, train_y, (test_x - m) / s, test_y, tuple(mean), tuple(std))


def load_mnist(root: str | os.PathLike | None = None) -> ImageData:
    """MNIST from ``<root>/images/MNIST/raw/*-ubyte[.gz]`` (the root by
    :func:`~graphdistill.core.data_root.resolve_data_root`); never downloads. Normalised with MNIST's 0.1307 / 0.3081."""
    base = resolve_data_root(root)
    if base is None:
        raise not_found("MNIST's IDX files (images/MNIST/raw/*-ubyte[.gz])", [], None)
    raw = base / "images" / "MNIST" / "raw"
    if not raw.is_dir() and (base / "MNIST" / "raw").is_dir():
        raw = base / "MNIST" / "raw"

    def part(stem: str) -> np.ndarray:
        candidates = [raw / f"{stem}.gz", raw / stem]
        for candidate in candidates:
            if candidate.is_file():
                return read_idx(candidate)
        raise not_found(f"MNIST file {stem}", candidates, base)

    arrays = [part(stem) for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    for images, labels, what in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "test")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise InputError(f"MNIST {what} images {images.shape} and labels {labels.shape} do not match")
    images = [torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1) for a in (arrays[0], arrays[2])]
    labels = [torch.from_numpy(a.astype(np.int64)) for a in (arrays[1], arrays[3])]
    return from_tensors("mnist", images[0], labels[0], images[1], labels[1], MNIST_MEAN, MNIST_STD)


def load_digits_dataset(test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn), a stratified train/test split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover
        raise InputError("the digits dataset needs scikit-learn (pip install 'graphdistill[images]')") from exc
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    test = torch.zeros(len(y), dtype=torch.bool)
    for cls in range(10):
        members = (y == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        test[members[:round(test_fraction * len(members))]] = True
    return from_tensors("digits", x[~test], y[~test], x[test], y[test])


def load_images(name: str, root: str | os.PathLike | None = None) -> ImageData:
    """``mnist`` or ``digits`` by name."""
    if name == "mnist":
        return load_mnist(root)
    if name == "digits":
        return load_digits_dataset()
    raise InputError(f"unknown image dataset {name!r}; choose mnist or digits")
