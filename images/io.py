"""Condensed image sets on disk: ``images.pt`` (a dict of tensors ``x``, ``y``), ``meta.json`` and
``grid.png``, written together or not at all."""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphdistill.core.atomic import read_output, staged_directory, write_json
from graphdistill.core.errors import InputError, describe

IMAGES_FILE = "images.pt"
META_FILE = "meta.json"
GRID_FILE = "grid.png"


def save_grid(pixels: Tensor, labels: Tensor, path: Path, max_per_class: int = 10) -> None:
    """One row per class, up to ``max_per_class`` images each, of ``[0, 1]``-scaled ``(n, C, H, W)`` pixels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = labels if labels.dim() == 1 else labels.argmax(1)
    rows = sorted(set(classes.tolist()))
    columns = min(max_per_class, max(int((classes == c).sum()) for c in rows))
    figure, axes = plt.subplots(len(rows), columns, figsize=(columns * 0.8, len(rows) * 0.8), squeeze=False)
    for r, cls in enumerate(rows):
        members = (classes == cls).nonzero().flatten()[:columns]
        for c in range(columns):
            axis = axes[r][c]
            axis.axis("off")
            if c < len(members):
                image = pixels[members[c]].clamp(0, 1).permute(1, 2, 0).numpy()
                axis.imshow(image[:, :, 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=1)
        axes[r][0].set_title(str(cls), fontsize=6, loc="left")
    figure.tight_layout(pad=0.1)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_condensed(out: str | os.PathLike, x: Tensor, y: Tensor, meta: dict[str, Any], pixels: Tensor,
                   overwrite: bool = False) -> Path:
    """Write ``images.pt`` (normalised ``x (n, C, H, W)``, ``y``), ``meta.json`` and ``grid.png`` (from
    ``pixels``, the images on the ``[0, 1]`` scale) atomically.

    The picture never costs the result: without matplotlib (the ``images`` extra) or when drawing fails,
    ``grid.png`` is skipped with a warning and the data and ``meta.json`` are written all the same.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
    with staged_directory(out, overwrite=overwrite) as stage:
        torch.save({"x": x.detach().cpu().contiguous(), "y": y.detach().cpu().contiguous()}, stage / IMAGES_FILE)
        write_json(meta, stage / META_FILE)
        if importlib.util.find_spec("matplotlib") is None:
            warnings.warn(f"{GRID_FILE} skipped: matplotlib is not installed (pip install 'graphdistill[images]')",
                          stacklevel=2)
        else:
            try:
                save_grid(pixels.detach().cpu(), y.detach().cpu(), stage / GRID_FILE)
            except Exception as exc:  # a picture must never cost a computed result
                warnings.warn(f"{GRID_FILE} skipped: {describe(exc)}", stacklevel=2)
    return out


def read_condensed(path: str | os.PathLike) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """``(x, y, meta)`` from a directory written by :func:`save_condensed` (or its ``images.pt``)."""
    file, tensors, meta = read_output(path, IMAGES_FILE, "condensed images")
    if not isinstance(tensors, dict) or not {"x", "y"} <= set(tensors):
        raise InputError(f"{file} is not a condensed image set (needs tensors x, y)")
    x, y = tensors["x"], tensors["y"]
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise InputError(f"{file}: x and y must be tensors")
    if x.dim() != 4 or x.shape[0] == 0 or y.dim() not in (1, 2) or y.shape[0] != x.shape[0]:
        raise InputError(f"{file}: x must be (n, C, H, W) with n labels, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not x.is_floating_point() or not torch.isfinite(x).all():
        raise InputError(f"{file}: x must hold finite floating-point pixels (found NaN, infinite or integer values)")
    if y.dim() == 1 and (y.is_floating_point() or int(y.min()) < 0):
        raise InputError(f"{file}: y must hold non-negative integer class labels")
    if y.dim() == 2 and not torch.isfinite(y).all():
        raise InputError(f"{file}: the learned targets y contain NaN or infinite values")
    classes = meta.get("num_classes") if isinstance(meta.get("num_classes"), int) else None
    if y.dim() == 1 and classes is not None and int(y.max()) >= classes:
        raise InputError(f"{file}: y holds label {int(y.max())} but the dataset has {classes} classes")
    return x.float(), (y.float() if y.dim() == 2 else y.long()), meta
