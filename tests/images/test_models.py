import pytest
import torch

from images.models import ConvNet, build


@pytest.mark.parametrize("shape, feature", [((1, 28, 28), (128, 4, 4)), ((1, 8, 8), (128, 1, 1)), ((3, 32, 32), (128, 4, 4))])
def test_convnet_feature_size(shape, feature):
    net = ConvNet(shape, 10)
    assert net.feature_shape == feature
    x = torch.randn(2, *shape)
    assert net.embed(x).shape == (2, feature[0] * feature[1] * feature[2])
    assert net(x).shape == (2, 10)


def test_instance_norm_is_per_channel_groupnorm_and_bn_variant():
    assert isinstance(ConvNet((1, 28, 28), 10).features[1], torch.nn.GroupNorm)
    assert ConvNet((1, 28, 28), 10).features[1].num_groups == 128
    assert isinstance(build("convnet-bn", (1, 28, 28), 10).features[1], torch.nn.BatchNorm2d)
    assert build("mlp", (1, 28, 28), 10)(torch.randn(3, 1, 28, 28)).shape == (3, 10)
