"""``--nproc 2`` (two gloo processes on the CPU) against one process: same synthetic sets, same losses; a killed
rank is named and ``--resume`` with the same number of processes ends where an uninterrupted run ends."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from graphdistill.core import distributed
from graphdistill.core.atomic import CRASH_VARIABLE
from graphdistill.core.errors import InputError

RUNS = {
    "gcond": (["graph", "--dataset", "cora", "--method", "gcond", "--budget", "35", "--set", "epochs=2",
               "--set", "outer_steps=3", "--set", "inner_steps=3", "--set", "structure_epochs=1",
               "--set", "feature_epochs=1", "--set", "select_every=0"], "graph.pt"),
    "gcond-x-sampled": (["graph", "--dataset", "cora", "--method", "gcond-x", "--budget", "35", "--set", "epochs=2",
                         "--set", "outer_steps=3", "--set", "inner_steps=3", "--set", "select_every=0",
                         "--set", "real_batch=32", "--set", 'matching_model="gcn"'], "graph.pt"),
    "dm": (["images", "--dataset", "digits", "--method", "dm", "--ipc", "2", "--iterations", "10"], "images.pt"),
    "dc": (["images", "--dataset", "digits", "--method", "dc", "--ipc", "1", "--iterations", "2"], "images.pt"),
    "kip": (["images", "--dataset", "digits", "--method", "kip", "--ipc", "2", "--iterations", "10"], "images.pt"),
    "distill-cf": (["recsys", "--dataset", "ml-100k-fixed", "--users", "20", "--set", "steps=4", "--set", "eval_every=2",
                    "--set", "batch_users=256", "--set", 'precision="float64"'], "distilled.npz"),
}
# in float32, Distill-CF's logits whose gradient is ~0 take Adam steps of either sign (see DistillCFConfig.precision)
RUNS["distill-cf-float32"] = (RUNS["distill-cf"][0][:-2], "distilled.npz")


def _condense(args, out, data_root, *extra, env=()):
    environment = {k: v for k, v in os.environ.items() if k != CRASH_VARIABLE}
    # one thread per process on both sides: the sums inside matrix products then run in the same order
    environment.update({"GRAPHDISTILL_DATA": str(data_root), "OMP_NUM_THREADS": "1", **dict(env)})
    return subprocess.run([sys.executable, "-m", "graphdistill.cli", "condense", *args, "--out", str(out), "--quiet",
                           *extra], env=environment, capture_output=True, text=True, timeout=600)


def _floats(out, file):
    if file.endswith(".npz"):
        with np.load(out / file) as stored:
            return {k: torch.as_tensor(stored[k]) for k in stored.files if stored[k].dtype.kind == "f"}
    return {k: v for k, v in torch.load(out / file, weights_only=True).items()
            if isinstance(v, torch.Tensor) and v.is_floating_point()}


def _losses(out):
    return torch.tensor([record["loss"] for record in json.loads((out / "meta.json").read_text())["history"]])


@pytest.mark.parametrize("name", list(RUNS))
def test_two_processes_give_the_one_process_result(name, tmp_path, data_root):
    args, file = RUNS[name]
    single, double = tmp_path / "one", tmp_path / "two"
    assert (done := _condense(args, single, data_root)).returncode == 0, done.stderr[-800:]
    assert (done := _condense(args, double, data_root, "--nproc", "2")).returncode == 0, done.stderr[-800:]
    assert json.loads((double / "meta.json").read_text())["processes"] == 2
    # the summed loss of the ranks' parts is the one-process loss: a part counted twice or missed would show here
    torch.testing.assert_close(_losses(double), _losses(single), rtol=1e-6, atol=0)
    one, two = _floats(single, file), _floats(double, file)
    assert one.keys() == two.keys() and one
    for key in one:
        difference = (one[key].double() - two[key].double()).abs()
        if name == "distill-cf-float32":
            # Two processes sum the rows' gradients in another order. Adam turns the rounding left on the few
            # logits whose gradient is ~0 into steps of the full learning rate (a thread count change does the
            # same in one process); every other value agrees to 1e-5.
            assert (difference <= 1e-5).double().mean() > 0.999, (key, float(difference.max()))
            assert float(difference.max()) < 1e-2
        else:
            assert float(difference.max()) <= 1e-5, (key, float(difference.max()))


def test_two_launcher_agents_as_two_nodes_give_the_one_process_result(tmp_path, data_root):
    """``torchrun --nnodes 2`` (two agents, as on two machines, here on localhost) joins one process group."""
    args = ["images", "--dataset", "digits", "--method", "dm", "--ipc", "2", "--iterations", "6"]
    assert _condense(args, tmp_path / "one", data_root).returncode == 0
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    environment = {k: v for k, v in os.environ.items() if k != CRASH_VARIABLE}
    environment.update({"GRAPHDISTILL_DATA": str(data_root), "OMP_NUM_THREADS": "1"})
    agents = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
                                "--rdzv-backend", "c10d", "--rdzv-endpoint", f"localhost:{port}", "--rdzv-id", "test",
                                "-m", "graphdistill.cli", "condense", *args, "--out", str(tmp_path / "two"), "--quiet"],
                               env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for _ in range(2)]
    for agent in agents:
        output, _ = agent.communicate(timeout=300)
        assert agent.returncode == 0, output[-800:]
    assert json.loads((tmp_path / "two" / "meta.json").read_text())["processes"] == 2
    one, two = _floats(tmp_path / "one", "images.pt"), _floats(tmp_path / "two", "images.pt")
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_a_killed_rank_is_named_and_resume_with_the_same_processes_ends_like_an_uninterrupted_run(tmp_path, data_root):
    args = ["images", "--dataset", "digits", "--method", "dm", "--ipc", "1", "--iterations", "8",
            "--set", "checkpoint_every=2", "--set", "batch_real=16", "--nproc", "2"]
    reference, out = tmp_path / "reference", tmp_path / "out"
    assert _condense(args, reference, data_root).returncode == 0
    killed = _condense(args, out, data_root, env={CRASH_VARIABLE: "checkpoint-taken@2:rank1"})
    assert killed.returncode != 0
    assert "rank 1" in killed.stderr and "SIGKILL" in killed.stderr and "--resume" in killed.stderr
    assert (tmp_path / "out.partial" / "checkpoint.pt").is_file() and not out.exists()

    refused = _condense([a for a in args if a not in ("--nproc", "2")], out, data_root, "--resume")
    assert refused.returncode == 2 and "resume it with --nproc 2" in refused.stderr

    resumed = _condense(args, out, data_root, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-800:]
    assert json.loads((out / "meta.json").read_text())["resumed_from"] == 4
    expected, got = _floats(reference, "images.pt"), _floats(out, "images.pt")
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_a_hung_rank_is_named_and_the_run_ends_within_the_timeout(tmp_path, data_root):
    args = ["images", "--dataset", "digits", "--method", "dm", "--ipc", "1", "--iterations", "8",
            "--set", "checkpoint_every=2", "--set", "batch_real=16", "--nproc", "2", "--timeout", "4"]
    hung = _condense(args, tmp_path / "out", data_root, env={CRASH_VARIABLE: "checkpoint-taken@2:rank1:hang"})
    assert hung.returncode != 0
    assert "never reached it: rank 1" in hung.stderr and "Timed out" in hung.stderr
    assert (tmp_path / "out.partial" / "checkpoint.pt").is_file()


def test_a_bad_setting_is_reported_once_under_two_processes(tmp_path, data_root):
    done = _condense(["images", "--dataset", "digits", "--method", "dm", "--ipc", "1", "--set", "iterations='x'",
                      "--nproc", "2"], tmp_path / "o", data_root)
    assert done.returncode == 2
    assert done.stderr.count("expects int") == 1 and "rank" not in done.stderr


def test_work_is_split_without_overlap_and_refused_when_too_small(monkeypatch):
    assert distributed.owned(7) == list(range(7))
    rows = torch.arange(10)
    parts = []
    for rank in range(3):
        monkeypatch.setattr(distributed, "world", lambda rank=rank: distributed.World(rank, 3))
        assert distributed.owned(7) == list(range(rank, 7, 3))
        parts.append(distributed.owned_block(rows))
    assert torch.equal(torch.cat(parts), rows)
    with pytest.raises(InputError, match="cannot split 2 classes over 3 processes"):
        distributed.owned(2)
    with pytest.raises(InputError, match="a batch of 2 rows"):
        distributed.owned_block(rows[:2])


def test_one_process_sums_nothing():
    param = torch.nn.Parameter(torch.ones(3))
    param.grad = torch.full((3,), 2.0)
    assert distributed.sum_gradients([param], torch.tensor(1.5)) == 1.5
    assert torch.equal(param.grad, torch.full((3,), 2.0))
    assert distributed.gather("state") == ["state"] and distributed.broadcast(3) == 3
