import dataclasses

import pytest
import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import RunOptions
from images.data import from_tensors, load_digits_dataset
from images.evaluate import EvalConfig, evaluate_synthetic
from images.methods import (METHODS, DCConfig, DistributionMatching, DMConfig, KIPConfig, krr_accuracy)
from images.synthetic import FactorizedImages, SyntheticImages


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


def test_dm_loss_is_zero_when_synthetic_equals_the_real_batch():
    torch.manual_seed(0)
    x = torch.rand(6, 1, 8, 8)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    data = from_tensors("tiny", x, y, x, y)
    synthetic = SyntheticImages(data.train_x, data.train_y, 2)  # every real image, grouped by class
    problem = DistributionMatching(data, synthetic, DMConfig(batch_real=3, dsa=False), torch.device("cpu"))
    loss = problem.outer_loss(problem.new_model())
    assert float(loss.detach()) < 1e-10
    moved = SyntheticImages(data.train_x + 0.5, data.train_y, 2)
    other = DistributionMatching(data, moved, DMConfig(batch_real=3, dsa=False), torch.device("cpu"))
    assert float(other.outer_loss(other.new_model()).detach()) > 1e-4


@pytest.mark.slow
def test_short_dm_run_on_digits_beats_random(digits):
    evaluation = EvalConfig(epochs=100, runs=2)
    dm = METHODS["dm"].condense(digits, 1, DMConfig(iterations=30, batch_real=64), RunOptions(progress=False))
    random = METHODS["random"].condense(digits, 1, None, RunOptions())
    ours = evaluate_synthetic(digits, dm.data["x"], dm.data["y"], evaluation)["test_acc_mean"]
    baseline = evaluate_synthetic(digits, random.data["x"], random.data["y"], evaluation)["test_acc_mean"]
    assert ours > baseline + 0.05


def test_factorized_set_fits_the_storage_of_ipc_images(digits):
    condensed = METHODS["dm"].condense(digits, 10, DMConfig(iterations=2, batch_real=16, parametrization="factorized"),
                                       RunOptions(progress=False))
    info = condensed.meta
    assert info["stored_floats"] <= info["budget_floats"] == 10 * 10 * 64
    assert info["images_per_class"] > 10 and condensed.data["x"].shape == (10 * info["images_per_class"], 1, 8, 8)
    assert torch.bincount(condensed.data["y"]).tolist() == [info["images_per_class"]] * 10
    bases = torch.randn(4, 1, 8, 8)
    assert FactorizedImages(bases, torch.tensor([0, 0, 1, 1]), 3).materialize()[0].shape == (12, 1, 8, 8)


def test_half_resolution_bases_buy_more_images_for_the_same_storage(digits):
    config = DMConfig(iterations=2, batch_real=16, parametrization="factorized", hallucinators=1)
    full = METHODS["dm"].condense(digits, 2, config, RunOptions(progress=False)).meta
    half = METHODS["dm"].condense(digits, 2, dataclasses.replace(config, base_scale=2), RunOptions(progress=False))
    assert half.meta["stored_floats"] <= half.meta["budget_floats"] == 2 * 10 * 64
    # 1,280 floats less one 153-float hallucinator: 1 full 8x8 base per class, or 7 bases of 4x4
    assert (full["images_per_class"], half.meta["images_per_class"]) == (1, 7)
    assert half.data["x"].shape == (70, 1, 8, 8) and torch.isfinite(half.data["x"]).all()
    bases = torch.randn(2, 1, 4, 4)
    factorized = FactorizedImages(bases, torch.tensor([0, 1]), 1, upsample=2)
    torch.nn.init.zeros_(factorized.hallucinators[0].body[2].weight)  # no residual: the plain upsampled base
    expected = torch.nn.functional.interpolate(bases, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(factorized.materialize()[0], expected)
    with pytest.raises(InputError, match="impossible factorization"):
        METHODS["dm"].condense(digits, 2, dataclasses.replace(config, base_scale=3), RunOptions(progress=False))


def test_dc_moves_the_images_and_keeps_labels(digits):
    condensed = METHODS["dc"].condense(digits, 1, DCConfig(iterations=2, batch_real=32), RunOptions(seed=3, progress=False))
    start = METHODS["random"].condense(digits, 1, None, RunOptions(seed=3))
    assert condensed.data["y"].tolist() == list(range(10)) and torch.equal(start.data["y"], condensed.data["y"])
    assert not torch.allclose(condensed.data["x"], start.data["x"]) and torch.isfinite(condensed.data["x"]).all()
    assert condensed.meta["outer_steps"] == 1 and condensed.meta["inner_steps"] == 1


def test_kip_improves_kernel_regression_and_learns_labels(digits):
    start = METHODS["random"].condense(digits, 2, None, RunOptions())
    kip = METHODS["kip"].condense(digits, 2, KIPConfig(iterations=40, learn_labels=True, batch_real=500),
                                  RunOptions(progress=False))
    assert kip.data["y"].shape == (20, 10)
    assert kip.meta["krr_test_acc"] > krr_accuracy(digits, start.data["x"], start.data["y"]) + 0.03


def test_kip_with_random_convnet_features_improves_their_kernel_regression(digits):
    config = KIPConfig(iterations=30, kernel="convnet-rf", batch_real=500, lr=0.03)
    start = METHODS["random"].condense(digits, 2, None, RunOptions())
    kip = METHODS["kip"].condense(digits, 2, config, RunOptions(progress=False))
    assert kip.meta["kernel"] == "convnet-rf" and kip.data["x"].shape == start.data["x"].shape
    assert kip.meta["krr_test_acc"] > krr_accuracy(digits, start.data["x"], start.data["y"], config) + 0.02


def test_unknown_kip_kernel_is_refused():
    with pytest.raises(InputError, match="unknown KIP kernel"):
        KIPConfig(kernel="cntk")


@pytest.mark.parametrize("ipc", [0, 140])
def test_impossible_ipc_is_refused(digits, ipc):
    with pytest.raises(InputError, match="--ipc"):
        METHODS["random"].condense(digits, ipc, None, RunOptions())


def test_herding_picks_distinct_real_images_of_each_class(digits):
    condensed = METHODS["herding"].condense(digits, 3, METHODS["herding"].config_class(), RunOptions(progress=False))
    assert torch.bincount(condensed.data["y"]).tolist() == [3] * 10
    assert len({tuple(row.flatten().tolist()) for row in condensed.data["x"]}) == 30
