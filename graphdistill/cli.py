"""``graphdistill {condense,evaluate} {graph,recsys,images} ...``: one command, argparse subcommands, TOML configs."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import sys
import time
import warnings
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

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


def _run_flags(parser: argparse.ArgumentParser, output: str) -> None:
    """Flags every ``condense`` subcommand shares."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help=f"output directory ({output})")
    parser.add_argument("--resume", action="store_true", help="continue from <out>.partial/checkpoint.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--config", help="TOML file with settings (top level, [default] or [<dataset>])")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")


def _recsys_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True,
                        help="folder name under <data root>/recsys (RecBole atomic files); ml-100k without such a "
                             "folder is the copy shipped with RecBole, split by Distill-CF's rule")
    parser.add_argument("--data-root", help="folder holding recsys/<name>/ (default: $GRAPHDISTILL_DATA)")
    parser.add_argument("--min-rating", type=float, help="keep only interactions rated at least this")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default: cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _images_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="mnist (IDX files under <data root>/images/MNIST/raw) or "
                                                         "digits (scikit-learn's 8x8 digits, offline)")
    parser.add_argument("--data-root", help="folder holding images/MNIST/raw (default: $GRAPHDISTILL_DATA)")
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
    _run_flags(graph, "graph.pt + meta.json")
    graph.add_argument("--eval-every", type=int, default=0, metavar="N",
                       help="score the synthetic graph (1 GCN run) every N epochs; recorded in meta.json")

    recsys = condense_modality.add_parser("recsys", help="compress a user-item interaction log into synthetic users")
    _recsys_common(recsys)
    recsys.add_argument("--method", default="distill-cf", help="distill-cf, random or head")
    recsys.add_argument("--users", type=int, required=True, help="number of synthetic users (the budget)")
    _run_flags(recsys, "<dataset>.inter + distilled.npz + meta.json")
    recsys.add_argument("--keep-fraction", type=float, default=None, metavar="F",
                        help="sparse output: store only the largest values, F x the training interactions")
    recsys.add_argument("--binarize", choices=("top-k", "threshold"),
                        help="store a 0/1 log: each user's round(row sum) top items, or values >= --threshold")
    recsys.add_argument("--threshold", type=float, default=0.5, help="cut-off of --binarize threshold")

    images = condense_modality.add_parser("images", help="distill an image classification dataset")
    _images_common(images)
    images.add_argument("--method", default="dm", help="dc, dsa, dm, kip, random or herding")
    images.add_argument("--ipc", type=int, required=True, help="images per class (the storage budget)")
    images.add_argument("--iterations", type=int, help="outer iterations (shorthand for --set iterations=N)")
    images.add_argument("--parametrization", choices=("images", "factorized"),
                        help="dc/dsa/dm: one learnable image per row, or bases + hallucinators at the same storage")
    _run_flags(images, "images.pt + meta.json + grid.png")

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

    recsys = evaluate_modality.add_parser("recsys", help="Distill-CF's protocol on the dataset's test split")
    _recsys_common(recsys)
    recsys.add_argument("--condensed", help="directory written by `condense recsys` (default: the full training log)")
    recsys.add_argument("--model", default="infae", help="infae (∞-AE KRR) or recbole:<Model> (EASE, ItemKNN, MultiVAE)")
    recsys.add_argument("--epochs", type=int, default=100, help="training epochs of trained RecBole models")
    recsys.add_argument("--seed", type=int, default=0)
    recsys.add_argument("--json", action="store_true", help="print one JSON object on the last line")

    images = evaluate_modality.add_parser("images", help="train fresh networks on the condensed images, test on real")
    _images_common(images)
    images.add_argument("--condensed", required=True, help="directory written by `condense images`")
    images.add_argument("--arch", default="convnet", help="convnet, convnet-bn or mlp")
    images.add_argument("--runs", type=int, default=5)
    images.add_argument("--epochs", type=int, default=0,
                        help="training epochs (default 1000 with augmentation, 300 without)")
    images.add_argument("--augment", default="dsa", choices=["dsa", "dc", "none"],
                        help="dsa (DSA / DM protocol), dc (the DC paper's crop/scale/rotate) or none")
    images.add_argument("--seed", type=int, default=0)
    images.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return parser


