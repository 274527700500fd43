import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graphdistill.core import BilevelSchedule, InputError, RunOptions, SyntheticSet, run_bilevel, seed_everything


def test_phases_alternate_structure_then_features():
    schedule = BilevelSchedule(epochs=100, outer_steps=1, inner_steps=0, phases=(("structure", 10), ("features", 40)))
    groups = ["features", "structure"]
    assert [schedule.active_groups(e, groups) for e in (0, 9, 10, 49, 50, 59, 60)] == [
        ["structure"], ["structure"], ["features"], ["features"], ["structure"], ["structure"], ["features"]]
    assert schedule.active_groups(3, ["features"]) == ["features"]  # absent group: phase skipped


def test_impossible_schedule_is_an_input_error():
    with pytest.raises(InputError):
        BilevelSchedule(epochs=10, outer_steps=0, inner_steps=1)


class _Points(SyntheticSet):
    def __init__(self):
        super().__init__(torch.tensor([0, 0, 1, 1]))
        self.x = nn.Parameter(torch.randn(4, 2))
        self.scale = nn.Parameter(torch.ones(()))

    def parameter_groups(self):
        return {"x": [self.x], "scale": [self.scale]}

    def materialize(self):
        return self.x * self.scale


class _ToyProblem:
    """Match the synthetic points' class means to fixed targets through a fresh linear model."""

    def __init__(self, synthetic):
        self.synthetic = synthetic
        self.targets = torch.tensor([[2.0, 0.0], [0.0, -2.0]])

    def new_model(self):
        return nn.Linear(2, 2)

    def outer_loss(self, model):
        x = self.synthetic.materialize()
        means = torch.stack([x[:2].mean(0), x[2:].mean(0)])
        return ((model(means) - model(self.targets)) ** 2).sum() + ((means - self.targets) ** 2).sum()

    def inner_data(self):
        return self.synthetic.materialize()

    def inner_loss(self, model, data):
        return F.cross_entropy(model(data), self.synthetic.labels)


def _run(epochs, path=None, resume=False, every=0, select_every=0, select=None):
    seed_everything(0)
    synthetic = _Points()
    optimizers = {"x": torch.optim.Adam([synthetic.x], lr=0.05), "scale": torch.optim.Adam([synthetic.scale], lr=0.01)}
    schedule = BilevelSchedule(epochs=epochs, outer_steps=3, inner_steps=2, phases=(("x", 3), ("scale", 1)),
                               checkpoint_every=every, select_every=select_every)
    run = RunOptions(checkpoint_path=path, resume=resume, fingerprint={"toy": 1}, progress=False)
    result = run_bilevel(_ToyProblem(synthetic), synthetic, optimizers, schedule, run, select=select)
    return synthetic, result


def test_loop_reduces_the_matching_loss():
    _, result = _run(40)
    assert result.losses[-1] < 0.2 * result.losses[0]


def test_resume_continues_exactly(tmp_path):
    full, _ = _run(12)
    path = tmp_path / "ckpt.pt"
    _run(12, path, every=5)  # leaves the state after epoch 10 behind
    assert torch.load(path, weights_only=True)["epoch"] == 10
    resumed, result = _run(12, path, resume=True, every=5)
    assert result.resumed_from == 10
    torch.testing.assert_close(resumed.x, full.x, rtol=0, atol=0)
    torch.testing.assert_close(resumed.scale, full.scale, rtol=0, atol=0)


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    path = tmp_path / "ckpt.pt"
    _run(6, path, every=5)
    seed_everything(0)
    synthetic = _Points()
    optimizers = {"x": torch.optim.Adam([synthetic.x]), "scale": torch.optim.Adam([synthetic.scale])}
    with pytest.raises(InputError, match="other settings"):
        run_bilevel(_ToyProblem(synthetic), synthetic, optimizers, BilevelSchedule(6, 2, 1),
                    RunOptions(checkpoint_path=path, resume=True, fingerprint={"toy": 2}, progress=False))


