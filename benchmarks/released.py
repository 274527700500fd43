"""Fidelity of our evaluator: GCond's released condensed Cora graphs under GCond's protocols.

    python benchmarks/released.py --data-root ../shared/data

Table-3 protocol: adjacency thresholded at 0.05, dropout 0, one run per released seed (as GCond's
`test_other_arcs.py`). Table-2 protocol: no threshold, dropout 0.5. Writes
`benchmarks/results/graph-cora-released.{json,md}`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
PROTOCOLS = {"table3 (threshold 0.05, dropout 0)": {"threshold": 0.05, "dropout": 0.0},
             "table2 (no threshold, dropout 0.5)": {"threshold": 0.0, "dropout": 0.5}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("GRAPHDISTILL_DATA"), required=False)
    parser.add_argument("--rates", nargs="+", default=["0.25", "0.5", "1.0"])
    parser.add_argument("--archs", nargs="+", default=["gcn", "sgc", "appnp", "cheby", "sage", "mlp"],
                        help="architectures for the cross-architecture rows (r=0.5, Table-3 protocol)")
    parser.add_argument("--out", default=str(HERE / "results" / "graph-cora-released"))
    args = parser.parse_args()
    if not args.data_root:
        parser.error("--data-root (or GRAPHDISTILL_DATA) is required")

    from graphdistill.core.runinfo import environment, peak_rss_mib
    from graphdistill.graph.budget import allocate_labels, labels_from_allocation
    from graphdistill.graph.data import load_node_graph
    from graphdistill.graph.evaluate import EvalConfig, RealGraphView, evaluate_condensed

    started = time.perf_counter()
    graph = load_node_graph("cora", args.data_root)
    real = RealGraphView(graph)
    folder = Path(args.data_root) / "gcond_saved_ours"
    rows = []

    def score(rate: str, arch: str, name: str) -> None:
        accs = []
        for seed in range(5):
            x = torch.load(folder / f"feat_cora_{rate}_{seed}.pt", map_location="cpu", weights_only=True)
            adj = torch.load(folder / f"adj_cora_{rate}_{seed}.pt", map_location="cpu", weights_only=True)
            y = labels_from_allocation(allocate_labels(graph.y[graph.train_idx], x.shape[0]))
            config = EvalConfig(arch=arch, runs=1, seed=0, **PROTOCOLS[name])
            accs.append(evaluate_condensed(graph, x, adj, y, config, real=real)["test_acc_mean"])
        rows.append({"rate": rate, "nodes": int(x.shape[0]), "arch": arch, "protocol": name, "test_accs": accs,
                     "mean": float(np.mean(accs)), "std": float(np.std(accs))})
        print(f"r={rate} {arch} {name}: {100 * rows[-1]['mean']:.2f} +- {100 * rows[-1]['std']:.2f}", flush=True)

    for rate in args.rates:
        for name in PROTOCOLS:
            score(rate, "gcn", name)
    table3 = next(iter(PROTOCOLS))
    for arch in args.archs:
        if arch != "gcn":
            score("0.5", arch, table3)
    results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "machine": environment(torch.device("cpu")),
               "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "wall_s": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib(), "rows": rows}
    Path(args.out + ".json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [f"# GCond's released Cora graphs under our evaluator ({results['created']})", "",
             f"Command: `{results['command']}`; wall {results['wall_s']:.0f} s, peak RSS {results['peak_rss_mib']:.0f} MiB.",
             "", "One GCN run (seed 0) per released seed 0-4; mean +- std over the five seeds.", "",
             "| r (nodes) | arch | protocol | test acc (%) | per seed |", "|---|---|---|---|---|"]
    for row in rows:
        per_seed = ", ".join(f"{100 * a:.1f}" for a in row["test_accs"])
        lines.append(f"| {row['rate']} ({row['nodes']}) | {row['arch']} | {row['protocol']} | "
                     f"{100 * row['mean']:.2f} +- {100 * row['std']:.2f} | {per_seed} |")
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
