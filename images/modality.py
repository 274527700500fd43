"""Image dataset distillation as a :class:`~graphdistill.core.modality.Modality` (``graphdistill ... images``)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, Method, data_digest
from graphdistill.core.modality import Modality
from graphdistill.core.registry import Registry
from images.data import ImageData, load_images
from images.io import IMAGES_FILE, read_condensed, save_condensed
from images.models import ARCHITECTURES


class Images(Modality):
    """An image classification set distilled to a few images per class, scored by training fresh networks."""

    name = "images"
    help = "distill an image classification dataset"
    config_package = "images"
    output_file = IMAGES_FILE
    budget_flag = "--ipc"
    primary_metric = "test_acc_mean"
    datasets = ("mnist (IDX files under <data root>/images/MNIST/raw) or digits (scikit-learn's 8x8 digits, "
                "offline)")
    default_method = "dm"

    @property
    def methods(self) -> Registry[Method]:
        from images.methods import METHODS

        return METHODS

    def add_condense_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--ipc", type=int, required=True, help="images per class (the storage budget)")
        parser.add_argument("--iterations", type=int, help="outer iterations (shorthand for --set iterations=N)")
        parser.add_argument("--parametrization", choices=("images", "factorized"),
                            help="dc/dsa/dm: one learnable image per row, or bases + hallucinators at the same storage")

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--condensed", required=True, help="directory written by `condense images`")
        parser.add_argument("--arch", default="convnet", help=f"one of: {', '.join(ARCHITECTURES)} (default: convnet)")
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--epochs", type=int, default=0,
                            help="training epochs (default 1000 with augmentation, 300 without)")
        parser.add_argument("--augment", default="dsa", choices=["dsa", "dc", "none"],
                            help="dsa (DSA / DM protocol), dc (the DC paper's crop/scale/rotate) or none")

    def requirements(self, args: argparse.Namespace) -> list[tuple[str, str]]:
        return [("sklearn", "images")] if args.dataset == "digits" else []

    def shorthand_settings(self, args: argparse.Namespace) -> dict[str, Any]:
        return {"iterations": args.iterations, "parametrization": args.parametrization}

    def load_data(self, args: argparse.Namespace, root: Path | None) -> ImageData:
        return load_images(args.dataset, root)

    def digest(self, data: ImageData) -> str:
        return data_digest(data.train_x, data.train_y, data.test_y, data.mean, data.std)

    def resolve_budget(self, data: ImageData, args: argparse.Namespace) -> int:
        smallest = min(data.class_counts())
        if not 1 <= args.ipc <= smallest:
            raise InputError(f"--ipc {args.ipc} is impossible: choose between 1 and {smallest} (the smallest class)")
        return args.ipc

    def budget_text(self, budget: int) -> str:
        return f"{budget} images per class"

    def describe(self, condensed: Condensed, data: ImageData, args: argparse.Namespace) -> dict[str, Any]:
        return {"dataset": data.name, "ipc": args.ipc, "images": int(condensed.data["x"].shape[0]),
                "shape": list(data.shape), "num_classes": data.num_classes, "mean": data.mean, "std": data.std}

    def finish(self, condensed: Condensed, data: ImageData, args: argparse.Namespace) -> Condensed:
        condensed.aux["pixels"] = data.denormalize(condensed.data["x"])
        return condensed

    def save(self, out: Path, condensed: Condensed, overwrite: bool) -> None:
        save_condensed(out, condensed.data["x"], condensed.data["y"], condensed.meta, condensed.aux["pixels"],
                       overwrite=overwrite)

    def load(self, path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x (n, C, H, W) normalised, y)``."""
        x, y, _ = read_condensed(path)
        return x, y

    def evaluate(self, args: argparse.Namespace, root: Path | None, device: torch.device) -> dict[str, Any]:
        from images.evaluate import EvalConfig, evaluate_synthetic

        ARCHITECTURES[args.arch]
        if args.runs < 1:
            raise InputError(f"--runs must be at least 1, got {args.runs}")
        config = EvalConfig(arch=args.arch, epochs=args.epochs, augment=args.augment, runs=args.runs, seed=args.seed)
        x, y, meta = read_condensed(args.condensed)
        data = self.load_data(args, root)
        if tuple(x.shape[1:]) != data.shape:
            raise InputError(f"condensed images are {tuple(x.shape[1:])} but {data.name} images are {data.shape}")
        result = evaluate_synthetic(data, x, y, config, device, progress=not args.quiet)
        return {**result, "images": int(x.shape[0]), "method": meta.get("method")}


IMAGES = Images()
