"""Contextual stochastic block model graphs: seeded stand-ins for large graphs, generated in chunks and cached.

Classes get Zipf-shaped sizes; every node's features are its class mean plus unit Gaussian noise; every edge
starts at a uniformly drawn node and ends, with the probability that gives the asked edge homophily, at a
uniform node of the same class, else at a uniform node of the graph. Edges are drawn in fixed-size chunks, so
memory is ``O(E + N F)`` and nothing is ever ``N x N``. The graph is a function of its spec alone (``seed``
included), cached atomically under :func:`~graphdistill.core.data_root.cache_dir` and read back on later runs.

Names: ``csbm-arxiv`` and ``csbm-products`` (the sizes, feature widths, class counts and split fractions of
ogbn-arxiv and ogbn-products), or ``csbm:nodes=10000,degree=14,...`` (unset keys take ``csbm-arxiv``'s values).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from graphdistill.core.atomic import cached_torch_file
from graphdistill.core.config import build_config, parse_overrides
from graphdistill.core.data_root import cache_dir
from graphdistill.core.errors import InputError
from graphdistill.core.progress import progress_bar
from graphdistill.core.split import SplitSpec
from graphdistill.graph.data import NodeGraph, build_node_graph

_EDGE_CHUNK = 1 << 21


@dataclass(frozen=True)
class CSBMSpec:
    """One csbm graph. The defaults are ``csbm-arxiv``.

    Args:
        nodes: number of nodes.
        classes: number of classes; class ``k`` gets a share proportional to ``(k + 1) ** -imbalance``.
        features: feature width.
        degree: mean degree (``nodes * degree / 2`` undirected edges are drawn).
        homophily: the fraction of edges that join two nodes of one class (edge homophily).
        snr: class-mean scale: means are ``N(0, snr^2 / features)`` per coordinate, so two class means lie
            about ``snr * sqrt(2)`` apart against unit noise.
        imbalance: Zipf exponent of the class sizes (0: balanced).
        split: train/val/test fractions (a :class:`~graphdistill.core.split.SplitSpec`), drawn per class.
        seed: the generator's seed; the graph depends on nothing else.
    """

    nodes: int = 169_343
    classes: int = 40
    features: int = 128
    degree: float = 13.77
    homophily: float = 0.31
    snr: float = 2.2
    imbalance: float = 1.0
    split: str = "0.54/0.18/0.28"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.classes < 2 or self.features < 1 or self.degree < 0:
            raise InputError(f"csbm needs classes >= 2, features >= 1 and degree >= 0 (got {self.classes}, "
                             f"{self.features}, {self.degree})")
        if self.nodes < 3 * self.classes:
            raise InputError(f"csbm with {self.classes} classes needs at least {3 * self.classes} nodes "
                             f"(3 per class for a split), got {self.nodes}")
        if not 0 <= self.homophily <= 1 or self.snr < 0 or self.imbalance < 0:
            raise InputError("csbm needs homophily in [0, 1], snr >= 0 and imbalance >= 0")
        SplitSpec.parse(self.split)
        if self.homophily < self.chance_homophily() - 1e-9:
            raise InputError(f"csbm homophily {self.homophily} is below chance ({self.chance_homophily():.3f}) "
                             "for these class sizes")

    def class_sizes(self) -> Tensor:
        """``(classes,)`` node counts: Zipf shares by largest remainder, at least 3 per class."""
        shares = (torch.arange(1, self.classes + 1, dtype=torch.float64) ** -self.imbalance)
        spare = self.nodes - 3 * self.classes
        exact = shares / shares.sum() * spare
        sizes = exact.floor().long()
        remainder = spare - int(sizes.sum())
        sizes[torch.argsort(exact - sizes, descending=True, stable=True)[:remainder]] += 1
        return sizes + 3

    def chance_homophily(self) -> float:
        """Edge homophily of a graph whose edges ignore classes."""
        return float(((self.class_sizes().double() / self.nodes) ** 2).sum())

    def within_class_probability(self) -> float:
        """The chance that an edge is drawn inside the class of its first node, giving ``homophily`` overall."""
        chance = self.chance_homophily()
        return (self.homophily - chance) / (1 - chance)

    def undirected_edges(self) -> int:
        return int(round(self.nodes * self.degree / 2))

    def text(self) -> str:
        """The spec as canonical JSON (stored with the cached graph to check it on reading)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def key(self) -> str:
        """A file name unique to this spec."""
        return f"csbm-{self.nodes}-{hashlib.sha256(self.text().encode()).hexdigest()[:16]}"


