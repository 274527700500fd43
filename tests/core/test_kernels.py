import math

import pytest
import torch
from torch.func import jacrev, vmap

from graphdistill.core.kernels import feature_kernel, krr_fit, krr_predict, relu_kernels


def _sampled_ntk(x, width, weight_var, bias_var, seed):
    """Empirical NTK (sum over parameters of df/dp(x) df/dp(y)) of one wide random network."""
    generator = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    params = {"w": torch.randn(width, d, generator=generator, dtype=torch.float64),
              "b": torch.randn(width, generator=generator, dtype=torch.float64),
              "v": torch.randn(width, generator=generator, dtype=torch.float64),
              "b_out": torch.randn((), generator=generator, dtype=torch.float64)}

    def f(p, row):
        hidden = torch.relu(math.sqrt(weight_var / d) * p["w"] @ row + math.sqrt(bias_var) * p["b"])
        return math.sqrt(weight_var / width) * p["v"] @ hidden + math.sqrt(bias_var) * p["b_out"]

    jac = vmap(jacrev(f), in_dims=(None, 0))(params, x)
    flat = torch.cat([j.reshape(x.shape[0], -1) for j in jac.values()], dim=1)
    return flat @ flat.t()


def test_analytic_ntk_matches_wide_random_networks():
    torch.manual_seed(0)
    x = (torch.rand(6, 40, dtype=torch.float64) < 0.3).double()  # binary interaction rows
    ntk, _ = relu_kernels(x)
    sampled = torch.stack([_sampled_ntk(x, 20000, 2.0, 0.01, seed) for seed in range(3)]).mean(0)
    relative = ((sampled - ntk).abs() / ntk.abs()).max().item()
    assert relative < 0.05, relative


def test_feature_kernel_of_wide_random_relu_features_matches_the_analytic_nngp():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 30, generator=generator, dtype=torch.float64)
    w = torch.randn(30, 40000, generator=generator, dtype=torch.float64)
    b = torch.randn(40000, generator=generator, dtype=torch.float64)
    hidden = torch.relu(math.sqrt(2.0 / 30) * x @ w + math.sqrt(0.01) * b)
    sampled = 2.0 * feature_kernel(hidden) + 0.01
    _, nngp = relu_kernels(x)
    assert ((sampled - nngp).abs() / nngp.abs()).max().item() < 0.05
    assert torch.allclose(feature_kernel(hidden[:2], hidden[2:]), hidden[:2] @ hidden[2:].T / 40000)


def test_infinite_ae_formula_exact_values():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    ntk, nngp = relu_kernels(x)
    s = lambda a, b: 2 * float(a @ b) / 4 + 0.01  # noqa: E731
    sxy, sxx, syy = s(x[0], x[1]), s(x[0], x[0]), s(x[1], x[1])
    theta = math.acos(sxy / math.sqrt(sxx * syy))
    relu = math.sqrt(sxx * syy) / (2 * math.pi) * (math.sin(theta) + (math.pi - theta) * math.cos(theta))
    assert ntk[0, 1].item() == pytest.approx(2 * relu + 0.01 + 2 * sxy * (math.pi - theta) / (2 * math.pi), rel=1e-9)
    assert nngp[0, 1].item() == pytest.approx(2 * relu + 0.01, rel=1e-9)


def test_kernels_are_positive_definite_and_have_finite_gradients():
    torch.manual_seed(1)
    x = (torch.rand(30, 50) < 0.2).float().requires_grad_()
    ntk, nngp = relu_kernels(x)
    for k in (ntk, nngp):
        torch.testing.assert_close(k, k.t())
        assert torch.linalg.eigvalsh(k.double()).min() > 0
    (grad,) = torch.autograd.grad(ntk.sum(), x)
    assert torch.isfinite(grad).all()


def test_krr_equals_a_direct_solve():
    torch.manual_seed(2)
    support = torch.rand(12, 20, dtype=torch.float64)
    query = torch.rand(5, 20, dtype=torch.float64)
    targets = torch.rand(12, 3, dtype=torch.float64)
    k_ss, _ = relu_kernels(support)
    k_qs, _ = relu_kernels(query, support)
    ridge = 0.1
    direct = k_qs @ torch.linalg.solve(k_ss + ridge * torch.trace(k_ss) / 12 * torch.eye(12, dtype=torch.float64),
                                       targets)
    torch.testing.assert_close(krr_predict(k_qs, krr_fit(k_ss, targets, ridge)), direct)
    torch.testing.assert_close(krr_fit(k_ss, targets[:, 0], ridge), krr_fit(k_ss, targets, ridge)[:, 0])


def test_krr_rejects_a_singular_kernel_without_ridge():
    with pytest.raises(ValueError, match="not positive definite"):
        krr_fit(torch.ones(3, 3), torch.ones(3), 0.0)
