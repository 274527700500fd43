"""Synthetic image sets: one learnable image per row, or a factorised set of bases and hallucinators."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core.synthetic import SyntheticSet


class SyntheticImages(SyntheticSet):
    """``(n, C, H, W)`` learnable images with fixed labels (rows of a class contiguous); optionally
    learnable soft labels ``(n, classes)`` (KIP)."""

    def __init__(self, images: Tensor, labels: Tensor, num_classes: int, learn_labels: bool = False):
        super().__init__(labels)
        self.images = nn.Parameter(images.detach().clone().float())
        self.num_classes = num_classes
        self.soft_labels = nn.Parameter(one_hot_targets(labels, num_classes)) if learn_labels else None

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"images": [self.images]}
        if self.soft_labels is not None:
            groups["labels"] = [self.soft_labels]
        return groups

    def materialize(self) -> tuple[Tensor, Tensor]:
        """``(images, labels)``; labels are the soft ``(n, classes)`` targets when learned, else ``(n,)``."""
        return self.images, self.soft_labels if self.soft_labels is not None else self.labels

    def storage(self) -> int:
        """Stored floats (images, plus labels when learned)."""
        return self.images.numel() + (self.soft_labels.numel() if self.soft_labels is not None else 0)


def one_hot_targets(labels: Tensor, num_classes: int) -> Tensor:
    """KIP's regression targets: one-hot minus ``1 / classes`` (zero-mean rows)."""
    return torch.nn.functional.one_hot(labels, num_classes).float() - 1.0 / num_classes


class Hallucinator(nn.Module):
    """A tiny residual conv net mapping a base to an image: ``up + conv(relu(conv(up)))``, where ``up`` is
    the base upsampled (bilinear) by ``upsample`` (1: the base itself).

    The last conv starts small, so each hallucinator starts near the identity but differently from the
    others (identical starts would receive identical gradients and never separate).
    """

    def __init__(self, channels: int, hidden: int = 8, upsample: int = 1):
        super().__init__()
        self.upsample = upsample
        self.body = nn.Sequential(nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(hidden, channels, 3, padding=1))
        with torch.no_grad():
            self.body[2].weight.mul_(0.1)
            self.body[2].bias.zero_()

    def forward(self, base: Tensor) -> Tensor:
        if self.upsample > 1:
            base = F.interpolate(base, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        return base + self.body(base)


class FactorizedImages(SyntheticSet):
    """HaBa-style factorisation: ``bases_per_class`` learnable bases per class and ``hallucinators`` tiny
    networks shared by all classes; every (base, hallucinator) pair is one synthetic image, so a class has
    ``bases_per_class * hallucinators`` images.

    Args:
        bases: ``(classes * bases_per_class, C, H / upsample, W / upsample)`` initial bases, grouped by class.
        base_labels: ``(classes * bases_per_class,)`` their classes.
        upsample: the images are this many times the bases' height and width (lower-resolution bases buy
            more of them for the same storage, the multi-formation idea of IDC, Kim et al., ICML 2022).
    """

    def __init__(self, bases: Tensor, base_labels: Tensor, hallucinators: int, hidden: int = 8, upsample: int = 1):
        labels = base_labels.repeat_interleave(hallucinators)
        super().__init__(labels)
        self.bases = nn.Parameter(bases.detach().clone().float())
        self.hallucinators = nn.ModuleList(Hallucinator(bases.shape[1], hidden, upsample)
                                           for _ in range(hallucinators))

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"bases": [self.bases], "hallucinators": list(self.hallucinators.parameters())}

    def materialize(self) -> tuple[Tensor, Tensor]:
        """``(images, labels)``; the images of base ``b`` are rows ``b * k .. b * k + k - 1``."""
        images = torch.stack([h(self.bases) for h in self.hallucinators], dim=1)
        return images.flatten(0, 1), self.labels

    def storage(self) -> int:
        """Stored floats: bases plus hallucinator parameters."""
        return self.bases.numel() + sum(p.numel() for p in self.hallucinators.parameters())

    @staticmethod
    def bases_for_storage(storage: int, classes: int, base_size: int, hallucinators: int, channels: int,
                          hidden: int = 8) -> int:
        """The most bases per class (``base_size`` floats each) that fit ``storage`` floats next to
        ``hallucinators`` networks."""
        network = hallucinators * (2 * 9 * channels * hidden + hidden + channels)
        return max(1, (storage - network) // (classes * base_size))
