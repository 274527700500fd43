"""Node-level graph condensation as a :class:`~graphdistill.core.modality.Modality` (``graphdistill ... graph``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, Method, data_digest
from graphdistill.core.modality import Modality
from graphdistill.core.registry import Registry
from graphdistill.core.runinfo import real_data_device
from graphdistill.graph.budget import Budget, allocate_labels, labels_from_allocation, resolve_budget
from graphdistill.graph.data import NodeGraph, load_node_graph
from graphdistill.graph.io import (GRAPH_FILE, is_propagation_matrix, load_condensed, read_condensed, read_external,
                                  save_condensed)
from graphdistill.graph.models import ARCHITECTURES
from graphdistill.graph.sfgc import ExpertConfig, build_experts


class NodeGraphs(Modality):
    """A node-classification graph condensed to a small weighted graph with GCond's protocol."""

    name = "graph"
    help = "condense a node-classification graph"
    config_package = "graphdistill.graph"
    output_file = GRAPH_FILE
    budget_flag = "--budget"
    primary_metric = "test_acc_mean"
    datasets = ("cora, citeseer, pubmed (Planetoid), ogbn-arxiv, ogbn-products (OGB layout under the data root), "
                "csbm-arxiv, csbm-products, csbm:key=value,... (generated, cached) or file:PATH (.pt or .npz)")
    default_method = "gcond"
    expert_config = ExpertConfig
    places_real_data = True

    @property
    def methods(self) -> Registry[Method]:
        from graphdistill.graph.methods import METHODS

        return METHODS

    def add_data_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--download", action="store_true",
                            help="without a data root, let PyG download the raw files into ~/.cache/graphdistill")
        parser.add_argument("--split", help="replace the dataset's split: train/val/test fractions drawn per class "
                                            "(0.6/0.2/0.2, the default where a dataset has none) or "
                                            "per-class:TRAIN/VAL/TEST (per-class:20/500/1000); evaluate: the "
                                            "condensed output's")
        parser.add_argument("--split-seed", type=int, default=None,
                            help="seed of a drawn split (default 0; evaluate: the condensed output's)")

    def add_condense_arguments(self, parser: argparse.ArgumentParser) -> None:
        size = parser.add_mutually_exclusive_group(required=True)
        size.add_argument("--budget", type=int, help="number of synthetic nodes")
        size.add_argument("--ratio", type=float, help="synthetic nodes as a fraction of --ratio-of")
        parser.add_argument("--ratio-of", default="labelled", choices=("labelled", "train", "graph"),
                            help="basis of --ratio (default: labelled training nodes, GCond's r)")
        parser.add_argument("--setting", default="transductive", choices=("transductive", "inductive"),
                            help="inductive (GCond's Flickr/Reddit setting): condensation sees only the subgraph "
                                 "induced by the training nodes; evaluation still tests on the full graph")
        parser.add_argument("--eval-every", type=int, default=0, metavar="N",
                            help="score the synthetic graph (1 GCN run) every N epochs; recorded in meta.json")

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--condensed", help="directory written by `condense graph`")
        source.add_argument("--feat", help="feature tensor file (GCond/GraphSLIM/SFGC style); without --adj the "
                                           "graph is structure-free (no edges: the identity after GCN's self-loops)")
        source.add_argument("--whole", action="store_true", help="train on the full real graph instead")
        parser.add_argument("--adj", help="adjacency tensor file, with --feat (default: no edges)")
        parser.add_argument("--labels", help="label tensor file, with --feat (default: GCond's allocation rule)")
        parser.add_argument("--arch", default="gcn", help=f"one of: {', '.join(ARCHITECTURES)} (default: gcn)")
        parser.add_argument("--runs", type=int, default=5)
        parser.add_argument("--threshold", type=float, default=0.0, help="drop synthetic edges below this weight")
        parser.add_argument("--dropout", type=float, default=0.5)
        parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (cut by 10 at half; default 0.01)")
        parser.add_argument("--weight-decay", type=float, default=5e-4, help="default 5e-4")

    def load_data(self, args: argparse.Namespace, root: Path | None) -> NodeGraph:
        graph = load_node_graph(args.dataset, root, download=getattr(args, "download", False), split=args.split,
                                split_seed=args.split_seed or 0)
        if getattr(args, "setting", "transductive") == "inductive":
            if getattr(args, "eval_every", 0):
                raise InputError("--eval-every scores on the real validation and test nodes, which the inductive "
                                 "setting keeps out of condensation; evaluate the output instead")
            return graph.training_subgraph()
        return graph

    def build_experts(self, data: NodeGraph, args: argparse.Namespace, config: ExpertConfig,
                      device: torch.device) -> dict[str, Any]:
        buffer = build_experts(data.to(device), args.out, args.experts, config, args.seed, progress=not args.quiet)
        return buffer.facts()

    def digest(self, data: NodeGraph) -> str:
        return data_digest(data.x, data.edge_index, data.y, data.train_idx, data.val_idx, data.test_idx)

    def resolve_budget(self, data: NodeGraph, args: argparse.Namespace) -> Budget:
        return resolve_budget(data, args.budget, args.ratio, args.ratio_of)

    def budget_record(self, budget: Budget) -> dict[str, Any]:
        return budget.as_dict()

    def budget_text(self, budget: dict[str, Any]) -> str:
        return f"{budget['nodes']} nodes"

    def epoch_callback(self, data: NodeGraph, args: argparse.Namespace,
                       records: list[dict[str, Any]]) -> Callable[[int, float, Any], None] | None:
        """Score the synthetic graph every ``--eval-every`` epochs without disturbing the run."""
        every = getattr(args, "eval_every", 0)
        if every <= 0:
            return None
        from tqdm.auto import tqdm

        from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed

        real = RealGraphView(data)

        def callback(epoch: int, loss: float, synthetic: Any) -> None:
            if (epoch + 1) % every:
                return
            with torch.no_grad():
                x, adj, y = synthetic.export()
            score = evaluate_condensed(data, x.cpu(), adj.cpu(), y.cpu(), EvalConfig(runs=1), real=real,
                                       propagation=synthetic.propagation_matrix)
            records.append({"epoch": epoch + 1, "matching_loss": loss, "test_acc": score["test_acc_mean"],
                            "val_acc": score["val_acc_mean"]})
            tqdm.write(f"epoch {epoch + 1}: matching loss {loss:.4f}, val {100 * score['val_acc_mean']:.1f}, "
                       f"test {100 * score['test_acc_mean']:.1f}", file=sys.stderr)

        return callback

    def describe(self, condensed: Condensed, data: NodeGraph, args: argparse.Namespace) -> dict[str, Any]:
        return {"dataset": data.name, "num_nodes": int(condensed.data["x"].shape[0]),
                "num_edges": int((condensed.data["adj"] > 0).sum()), "num_classes": data.num_classes,
                "num_features": data.num_features, "graph": data.facts}

    def save(self, out: Path, condensed: Condensed, overwrite: bool) -> None:
        save_condensed(out, condensed, overwrite=overwrite)

    def load(self, path: str | Path):
        return load_condensed(path)

    def evaluate(self, args: argparse.Namespace, root: Path | None, device: torch.device) -> dict[str, Any]:
        from graphdistill.graph.evaluate import EvalConfig, evaluate_condensed, evaluate_whole

        ARCHITECTURES[args.arch]  # unknown names fail before any data is read
        if args.adj and not args.feat:
            raise InputError("--adj needs --feat")
        config = EvalConfig(arch=args.arch, dropout=args.dropout, threshold=args.threshold, runs=args.runs,
                            seed=args.seed, lr=args.lr, weight_decay=args.weight_decay)
        if args.condensed:
            x, adj, y, meta = read_condensed(args.condensed)
            propagation = is_propagation_matrix(meta)
            drawn = meta.get("graph", {})
            if args.split is None and drawn.get("split", "given") != "given":
                args.split = drawn["split"]
                args.split_seed = drawn.get("split_seed", 0) if args.split_seed is None else args.split_seed
        elif args.feat:
            x, adj, y = read_external(args.feat, args.adj, args.labels)
            propagation = False
        graph = self.load_data(args, root)
        # the models are scored on the whole real graph: they train where it is
        graph = graph.to(real_data_device(graph.memory_bytes(), device, args.real_data))
        progress = not args.quiet
        if args.whole:
            return evaluate_whole(graph, config, progress=progress)
        if y is None:
            budget = resolve_budget(graph, budget=x.shape[0])
            y = labels_from_allocation(allocate_labels(graph.y[graph.train_idx].cpu(), budget.nodes))
        return evaluate_condensed(graph, x, adj, y, config, progress=progress, propagation=propagation)


NODE_GRAPHS = NodeGraphs()