PRESETS: dict[str, CSBMSpec] = {
    "csbm-arxiv": CSBMSpec(),
    "csbm-products": CSBMSpec(nodes=2_449_029, classes=47, features=100, degree=50.52, homophily=0.23, snr=2.45,
                              split="0.08/0.02/0.9"),
}


def is_csbm(name: str) -> bool:
    return name.lower() in PRESETS or name.lower().startswith("csbm:")


def parse_csbm(name: str) -> CSBMSpec:
    """``csbm-arxiv``, ``csbm-products`` or ``csbm:key=value,...``.

    Raises:
        InputError: an unknown preset, an unknown key or a value of the wrong type.
    """
    lowered = name.lower()
    if lowered in PRESETS:
        return PRESETS[lowered]
    if not lowered.startswith("csbm:"):
        raise InputError(f"unknown csbm graph {name!r}; presets: {', '.join(PRESETS)}, or csbm:key=value,...")
    pairs = [pair for pair in name[len("csbm:"):].split(",") if pair.strip()]
    settings = parse_overrides(pairs)
    if "split" in settings:
        settings["split"] = str(settings["split"])
    return build_config(CSBMSpec, settings)


def generate_csbm(spec: CSBMSpec, progress: bool = False) -> dict[str, Tensor]:
    """The graph of ``spec``: ``x (N, F)`` float32, ``y (N,)`` int64 and the drawn undirected ``edges (2, E)``
    (int32, before cleaning: an edge may repeat or be a self-loop, rarely)."""
    generator = torch.Generator().manual_seed(spec.seed)
    sizes = spec.class_sizes()
    y = torch.repeat_interleave(torch.arange(spec.classes), sizes)[torch.randperm(spec.nodes, generator=generator)]
    members = torch.argsort(y, stable=True)
    starts = torch.cumsum(sizes, 0) - sizes
    same_class = spec.within_class_probability()
    total = spec.undirected_edges()
    chunks = []
    for begin in progress_bar(range(0, total, _EDGE_CHUNK), progress and total > 8 * _EDGE_CHUNK, desc="csbm edges",
                              unit="chunk"):
        count = min(_EDGE_CHUNK, total - begin)
        source = torch.randint(spec.nodes, (count,), generator=generator)
        classes = y[source]
        offset = (torch.rand(count, generator=generator, dtype=torch.float64) * sizes[classes]).long()
        inside = members[starts[classes] + offset]
        anywhere = torch.randint(spec.nodes, (count,), generator=generator)
        target = torch.where(torch.rand(count, generator=generator) < same_class, inside, anywhere)
        chunks.append(torch.stack([source, target]).int())
    edges = torch.cat(chunks, 1) if chunks else torch.zeros(2, 0, dtype=torch.int32)
    means = torch.randn(spec.classes, spec.features, generator=generator) * (spec.snr / math.sqrt(spec.features))
    x = torch.empty(spec.nodes, spec.features)
    rows = max(1, (1 << 24) // spec.features)
    for begin in range(0, spec.nodes, rows):
        end = min(begin + rows, spec.nodes)
        x[begin:end] = means[y[begin:end]] + torch.randn(end - begin, spec.features, generator=generator)
    return {"x": x, "y": y, "edges": edges}


def load_csbm(name: str, split: str | None = None, split_seed: int = 0, progress: bool = True) -> NodeGraph:
    """The csbm graph named ``name``, from the cache or generated (and cached) now; split by the spec's fractions
    unless ``split`` is given."""
    spec = parse_csbm(name)
    path = cache_dir() / "csbm" / f"{spec.key()}.pt"
    tensors, _ = cached_torch_file(path, spec.text(), "cached csbm graph", lambda: generate_csbm(spec, progress),
                                   key_field="spec")
    return build_node_graph(name.lower(), tensors["x"], tensors["edges"], tensors["y"], name,
                            split_spec=split or spec.split, split_seed=split_seed,
                            facts={"source": "csbm", "csbm": dataclasses.asdict(spec), "cache": str(path)})
