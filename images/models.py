"""The networks of the standard dataset-distillation protocol (DC / DSA / DM): ConvNet-3 and an MLP."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from graphdistill.core.registry import Registry


class ConvNet(nn.Module):
    """``depth`` blocks of conv 3x3 (``width`` channels) -> norm -> ReLU -> 2x2 average pooling, then a linear
    classifier.

    ``norm="instancenorm"`` is GroupNorm with one group per channel (affine), the protocol's default;
    ``"batchnorm"`` gives ``convnet-bn``. A 28x28 input takes padding 3 on the first conv (as in the
    reference code), so depth 3 gives a ``width x 4 x 4`` feature; other sizes use padding 1 (8x8 -> ``1 x 1``).

    Args:
        shape: ``(C, H, W)`` of the inputs.
    """

    def __init__(self, shape: tuple[int, int, int], num_classes: int, width: int = 128, depth: int = 3,
                 norm: str = "instancenorm"):
        super().__init__()
        channels, height, width_px = shape
        layers: list[nn.Module] = []
        size = (height, width_px)
        for block in range(depth):
            padding = 3 if block == 0 and size == (28, 28) else 1
            layers.append(nn.Conv2d(channels if block == 0 else width, width, 3, padding=padding))
            size = (size[0] + 2 * padding - 2, size[1] + 2 * padding - 2)
            layers.append(nn.GroupNorm(width, width, affine=True) if norm == "instancenorm" else nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            if min(size) >= 2:
                layers.append(nn.AvgPool2d(2))
                size = (size[0] // 2, size[1] // 2)
        self.features = nn.Sequential(*layers)
        self.feature_shape = (width, *size)
        self.classifier = nn.Linear(width * size[0] * size[1], num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """``(n, C, H, W) -> (n, width * h * w)`` flattened features (DM's embedding)."""
        return self.features(x).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


class MLP(nn.Module):
    """Two hidden ReLU layers of 128 units on the flattened image (the protocol's MLP)."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, width: int = 128):
        super().__init__()
        inputs = shape[0] * shape[1] * shape[2]
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.classifier = nn.Linear(width, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))


ARCHITECTURES: Registry[Callable[[tuple[int, int, int], int], nn.Module]] = Registry("architecture")
ARCHITECTURES.register("convnet")(lambda shape, classes: ConvNet(shape, classes))
ARCHITECTURES.register("convnet-bn")(lambda shape, classes: ConvNet(shape, classes, norm="batchnorm"))
ARCHITECTURES.register("mlp")(lambda shape, classes: MLP(shape, classes))


def build(arch: str, shape: tuple[int, int, int], num_classes: int, device: torch.device | None = None) -> nn.Module:
    """A freshly initialised ``arch`` (drawn from torch's global generator)."""
    return ARCHITECTURES[arch](shape, num_classes).to(device or torch.device("cpu"))
