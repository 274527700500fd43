"""SFGC: GCN experts in a resumable buffer, the student retracing an expert, a short run against random nodes."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from graphdistill.core.atomic import CRASH_VARIABLE
from graphdistill.core.errors import InputError
from graphdistill.core.method import RunOptions
from graphdistill.core.trajectories import ExpertBuffer, trajectory_loss, unroll_student
from graphdistill.graph.budget import resolve_budget
from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed
from graphdistill.graph.methods import METHODS, CoresetConfig
from graphdistill.graph.models import GCN
from graphdistill.graph.sfgc import ExpertConfig, build_experts

SMALL = ExpertConfig(hidden=16, max_start_epoch=4, start_every=2, expert_epochs=10)
SMALL_FLAGS = ["--set", "hidden=16", "--set", "max_start_epoch=4", "--set", "start_every=2",
               "--set", "expert_epochs=10"]


def test_a_student_trained_on_the_real_graph_at_the_experts_lr_lands_on_the_expert(cora, tmp_path):
    buffer = build_experts(cora, tmp_path / "b", 1, SMALL, seed=0)
    assert buffer.epochs == [0, 2, 4, 10, 12, 14] and buffer.count() == 1
    real = RealGraphView(cora)
    model = GCN(cora.num_features, 16, cora.num_classes, dropout=0.0)
    labels = cora.y[cora.train_idx]

    def loss_of(parameters):
        return F.nll_loss(functional_call(model, parameters, (real.x, real.ops, cora.train_idx)), labels)

    for start in SMALL.starts:
        origin, target = buffer.parameters_at(0, start), buffer.parameters_at(0, start + 10)
        student = unroll_student(loss_of, origin, torch.tensor(SMALL.lr), 10, buffer.layout).detach()
        slower = unroll_student(loss_of, origin, torch.tensor(0.9 * SMALL.lr), 10, buffer.layout).detach()
        # zero up to the buffer's float16 rounding of the start and target, far below a 10 % slower student's
        assert float(trajectory_loss(student, origin, target)) < 3e-4
        assert float(trajectory_loss(slower, origin, target)) > 30 * float(trajectory_loss(student, origin, target))
        assert float(trajectory_loss(origin, origin, target)) == 1.0


def _experts(out, data_root, count, env=None):
    environment = {k: v for k, v in os.environ.items() if k != CRASH_VARIABLE}
    environment.update({"GRAPHDISTILL_DATA": str(data_root), **(env or {})})
    return subprocess.run([sys.executable, "-m", "graphdistill.cli", "experts", "graph", "--dataset", "cora",
                           "--experts", str(count), "--out", str(out), "--quiet", *SMALL_FLAGS],
                          env=environment, capture_output=True, text=True, timeout=300)


def test_a_killed_expert_build_resumes_to_the_buffer_of_an_uninterrupted_one(data_root, tmp_path):
    assert _experts(tmp_path / "whole", data_root, 3).returncode == 0
    killed = _experts(tmp_path / "killed", data_root, 3, {CRASH_VARIABLE: "expert-saved@2"})
    assert killed.returncode != 0 and ExpertBuffer.open(tmp_path / "killed").count() == 2
    resumed = _experts(tmp_path / "killed", data_root, 3)
    assert resumed.returncode == 0, resumed.stderr[-500:]
    assert "3 experts" in resumed.stdout
    whole, again = ExpertBuffer.open(tmp_path / "whole"), ExpertBuffer.open(tmp_path / "killed")
    assert all(torch.equal(whole.snapshots(i), again.snapshots(i)) for i in range(3))
    other = subprocess.run([sys.executable, "-m", "graphdistill.cli", "experts", "graph", "--dataset", "cora",
                            "--experts", "4", "--out", str(tmp_path / "whole"), "--quiet", "--set", "hidden=16"],
                           env={**os.environ, "GRAPHDISTILL_DATA": str(data_root)}, capture_output=True, text=True)
    assert other.returncode == 2 and "built with other settings" in other.stderr
    assert "expert_epochs: 10 there, 1200 here" in other.stderr


def test_sfgc_refuses_a_buffer_without_its_epochs(cora, tmp_path):
    build_experts(cora, tmp_path / "b", 1, SMALL, seed=0)
    config = METHODS["sfgc"].config_class(experts=str(tmp_path / "b"), hidden=16, expert_epochs=20,
                                          max_start_epoch=4, start_every=2)
    with pytest.raises(InputError, match="does not keep epochs \\[20, 22, 24\\]"):
        METHODS["sfgc"].condense(cora, resolve_budget(cora, budget=35), config, RunOptions(seed=0))


def test_short_sfgc_beats_random_nodes(cora, tmp_path):
    schedule = {"hidden": 64, "max_start_epoch": 20, "start_every": 10, "expert_epochs": 100}
    build_experts(cora, tmp_path / "b", 2, ExpertConfig(**schedule), seed=0)
    budget = resolve_budget(cora, budget=35)
    config = METHODS["sfgc"].config_class(experts=str(tmp_path / "b"), **schedule, iterations=30, syn_steps=40,
                                          lr_feat=1e-3, select_every=15)
    condensed = METHODS["sfgc"].condense(cora, budget, config, RunOptions(seed=0, progress=False))
    random = METHODS["random"].condense(cora, budget, CoresetConfig(), RunOptions(seed=0))
    losses = [h["loss"] for h in condensed.history]
    assert sum(losses[-5:]) < sum(losses[:5])
    assert condensed.data["adj"].count_nonzero() == 0 and condensed.meta["buffer"]["experts"] == 2
    score = {name: evaluate_condensed(cora, c.data["x"], c.data["adj"], c.data["y"], EvalConfig(runs=2))["test_acc_mean"]
             for name, c in (("sfgc", condensed), ("random", random))}
    assert score["sfgc"] > score["random"] + 0.03, score


def test_building_experts_leaves_the_global_generators_alone(cora, tmp_path):
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    build_experts(cora, tmp_path / "b", 1, SMALL, seed=0)
    assert torch.equal(torch.rand(3), expected)
