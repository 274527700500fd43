import pytest
import torch
import torch.nn.functional as F

from graphdistill.core import batched_gradient_distance, distribution_distance, gradient_distance, weighted_nll_gradients


@pytest.mark.parametrize("metric", ["ours", "mse", "cos"])
def test_identical_gradients_have_zero_distance(metric):
    grads = [torch.randn(4, 6), torch.randn(4), torch.randn(3, 2, 5, 5)]
    assert gradient_distance(grads, [g.clone() for g in grads], metric).item() == pytest.approx(0.0, abs=1e-5)


def test_ours_is_one_minus_cosine_per_output_unit():
    syn = [torch.tensor([[1.0, 0.0], [0.0, 2.0]])]
    real = [torch.tensor([[0.0, 3.0], [0.0, 1.0]])]
    # row 0 orthogonal (1 - 0), row 1 parallel (1 - 1)
    assert gradient_distance(syn, real, "ours").item() == pytest.approx(1.0, abs=1e-5)


def test_ours_ignores_biases_but_mse_does_not():
    weight = torch.randn(3, 4)
    syn = [weight, torch.zeros(3)]
    real = [weight.clone(), torch.full((3,), 5.0)]
    assert gradient_distance(syn, real, "ours").item() == pytest.approx(0.0, abs=1e-5)
    assert gradient_distance(syn, real, "mse").item() == pytest.approx(75.0)


def test_cos_and_mse_exact_values():
    syn, real = [torch.tensor([[1.0, 0.0]])], [torch.tensor([[1.0, 1.0]])]
    assert gradient_distance(syn, real, "mse").item() == pytest.approx(1.0)
    assert gradient_distance(syn, real, "cos").item() == pytest.approx(1 - 2 ** -0.5, abs=1e-5)


def test_batched_distance_equals_loop():
    syn = [torch.randn(5, 3, 4), torch.randn(5, 3)]
    real = [torch.randn(5, 3, 4), torch.randn(5, 3)]
    for metric in ("ours", "mse", "cos"):
        batched = batched_gradient_distance(syn, real, metric)
        looped = torch.stack([gradient_distance([s[k] for s in syn], [r[k] for r in real], metric) for k in range(5)])
        torch.testing.assert_close(batched, looped)


def test_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        gradient_distance([torch.zeros(2, 3)], [torch.zeros(3, 2)])
    with pytest.raises(ValueError, match="unknown gradient metric"):
        gradient_distance([torch.zeros(2, 3)], [torch.zeros(2, 3)], "l1")


def test_distribution_distance_mean_and_mmd():
    real = torch.randn(50, 8)
    shifted = real - real.mean(0) + torch.randn(8)
    same_mean = real[torch.randperm(50)][:20]
    same_mean = same_mean - same_mean.mean(0) + real.mean(0)
    assert distribution_distance(real, same_mean, "mean").item() == pytest.approx(0.0, abs=1e-8)
    assert distribution_distance(real, shifted, "mean").item() > 0.1
    assert distribution_distance(real, real.clone(), "mmd").item() == pytest.approx(0.0, abs=1e-6)
    assert distribution_distance(real, real + 3.0, "mmd").item() > 0.1


def test_weighted_nll_gradients_match_per_class_autograd():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 3), torch.nn.LogSoftmax(-1))
    x = torch.randn(9, 6, requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    weights = torch.stack([(y == c).float() / (y == c).sum() for c in range(3)])
    batched = weighted_nll_gradients(model, (x,), y, weights)
    for c in range(3):
        expected = torch.autograd.grad(F.nll_loss(model(x)[y == c], y[y == c]), list(model.parameters()), create_graph=True)
        for got, want in zip(batched, expected):
            torch.testing.assert_close(got[c], want)
    # differentiable w.r.t. the inputs, as the outer update needs
    (g_x,) = torch.autograd.grad(sum((g ** 2).sum() for g in batched), x)
    assert g_x.abs().sum() > 0