def test_selection_keeps_the_best_scoring_state_without_changing_the_trajectory():
    scores = iter([0.1, 0.9, 0.3, 0.5])

    def select():
        torch.rand(5)  # consumes randomness; the loop must restore the generators
        return next(scores)

    chosen, result = _run(8, select_every=2, select=select)
    at_epoch_4, _ = _run(4)
    plain, plain_result = _run(8)
    assert result.scores == [(2, 0.1), (4, 0.9), (6, 0.3), (8, 0.5)] and result.selected_epoch == 4
    torch.testing.assert_close(chosen.x, at_epoch_4.x, rtol=0, atol=0)
    assert result.losses == plain_result.losses


def test_selection_survives_a_resume(tmp_path):
    def scorer():
        values = iter([0.2, 0.8, 0.1, 0.4, 0.3, 0.6])
        return lambda: next(values)

    full, full_result = _run(12, select_every=2, select=scorer())
    path = tmp_path / "ckpt.pt"
    _run(12, path, every=5, select_every=2, select=scorer())  # state after epoch 10 is left behind
    remaining = iter([0.6])  # only the epoch-12 score is asked for after the resume
    resumed, result = _run(12, path, resume=True, every=5, select_every=2, select=lambda: next(remaining))
    assert result.selected_epoch == full_result.selected_epoch == 4
    assert result.scores == full_result.scores
    torch.testing.assert_close(resumed.x, full.x, rtol=0, atol=0)


def test_patience_stops_after_the_best_score_and_keeps_it():
    seed_everything(0)
    synthetic = _Points()
    optimizers = {"x": torch.optim.Adam([synthetic.x], lr=0.05), "scale": torch.optim.Adam([synthetic.scale], lr=0.01)}
    scores = iter([5.0, 1.0, 2.0, 0.5, 9.0, 9.0])  # best at epoch 1; epochs 2-4 do not beat it
    snapshots = []

    def select():
        snapshots.append(synthetic.x.detach().clone())
        return next(scores)

    schedule = BilevelSchedule(epochs=6, outer_steps=1, inner_steps=1, select_every=1, patience=3)
    result = run_bilevel(_ToyProblem(synthetic), synthetic, optimizers, schedule, RunOptions(progress=False), select=select)
    assert len(result.losses) == 4 and result.selected_epoch == 1
    assert torch.equal(synthetic.x, snapshots[0])


def test_closed_form_problems_need_no_inner_optimizer_and_sgd_is_available():
    from graphdistill.core import ClosedFormInner

    class _ClosedForm(_ToyProblem):
        def new_model(self):
            return ClosedFormInner()

        def outer_loss(self, model):
            return ((self.synthetic.materialize()[:2].mean(0) - self.targets[0]) ** 2).sum()

    seed_everything(0)
    synthetic = _Points()
    optimizers = {"x": torch.optim.SGD([synthetic.x], lr=0.1), "scale": torch.optim.SGD([synthetic.scale], lr=0.0)}
    result = run_bilevel(_ClosedForm(synthetic), synthetic, optimizers, BilevelSchedule(20, 1, 0), RunOptions(progress=False))
    assert result.losses[-1] < 0.1 * result.losses[0]
    assert BilevelSchedule(1, 1, 1, inner_optimizer="sgd").inner_optimizer == "sgd"
    with pytest.raises(InputError, match="inner optimizer"):
        BilevelSchedule(1, 1, 1, inner_optimizer="lbfgs")


def test_unlabelled_synthetic_sets_have_no_classes():
    class _Users(SyntheticSet):
        def __init__(self):
            super().__init__(None)

    users = _Users()
    assert users.labels is None and users.class_slices == {}


def test_epoch_callback_binds_the_synthetic_set():
    assert RunOptions().epoch_callback(object()) is None
    calls = []
    synthetic = object()
    RunOptions(callback=lambda epoch, loss, s: calls.append((epoch, loss, s))).epoch_callback(synthetic)(3, 0.5)
    assert calls == [(3, 0.5, synthetic)]
