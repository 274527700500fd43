import pytest
import torch

from images.dsa import DSA, DSAConfig


@pytest.mark.parametrize("transform", ["color", "crop", "cutout", "scale", "rotate", "flip"])
def test_every_transform_keeps_shapes_and_is_differentiable(transform):
    dsa = DSA(DSAConfig(strategy=(transform,)))
    x = torch.randn(5, 1, 28, 28, requires_grad=True)
    params = dsa.sample(5, 28, 28, shared=False)
    assert params["name"] == transform
    out = dsa.apply(x, params)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("transform", ["color", "crop", "cutout", "scale", "rotate"])
def test_shared_parameters_transform_real_and_synthetic_batches_alike(transform):
    torch.manual_seed(0)
    dsa = DSA(DSAConfig(strategy=(transform,)))
    image = torch.randn(1, 1, 8, 8)
    real = torch.cat([image, torch.randn(9, 1, 8, 8)])  # a real batch of 10 whose first image is `image`
    params = dsa.sample(1, 8, 8, shared=True)
    assert all(v.shape[0] == 1 for k, v in params.items() if k != "name")
    assert torch.allclose(dsa.apply(real, params)[:1], dsa.apply(image, params), atol=1e-6)
    changed = not torch.allclose(dsa.apply(image, params), image)
    assert changed


def test_digits_strategy_has_no_flip():
    assert "flip" not in DSAConfig().strategy
    with pytest.raises(ValueError):
        DSAConfig(strategy=("warp",))
