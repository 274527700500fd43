"""Interaction-log benchmark: full ∞-AE and EASE, then Distill-CF / random / head users at user budgets,
each scored by ∞-AE and by RecBole's EASE on the original test split; plus, on one dataset, the
Gumbel vs closed-form relaxation and the accuracy of sparse / binary outputs against stored values.

Every condensation and evaluation runs in its own process through the CLI (peak RSS is its own);
finished entries stay in the JSON file, so an interrupted benchmark resumes.

    python benchmarks/recsys.py --data-root ../shared/data
    python benchmarks/recsys.py --datasets ml-100k-fixed --seeds 0 1 2
    python benchmarks/recsys.py --datasets amazon-magazine --methods 'distill-cf:select_metric="ndcg@10"'

A method is ``name[:key=value,...]``; the settings are passed as ``--set`` (TOML values) and the row is
labelled with the whole spec.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import HERE, ResultsFile, absolute, cli, commands_lines, machine_line, mean_std, run_json

# This script's folder comes first on sys.path, where this very file would shadow the `recsys` package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

BUDGETS = {"ml-100k-fixed": [25, 50, 100, 200], "amazon-magazine": [100, 500], "ml-1m": [100, 500]}
METHODS = ["distill-cf", "random", "head"]
KEEP_FRACTIONS = [0.5, 0.2, 0.1, 0.05, 0.02]
SHOWN = ("ndcg@10", "hr@10", "hr@100", "psp@10", "auc")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("GRAPHDISTILL_DATA"))
    parser.add_argument("--datasets", nargs="+", default=list(BUDGETS))
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--budgets", nargs="+", type=int, help="override the per-dataset budgets")
    parser.add_argument("--no-ease", action="store_true", help="skip the RecBole EASE evaluations")
    parser.add_argument("--extras-dataset", default="ml-100k-fixed",
                        help="dataset of the relaxation and sparsity studies ('none' to skip)")
    parser.add_argument("--extras-users", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(HERE / "results" / "recsys"), help="path prefix of .json/.md")
    args = parser.parse_args()
    args.data_root = absolute(args.data_root)

    from graphdistill.core.runinfo import environment

    store = ResultsFile(args.out, render, environment(torch.device(args.device)))
    models = ["infae"] + ([] if args.no_ease else ["recbole:EASE"])

    def common(dataset: str) -> list[str]:
        return ["--dataset", dataset, "--device", args.device, "--quiet"] + (
            ["--data-root", args.data_root] if args.data_root else [])

    def evaluate(key: str, dataset: str, model: str, condensed: Path | None, extra: dict) -> None:
        if key in store.runs:
            return
        source = ["--condensed", str(condensed)] if condensed else []
        score = run_json(cli("evaluate", "recsys", *common(dataset), *source, "--model", model, "--json"))
        store.add(key, {**extra, "dataset": dataset, "model": model, "metrics": {k: score[k] for k in SHOWN},
                        "stored_values": score["stored_values"], "eval_wall_s": score["wall_s"],
                        "eval_peak_rss_mib": score["peak_rss_mib"]})
        print(f"{key}: nDCG@10 {score['ndcg@10']:.2f} ({score['wall_s']:.0f} s)", flush=True)

    def condensed(dataset: str, method: str, users: int, seed: int, tmp: Path, flags: list[str]) -> tuple[Path, dict]:
        tag = "".join(c if c.isalnum() or c in ".-" else "_" for c in "_".join(flags))
        out = tmp / f"{dataset}-{method}-{users}-{seed}-{tag}"
        if not out.exists():
            run_json(cli("condense", "recsys", *common(dataset), "--method", method, "--users", str(users),
                         "--seed", str(seed), "--out", str(out), *flags))
        return out, json.loads((out / "meta.json").read_text())

    def condense_facts(meta: dict) -> dict:
        return {"condense_wall_s": meta["wall_s"], "peak_rss_mib": meta["peak_rss_mib"],
                "compression": meta["compression"], "config": meta["config"], "ridge": meta.get("ridge"),
                "selected_step": meta.get("selected_step"), "steps_run": meta.get("steps_run")}

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for dataset in args.datasets:
            for model in models:
                evaluate(f"{dataset}/full/{model}", dataset, model, None, {"method": "full", "users": "all"})
            for users in args.budgets or BUDGETS[dataset]:
                for method in args.methods:
                    name, *settings = method.split(":", 1)
                    flags = [a for s in ",".join(settings).split(",") if s for a in ("--set", s)]
                    for seed in args.seeds:
                        keys = [f"{dataset}/{method}/{users}/{seed}/{model}" for model in models]
                        if all(key in store.runs for key in keys):
                            continue
                        out, meta = condensed(dataset, name, users, seed, tmp, flags)
                        for key, model in zip(keys, models):
                            evaluate(key, dataset, model, out, {"method": method, "users": users, "seed": seed,
                                                                **condense_facts(meta)})
        if args.extras_dataset != "none":
            extras(args, store, tmp, evaluate, condensed, condense_facts)
    store.save()


def extras(args, store, tmp: Path, evaluate, condensed, condense_facts) -> None:
    """Gumbel vs closed form, and stored values vs accuracy: ``--keep-fraction`` (the largest values, then
    optimised on that support) against pruning the dense output afterwards, and binary outputs."""
    from recsys.io import binarize, keep_largest, read_distilled, write_distilled

    dataset, users = args.extras_dataset, args.extras_users
    for seed in args.seeds:
        key = f"{dataset}/distill-cf-gumbel/{users}/{seed}/infae"
        if key not in store.runs:
            out, meta = condensed(dataset, "distill-cf", users, seed, tmp, ["--set", 'relaxation="gumbel"'])
            evaluate(key, dataset, "infae", out, {"method": "distill-cf-gumbel", "users": users, "seed": seed,
                                                 **condense_facts(meta)})
        out, meta = condensed(dataset, "distill-cf", users, seed, tmp, [])
        matrix, tokens, _ = read_distilled(out)
        soft = torch.as_tensor(matrix.toarray())
        original = meta["compression"]["original_interactions"]
        variants = {f"pruned to {fraction}": keep_largest(soft, int(fraction * original)) for fraction in KEEP_FRACTIONS}
        variants["binary top-k"] = binarize(soft, "top-k")
        for fraction in KEEP_FRACTIONS:
            key = f"{dataset}/sparse/{users}/{seed}/fine-tuned {fraction}"
            if key not in store.runs:
                out, meta = condensed(dataset, "distill-cf", users, seed, tmp, ["--keep-fraction", str(fraction)])
                evaluate(key, dataset, "infae", out, {"method": f"distill-cf --keep-fraction {fraction}",
                                                     "users": users, "seed": seed, **condense_facts(meta)})
        for name, variant in variants.items():
            key = f"{dataset}/sparse/{users}/{seed}/{name}"
            if key in store.runs:
                continue
            target = tmp / f"sparse-{seed}-{name.replace(' ', '_')}"
            if not target.exists():
                write_distilled(target, dataset, variant, tokens, {"variant": name})
            evaluate(key, dataset, "infae", target, {"method": f"distill-cf, {name}", "users": users, "seed": seed,
                                                     "variant": name, "original_interactions": original})


def _cell(runs: list[dict], metric: str) -> str:
    mean, std = mean_std([run["metrics"][metric] for run in runs])
    return f"{mean:.2f} +- {std:.2f}" if len(runs) > 1 else f"{mean:.2f}"


def render(results: dict) -> str:
    groups: dict[tuple, list[dict]] = {}
    for key, run in results["runs"].items():
        dataset, kind = key.split("/")[:2]
        groups.setdefault((dataset, kind == "sparse", run["method"], str(run["users"]), run["model"]), []).append(run)
    lines = [f"# Interaction-log condensation ({results.get('updated', '')})", "", *commands_lines(results),
             machine_line(results), "",
             "Metrics in percent with Distill-CF's protocol (full ranking, seen items masked; ∞-AE's ridge chosen "
             "by validation HR@100; test context = train + valid). `ease` = RecBole's EASE (reg 250) trained on the "
             "log of that row and scoring the real users from their real history. mean +- std over seeds; wall "
             "time of the condensation (mean over seeds) and its peak RSS (max over seeds).", "",
             "| dataset | method | users | model | seeds | nDCG@10 | HR@10 | HR@100 | PSP@10 | AUC | stored values "
             "(% of train) | condense wall (s) | peak RSS (MiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = {m: i for i, m in enumerate(["full", *METHODS, "distill-cf-gumbel"])}
    def sort_key(item):
        (dataset, sparse, method, users, model), runs = item
        rank = -runs[0]["stored_values"] if sparse else order.get(method, 99)
        return (dataset, sparse, int(users) if users.isdigit() else -1, rank, method, model)
    for (dataset, sparse, method, users, model), runs in sorted(groups.items(), key=sort_key):
        seeds = ",".join(str(run["seed"]) for run in runs if "seed" in run) or "-"
        stored = runs[0]["stored_values"]
        original = runs[0].get("original_interactions") or runs[0].get("compression", {}).get("original_interactions")
        share = f"{stored} ({100 * stored / original:.1f} %)" if original else f"{stored}"
        wall = f"{np.mean([r['condense_wall_s'] for r in runs]):.1f}" if "condense_wall_s" in runs[0] else "-"
        rss = f"{max(r['peak_rss_mib'] for r in runs):.0f}" if "peak_rss_mib" in runs[0] else \
            f"{max(r['eval_peak_rss_mib'] for r in runs):.0f} (eval)"
        name = "ease" if model == "recbole:EASE" else model
        lines.append(f"| {dataset} | {method} | {users} | {name} | {seeds} | " + " | ".join(
            _cell(runs, metric) for metric in SHOWN) + f" | {share} | {wall} | {rss} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
