"""Cora benchmark: methods x budgets x seeds through the CLI, written as JSON + Markdown.

Each condensation runs in its own process (so its peak RSS is its own) and is scored with GCond's
Table-2 protocol. Finished entries are kept in the JSON file, so an interrupted benchmark picks up
where it stopped.

    python benchmarks/graph.py --data-root ../shared/data            # the full table
    python benchmarks/graph.py --methods gcond --budgets 70 --seeds 0 1
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from common import HERE, ResultsFile, absolute, cli, commands_lines, machine_line, mean_std, run_json

DEFAULT_METHODS = ["gcond", "gcond-x", "doscond", "random", "herding", "kcenter"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("GRAPHDISTILL_DATA"))
    parser.add_argument("--dataset", default="cora")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--budgets", nargs="+", type=int, default=[35, 70, 140])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--eval-runs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", action="append", default=[], help="passed to every condense run")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole-dataset GCN row")
    parser.add_argument("--out", default=str(HERE / "results" / "graph-cora"), help="path prefix of .json/.md")
    args = parser.parse_args()
    args.data_root = absolute(args.data_root)

    from graphdistill.core.runinfo import environment

    import torch

    store = ResultsFile(args.out, render, environment(torch.device(args.device)))
    results = store.results
    common = ["--dataset", args.dataset, "--device", args.device, "--quiet"]
    if args.data_root:
        common += ["--data-root", args.data_root]

    if not args.no_whole and "whole" not in results["runs"]:
        started = time.perf_counter()
        result = run_json(cli("evaluate", "graph", *common, "--whole", "--runs", str(args.eval_runs), "--json"))
        result["wall_s"] = time.perf_counter() - started
        store.add("whole", result)
        print(f"whole: {100 * result['test_acc_mean']:.2f}", flush=True)

    for budget in args.budgets:
        for method in args.methods:
            for seed in args.seeds:
                key = f"{method}/{budget}/{seed}"
                if key in results["runs"]:
                    continue
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "run"
                    extra = [arg for pair in args.set for arg in ("--set", pair)]
                    run_json(cli("condense", "graph", *common, "--method", method, "--budget", str(budget),
                                   "--seed", str(seed), "--out", str(out), *extra))
                    meta = json.loads((out / "meta.json").read_text())
                    score = run_json(cli("evaluate", "graph", *common, "--condensed", str(out),
                                           "--runs", str(args.eval_runs), "--json"))
                store.add(key, {
                    "method": method, "budget": budget, "seed": seed, "test_accs": score["test_accs"],
                    "test_acc_mean": score["test_acc_mean"], "test_acc_std": score["test_acc_std"],
                    "condense_wall_s": meta["wall_s"], "peak_rss_mib": meta["peak_rss_mib"],
                    "peak_device_mib": meta["peak_device_mib"], "edges": meta["num_edges"],
                    "config": meta["config"], "eval_wall_s": score["wall_s"]})
                print(f"{key}: {100 * score['test_acc_mean']:.2f} +- {100 * score['test_acc_std']:.2f} "
                      f"({meta['wall_s']:.0f} s, {meta['peak_rss_mib']:.0f} MiB)", flush=True)
    store.save()


def render(results: dict) -> str:
    """Markdown table: per method and budget, accuracy over every evaluation run of every seed."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for key, run in results["runs"].items():
        if key != "whole":
            groups.setdefault((run["method"], run["budget"]), []).append(run)
    lines = [
        f"# Graph condensation on Cora ({results.get('updated', '')})", "",
        *commands_lines(results), machine_line(results), "",
        "Test accuracy (%) with GCond's Table-2 protocol (GCN 2x256, dropout 0.5, 600 iterations, best validation "
        "state): mean +- std over every evaluation run of every condensation seed. Condensation wall time is "
        "mean +- std over seeds; peak RSS is the largest over seeds (whole condensation process).", "",
        "| method | nodes | seeds | eval runs | test acc | condense wall (s) | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    if "whole" in results["runs"]:
        whole = results["runs"]["whole"]
        mean, std = mean_std(whole["test_accs"])
        lines.append(f"| whole graph (GCN) | 2708 | - | {whole['runs']} | {100 * mean:.2f} +- {100 * std:.2f} | - | - |")
    order = {m: i for i, m in enumerate(DEFAULT_METHODS)}
    for (method, budget), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 99))):
        accs = [a for run in runs for a in run["test_accs"]]
        mean, std = mean_std(accs)
        wall, wall_std = mean_std([run["condense_wall_s"] for run in runs])
        seeds = ",".join(str(run["seed"]) for run in runs)
        lines.append(f"| {method} | {budget} | {seeds} | {len(accs)} | {100 * mean:.2f} +- {100 * std:.2f} | "
                     f"{wall:.1f} +- {wall_std:.1f} | {max(run['peak_rss_mib'] for run in runs):.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
