"""DC's evaluation augmentation (Zhao, Mopuri & Bilen, ICLR 2021).

The DC paper evaluates its synthetic MNIST sets with this augmentation, not with DSA: every image of a
training batch gets one transform drawn from the strategy. It only trains evaluation networks, so it need
not be differentiable; the reference draws per image, and so does this.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

DC_TRANSFORMS = ("crop", "scale", "rotate", "noise")


@dataclass(frozen=True)
class DCAugmentConfig:
    """Transform strengths of the reference (its MNIST strategy is ``crop_scale_rotate``).

    Args:
        strategy: transforms to draw from; one per image.
        crop: shift of up to ``crop`` pixels per axis (the image padded with its channel's batch mean).
        scale: each axis resized by a factor in ``[1 - scale, 1 + scale]`` (nearest), centred, zero padded.
        rotate: an integer angle in ``[-rotate, rotate)`` degrees, the corners filled with the batch mean.
        noise: standard deviation of additive Gaussian noise.
    """

    strategy: tuple[str, ...] = ("crop", "scale", "rotate")
    crop: int = 4
    scale: float = 0.2
    rotate: int = 45
    noise: float = 0.001

    def __post_init__(self) -> None:
        unknown = set(self.strategy) - set(DC_TRANSFORMS)
        if unknown or not self.strategy:
            raise ValueError(f"unknown DC augmentations {sorted(unknown)}; choose from {', '.join(DC_TRANSFORMS)}")
        if self.crop < 1 or not 0 <= self.scale < 1 or self.rotate < 1 or self.noise < 0:
            raise ValueError(f"impossible DC augmentation strengths: {self}")


class DCAugment:
    """``(n, C, H, W) -> (n, C, H, W)``: one randomly drawn transform per image (torch's global generator)."""

    def __init__(self, config: DCAugmentConfig = DCAugmentConfig()):
        self.config = config
        self.transforms = [getattr(self, name) for name in config.strategy]

    def __call__(self, x: Tensor) -> Tensor:
        channel_mean = x.mean(dim=(0, 2, 3))
        picks = torch.randint(len(self.transforms), (x.shape[0],)).tolist()
        return torch.stack([self.transforms[pick](image, channel_mean) for image, pick in zip(x, picks)])

    def crop(self, image: Tensor, channel_mean: Tensor) -> Tensor:
        pad = self.config.crop
        channels, height, width = image.shape
        padded = channel_mean.view(-1, 1, 1).expand(channels, height + 2 * pad, width + 2 * pad).clone()
        padded[:, pad:pad + height, pad:pad + width] = image
        top, left = torch.randint(2 * pad, (2,)).tolist()
        return padded[:, top:top + height, left:left + width]

    def scale(self, image: Tensor, channel_mean: Tensor) -> Tensor:
        channels, height, width = image.shape
        factors = 1 + (torch.rand(2) * 2 - 1) * self.config.scale
        new_height, new_width = int(factors[0] * height), int(factors[1] * width)
        resized = F.interpolate(image[None], size=(new_height, new_width))[0]
        side = max(new_height, new_width, height, width)
        canvas = image.new_zeros(channels, side, side)
        top, left = (side - new_height) // 2, (side - new_width) // 2
        canvas[:, top:top + new_height, left:left + new_width] = resized
        top, left = (side - height) // 2, (side - width) // 2
        return canvas[:, top:top + height, left:left + width]

    def rotate(self, image: Tensor, channel_mean: Tensor) -> Tensor:
        angle = math.radians(int(torch.randint(-self.config.rotate, self.config.rotate, ())))
        cos, sin = math.cos(angle), math.sin(angle)
        theta = image.new_tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]])
        fill = channel_mean.mean()
        # grid_sample pads with zeros; rotating the offset from the fill value pads with the fill instead.
        grid = F.affine_grid(theta, [1, *image.shape], align_corners=False)
        return F.grid_sample((image - fill)[None], grid, align_corners=False)[0] + fill

    def noise(self, image: Tensor, channel_mean: Tensor) -> Tensor:
        return image + self.config.noise * torch.randn_like(image)
