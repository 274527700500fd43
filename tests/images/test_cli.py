import gzip
import json

import pytest
import torch

from graphdistill.cli import main


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graphdistill: error: ")
    return lines[0]


def test_condense_then_evaluate_digits(capsys, tmp_path):
    out = tmp_path / "dm"
    assert main(["condense", "images", "--dataset", "digits", "--method", "dm", "--ipc", "1", "--iterations", "3",
                 "--set", "batch_real=16", "--out", str(out), "--quiet"]) == 0
    assert {p.name for p in out.iterdir()} == {"images.pt", "meta.json", "grid.png"}
    tensors = torch.load(out / "images.pt", weights_only=True)
    assert tensors["x"].shape == (10, 1, 8, 8) and tensors["y"].tolist() == list(range(10))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["iterations"] == 3 and meta["ipc"] == 1 and meta["ipc_equivalent"] == 1.0
    capsys.readouterr()
    assert main(["evaluate", "images", "--dataset", "digits", "--condensed", str(out), "--runs", "2",
                 "--epochs", "20", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"test_acc_mean", "test_acc_std", "runs", "wall_s"} <= set(result) and result["runs"] == 2
    assert 0.2 < result["test_acc_mean"] <= 1.0 and result["augment"] == "dsa"
    assert main(["evaluate", "images", "--dataset", "digits", "--condensed", str(out), "--runs", "1",
                 "--epochs", "20", "--augment", "dc", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["augment"] == "dc" and 0.2 < result["test_acc_mean"] <= 1.0


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "cifar", "--ipc", "1"], "unknown image dataset 'cifar'"),
    (["--dataset", "digits", "--ipc", "1", "--method", "mtt"], "unknown method 'mtt'"),
    (["--dataset", "digits", "--ipc", "0"], "--ipc 0 is impossible"),
    (["--dataset", "digits", "--ipc", "140"], "--ipc 140 is impossible"),
    (["--dataset", "digits", "--ipc", "1", "--set", "parametrization=hashed"], "unknown parametrization"),
])
def test_condense_bad_input(capsys, tmp_path, argv, message):
    out = tmp_path / "out"
    assert main(["condense", "images", *argv, "--out", str(out), "--quiet"]) == 2
    assert message in _error(capsys)
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_corrupt_idx_file_exits_2(capsys, tmp_path):
    raw = tmp_path / "data" / "images" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f"{stem}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (9).to_bytes(4, "big") + b"short"))
    assert main(["condense", "images", "--dataset", "mnist", "--data-root", str(tmp_path / "data"), "--ipc", "1",
                 "--method", "random", "--out", str(tmp_path / "out")]) == 2
    assert "corrupt IDX file" in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_nan_images_exit_2(capsys, tmp_path):
    (tmp_path / "bad").mkdir()
    torch.save({"x": torch.full((10, 1, 8, 8), float("nan")), "y": torch.arange(10)}, tmp_path / "bad" / "images.pt")
    assert main(["evaluate", "images", "--dataset", "digits", "--condensed", str(tmp_path / "bad")]) == 2
    assert "NaN" in _error(capsys)
