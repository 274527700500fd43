"""The trajectory-matching core: the unrolled student against an optimizer's own steps, the loss, the buffer."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from graphdistill.core.errors import InputError
from graphdistill.core.trajectories import ExpertBuffer, FlatParameters, trajectory_loss, unroll_student


def _problem():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 5, generator=generator), torch.randint(0, 3, (30,), generator=generator)
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)), x, y


def test_a_student_on_the_real_data_at_the_experts_lr_retraces_the_expert():
    model, x, y = _problem()
    layout = FlatParameters.of(model)
    start = layout.flatten(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    for _ in range(25):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    target = layout.flatten(model)
    student = unroll_student(lambda p: F.cross_entropy(functional_call(model, p, (x,)), y), start,
                             torch.tensor(0.3), 25, layout)
    assert float(trajectory_loss(student, start, target).detach()) < 1e-10
    # and the loss is differentiable in the learning rate: a larger lr overshoots this target
    lr = torch.tensor(0.6, requires_grad=True)
    loss = trajectory_loss(unroll_student(lambda p: F.cross_entropy(functional_call(model, p, (x,)), y), start, lr,
                                          25, layout), start, target)
    loss.backward()
    assert float(loss.detach()) > 1e-3 and float(lr.grad) > 0


@pytest.mark.parametrize("every", [1, 4, 7, 25])
def test_recomputing_the_unrolled_student_gives_the_same_gradients(every):
    model, x, y = _problem()
    layout = FlatParameters.of(model)
    start = layout.flatten(model) + 0.1
    target = layout.flatten(model)
    gradients = []
    for recompute_every in (0, every):
        features = x.clone().requires_grad_(True)
        lr = torch.tensor(0.3, requires_grad=True)
        student = unroll_student(lambda p: F.cross_entropy(functional_call(model, p, (features,)), y), start, lr,
                                 25, layout, recompute_every=recompute_every, reads=(features,))
        loss = trajectory_loss(student, start, target)
        loss.backward()
        gradients.append((loss.detach(), features.grad, lr.grad))
    (loss, grad_x, grad_lr), (loss_k, grad_x_k, grad_lr_k) = gradients
    assert torch.allclose(loss, loss_k, rtol=1e-6) and float(grad_x.abs().max()) > 1e-4
    assert torch.allclose(grad_x, grad_x_k, rtol=1e-5, atol=1e-8)
    assert torch.allclose(grad_lr, grad_lr_k, rtol=1e-5)


def test_flat_parameters_round_trip():
    model, _, _ = _problem()
    layout = FlatParameters.of(model)
    flat = layout.flatten(model)
    assert flat.shape == (layout.numel,) == (5 * 8 + 8 + 8 * 3 + 3,)
    unflattened = layout.unflatten(flat)
    assert all(torch.equal(unflattened[name], p) for name, p in model.named_parameters())


def test_the_buffer_stores_float16_rows_exactly_and_refuses_other_settings(tmp_path):
    model, _, _ = _problem()
    layout = FlatParameters.of(model)
    buffer = ExpertBuffer.prepare(tmp_path / "b", {"lr": 0.3}, layout, [0, 10, 5])
    assert buffer.epochs == [0, 5, 10] and buffer.count() == 0
    rows = torch.randn(3, layout.numel, generator=torch.Generator().manual_seed(1))
    buffer.save(0, rows, 1.5)
    again = ExpertBuffer.open(tmp_path / "b")
    assert again.count() == 1 and list(again.wall_times()) == [1.5]
    assert torch.equal(again.snapshots(0), rows.half())
    assert torch.equal(again.parameters_at(0, 5), rows[1].half().float())
    with pytest.raises(InputError, match="keeps epochs \\[0, 5, 10\\], not 7"):
        again.parameters_at(0, 7)
    with pytest.raises(InputError, match="lr: 0.3 there, 0.4 here"):
        ExpertBuffer.prepare(tmp_path / "b", {"lr": 0.4}, layout, [0, 5, 10])
    with pytest.raises(InputError, match="no expert buffer"):
        ExpertBuffer.open(tmp_path / "none")
    with pytest.raises(ValueError, match="expected \\(3, 75\\)"):
        buffer.save(1, rows[:2], 0.0)
