"""GEOM: the curriculum (deterministic, blind to test labels), curriculum experts, the expanding window, soft
labels through the evaluator and the files, and a short run against random nodes."""
import dataclasses
import math

import pytest
import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, RunOptions
from graphdistill.graph.budget import resolve_budget
from graphdistill.graph.curriculum import curriculum_order, curriculum_share, neighbourhood_difficulty
from graphdistill.graph.evaluate import EvalConfig, evaluate_condensed
from graphdistill.graph.geom import ExpandingWindowMatching, GEOMConfig, SoftLabelGraph, expert_soft_labels
from graphdistill.graph.io import read_condensed, save_condensed
from graphdistill.graph.methods import METHODS, CoresetConfig
from graphdistill.graph.sfgc import ExpertConfig, build_experts


def test_the_curriculum_order_is_deterministic_and_blind_to_test_labels(cora):
    order = curriculum_order(cora)
    assert torch.equal(order, curriculum_order(cora))
    assert sorted(order.tolist()) == sorted(cora.train_idx.tolist())
    difficulty = neighbourhood_difficulty(cora)
    position = {int(node): i for i, node in enumerate(cora.train_idx)}
    ordered = difficulty[[position[int(node)] for node in order]]
    assert bool((ordered[1:] >= ordered[:-1]).all()) and float(ordered[0]) == 0.0 and float(ordered[-1]) > 0.5
    shuffled = cora.y.clone()
    shuffled[cora.test_idx] = torch.randint(cora.num_classes, (len(cora.test_idx),), generator=torch.Generator().manual_seed(0))
    assert torch.equal(curriculum_order(dataclasses.replace(cora, y=shuffled)), order)


def test_the_curriculum_pacing_functions():
    assert curriculum_share(0, 0.75, 1500, "geom") == 0.75
    assert curriculum_share(750, 0.75, 1500, "geom") == pytest.approx(math.sqrt(0.75))
    assert curriculum_share(1500, 0.75, 1500, "geom") == 1.0 and curriculum_share(3000, 0.75, 1500, "geom") == 1.0
    assert curriculum_share(50, 0.5, 100, "linear") == 0.75
    assert curriculum_share(50, 0.5, 100, "root") == pytest.approx(math.sqrt(0.25 + 0.75 * 0.5))
    with pytest.raises(InputError, match="unknown curriculum"):
        ExpertConfig(curriculum="cosine")


def test_curriculum_experts_differ_from_plain_ones_and_their_buffers_do_not_mix(cora, tmp_path):
    plain = ExpertConfig(hidden=16, max_start_epoch=4, start_every=2, expert_epochs=10)
    paced = ExpertConfig(hidden=16, max_start_epoch=4, start_every=2, expert_epochs=10, curriculum="geom",
                         curriculum_start=0.5, curriculum_epochs=10)
    a = build_experts(cora, tmp_path / "plain", 1, plain, seed=0)
    b = build_experts(cora, tmp_path / "paced", 1, paced, seed=0)
    assert torch.equal(a.snapshots(0)[0], b.snapshots(0)[0])  # same initialisation
    assert not torch.equal(a.snapshots(0)[-1], b.snapshots(0)[-1])
    assert "curriculum" not in a.meta["spec"] and b.meta["spec"]["curriculum"] == "geom"
    with pytest.raises(InputError, match="curriculum: None there, 'geom' here"):
        build_experts(cora, tmp_path / "plain", 1, paced, seed=0)


def test_expert_soft_labels_raise_the_true_class_where_the_expert_disagrees():
    log_probs = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1]]))
    soft = expert_soft_labels(log_probs, torch.tensor([0, 2]))
    assert torch.equal(soft[0], log_probs[0])
    assert soft[1, 2] == log_probs[1, 0] and torch.equal(soft[1, :2], log_probs[1, :2])


