"""Issue-13 guarantees beyond single bad inputs: locks, validation on load, data fingerprints on resume,
optional dependencies, small logs, and what a user sees while a run goes right."""
import fcntl
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import graphdistill
from graphdistill.cli import main
from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed
from graphdistill.graph.io import save_condensed
from tests.recsys.conftest import write_inter

CLI = [sys.executable, "-m", "graphdistill.cli"]


def _error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_second_run_on_the_same_out_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    partial = tmp_path / "run.partial"
    partial.mkdir()
    lock = open(partial / "lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lock.write(json.dumps({"pid": 4242, "host": "elsewhere"}))
    lock.flush()
    argv = ["condense", "images", "--dataset", "digits", "--method", "random", "--ipc", "1", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    assert "is in use by PID 4242 on elsewhere" in _error(capsys)
    lock.close()  # the holder dies: the operating system releases its lock, the file stays
    assert main(argv) == 0
    assert "taking over" in capsys.readouterr().err and out.is_dir() and not partial.exists()


@pytest.mark.parametrize("tensors, meta, field", [
    ({"x": torch.full((35, 4), float("nan")), "adj": torch.zeros(35, 35), "y": torch.zeros(35)}, {}, "x must hold finite"),
    ({"x": torch.rand(35, 4), "adj": torch.zeros(10, 10), "y": torch.zeros(35)}, {}, "adj must be (35, 35)"),
    ({"x": torch.rand(35, 4), "adj": torch.zeros(35, 35), "y": torch.full((35,), 99)}, {"num_classes": 7},
     "label 99 but the dataset has 7 classes"),
    ({"x": torch.rand(35, 4), "adj": torch.zeros(35, 35), "y": torch.zeros(5)}, {}, "y must be (35,)"),
    ({"x": torch.rand(35), "adj": torch.zeros(35, 35), "y": torch.zeros(35)}, {}, "x must be a non-empty 2-D"),
    ({"x": torch.rand(35, 4), "adj": -torch.ones(35, 35), "y": torch.zeros(35)}, {}, "non-negative edge weights"),
])
def test_load_condensed_validates_graphs(tmp_path, tensors, meta, field):
    out = tmp_path / "g"
    out.mkdir()
    torch.save(tensors, out / "graph.pt")
    (out / "meta.json").write_text(json.dumps({"modality": "graph", **meta}))
    with pytest.raises(InputError, match=rf"graph\.pt: .*{field.replace('(', '[(]').replace(')', '[)]')}"):
        graphdistill.load_condensed(out)


def test_load_condensed_validates_images_and_logs(tmp_path):
    images = tmp_path / "i"
    images.mkdir()
    (images / "meta.json").write_text('{"modality": "images", "num_classes": 10}')
    torch.save({"x": torch.zeros(2, 1, 8, 8), "y": torch.tensor([3, 12])}, images / "images.pt")
    with pytest.raises(InputError, match="images.pt: y holds label 12 but the dataset has 10 classes"):
        graphdistill.load_condensed(images)
    log = tmp_path / "l"
    log.mkdir()
    np.savez(log / "distilled.npz", data=np.array([1.0, np.inf]), indices=np.array([0, 1]), indptr=np.array([0, 2]),
             shape=np.array([1, 2]), item_tokens=np.array(["a", "b"]))
    with pytest.raises(InputError, match="distilled.npz: non-finite"):
        graphdistill.load_condensed(log)
    with pytest.raises(InputError, match="not a graphdistill output"):
        graphdistill.load_condensed(tmp_path)


def test_outputs_of_the_previous_version_still_load(tmp_path):
    """Earlier outputs have no ``modality`` in meta.json: their marker file tells."""
    out = save_condensed(tmp_path / "old", Condensed({"x": torch.rand(3, 2), "adj": torch.eye(3), "y": torch.tensor([0, 1, 1])},
                                                     {"method": "gcond"}))
    data = graphdistill.load_condensed(out)
    assert data.num_nodes == 3 and data.edge_index.shape == (2, 3)


def _tiny_log(root: Path, items: int, users: int = 40, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    rows = [(f"u{u}", f"i{i}", str(int(rng.integers(1, 6))), "0") for u in range(users)
            for i in rng.choice(items, size=8, replace=False)]
    write_inter(root / "recsys" / "tiny" / "tiny.inter", rows)


def test_resume_refuses_other_data(tmp_path, monkeypatch, capsys):
    """A checkpoint records a digest of the data it was made from: the same command on other data is refused."""
    for name, seed in (("a", 0), ("b", 1)):
        _tiny_log(tmp_path / name, items=60, seed=seed)
    out = tmp_path / "run"
    argv = ["condense", "recsys", "--dataset", "tiny", "--users", "5", "--set", "steps=6", "--set", "checkpoint_every=2",
            "--set", "eval_every=2", "--out", str(out), "--quiet"]
    from recsys.modality import InteractionLogs

    def interrupted(self, condensed, data, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(InteractionLogs, "finish", interrupted)
    assert main([*argv, "--data-root", str(tmp_path / "a")]) == 130
    assert "--resume" in capsys.readouterr().err and (tmp_path / "run.partial" / "checkpoint.pt").is_file()
    monkeypatch.undo()
    assert main([*argv, "--data-root", str(tmp_path / "b"), "--resume"]) == 2
    assert "written by a run with other settings or other data" in _error(capsys)
    assert main([*argv, "--data-root", str(tmp_path / "a"), "--resume", "--min-rating", "3"]) == 2
    assert "other data" in _error(capsys)
    assert main([*argv, "--data-root", str(tmp_path / "a"), "--resume"]) == 0


def test_small_logs_cap_negatives_and_ranking_depth(tmp_path, capsys):
    _tiny_log(tmp_path / "data", items=30)
    out = tmp_path / "dcf"
    assert main(["condense", "recsys", "--data-root", str(tmp_path / "data"), "--dataset", "tiny", "--users", "4",
                 "--set", "steps=4", "--set", "eval_every=2", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "recsys", "--data-root", str(tmp_path / "data"), "--dataset", "tiny", "--condensed", str(out),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert 0 < result["auc_negatives"] < 50 and result["ranking_depth"] == 30 and 0 <= result["hr@100"] <= 100


def test_missing_optional_dependencies_are_named_before_any_work(tmp_path, monkeypatch, capsys, data_root):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("recbole", "sklearn",
                                                                                         "matplotlib") else real(name, *a))
    assert main(["evaluate", "recsys", "--data-root", str(data_root), "--dataset", "ml-100k-fixed",
                 "--model", "recbole:EASE"]) == 2
    assert "pip install 'graphdistill[recsys]'" in _error(capsys)
    assert main(["condense", "images", "--dataset", "digits", "--ipc", "1", "--out", str(tmp_path / "d")]) == 2
    assert "pip install 'graphdistill[images]'" in _error(capsys)


def test_a_missing_plotting_library_costs_the_picture_not_the_result(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    with pytest.warns(UserWarning, match="grid.png skipped: matplotlib is not installed"):
        graphdistill.condense("images", dataset="digits", method="random", ipc=1, out=tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["images.pt", "meta.json"]


def test_what_a_user_sees_in_a_log_file(tmp_path, data_root):
    """Progress written to a pipe has no terminal escape codes; an early stop says why and what was kept;
    condense ends with a readable summary line."""
    out = tmp_path / "dcf"
    done = subprocess.run([*CLI, "condense", "recsys", "--data-root", str(data_root), "--dataset", "ml-100k-fixed",
                           "--users", "10", "--set", "steps=60", "--set", "eval_every=2", "--set", "patience=4",
                           "--set", "lr=1.0", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr and "condense" in done.stderr
    assert "no better validation score for 4 epochs (patience); keeping epoch" in done.stderr
    assert done.stdout.startswith("recsys ml-100k-fixed: distill-cf condensed to 10 users in")
    assert "stopped early (patience), kept epoch" in done.stdout


def test_ctrl_c_keeps_the_checkpoint_and_prints_the_resume_command(tmp_path, data_root):
    out = tmp_path / "g"
    cmd = [*CLI, "condense", "graph", "--data-root", str(data_root), "--dataset", "cora", "--budget", "35",
           "--method", "gcond-x", "--set", "epochs=400", "--set", "checkpoint_every=2", "--set", "select_every=0",
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "g.partial" / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted; the last checkpoint is kept in" in err and err.strip().endswith("--resume")
    assert (tmp_path / "g.partial" / "checkpoint.pt").is_file() and not out.exists()
