"""Graph-level condensation as a :class:`~graphdistill.core.modality.Modality` (``graphdistill ... graphs``):
a set of labelled graphs condensed to a few synthetic graphs per class."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, Method, data_digest
from graphdistill.core.modality import Modality
from graphdistill.core.registry import Registry
from graphdistill.graph.classification.data import GraphSet, load_graph_set
from graphdistill.graph.classification.io import GRAPHS_FILE, load_graph_set_output, read_graph_set, save_graph_set
from graphdistill.graph.classification.models import ARCHITECTURES


class GraphSets(Modality):
    """Graph classification datasets (TUDataset or a user's ``file:``) condensed per class."""

    name = "graphs"
    help = "condense a graph-classification dataset (a set of small graphs)"
    config_package = "graphdistill.graph.classification"
    output_file = GRAPHS_FILE
    budget_flag = "--per-class"
    primary_metric = "test_acc_mean"
    datasets = "MUTAG, NCI1, PROTEINS (TUDataset/<NAME>/raw under the data root) or file:PATH"
    default_method = "doscond"

    @property
    def methods(self) -> Registry[Method]:
        from graphdistill.graph.classification.methods import METHODS

        return METHODS

    def add_data_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--split-seed", type=int, default=None,
                            help="seed of the stratified 80/10/10 split (default 0; evaluate: the condensed "
                                 "output's)")

    def add_condense_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--per-class", type=int, required=True, help="synthetic graphs per class")

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--condensed", help="directory written by `condense graphs`")
        source.add_argument("--whole", action="store_true", help="train on every real training graph instead")
        parser.add_argument("--arch", default="gcn",
                            help=f"{' or '.join(ARCHITECTURES)}: DosCond's GCN protocol or KiDD's GIN protocol "
                                 "(default gcn)")
        parser.add_argument("--runs", type=int, default=10, help="default 10")
        parser.add_argument("--epochs", type=int, help="override the protocol's epochs (500 gcn, 200 gin)")

    def load_data(self, args: argparse.Namespace, root: Path | None) -> GraphSet:
        split_seed = args.split_seed if args.split_seed is not None else 0
        return load_graph_set(args.dataset, root, split_seed)

    def digest(self, data: GraphSet) -> str:
        return data_digest(data.x, data.edge_index, data.ptr, data.y, data.train_idx, data.val_idx, data.test_idx)

    def resolve_budget(self, data: GraphSet, args: argparse.Namespace) -> int:
        if args.per_class < 1:
            raise InputError(f"--per-class must be at least 1, got {args.per_class}")
        return args.per_class

    def budget_text(self, budget: Any) -> str:
        return f"{budget} graphs per class"

    def describe(self, condensed: Condensed, data: GraphSet, args: argparse.Namespace) -> dict[str, Any]:
        x, adj, mask = (condensed.data[k] for k in ("x", "adj", "mask"))
        return {"num_graphs": int(x.shape[0]), "nodes_per_graph": int(x.shape[1]),
                "num_edges": int((adj > 0).sum()) // 2, "num_classes": data.num_classes,
                "num_features": data.num_features, "real_graphs": data.num_graphs,
                "real_training_graphs": len(data.train_idx), "real_mean_nodes": float(data.sizes().float().mean()),
                "split": data.split, "stored_nodes": int(mask.sum())}

    def save(self, out: Path, condensed: Condensed, overwrite: bool) -> None:
        save_graph_set(out, condensed, overwrite=overwrite)

    def load(self, path: str | Path) -> list:
        return load_graph_set_output(path)

    def evaluate(self, args: argparse.Namespace, root: Path | None, device: torch.device) -> dict[str, Any]:
        from graphdistill.graph.classification.evaluate import dense_batches, evaluate_runs, protocol, sparse_batches

        config = protocol(args.arch, runs=args.runs, epochs=args.epochs, seed=args.seed)
        tensors, meta = read_graph_set(args.condensed) if args.condensed else (None, {})
        if args.split_seed is None and isinstance(meta.get("split", {}).get("seed"), int):
            args.split_seed = meta["split"]["seed"]
        graphs = self.load_data(args, root)
        if args.whole:
            train = sparse_batches(graphs, graphs.train_idx, config.batch_size, device)
            result = evaluate_runs(config, train, graphs, device, progress=not args.quiet)
            return {**result, "train_graphs": len(graphs.train_idx), "split": graphs.split}
        if tensors["x"].shape[-1] != graphs.num_features:
            raise InputError(f"{args.condensed} has {tensors['x'].shape[-1]} node features but {args.dataset} has "
                             f"{graphs.num_features}: condensed from another dataset?")
        if int(tensors["y"].max()) >= graphs.num_classes:
            raise InputError(f"{args.condensed} holds label {int(tensors['y'].max())} but {args.dataset} has "
                             f"{graphs.num_classes} classes")
        x, adj, mask, y = (tensors[k].to(device) for k in ("x", "adj", "mask", "y"))
        train = dense_batches(x, adj, mask, y, config.batch_size)
        result = evaluate_runs(config, train, graphs, device, progress=not args.quiet)
        return {**result, "train_graphs": int(x.shape[0]), "split": graphs.split}


GRAPH_SETS = GraphSets()