def test_the_window_opens_one_epoch_per_iteration_and_survives_a_checkpoint():
    config = GEOMConfig(max_start_epoch=100, start_every=10, start_window=20)
    synthetic = SoftLabelGraph(torch.zeros(4, 3), torch.tensor([0, 0, 1, 1]), 0.5, torch.zeros(4, 2))
    matching = ExpandingWindowMatching.__new__(ExpandingWindowMatching)
    matching.synthetic, matching.config = synthetic, config
    torch.manual_seed(0)
    starts = [matching.draw_start() for _ in range(150)]
    assert all(start <= min(20 + t, 100) for t, start in enumerate(starts))
    assert max(starts[:10]) <= 20 and max(starts) == 100 and int(synthetic.iterations_done) == 150
    resumed = SoftLabelGraph(torch.zeros(4, 3), torch.tensor([0, 0, 1, 1]), 0.5, torch.zeros(4, 2))
    resumed.load_state_dict(synthetic.state_dict())
    assert int(resumed.iterations_done) == 150


def test_soft_labels_train_the_evaluator_like_hard_ones_when_they_are_one_hot(cora):
    random = METHODS["random"].condense(cora, resolve_budget(cora, budget=35), CoresetConfig(), RunOptions(seed=0))
    x, adj, y = random.data["x"], random.data["adj"], random.data["y"]
    one_hot = torch.nn.functional.one_hot(y, cora.num_classes).float().clamp_min(1e-30).log()
    hard = evaluate_condensed(cora, x, adj, y, EvalConfig(runs=2))
    soft = evaluate_condensed(cora, x, adj, one_hot, EvalConfig(runs=2))
    assert soft["test_accs"] == pytest.approx(hard["test_accs"], abs=0.002)


def test_soft_labels_round_trip_through_the_files_and_bad_ones_are_refused(tmp_path):
    soft = torch.log_softmax(torch.randn(4, 3), 1)
    condensed = Condensed({"x": torch.randn(4, 5), "adj": torch.zeros(4, 4), "y": soft}, {"num_classes": 3})
    save_condensed(tmp_path / "ok", condensed)
    _, _, y, _ = read_condensed(tmp_path / "ok")
    assert y.dtype == torch.float32 and torch.equal(y, soft)
    for name, bad in (("unnormalised", soft + 0.5), ("wrong-classes", torch.log_softmax(torch.randn(4, 2), 1))):
        save_condensed(tmp_path / name, Condensed({**condensed.data, "y": bad}, {"num_classes": 3}))
        with pytest.raises(InputError, match="soft labels"):
            read_condensed(tmp_path / name)


def test_short_geom_beats_random_nodes_and_its_soft_labels_are_distributions(cora, tmp_path):
    # experts long enough to be confident: GEOM's soft labels start from their predictions
    schedule = {"hidden": 64, "max_start_epoch": 20, "start_every": 10, "expert_epochs": 2500,
                "curriculum": "geom", "curriculum_epochs": 1000}
    build_experts(cora, tmp_path / "b", 2, ExpertConfig(**schedule), seed=0)
    budget = resolve_budget(cora, budget=35)
    config = GEOMConfig(experts=str(tmp_path / "b"), **schedule, iterations=30, syn_steps=40, lr_feat=1e-3,
                        select_every=15, start_window=5)
    condensed = METHODS["geom"].condense(cora, budget, config, RunOptions(seed=0, progress=False))
    random = METHODS["random"].condense(cora, budget, CoresetConfig(), RunOptions(seed=0))
    score = {name: evaluate_condensed(cora, c.data["x"], c.data["adj"], c.data["y"], EvalConfig(runs=2))["test_acc_mean"]
             for name, c in (("geom", condensed), ("random", random))}
    assert score["geom"] > score["random"] + 0.03, score
    soft = METHODS["geom"].condense(cora, budget, dataclasses.replace(config, soft_labels=True, iterations=3,
                                                                      select_every=0), RunOptions(seed=0))
    y = soft.data["y"]
    assert y.shape == (35, cora.num_classes) and torch.allclose(y.exp().sum(1), torch.ones(35))
    assert evaluate_condensed(cora, soft.data["x"], soft.data["adj"], y, EvalConfig(runs=1))["test_acc_mean"] > 0.3
