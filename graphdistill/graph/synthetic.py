"""The learnable condensed graph: node features plus an optional structure generator."""
from __future__ import annotations

from torch import Tensor, nn

from graphdistill.core.synthetic import SyntheticSet
from graphdistill.graph.structure import PairwiseStructureGenerator


class SyntheticGraph(SyntheticSet):
    """Condensed graph ``(x, adj, y)`` with ``x`` learnable and ``adj = PGE(x)`` (GCond) or no edges (GCond-X).

    Args:
        features: ``(n, F)`` initial features (GCond: real training nodes of each row's class).
        labels: ``(n,)`` labels, rows of a class contiguous.
        structure: learn a structure generator; ``False`` means a graph without edges.
        hidden, layers: structure generator size (GCond: 128, 3).

    Parameter groups: ``"features"`` and, with ``structure``, ``"structure"``.

    ``propagation_matrix`` (a class attribute): the ``adj`` this graph exports is the propagation matrix itself,
    which every model uses as it is (GDEM's), not edge weights that a model normalises.
    """

    propagation_matrix = False

    def __init__(self, features: Tensor, labels: Tensor, structure: bool = True, hidden: int = 128, layers: int = 3):
        super().__init__(labels)
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f"{features.shape[0]} feature rows for {labels.shape[0]} labels")
        self.features = nn.Parameter(features.detach().clone())
        self.structure = PairwiseStructureGenerator(features.shape[1], hidden, layers) if structure else None

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = {"features": [self.features]}
        if self.structure is not None:
            groups["structure"] = list(self.structure.parameters())
        return groups

    def materialize(self) -> tuple[Tensor, Tensor | None]:
        """``(x (n, F), adj (n, n) or None)``; ``None`` stands for a graph without edges."""
        adj = self.structure(self.features) if self.structure is not None else None
        return self.features, adj

    def export(self) -> tuple[Tensor, Tensor, Tensor]:
        """Detached ``(x, adj, y)`` with a dense ``adj`` (zeros when there is no structure)."""
        x, adj = self.materialize()
        if adj is None:
            adj = x.new_zeros(x.shape[0], x.shape[0])
        return x.detach().clone(), adj.detach().clone(), self.labels.clone()
