import random

import numpy as np
import pytest
import torch

from graphdistill.core import InputError, rng_state, sample_per_class, set_rng_state
from graphdistill.core.atomic import staged_directory
from graphdistill.core.checkpoint import load_checkpoint, save_checkpoint
from graphdistill.core.config import build_config, parse_overrides
from graphdistill.core.synthetic import contiguous_class_slices
from graphdistill.graph.evaluate import EvalConfig


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    save_checkpoint({"fingerprint": "f", "rng": rng_state()}, tmp_path / "c.pt")
    expected = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_unreadable_checkpoint_is_an_input_error(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="unreadable checkpoint file"):
        load_checkpoint(tmp_path / "bad.pt")


def test_staged_directory_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with staged_directory(out) as stage:
            (stage / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with staged_directory(out) as stage:
        (stage / "done.txt").write_text("x")
    assert [p.name for p in out.iterdir()] == ["done.txt"]


def test_overrides_are_typed_and_checked():
    assert parse_overrides(["runs=3", "dropout=0.0", "arch=sage", "arch2='mlp'"]) == {
        "runs": 3, "dropout": 0.0, "arch": "sage", "arch2": "mlp"}
    config = build_config(EvalConfig, {"runs": 2}, parse_overrides(["dropout=0"]))
    assert config.runs == 2 and config.dropout == 0.0
    with pytest.raises(InputError, match="unknown setting"):
        build_config(EvalConfig, {"runz": 2})
    with pytest.raises(InputError, match="expects int"):
        build_config(EvalConfig, {"runs": "two"})
    with pytest.raises(InputError, match="key=value"):
        parse_overrides(["runs"])


def test_class_slices_and_per_class_sampling():
    labels = torch.tensor([3, 3, 0, 0, 0, 1])
    assert contiguous_class_slices(labels) == {3: slice(0, 2), 0: slice(2, 5), 1: slice(5, 6)}
    with pytest.raises(InputError, match="not contiguous"):
        contiguous_class_slices(torch.tensor([0, 1, 0]))
    pool = torch.tensor([0, 1, 1, 0, 2, 1, 0])
    picked = sample_per_class(pool, {1: 2, 0: 3}, torch.Generator().manual_seed(0))
    assert pool[picked].tolist() == [1, 1, 0, 0, 0] and len(set(picked.tolist())) == 5
    with pytest.raises(InputError, match="class 2 has 1"):
        sample_per_class(pool, {2: 2})


def test_real_data_stays_on_the_cpu_when_it_would_crowd_the_accelerator(monkeypatch, capsys):
    from graphdistill.core.runinfo import real_data_device

    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * 2**30, 80 * 2**30))  # 4 GiB free
    assert real_data_device(2 * 2**30, cuda) == cuda  # half of the free memory: fits
    assert capsys.readouterr().err == ""
    assert real_data_device(2 * 2**30 + 1, cuda) == cpu
    assert "stays on the CPU" in capsys.readouterr().err
    assert real_data_device(3 * 2**30, cuda, "same") == cuda and real_data_device(1, cuda, "cpu") == cpu
    assert real_data_device(10**15, cpu) == cpu
    with pytest.raises(InputError, match="placement"):
        real_data_device(1, cuda, "gpu")
