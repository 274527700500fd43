import pytest
import torch

from images.dc_augment import DCAugment, DCAugmentConfig
from images.evaluate import EvalConfig
from graphdistill.core.errors import InputError


def _only(transform: str, **strengths) -> DCAugment:
    return DCAugment(DCAugmentConfig(strategy=(transform,), **strengths))


def test_crop_is_a_window_of_the_mean_padded_image():
    torch.manual_seed(0)
    x = torch.randn(6, 2, 8, 8)
    out = _only("crop", crop=2)(x)
    mean = x.mean(dim=(0, 2, 3)).view(-1, 1, 1)
    assert out.shape == x.shape
    for image, shifted in zip(x, out):
        padded = mean.expand(2, 12, 12).clone()
        padded[:, 2:10, 2:10] = image
        windows = [padded[:, r:r + 8, c:c + 8] for r in range(4) for c in range(4)]
        assert any(torch.equal(shifted, window) for window in windows)
    assert not torch.equal(out, x)


def test_rotation_keeps_an_image_at_the_fill_value_and_moves_a_marked_pixel():
    torch.manual_seed(1)
    flat = torch.full((3, 1, 9, 9), 0.7)
    assert torch.allclose(_only("rotate")(flat), flat, atol=1e-6)
    marked = torch.zeros(1, 1, 9, 9)
    marked[0, 0, 4, 4] = 1.0  # the centre survives every rotation; the rest is rotated
    marked[0, 0, 0, 4] = 1.0
    rotated = _only("rotate", rotate=45)(marked.repeat(8, 1, 1, 1))
    assert torch.allclose(rotated[:, 0, 4, 4], torch.ones(8), atol=0.05)
    assert rotated[:, 0, 0, 4].min() < 1.0


def test_scale_resizes_about_the_centre_with_zero_padding():
    torch.manual_seed(2)
    x = torch.ones(20, 1, 10, 10)
    out = _only("scale", scale=0.3)(x)
    assert out.shape == x.shape
    # a shrunk axis leaves zero margins, a stretched one stays filled; the centre is always image
    assert (out[:, 0, 5, 5] == 1).all()
    assert (out == 0).any() and set(out.unique().tolist()) <= {0.0, 1.0}


def test_each_image_gets_its_own_transform():
    torch.manual_seed(3)
    x = torch.randn(64, 1, 8, 8)
    out = DCAugment(DCAugmentConfig(strategy=("crop", "noise"), noise=0.001))(x)
    noisy = ((out - x).abs().max(dim=-1).values.amax(dim=(1, 2)) < 0.01)
    assert 0 < int(noisy.sum()) < 64  # some images only got noise, the others were shifted


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        DCAugmentConfig(strategy=("flip",))
    with pytest.raises(ValueError):
        DCAugmentConfig(scale=1.5)
    with pytest.raises(InputError):
        EvalConfig(augment="autoaugment")


def test_protocol_epochs_follow_the_augmentation():
    assert EvalConfig(augment="dc").total_epochs == 1000
    assert EvalConfig(augment="dsa").total_epochs == 1000
    assert EvalConfig(augment="none").total_epochs == 300