def _config_layers(args: argparse.Namespace, packaged: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    """Packaged defaults, then ``--config``, then ``--set`` (later layers win)."""
    layers = _sections(packaged, dataset)
    if args.config:
        layers += _sections(read_toml(args.config), dataset)
    return layers + [parse_overrides(args.set)]


@contextlib.contextmanager
def _partial_directory(out: Path, overwrite: bool) -> Iterator[Path]:
    """``<out>.partial/`` for the checkpoint; kept on failure (for ``--resume``) unless empty, removed on success."""
    if out.exists() and not overwrite:
        raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    try:
        yield partial
    except BaseException:
        if not any(partial.iterdir()):
            partial.rmdir()
        raise
    shutil.rmtree(partial, ignore_errors=True)


def _run_facts(args: argparse.Namespace, device, started: float) -> dict[str, Any]:
    from graphdistill.core.runinfo import environment, peak_device_mib, peak_rss_mib

    return {"wall_s": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib(),
            "peak_device_mib": peak_device_mib(device), "environment": environment(device),
            "command": ["graphdistill", *sys.argv[1:]], "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _condense_graph(args: argparse.Namespace) -> dict[str, Any]:
    from graphdistill.core.runinfo import resolve_device
    from graphdistill.graph.budget import resolve_budget
    from graphdistill.graph.data import load_node_graph
    from graphdistill.graph.io import save_condensed
    from graphdistill.graph.methods import METHODS, RunOptions

    started = time.perf_counter()
    out = Path(args.out)
    method = METHODS[args.method]
    dataset = args.dataset.lower()
    config = build_config(method.config_class, *_config_layers(args, _packaged_config(args.method), dataset))
    device = resolve_device(args.device)
    graph = load_node_graph(dataset, args.data_root)
    budget = resolve_budget(graph, args.budget, args.ratio, args.ratio_of)
    history: list[dict[str, Any]] = []
    with _partial_directory(out, args.overwrite) as partial:
        result = method.condense(graph, budget, config, RunOptions(
            seed=args.seed, device=device, checkpoint_path=partial / "checkpoint.pt", resume=args.resume,
            progress=not args.quiet, callback=_periodic_evaluation(graph, args.eval_every, history)))
        meta = {
            "dataset": dataset, "method": args.method, "budget": budget.as_dict(), "seed": args.seed,
            "config": dataclasses.asdict(config), "num_nodes": int(result.x.shape[0]),
            "num_edges": int((result.adj > 0).sum()), **_run_facts(args, device, started),
            "eval_history": history, **result.info,
        }
        save_condensed(out, result.x, result.adj, result.y, meta, overwrite=args.overwrite)
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


def _recsys_setup(args: argparse.Namespace):
    from recsys.data import load_interactions
    from recsys.infae import EvaluationSetup

    return EvaluationSetup.of(load_interactions(args.dataset, args.data_root, args.min_rating))


def _condense_recsys(args: argparse.Namespace) -> dict[str, Any]:
    import scipy.sparse as sp
    import torch

    from graphdistill.core.runinfo import resolve_device
    from recsys.io import binarize, compression, keep_largest, write_distilled
    from recsys.methods import METHODS, RunOptions, check_user_budget

    started = time.perf_counter()
    out = Path(args.out)
    method = METHODS[args.method]
    if args.keep_fraction is not None and not 0 < args.keep_fraction <= 1:
        raise InputError(f"--keep-fraction must be in (0, 1], got {args.keep_fraction}")
    layers = _config_layers(args, {}, args.dataset)
    if args.keep_fraction is not None and "keep_fraction" in {f.name for f in dataclasses.fields(method.config_class)}:
        layers.insert(-1, {"keep_fraction": args.keep_fraction})  # the method optimises its sparse values itself
    config = build_config(method.config_class, *layers)
    device = resolve_device(args.device)
    with _partial_directory(out, args.overwrite) as partial:
        setup = _recsys_setup(args)
        check_user_budget(setup, args.users)
        matrix, info = method.condense(setup, args.users, config, RunOptions(
            seed=args.seed, device=device, checkpoint_path=partial / "checkpoint.pt", resume=args.resume,
            progress=not args.quiet))
        if not torch.isfinite(matrix).all():
            raise InputError("the condensed interactions contain NaN or infinite values; lower the learning rate")
        data = setup.data
        if args.keep_fraction is not None:
            matrix = keep_largest(matrix, max(1, int(args.keep_fraction * data.train_interactions)))
        if args.binarize:
            matrix = binarize(matrix, args.binarize, args.threshold)
        stored = sp.csr_matrix(matrix.numpy())
        meta = {
            "dataset": data.name, "source": data.source, "method": args.method, "users": args.users,
            "seed": args.seed, "config": dataclasses.asdict(config), "keep_fraction": args.keep_fraction,
            "binarize": args.binarize, "threshold": args.threshold if args.binarize == "threshold" else None,
            "min_rating": args.min_rating, "items": data.num_items, "real_users": data.num_users,
            "compression": compression(stored, data.item_tokens, data.train, data.train_interactions),
            **_run_facts(args, device, started), **info,
        }
        write_distilled(out, data.name, matrix, data.item_tokens, meta, overwrite=args.overwrite)
    return {"out": str(out), "users": args.users, "stored_values": meta["compression"]["stored_values"],
            "wall_s": meta["wall_s"]}


def _evaluate_recsys(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from graphdistill.core.runinfo import resolve_device
    from recsys.infae import evaluate_support
    from recsys.io import align_items, read_distilled

    started = time.perf_counter()
    model = args.model
    if model != "infae" and not model.startswith("recbole:"):
        raise InputError(f"unknown model {model!r}; use infae or recbole:<Model> (e.g. recbole:EASE)")
    if model.startswith("recbole:"):
        from recsys.recbole_bridge import check_model

        check_model(model.split(":", 1)[1])
    device = resolve_device(args.device)
    setup = _recsys_setup(args)
    data = setup.data
    if args.condensed:
        matrix, tokens, _ = read_distilled(args.condensed)
        support = align_items(matrix, tokens, data.item_tokens)
    else:
        support = data.train
    if model == "infae":
        outcome = evaluate_support(torch.as_tensor(support.toarray(), device=device), setup)
        result = {**outcome["test"], "ridge": outcome["ridge"]}
    else:
        from recsys.recbole_bridge import train_and_evaluate

        result = train_and_evaluate(model.split(":", 1)[1], setup, support, seed=args.seed, device=device,
                                    epochs=args.epochs, progress=not args.quiet)
    from graphdistill.core.runinfo import peak_rss_mib

    return {**result, "model": model, "dataset": data.name, "support_users": int(support.shape[0]),
            "stored_values": int(support.nnz), "wall_s": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib()}


def _condense_images(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from graphdistill.core.loop import RunOptions
    from graphdistill.core.runinfo import resolve_device
    from images.data import load_images
    from images.io import save_condensed
    from images.methods import METHODS

    started = time.perf_counter()
    out = Path(args.out)
    method = METHODS[args.method]
    shorthands = {"iterations": args.iterations, "parametrization": args.parametrization}
    layers = _config_layers(args, {}, args.dataset)
    config = build_config(method.config_class, *layers[:-1], {k: v for k, v in shorthands.items() if v is not None},
                          layers[-1])
    device = resolve_device(args.device)
    with _partial_directory(out, args.overwrite) as partial:
        data = load_images(args.dataset, args.data_root)
        result = method.condense(data, args.ipc, config, RunOptions(
            seed=args.seed, device=device, checkpoint_path=partial / "checkpoint.pt", resume=args.resume,
            progress=not args.quiet))
        if not torch.isfinite(result.x).all():
            raise InputError("the condensed images contain NaN or infinite values; lower the learning rate")
        meta = {"dataset": data.name, "method": args.method, "ipc": args.ipc, "seed": args.seed,
                "config": dataclasses.asdict(config), "images": int(result.x.shape[0]), "shape": list(data.shape),
                "mean": data.mean, "std": data.std, **_run_facts(args, device, started), **result.info}
        save_condensed(out, result.x, result.y, meta, data.denormalize(result.x), overwrite=args.overwrite)
    return {"out": str(out), "images": meta["images"], "wall_s": meta["wall_s"]}


def _evaluate_images(args: argparse.Namespace) -> dict[str, Any]:
    from graphdistill.core.runinfo import peak_rss_mib, resolve_device
    from images.data import load_images
    from images.evaluate import EvalConfig, evaluate_synthetic
    from images.io import read_condensed
    from images.models import ARCHITECTURES

    ARCHITECTURES[args.arch]
    if args.runs < 1:
        raise InputError(f"--runs must be at least 1, got {args.runs}")
    device = resolve_device(args.device)
    x, y, meta = read_condensed(args.condensed)
    data = load_images(args.dataset, args.data_root)
    if tuple(x.shape[1:]) != data.shape:
        raise InputError(f"condensed images are {tuple(x.shape[1:])} but {data.name} images are {data.shape}")
    config = EvalConfig(arch=args.arch, epochs=args.epochs, augment=args.augment, runs=args.runs, seed=args.seed)
    result = evaluate_synthetic(data, x, y, config, device, progress=not args.quiet)
    return {**result, "dataset": data.name, "images": int(x.shape[0]), "method": meta.get("method"),
            "peak_rss_mib": peak_rss_mib()}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
    try:
        if args.command == "condense":
            condense = {"graph": _condense_graph, "recsys": _condense_recsys, "images": _condense_images}
            print(json.dumps(condense[args.modality](args)))
        elif args.modality == "recsys":
            result = _evaluate_recsys(args)
            if args.json:
                print(json.dumps(result))
            else:
                print(f"{result['model']} on {result['dataset']}: nDCG@10 {result['ndcg@10']:.2f}, HR@10 "
                      f"{result['hr@10']:.2f}, HR@100 {result['hr@100']:.2f}, AUC {result['auc']:.2f} "
                      f"({result['users']} users, {result['wall_s']:.1f} s)")
        else:
            result = _evaluate_graph(args) if args.modality == "graph" else _evaluate_images(args)
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
