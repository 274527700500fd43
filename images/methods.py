"""Image distillation methods by name: ``dc``, ``dsa``, ``dm``, ``kip`` and the ``random`` / ``herding`` baselines.

Each entry pairs a frozen config class with ``function(data, ipc, config, run) -> Condensed`` (``data``:
normalised ``x (n, C, H, W)`` and ``y (n,)``, or ``(n, classes)`` learned targets). Synthetic
images start from random real images of their class. Gradient matching (DC / DSA) and distribution matching
(DM) run on the core's bilevel loop with the core's distances; KIP uses the core's NTK and KRR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphdistill.core import distributed
from graphdistill.core.coreset import herding
from graphdistill.core.errors import InputError
from graphdistill.core.kernels import feature_kernel, krr_fit, relu_kernels
from graphdistill.core.loop import BilevelSchedule, WithoutInnerTraining, run_bilevel
from graphdistill.core.matching import distribution_distance, gradient_distance
from graphdistill.core.method import Condensed, Method, RunOptions
from graphdistill.core.registry import Registry
from graphdistill.core.synthetic import SyntheticSet, sample_per_class
from images.data import ImageData
from images.dsa import DSA
from images.evaluate import EvalConfig, train_network
from images.models import build
from images.synthetic import FactorizedImages, SyntheticImages, one_hot_targets

PARAMETRIZATIONS = ("images", "factorized")
KIP_KERNELS = ("fc-ntk", "convnet-rf")


@dataclass(frozen=True)
class SyntheticImagesConfig:
    """How DC, DSA and DM hold their synthetic images.

    Args:
        parametrization: ``images`` (one learnable image per row) or ``factorized`` (bases + hallucinators at
            the storage of ``ipc`` images).
        hallucinators, lr_hallucinator: number of hallucinator networks and their Adam learning rate.
        base_scale: factorized bases have 1/``base_scale`` of the image height and width; each hallucinator
            upsamples them (more bases for the same storage).
        momentum: SGD momentum of the images / bases.
    """

    parametrization: str = "images"
    hallucinators: int = 5
    lr_hallucinator: float = 1e-3
    base_scale: int = 1
    momentum: float = 0.5
    iterations: int = 500
    batch_real: int = 64

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise InputError(f"iterations must be at least 0, got {self.iterations}")
        if self.batch_real < 1:
            raise InputError(f"batch_real must be at least 1, got {self.batch_real}")


@dataclass(frozen=True)
class DMConfig(SyntheticImagesConfig):
    """Distribution matching (Zhao & Bilen, WACV 2023).

    The defaults are a CPU schedule: 500 iterations with 64 real images per class reach the published MNIST
    accuracy (IPC10 97.2, IPC1 89.4 at 200 iterations; ``benchmarks/results/images-mnist.md``) in about
    10 minutes on 2 cores. The published schedule (20,000 iterations, 256 real images per class) is
    ``benchmarks/presets/dm-published.toml``. Most of an iteration is the forward pass of the real batch
    through the fresh ConvNet (about 60 % at 64 real images per class, 85 % at 256), then the DSA
    augmentation of both batches (15 %) and the synthetic forward + backward (25 %).

    Args:
        iterations: outer iterations, each with a fresh randomly initialised ConvNet (never trained).
        lr_img: SGD (momentum ``momentum``) learning rate of the images / bases.
        batch_real: real images per class per iteration.
        dsa: Siamese augmentation of both batches.
        checkpoint_every: iterations between checkpoints.
        (the parametrization fields: :class:`SyntheticImagesConfig`)
    """

    iterations: int = 500
    lr_img: float = 1.0
    batch_real: int = 64
    dsa: bool = True
    checkpoint_every: int = 100


@dataclass(frozen=True)
class DCConfig(SyntheticImagesConfig):
    """Gradient matching (DC, Zhao et al., ICLR 2021); :class:`DSAMatchingConfig` adds DSA.

    Args:
        iterations: outer iterations (a fresh ConvNet each).
        outer_steps, inner_steps: image updates per iteration and network steps between them
            (0: DC's choice for the ipc: 1/1 at ipc 1, 10/50 at ipc 10, 50/10 at ipc 50).
        lr_img: SGD of the images. lr_net: SGD of the network on the synthetic set.
        batch_real: real images per class per matching step.
        distance: ``ours`` / ``mse`` / ``cos`` (core gradient distances).
        (the parametrization fields: :class:`SyntheticImagesConfig`)
    """

    iterations: int = 1000
    outer_steps: int = 0
    inner_steps: int = 0
    lr_img: float = 0.1
    lr_net: float = 0.01
    batch_real: int = 256
    distance: str = "ours"
    dsa: bool = False
    checkpoint_every: int = 10


@dataclass(frozen=True)
class DSAMatchingConfig(DCConfig):
    """DC with differentiable Siamese augmentation (Zhao & Bilen, ICML 2021)."""

    dsa: bool = True


@dataclass(frozen=True)
class KIPConfig:
    """Kernel inducing points (Nguyen et al., ICLR 2021) with the analytic NTK of a one-hidden-layer ReLU
    network (core kernels), or with random ConvNet features.

    Args:
        iterations: Adam steps; lr: their learning rate.
        batch_real: real images per step (the KRR targets).
        learn_labels: learn the support's regression targets too.
        ridge: relative KRR regulariser.
        kernel: ``fc-ntk`` (the analytic NTK on flattened pixels) or ``convnet-rf``: the inner product of the
            embeddings of the evaluation ConvNet at random initialisation, a fresh network every step (a
            one-sample estimate of its NNGP kernel, as in RFAD, Loo et al., NeurIPS 2022). The images then fit
            the architecture that is trained on them: on MNIST IPC10 a ConvNet reaches 96.88 after 600 steps,
            against 93.98 on ``fc-ntk`` images, whose KRR accuracy is higher than their transfer.
        rf_networks: random ConvNets whose features are concatenated for ``convnet-rf``'s KRR test accuracy.
    """

    iterations: int = 1000
    lr: float = 0.01
    batch_real: int = 1000
    learn_labels: bool = False
    ridge: float = 1e-6
    kernel: str = "fc-ntk"
    rf_networks: int = 4
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        if self.kernel not in KIP_KERNELS:
            raise InputError(f"unknown KIP kernel {self.kernel!r}; choose one of {', '.join(KIP_KERNELS)}")
        if self.iterations < 0 or self.batch_real < 1 or self.rf_networks < 1 or self.ridge < 0:
            raise InputError(f"impossible KIP settings: {self}")


@dataclass(frozen=True)
class CoresetImagesConfig:
    """``herding`` selects on the embeddings of a ConvNet trained ``embed_epochs`` on the full training set."""

    embed_epochs: int = 1


def _check_ipc(data: ImageData, ipc: int) -> None:
    smallest = min(data.class_counts())
    if not 1 <= ipc <= smallest:
        raise InputError(f"--ipc {ipc} is impossible: choose between 1 and {smallest} (the smallest class)")


def _initial_images(data: ImageData, per_class: int, run: RunOptions) -> tuple[Tensor, Tensor]:
    counts = {c: per_class for c in range(data.num_classes)}
    picked = sample_per_class(data.train_y, counts, run.generator())
    return data.train_x[picked], data.train_y[picked]


def _synthetic(data: ImageData, ipc: int, config, run: RunOptions) -> tuple[SyntheticSet, dict[str, torch.optim.Optimizer], dict]:
    """The synthetic set of ``config.parametrization`` with its optimizers and storage facts."""
    if config.parametrization not in PARAMETRIZATIONS:
        raise InputError(f"unknown parametrization {config.parametrization!r}; choose images or factorized")
    channels, height, width = data.shape
    budget = ipc * data.num_classes * channels * height * width
    if config.parametrization == "images":
        x, y = _initial_images(data, ipc, run)
        synthetic = SyntheticImages(x, y, data.num_classes).to(run.device)
        optimizers = {"images": torch.optim.SGD([synthetic.images], lr=config.lr_img, momentum=config.momentum)}
    else:
        scale = config.base_scale
        if config.hallucinators < 1 or scale < 1 or height % scale or width % scale:
            raise InputError(f"impossible factorization: {config.hallucinators} hallucinators, bases at 1/{scale} "
                             f"of {height}x{width} images")
        base_size = channels * (height // scale) * (width // scale)
        bases = FactorizedImages.bases_for_storage(budget, data.num_classes, base_size, config.hallucinators, channels)
        x, y = _initial_images(data, bases, run)
        synthetic = FactorizedImages(F.avg_pool2d(x, scale), y, config.hallucinators, upsample=scale).to(run.device)
        optimizers = {"bases": torch.optim.SGD([synthetic.bases], lr=config.lr_img, momentum=config.momentum),
                      "hallucinators": torch.optim.Adam(synthetic.hallucinators.parameters(), lr=config.lr_hallucinator)}
    storage = synthetic.storage()
    facts = {"parametrization": config.parametrization, "stored_floats": storage, "budget_floats": budget,
             "ipc_equivalent": storage / (data.num_classes * channels * height * width),
             "images_per_class": len(synthetic.labels) // data.num_classes}
    return synthetic, optimizers, facts


class _RealBatches:
    """Random real images of one class, from torch's global generator (so checkpoints capture it).

    Under a process group every rank draws every class (:meth:`draw`) and pairs only the classes it matches
    (:meth:`pair`), so all ranks consume the same random numbers whatever the group's size.
    """

    def __init__(self, data: ImageData, device: torch.device, dsa: DSA | None):
        self.x = data.train_x.to(device)
        self.members = [(data.train_y == c).nonzero().flatten().to(device) for c in range(data.num_classes)]
        self.dsa = dsa
        self.mine = set(distributed.owned(data.num_classes))

    def draw(self, cls: int, count: int) -> tuple[Tensor, dict[str, Any] | None]:
        """``count`` random image indices of ``cls`` and one DSA draw to apply to them and the synthetic images."""
        pool = self.members[cls]
        picked = pool[torch.randperm(len(pool), device=pool.device)[:count]]
        if self.dsa is None:
            return picked, None
        return picked, self.dsa.sample(1, self.x.shape[2], self.x.shape[3], shared=True, device=pool.device)

    def pair(self, draw: tuple[Tensor, dict[str, Any] | None], syn: Tensor) -> tuple[Tensor, Tensor]:
        """The real batch of ``draw`` and ``syn``, both augmented with its DSA draw (when DSA is on)."""
        picked, params = draw
        real = self.x[picked]
        if params is None:
            return real, syn
        return self.dsa.apply(real, params), self.dsa.apply(syn, params)

    def matched_pairs(self, synthetic: SyntheticSet, images: Tensor, count: int) -> list[tuple[int, slice, Tensor, Tensor]]:
        """``(class, synthetic rows, real batch, synthetic batch)`` of this rank's classes (every class is drawn)."""
        pairs = []
        for index, (cls, rows) in enumerate(synthetic.class_slices.items()):
            draw = self.draw(cls, count)
            if index in self.mine:
                pairs.append((cls, rows, *self.pair(draw, images[rows])))
        return pairs


class DistributionMatching(WithoutInnerTraining):
    """Per class: squared distance of the mean embeddings of a real and the synthetic batch (DM)."""

    sharding = "classes"

    def __init__(self, data: ImageData, synthetic: SyntheticSet, config: DMConfig, device: torch.device):
        self.data, self.synthetic, self.config, self.device = data, synthetic, config, device
        self.real = _RealBatches(data, device, DSA() if config.dsa else None)

    def new_model(self) -> nn.Module:
        model = build("convnet", self.data.shape, self.data.num_classes, self.device)
        return model.requires_grad_(False)

    def outer_loss(self, model: nn.Module) -> Tensor:
        images, _ = self.synthetic.materialize()
        _, _, reals, syns = zip(*self.real.matched_pairs(self.synthetic, images, self.config.batch_real))
        # One forward pass for all classes: the network normalises per image, so batching changes nothing
        # but the size of the matrix products.
        with torch.no_grad():
            real_embeddings = model.embed(torch.cat(reals)).split([len(r) for r in reals])
        syn_embeddings = model.embed(torch.cat(syns)).split([len(s) for s in syns])
        return sum(distribution_distance(r, s, "mean") for r, s in zip(real_embeddings, syn_embeddings))


class GradientMatching:
    """Per class: the distance between the network's gradients on a real and on the synthetic batch (DC / DSA)."""

    sharding = "classes"

    def __init__(self, data: ImageData, synthetic: SyntheticSet, config: DCConfig, device: torch.device):
        self.data, self.synthetic, self.config, self.device = data, synthetic, config, device
        self.real = _RealBatches(data, device, DSA() if config.dsa else None)

    def new_model(self) -> nn.Module:
        return build("convnet", self.data.shape, self.data.num_classes, self.device)

    def outer_loss(self, model: nn.Module) -> Tensor:
        images, labels = self.synthetic.materialize()
        params = [p for p in model.parameters() if p.requires_grad]
        loss = images.new_zeros(())
        for cls, rows, real, syn in self.real.matched_pairs(self.synthetic, images, self.config.batch_real):
            target = torch.full((len(real),), cls, device=self.device)
            grads_real = [g.detach() for g in torch.autograd.grad(F.cross_entropy(model(real), target), params)]
            grads_syn = torch.autograd.grad(F.cross_entropy(model(syn), labels[rows]), params, create_graph=True)
            loss = loss + gradient_distance(grads_syn, grads_real, self.config.distance)
        return loss

    def inner_data(self) -> tuple[Tensor, Tensor]:
        images, labels = self.synthetic.materialize()
        return images.detach(), labels

    def inner_loss(self, model: nn.Module, data: tuple[Tensor, Tensor]) -> Tensor:
        images, labels = data
        if self.real.dsa is not None:
            images = self.real.dsa(images)
        return F.cross_entropy(model(images), labels)


class KernelInducingPoints(WithoutInnerTraining):
    """MSE of KRR predictions (support = synthetic set) on a batch of real images; under a process group each
    rank predicts its block of the batch's rows (the support's kernel and fit are computed on every rank)."""

    sharding = "rows"

    def __init__(self, data: ImageData, synthetic: SyntheticImages, config: KIPConfig, device: torch.device):
        self.data, self.synthetic, self.config, self.device = data, synthetic, config, device
        self.x = data.train_x.to(device)
        self.y = one_hot_targets(data.train_y, data.num_classes).to(device)

    def new_model(self) -> nn.Module:
        if self.config.kernel == "fc-ntk":
            return super().new_model()
        return build("convnet", self.data.shape, self.data.num_classes, self.device).requires_grad_(False)

    def outer_loss(self, model: nn.Module) -> Tensor:
        images, labels = self.synthetic.materialize()
        targets = labels if labels.dim() == 2 else one_hot_targets(labels, self.data.num_classes)
        drawn = torch.randperm(len(self.x), device=self.device)[:self.config.batch_real]
        batch = distributed.owned_block(drawn)
        if self.config.kernel == "fc-ntk":
            support, query = images.flatten(1), self.x[batch].flatten(1)
        else:
            with torch.no_grad():
                query = model.embed(self.x[batch])
            support = model.embed(images)
        alpha = krr_fit(_kip_kernel(self.config.kernel, support), targets, self.config.ridge)
        predictions = _kip_kernel(self.config.kernel, query, support) @ alpha
        # this rank's part of the mean squared error over the whole drawn batch
        return F.mse_loss(predictions, self.y[batch], reduction="sum") / (len(drawn) * self.y.shape[1])


def _kip_kernel(name: str, x: Tensor, y: Tensor | None = None) -> Tensor:
    """KIP's kernel between representations: flattened pixels (``fc-ntk``) or network embeddings
    (``convnet-rf``)."""
    return relu_kernels(x, y)[0] if name == "fc-ntk" else feature_kernel(x, y)


@torch.no_grad()
def krr_accuracy(data: ImageData, x: Tensor, y: Tensor, config: KIPConfig = KIPConfig(), seed: int = 0,
                 chunk: int = 2000) -> float:
    """Test accuracy of kernel ridge regression with the synthetic set as support (KIP's own evaluation), with
    ``config.kernel``; ``convnet-rf`` concatenates the embeddings of ``config.rf_networks`` random ConvNets
    drawn from ``seed``."""
    device = x.device
    if config.kernel == "fc-ntk":
        def represent(images: Tensor) -> Tensor:
            return images.flatten(1).double()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            networks = [build("convnet", data.shape, data.num_classes, device).eval()
                        for _ in range(config.rf_networks)]

        def represent(images: Tensor) -> Tensor:
            return torch.cat([net.embed(images.float()) for net in networks], 1).double()
    support = represent(x)
    targets = (y if y.dim() == 2 else one_hot_targets(y, data.num_classes)).double().to(device)
    alpha = krr_fit(_kip_kernel(config.kernel, support), targets, config.ridge)
    correct = 0
    for start in range(0, len(data.test_y), chunk):
        query = represent(data.test_x[start:start + chunk].to(device))
        prediction = _kip_kernel(config.kernel, query, support) @ alpha
        correct += int((prediction.argmax(1).cpu() == data.test_y[start:start + chunk]).sum())
    return correct / len(data.test_y)


def _matching_steps(ipc: int, config: DCConfig) -> tuple[int, int]:
    if config.outer_steps and config.inner_steps:
        return config.outer_steps, config.inner_steps
    if ipc == 1:
        return 1, 1
    if ipc < 50:
        return 10, 50
    return 50, 10


def _export(synthetic: SyntheticSet) -> tuple[Tensor, Tensor]:
    with torch.no_grad():
        images, labels = synthetic.materialize()
    return images.detach().cpu().clone(), labels.detach().cpu().clone()


def _run(problem, synthetic: SyntheticSet, optimizers, schedule: BilevelSchedule, run: RunOptions,
         facts: dict) -> Condensed:
    result = run_bilevel(problem, synthetic, optimizers, schedule, run)
    x, y = _export(synthetic)
    return Condensed.from_loop({"x": x, "y": y}, result, **facts)


def condense_dm(data: ImageData, ipc: int, config: DMConfig, run: RunOptions) -> Condensed:
    _check_ipc(data, ipc)
    synthetic, optimizers, facts = _synthetic(data, ipc, config, run)
    schedule = BilevelSchedule(epochs=config.iterations, outer_steps=1, inner_steps=0,
                               checkpoint_every=config.checkpoint_every)
    problem = DistributionMatching(data, synthetic, config, run.device)
    return _run(problem, synthetic, optimizers, schedule, run, facts)


def condense_gradient_matching(data: ImageData, ipc: int, config: DCConfig, run: RunOptions) -> Condensed:
    _check_ipc(data, ipc)
    synthetic, optimizers, facts = _synthetic(data, ipc, config, run)
    outer, inner = _matching_steps(ipc, config)
    schedule = BilevelSchedule(epochs=config.iterations, outer_steps=outer, inner_steps=inner, inner_lr=config.lr_net,
                               inner_optimizer="sgd", checkpoint_every=config.checkpoint_every)
    problem = GradientMatching(data, synthetic, config, run.device)
    return _run(problem, synthetic, optimizers, schedule, run, {**facts, "outer_steps": outer, "inner_steps": inner})


def condense_kip(data: ImageData, ipc: int, config: KIPConfig, run: RunOptions) -> Condensed:
    _check_ipc(data, ipc)
    x, y = _initial_images(data, ipc, run)
    synthetic = SyntheticImages(x, y, data.num_classes, learn_labels=config.learn_labels).to(run.device)
    optimizers = {name: torch.optim.Adam(params, lr=config.lr) for name, params in synthetic.parameter_groups().items()}
    schedule = BilevelSchedule(epochs=config.iterations, outer_steps=1, inner_steps=0,
                               checkpoint_every=config.checkpoint_every)
    facts = {"parametrization": "images", "stored_floats": synthetic.storage(), "learn_labels": config.learn_labels,
             "kernel": config.kernel}
    condensed = _run(KernelInducingPoints(data, synthetic, config, run.device), synthetic, optimizers, schedule,
                     run, facts)
    x, y = condensed.data["x"], condensed.data["y"]
    condensed.meta["krr_test_acc"] = krr_accuracy(data, x.to(run.device), y.to(run.device), config, run.seed)
    return condensed


def condense_random(data: ImageData, ipc: int, config: CoresetImagesConfig, run: RunOptions) -> Condensed:
    _check_ipc(data, ipc)
    x, y = _initial_images(data, ipc, run)
    return Condensed({"x": x.clone(), "y": y.clone()}, {"selection": "uniformly random real images per class"})


def condense_herding(data: ImageData, ipc: int, config: CoresetImagesConfig, run: RunOptions) -> Condensed:
    _check_ipc(data, ipc)
    model = build("convnet", data.shape, data.num_classes, run.device)
    train_network(model, data.train_x.to(run.device), data.train_y.to(run.device),
                  EvalConfig(epochs=config.embed_epochs, augment="none"), progress=run.progress)
    model.eval()
    picked = []
    with torch.no_grad():
        for cls in range(data.num_classes):
            members = (data.train_y == cls).nonzero().flatten()
            embeddings = torch.cat([model.embed(data.train_x[members[i:i + 1000]].to(run.device)).cpu()
                                    for i in range(0, len(members), 1000)])
            picked.append(members[herding(embeddings, ipc)])
    rows = torch.cat(picked)
    return Condensed({"x": data.train_x[rows].clone(), "y": data.train_y[rows].clone()},
                     {"selection": f"herding on a ConvNet trained {config.embed_epochs} epoch(s) on the full set"})


METHODS: Registry[Method] = Registry("method")
METHODS.register("dc")(Method(DCConfig, condense_gradient_matching))
METHODS.register("dsa")(Method(DSAMatchingConfig, condense_gradient_matching))
METHODS.register("dm")(Method(DMConfig, condense_dm))
METHODS.register("kip")(Method(KIPConfig, condense_kip))
METHODS.register("random")(Method(CoresetImagesConfig, condense_random))
METHODS.register("herding")(Method(CoresetImagesConfig, condense_herding))
