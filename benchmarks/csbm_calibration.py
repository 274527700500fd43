"""The csbm presets' calibration: whole-graph MLP and GCN test accuracy on 20,000-node csbm graphs.

    python benchmarks/csbm_calibration.py "csbm:nodes=20000" 0.31,2.2 0.30,2.2
    python benchmarks/csbm_calibration.py "csbm:nodes=20000,classes=47,features=100,degree=50.52,split=0.54/0.18/0.28" 0.23,2.45

Each HOMOPHILY,SNR pair prints one line: MLP and GCN test accuracy (%, one run of 300 iterations of GCond's
protocol). Not a test: a search whose chosen values are recorded in the README.
"""
from __future__ import annotations

import sys

from graphdistill.graph.data import load_node_graph
from graphdistill.graph.evaluate import EvalConfig, evaluate_whole


def main(base: str, pairs: list[str]) -> None:
    for pair in pairs:
        homophily, snr = (float(v) for v in pair.split(","))
        graph = load_node_graph(f"{base},homophily={homophily},snr={snr}")
        scores = {arch: round(100 * evaluate_whole(graph, EvalConfig(arch=arch, runs=1, iterations=300))
                              ["test_acc_mean"], 1) for arch in ("mlp", "gcn")}
        print(f"{base} homophily {homophily} snr {snr}: {scores}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
