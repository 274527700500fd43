"""``graphdistill {condense,evaluate} graph ...``: one command, argparse subcommands, TOML configs."""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
import warnings
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from graphdistill import __version__
from graphdistill.core.config import build_config, parse_overrides, read_toml
from graphdistill.core.errors import InputError


def _packaged_config(method: str) -> dict[str, Any]:
    path = resources.files("graphdistill.graph") / "configs" / f"{method}.toml"
    return read_toml(Path(str(path)))


def _sections(table: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    """A config file's layers: top-level keys, then ``[default]``, then ``[<dataset>]``."""
    flat = {k: v for k, v in table.items() if not isinstance(v, dict)}
    return [flat, table.get("default", {}), table.get(dataset, {})]


def _graph_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="cora, citeseer or pubmed (Planetoid public split)")
    parser.add_argument("--data-root", help="folder holding planetoid/<Name>/raw (default: $GRAPHDISTILL_DATA, "
                                            "else PyG's download into ~/.cache/graphdistill)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default: cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphdistill", description=__doc__)
    parser.add_argument("--version", action="version", version=f"graphdistill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    condense = commands.add_parser("condense", help="synthesize a small dataset")
    condense_modality = condense.add_subparsers(dest="modality", required=True)
    graph = condense_modality.add_parser("graph", help="condense a node-classification graph")
    _graph_common(graph)
    graph.add_argument("--method", default="gcond", help="gcond, gcond-x, doscond, random, herding, kcenter")
    size = graph.add_mutually_exclusive_group(required=True)
    size.add_argument("--budget", type=int, help="number of synthetic nodes")
    size.add_argument("--ratio", type=float, help="synthetic nodes as a fraction of --ratio-of")
    graph.add_argument("--ratio-of", default="labelled", choices=("labelled", "train", "graph"),
                       help="basis of --ratio (default: labelled training nodes, GCond's r)")
    graph.add_argument("--seed", type=int, default=0)
    graph.add_argument("--out", required=True, help="output directory (graph.pt + meta.json)")
    graph.add_argument("--resume", action="store_true", help="continue from <out>.partial/checkpoint.pt")
    graph.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    graph.add_argument("--config", help="TOML file with settings (top level, [default] or [<dataset>])")
    graph.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    graph.add_argument("--eval-every", type=int, default=0, metavar="N",
                       help="score the synthetic graph (1 GCN run) every N epochs; recorded in meta.json")

    evaluate = commands.add_parser("evaluate", help="train models on a condensed dataset and test them")
    evaluate_modality = evaluate.add_subparsers(dest="modality", required=True)
    graph = evaluate_modality.add_parser("graph", help="GCond's protocol on the real graph's test nodes")
    _graph_common(graph)
    source = graph.add_mutually_exclusive_group(required=True)
    source.add_argument("--condensed", help="directory written by `condense graph`")
    source.add_argument("--feat", help="feature tensor file (GCond/GraphSLIM style), with --adj")
    source.add_argument("--whole", action="store_true", help="train on the full real graph instead")
    graph.add_argument("--adj", help="adjacency tensor file, with --feat")
    graph.add_argument("--labels", help="label tensor file, with --feat (default: GCond's allocation rule)")
    graph.add_argument("--arch", default="gcn", help="gcn, sgc, appnp, cheby, sage or mlp")
    graph.add_argument("--runs", type=int, default=5)
    graph.add_argument("--threshold", type=float, default=0.0, help="drop synthetic edges below this weight")
    graph.add_argument("--dropout", type=float, default=0.5)
    graph.add_argument("--seed", type=int, default=0)
    graph.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return parser


def _condense_graph(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from graphdistill.core.runinfo import environment, peak_device_mib, peak_rss_mib, resolve_device
    from graphdistill.graph.budget import resolve_budget
    from graphdistill.graph.data import load_node_graph
    from graphdistill.graph.io import save_condensed
    from graphdistill.graph.methods import METHODS, RunOptions

    started = time.perf_counter()
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
    method = METHODS[args.method]
    dataset = args.dataset.lower()
    layers = _sections(_packaged_config(args.method), dataset)
    if args.config:
        layers += _sections(read_toml(args.config), dataset)
    config = build_config(method.config_class, *layers, parse_overrides(args.set))
    device = resolve_device(args.device)
    graph = load_node_graph(dataset, args.data_root)
    budget = resolve_budget(graph, args.budget, args.ratio, args.ratio_of)
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, Any]] = []
    try:
        result = method.condense(graph, budget, config, RunOptions(
            seed=args.seed, device=device, checkpoint_path=partial / "checkpoint.pt", resume=args.resume,
            progress=not args.quiet, callback=_periodic_evaluation(graph, args.eval_every, history)))
    except BaseException:
        if not any(partial.iterdir()):  # keep a checkpoint for --resume, drop an empty folder
            partial.rmdir()
        raise
    meta = {
        "dataset": dataset, "method": args.method, "budget": budget.as_dict(), "seed": args.seed,
        "config": dataclasses.asdict(config), "num_nodes": int(result.x.shape[0]),
        "num_edges": int((result.adj > 0).sum()), "wall_s": time.perf_counter() - started,
        "peak_rss_mib": peak_rss_mib(), "peak_device_mib": peak_device_mib(device),
        "environment": environment(device), "command": ["graphdistill", *sys.argv[1:]],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "eval_history": history,
        **result.info,
    }
    save_condensed(out, result.x, result.adj, result.y, meta, overwrite=args.overwrite)
    shutil.rmtree(partial, ignore_errors=True)
    return {"out": str(out), "nodes": meta["num_nodes"], "edges": meta["num_edges"], "wall_s": meta["wall_s"]}


