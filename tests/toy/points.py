"""A fourth modality that lives only in the tests: labelled points in R^d, distilled by distribution
matching on the core loop and scored with a logistic-regression classifier. It is registered through the
``graphdistill.modalities`` entry point of a throw-away distribution, never by editing the package."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from dataclasses import dataclass
from torch import Tensor, nn

from graphdistill.core import (BilevelSchedule, Condensed, InputError, Method, Registry, RunOptions, SyntheticSet,
                               WithoutInnerTraining, data_digest, distribution_distance, run_bilevel,
                               sample_per_class)
from graphdistill.core.atomic import read_json_if_present, staged_directory, write_json
from graphdistill.core.modality import Modality

POINTS_FILE = "points.pt"


@dataclass(frozen=True)
class Blobs:
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor


def make_blobs(classes: int = 3, dim: int = 8, per_class: int = 200, seed: int = 0) -> Blobs:
    """Gaussian blobs with overlapping classes (a linear classifier gets ~85-95 %)."""
    generator = torch.Generator().manual_seed(seed)
    centres = 1.2 * torch.randn(classes, dim, generator=generator)
    y = torch.arange(classes).repeat_interleave(2 * per_class)
    x = centres[y] + torch.randn(len(y), dim, generator=generator)
    order = torch.randperm(len(y), generator=generator)
    x, y = x[order], y[order]
    half = len(y) // 2
    return Blobs(x[:half], y[:half], x[half:], y[half:])


@dataclass(frozen=True)
class PointsDMConfig:
    iterations: int = 60
    lr: float = 0.1
    features: int = 32


class Points(SyntheticSet):
    def __init__(self, x: Tensor, y: Tensor):
        super().__init__(y)
        self.x = nn.Parameter(x.clone())

    def parameter_groups(self):
        return {"points": [self.x]}

    def materialize(self):
        return self.x


class MeanEmbeddings(WithoutInnerTraining):
    """Per class: distance of mean random-ReLU-feature embeddings of real and synthetic points."""

    def __init__(self, data: Blobs, synthetic: Points, config: PointsDMConfig):
        self.data, self.synthetic, self.config = data, synthetic, config

    def new_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.data.train_x.shape[1], self.config.features), nn.ReLU())

    def outer_loss(self, model: nn.Module) -> Tensor:
        syn = self.synthetic.materialize()
        loss = syn.new_zeros(())
        for cls, rows in self.synthetic.class_slices.items():
            real = self.data.train_x[self.data.train_y == cls]
            loss = loss + distribution_distance(model(real), model(syn[rows]), "mean")
        return loss


def _start(data: Blobs, ipc: int, run: RunOptions) -> tuple[Tensor, Tensor]:
    counts = {c: ipc for c in range(int(data.train_y.max()) + 1)}
    picked = sample_per_class(data.train_y, counts, run.generator())
    return data.train_x[picked], data.train_y[picked]


def condense_dm(data: Blobs, ipc: int, config: PointsDMConfig, run: RunOptions) -> Condensed:
    x, y = _start(data, ipc, run)
    synthetic = Points(x, y)
    optimizers = {"points": torch.optim.Adam([synthetic.x], lr=config.lr)}
    result = run_bilevel(MeanEmbeddings(data, synthetic, config), synthetic, optimizers,
                         BilevelSchedule(config.iterations, 1, 0, checkpoint_every=10), run)
    return Condensed.from_loop({"x": synthetic.x.detach().clone(), "y": y}, result)


@dataclass(frozen=True)
class NoSettings:
    pass


def condense_random(data: Blobs, ipc: int, config: NoSettings, run: RunOptions) -> Condensed:
    x, y = _start(data, ipc, run)
    return Condensed({"x": x, "y": y}, {"selection": "random points"})


METHODS: Registry[Method] = Registry("method")
METHODS.register("dm")(Method(PointsDMConfig, condense_dm))
METHODS.register("random")(Method(NoSettings, condense_random))


def linear_accuracy(x: Tensor, y: Tensor, data: Blobs, seed: int) -> float:
    torch.manual_seed(seed)
    model = nn.Linear(x.shape[1], int(data.train_y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return float((model(data.test_x).argmax(1) == data.test_y).float().mean())


class PointsModality(Modality):
    name = "points"
    help = "labelled points in R^d (a test modality)"
    config_package = "tests.toy"
    output_file = POINTS_FILE
    budget_flag = "--ipc"
    primary_metric = "test_acc_mean"
    datasets = "blobs"
    default_method = "dm"

    @property
    def methods(self) -> Registry[Method]:
        return METHODS

    def add_condense_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--ipc", type=int, required=True, help="points per class")

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--condensed", help="directory written by `condense points` (default: all points)")
        parser.add_argument("--runs", type=int, default=3)

    def load_data(self, args: argparse.Namespace, root: Path | None) -> Blobs:
        if args.dataset != "blobs":
            raise InputError(f"unknown points dataset {args.dataset!r}; choose blobs")
        return make_blobs()

    def digest(self, data: Blobs) -> str:
        return data_digest(data.train_x, data.train_y)

    def resolve_budget(self, data: Blobs, args: argparse.Namespace) -> int:
        if args.ipc < 1:
            raise InputError(f"--ipc {args.ipc} is impossible")
        return args.ipc

    def save(self, out: Path, condensed: Condensed, overwrite: bool) -> None:
        with staged_directory(out, overwrite=overwrite) as stage:
            torch.save({k: condensed.data[k] for k in ("x", "y")}, stage / POINTS_FILE)
            write_json(condensed.meta, stage / "meta.json")

    def load(self, path: str | Path) -> tuple[Tensor, Tensor]:
        tensors = torch.load(Path(path) / POINTS_FILE, weights_only=True)
        return tensors["x"], tensors["y"]

    def evaluate(self, args: argparse.Namespace, root: Path | None, device: torch.device) -> dict[str, Any]:
        data = self.load_data(args, root)
        x, y = self.load(args.condensed) if args.condensed else (data.train_x, data.train_y)
        accs = [linear_accuracy(x, y, data, args.seed + run) for run in range(args.runs)]
        mean = sum(accs) / len(accs)
        std = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
        meta = read_json_if_present(Path(args.condensed) / "meta.json") if args.condensed else {}
        return {"test_acc_mean": mean, "test_acc_std": std, "test_accs": accs, "runs": args.runs,
                "arch": "linear", "method": meta.get("method")}


POINTS = PointsModality()
