"""The command line: bad input exits 2 with one line naming the problem; runs resume exactly."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from graphdistill.cli import main

SHORT = ["--set", "epochs=4", "--set", "outer_steps=2", "--set", "inner_steps=2"]


def _fail(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("graphdistill: error: ")
    return err[0]


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "imagenet", "--budget", "35"], "unknown dataset 'imagenet'"),
    (["--dataset", "cora", "--method", "gcnd", "--budget", "35"], "unknown method 'gcnd'"),
    (["--dataset", "cora", "--budget", "5"], "below the number of classes"),
    (["--dataset", "cora", "--budget", "500"], "above the 140 training nodes"),
    (["--dataset", "cora", "--budget", "35", "--set", "lr=1"], "unknown setting 'lr'"),
    (["--dataset", "cora", "--budget", "35", "--device", "cuda:7"] if not torch.cuda.is_available()
     else ["--dataset", "cora", "--budget", "35", "--device", "tpu"], "device"),
])
def test_condense_bad_input(capsys, tmp_path, data_root, argv, message):
    out = tmp_path / "out"
    line = _fail(capsys, ["condense", "graph", "--data-root", str(data_root), "--out", str(out), "--quiet", *argv])
    assert message in line
    assert not out.exists()


def test_condense_refuses_existing_output(capsys, tmp_path, data_root):
    (tmp_path / "out").mkdir()
    line = _fail(capsys, ["condense", "graph", "--data-root", str(data_root), "--dataset", "cora", "--budget", "35",
                          "--out", str(tmp_path / "out")])
    assert "already exists" in line


def test_missing_raw_file(capsys, tmp_path):
    line = _fail(capsys, ["evaluate", "graph", "--data-root", str(tmp_path), "--dataset", "cora", "--whole"])
    assert "not found" in line and "ind.cora.x" in line


def test_evaluate_bad_input(capsys, tmp_path, data_root):
    common = ["evaluate", "graph", "--data-root", str(data_root), "--dataset", "cora", "--runs", "1", "--quiet"]
    torch.save(torch.rand(35, 1433), tmp_path / "feat.pt")
    torch.save(torch.rand(34, 34), tmp_path / "adj34.pt")
    torch.save(torch.rand(35, 35), tmp_path / "adj.pt")
    nan_feat = torch.rand(35, 1433)
    nan_feat[3, 7] = float("nan")
    torch.save(nan_feat, tmp_path / "nan.pt")
    torch.save(torch.rand(35, 100), tmp_path / "narrow.pt")
    (tmp_path / "broken.pt").write_bytes(b"\x00\x01garbage")
    cases = [
        (["--feat", str(tmp_path / "feat.pt"), "--adj", str(tmp_path / "adj34.pt")], "does not match 35 feature rows"),
        (["--feat", str(tmp_path / "nan.pt"), "--adj", str(tmp_path / "adj.pt")], "NaN"),
        (["--feat", str(tmp_path / "narrow.pt"), "--adj", str(tmp_path / "adj.pt")], "expected (n, 1433)"),
        (["--feat", str(tmp_path / "broken.pt"), "--adj", str(tmp_path / "adj.pt")], "unreadable feature file"),
        (["--feat", str(tmp_path / "nope.pt"), "--adj", str(tmp_path / "adj.pt")], "feature file not found"),
        (["--whole", "--adj", str(tmp_path / "adj.pt")], "--adj needs --feat"),
        (["--condensed", str(tmp_path / "no-run")], "no condensed graph at"),
        (["--whole", "--arch", "gat"], "unknown architecture 'gat'"),
    ]
    for extra, message in cases:
        assert message in _fail(capsys, common + extra)


def test_condense_then_evaluate_json(capsys, tmp_path, data_root):
    out = tmp_path / "run"
    assert main(["condense", "graph", "--data-root", str(data_root), "--dataset", "cora", "--method", "random",
                 "--budget", "35", "--out", str(out), "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["budget"] == {"nodes": 35, "ratio": None, "basis": "nodes", "basis_size": 35}
    assert meta["method"] == "random" and meta["num_nodes"] == 35 and meta["peak_rss_mib"] > 0
    assert not out.with_name("run.partial").exists()
    capsys.readouterr()
    assert main(["evaluate", "graph", "--data-root", str(data_root), "--dataset", "cora", "--condensed", str(out),
                 "--runs", "1", "--json", "--quiet"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"test_acc_mean", "test_acc_std", "runs", "wall_s"} <= set(result)
    assert 0.4 < result["test_acc_mean"] < 0.9 and result["runs"] == 1


def _condense_cmd(data_root, out, *extra):
    settings = ["epochs=60", "outer_steps=3", "inner_steps=2", "checkpoint_every=4", "structure_epochs=3",
                "feature_epochs=5"]
    return [sys.executable, "-m", "graphdistill.cli", "condense", "graph", "--data-root", str(data_root),
            "--dataset", "cora", "--method", "gcond", "--budget", "14", "--seed", "3", "--out", str(out), "--quiet",
            *[arg for s in settings for arg in ("--set", s)], *extra]


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path, data_root):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_condense_cmd(data_root, reference), check=True, env=env, capture_output=True)

    out = tmp_path / "killed"
    checkpoint = Path(str(out) + ".partial") / "checkpoint.pt"
    proc = subprocess.Popen(_condense_cmd(data_root, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not out.exists() and checkpoint.exists()
    killed_at = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 0 < killed_at < 60

    subprocess.run(_condense_cmd(data_root, out, "--resume"), check=True, env=env, capture_output=True)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["resumed_from"] >= killed_at
    got = torch.load(out / "graph.pt", weights_only=True)
    want = torch.load(reference / "graph.pt", weights_only=True)
    for key in ("x", "adj", "y"):
        assert torch.equal(got[key], want[key]), key


def test_periodic_evaluation_is_recorded_and_does_not_change_the_result(tmp_path, data_root):
    common = ["condense", "graph", "--data-root", str(data_root), "--dataset", "cora", "--budget", "14",
              "--seed", "2", "--quiet", *SHORT]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--out", str(tmp_path / "watched"), "--eval-every", "2"]) == 0
    history = json.loads((tmp_path / "watched" / "meta.json").read_text())["eval_history"]
    assert [h["epoch"] for h in history] == [2, 4] and all(0 < h["test_acc"] < 1 for h in history)
    plain = torch.load(tmp_path / "plain" / "graph.pt", weights_only=True)
    watched = torch.load(tmp_path / "watched" / "graph.pt", weights_only=True)
    assert torch.equal(plain["x"], watched["x"]) and torch.equal(plain["adj"], watched["adj"])


def test_file_graph_condensed_inductively_is_evaluated_on_its_recorded_split(tmp_path, capsys):
    """A user's graph without a split: condense sees the training subgraph only; evaluate redraws the split
    recorded in meta.json and tests on the full graph."""
    generator = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 3
    x = torch.randn(120, 6, generator=generator) + torch.nn.functional.one_hot(y, 6).float() * 5
    edges = torch.randint(0, 120, (2, 100), generator=generator)
    torch.save({"x": x, "edge_index": edges, "y": y}, tmp_path / "mine.pt")
    out = tmp_path / "out"
    dataset = f"file:{tmp_path / 'mine.pt'}"
    assert main(["condense", "graph", "--dataset", dataset, "--method", "gcond-x", "--budget", "9", "--setting",
                 "inductive", "--split", "0.5/0.25/0.25", "--split-seed", "4", "--out", str(out), "--quiet",
                 *SHORT, "--set", "select_every=0"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["graph"]["setting"] == "inductive" and meta["graph"]["condensation_nodes"] == 60
    assert meta["graph"]["split"] == "0.5/0.25/0.25" and meta["graph"]["split_seed"] == 4
    capsys.readouterr()
    assert main(["evaluate", "graph", "--dataset", dataset, "--condensed", str(out), "--runs", "1", "--quiet",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_acc_mean"] > 0.5  # 3 classes, features carry the label: well above chance