def _periodic_evaluation(graph, every: int, history: list[dict[str, Any]]):
    """A loop callback scoring the synthetic graph every ``every`` epochs without disturbing the run."""
    if every <= 0:
        return None
    import torch
    from tqdm.auto import tqdm

    from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed

    real = RealGraphView(graph.to("cpu"))

    def callback(epoch: int, loss: float, synthetic) -> None:
        if (epoch + 1) % every:
            return
        with torch.no_grad():
            x, adj, y = synthetic.export()
        score = evaluate_condensed(real.graph, x.cpu(), adj.cpu(), y.cpu(), EvalConfig(runs=1), real=real)
        history.append({"epoch": epoch + 1, "matching_loss": loss, "test_acc": score["test_acc_mean"],
                        "val_acc": score["val_acc_mean"]})
        tqdm.write(f"epoch {epoch + 1}: matching loss {loss:.4f}, val {100 * score['val_acc_mean']:.1f}, "
                   f"test {100 * score['test_acc_mean']:.1f}", file=sys.stderr)

    return callback


def _evaluate_graph(args: argparse.Namespace) -> dict[str, Any]:
    from graphdistill.core.runinfo import resolve_device
    from graphdistill.graph.budget import allocate_labels, labels_from_allocation, resolve_budget
    from graphdistill.graph.data import load_node_graph
    from graphdistill.graph.evaluate import EvalConfig, evaluate_condensed, evaluate_whole
    from graphdistill.graph.io import read_condensed, read_external
    from graphdistill.graph.models import ARCHITECTURES

    ARCHITECTURES[args.arch]  # unknown names fail before any data is read
    if args.feat and not args.adj:
        raise InputError("--feat needs --adj")
    if args.adj and not args.feat:
        raise InputError("--adj needs --feat")
    config = EvalConfig(arch=args.arch, dropout=args.dropout, threshold=args.threshold, runs=args.runs, seed=args.seed)
    device = resolve_device(args.device)
    graph = load_node_graph(args.dataset, args.data_root).to(device)
    progress = not args.quiet
    if args.whole:
        return evaluate_whole(graph, config, progress=progress)
    if args.condensed:
        x, adj, y, _ = read_condensed(args.condensed)
    else:
        x, adj, y = read_external(args.feat, args.adj, args.labels)
        if y is None:
            budget = resolve_budget(graph, budget=x.shape[0])
            y = labels_from_allocation(allocate_labels(graph.y[graph.train_idx].cpu(), budget.nodes))
    return evaluate_condensed(graph, x, adj, y, config, progress=progress)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
    try:
        if args.command == "condense":
            result = _condense_graph(args)
            print(json.dumps(result))
        else:
            result = _evaluate_graph(args)
            if args.json:
                print(json.dumps(result))
            else:
                print(f"test accuracy {100 * result['test_acc_mean']:.2f} +- {100 * result['test_acc_std']:.2f} "
                      f"over {result['runs']} runs ({result['arch']}, {result['wall_s']:.1f} s)")
    except InputError as exc:
        print(f"graphdistill: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphdistill: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
