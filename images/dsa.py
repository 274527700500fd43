"""Differentiable Siamese augmentation (DSA; Zhao & Bilen, ICML 2021).

Every transform is differentiable w.r.t. the images, so a matching loss can flow back through it into
synthetic images. Each call picks one transform of the strategy at random (the reference ``S`` mode);
for matching, one set of parameters is drawn and applied to both the real and the synthetic batch.
Digits get no flip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

TRANSFORMS = ("color", "crop", "cutout", "scale", "rotate", "flip")


@dataclass(frozen=True)
class DSAConfig:
    """Transform strengths (the reference values).

    Args:
        strategy: transforms to draw from; one is applied per call.
        scale: factors in ``[1/scale, scale]`` per axis. rotate: degrees in ``[-rotate, rotate]``.
        crop: translation up to this fraction of the image size (zero padding).
        cutout: side of the erased square, as a fraction of the image size.
        brightness, saturation, contrast: colour jitter strengths.
    """

    strategy: tuple[str, ...] = ("color", "crop", "cutout", "scale", "rotate")
    scale: float = 1.2
    rotate: float = 15.0
    crop: float = 0.125
    cutout: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5

    def __post_init__(self) -> None:
        unknown = set(self.strategy) - set(TRANSFORMS)
        if unknown or not self.strategy:
            raise ValueError(f"unknown DSA transforms {sorted(unknown)}; choose from {', '.join(TRANSFORMS)}")


class DSA:
    """Draw transform parameters with :meth:`sample`, apply them with :meth:`apply`.

    Parameters drawn with ``shared=True`` have a batch dimension of 1 and broadcast over any batch, which is
    what makes the augmentation Siamese.
    """

    def __init__(self, config: DSAConfig = DSAConfig()):
        self.config = config

    def sample(self, batch: int, height: int, width: int, shared: bool = True,
               device: torch.device | None = None) -> dict[str, Any]:
        """Parameters of one randomly chosen transform, from torch's global generator."""
        c = self.config
        n = 1 if shared else batch
        name = c.strategy[int(torch.randint(len(c.strategy), ()))]
        rand = lambda *shape: torch.rand(n, *shape, device=device)  # noqa: E731
        if name == "color":
            return {"name": name, "brightness": (rand(1, 1, 1) - 0.5) * c.brightness,
                    "saturation": rand(1, 1, 1) * c.saturation, "contrast": rand(1, 1, 1) + c.contrast}
        if name == "scale":
            factors = rand(2) * (c.scale - 1 / c.scale) + 1 / c.scale
            theta = torch.zeros(n, 2, 3, device=device)
            theta[:, 0, 0], theta[:, 1, 1] = factors[:, 0], factors[:, 1]
            return {"name": name, "theta": theta}
        if name == "rotate":
            angle = (rand() - 0.5) * 2 * c.rotate * math.pi / 180
            cos, sin = torch.cos(angle), torch.sin(angle)
            theta = torch.stack([torch.stack([cos, sin, torch.zeros_like(cos)], 1),
                                 torch.stack([-sin, cos, torch.zeros_like(cos)], 1)], 1)
            return {"name": name, "theta": theta}
        if name == "crop":
            shift = (rand(2) - 0.5) * 2 * c.crop * 2  # normalised coordinates span 2
            theta = torch.zeros(n, 2, 3, device=device)
            theta[:, 0, 0] = theta[:, 1, 1] = 1.0
            theta[:, :, 2] = shift
            return {"name": name, "theta": theta}
        if name == "cutout":
            size_y, size_x = max(1, int(height * c.cutout + 0.5)), max(1, int(width * c.cutout + 0.5))
            cy = torch.randint(0, height + 1 - size_y % 2, (n,), device=device)
            cx = torch.randint(0, width + 1 - size_x % 2, (n,), device=device)
            ys = torch.arange(height, device=device)[None, :, None]
            xs = torch.arange(width, device=device)[None, None, :]
            inside = ((ys - cy[:, None, None]).abs() < size_y / 2) & ((xs - cx[:, None, None]).abs() < size_x / 2)
            return {"name": name, "mask": (~inside).float()[:, None]}
        return {"name": name, "flip": (rand() < 0.5).float().view(n, 1, 1, 1)}

    def apply(self, x: Tensor, params: dict[str, Any]) -> Tensor:
        """``(n, C, H, W) -> (n, C, H, W)``, differentiable w.r.t. ``x``."""
        name = params["name"]
        if name == "color":
            x = x + params["brightness"]
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * params["saturation"] + mean
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            return (x - mean) * params["contrast"] + mean
        if name in ("scale", "rotate", "crop"):
            theta = params["theta"].to(x.dtype).expand(x.shape[0], 2, 3)
            grid = F.affine_grid(theta, list(x.shape), align_corners=True)
            return F.grid_sample(x, grid, align_corners=True)
        if name == "cutout":
            return x * params["mask"].to(x.dtype)
        flip = params["flip"].to(x.dtype)
        return flip * x.flip(3) + (1 - flip) * x

    def __call__(self, x: Tensor, shared: bool = False) -> Tensor:
        """Augment one batch with freshly drawn parameters (per image unless ``shared``)."""
        return self.apply(x, self.sample(x.shape[0], x.shape[2], x.shape[3], shared=shared, device=x.device))
