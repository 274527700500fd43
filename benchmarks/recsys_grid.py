"""Distill-CF over a grid of its hyper-parameters, chosen on validation, next to a test-peeking ceiling.

For every setting of the grid (the official code's gamma and c values; tau 10 and 5, as the closed-form
relaxation is a high-temperature expansion) and seed, one condensation runs with the product's defaults
otherwise. At every validation point the current synthetic users are also scored on *test* for every ridge:

- ``selected``: what the product returns (state and ridge chosen by validation HR@100), scored on test;
- ``ceiling``: the best test nDCG@10 of any visited state with any ridge. No selection rule that looks only
  at validation can beat it, so it bounds what more tuning of the selection could reach with that setting;
- per seed, the setting chosen by validation (HR@100, the paper's metric, and nDCG@10), scored on test.

    python benchmarks/recsys_grid.py --data-root ../shared/data --dataset amazon-magazine --users 500 --seeds 0 1 2
    python benchmarks/recsys_grid.py --data-root ../shared/data --relaxation gumbel --tau 10 --gamma 200 --cardinality-reg 1e-3

Runs in this process (the tracing needs the live synthetic users); wall time includes the test scoring.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import HERE, ResultsFile, absolute, commands_lines, machine_line, mean_std

# This script's folder comes first on sys.path, where benchmarks/recsys.py would shadow the `recsys` package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

GRID = {"tau": [10.0, 5.0], "gamma": [200, 500, 700], "cardinality_reg": [1e-3, 10.0]}
RELAXATIONS = ("mean", "gumbel")
SELECTIONS = ("hr@100", "ndcg@10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("GRAPHDISTILL_DATA"))
    parser.add_argument("--dataset", default="amazon-magazine")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--relaxation", choices=RELAXATIONS, default="mean")
    for name, values in GRID.items():
        parser.add_argument(f"--{name.replace('_', '-')}", nargs="+", type=type(values[0]), default=values)
    parser.add_argument("--out", default=None, help="path prefix of .json/.md (default results/recsys-grid-<dataset>)")
    args = parser.parse_args()

    from graphdistill.core.runinfo import environment, peak_rss_mib
    from recsys.data import load_interactions
    from recsys.infae import EvaluationSetup, evaluate_support

    store = ResultsFile(args.out or str(HERE / "results" / f"recsys-grid-{args.dataset}"), render,
                        environment(torch.device("cpu")))
    setup = EvaluationSetup.of(load_interactions(args.dataset, absolute(args.data_root)))
    full_key = f"{args.dataset}/full"
    if full_key not in store.runs:
        full = evaluate_support(torch.as_tensor(setup.data.train.toarray()), setup)
        store.add(full_key, {"kind": "full", "dataset": args.dataset, "test": full["test"], "ridge": full["ridge"]})
    for values in itertools.product(*(getattr(args, name) for name in GRID)):
        settings = {**dict(zip(GRID, values)), "relaxation": args.relaxation}
        for seed in args.seeds:
            key = f"{args.dataset}/{args.users}/" + ",".join(f"{k}={v}" for k, v in settings.items()) + f"/{seed}"
            if key in store.runs:
                continue
            started = time.perf_counter()
            entry = traced_run(setup, args.users, settings, seed)
            store.add(key, {"kind": "grid", "dataset": args.dataset, "users": args.users, "seed": seed,
                            "settings": settings, **entry, "wall_s": time.perf_counter() - started,
                            "peak_rss_mib": peak_rss_mib()})
            print(f"{key}: selected {entry['selected']['test']['ndcg@10']:.2f}, "
                  f"ceiling {entry['ceiling']['ndcg@10']:.2f}", flush=True)
    store.save()


def traced_run(setup, users: int, settings: dict, seed: int) -> dict:
    """One Distill-CF run with ``settings``; every state that validation scores is also scored on test, every
    ridge (its validation scores are the loop's own)."""
    from graphdistill.core.loop import RunOptions
    from recsys.distill_cf import DistillCFConfig, distill_cf, selection_draw_seed
    from recsys.infae import RIDGE_GRID, dual_coefficients, evaluate_scores, evaluate_support, score_chunks

    config = DistillCFConfig(**settings)
    trace = []

    def score_state(epoch: int, loss: float, synthetic) -> None:
        if (epoch + 1) % config.eval_every:
            return
        with torch.no_grad():
            support = synthetic.materialize(selection_draw_seed(seed))
        context, _ = setup.split("test")
        test = evaluate_scores(setup, "test", score_chunks(context, support, dual_coefficients(support, RIDGE_GRID)),
                               len(RIDGE_GRID), with_auc=False)
        trace.append({"step": epoch + 1, "test_ndcg@10": [m["ndcg@10"] for m in test]})

    support, info = distill_cf(setup, users, config, RunOptions(seed=seed, progress=False, callback=score_state))
    selected = evaluate_support(support, setup)
    step, ridge, best = max(((state["step"], ridge, score) for state in trace
                             for ridge, score in zip(RIDGE_GRID, state["test_ndcg@10"])), key=lambda t: t[2])
    return {"selected": {"test": selected["test"], "valid": selected["valid"], "ridge": selected["ridge"],
                         "step": info["selected_step"], "steps_run": info["steps_run"]},
            "ceiling": {"ndcg@10": best, "step": step, "ridge": ridge}, "trace": trace}


def _cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.2f} +- {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def render(results: dict) -> str:
    runs = results["runs"]
    grid = [run for run in runs.values() if run["kind"] == "grid"]
    lines = [f"# Distill-CF hyper-parameter grid ({results.get('updated', '')})", "", *commands_lines(results),
             machine_line(results), "",
             "Test nDCG@10 in percent. `selected`: the product's output for that setting (state and ridge chosen by "
             "validation HR@100). `ceiling`: the best test nDCG@10 of any state scored during the run (at every "
             "validation point) with any ridge of the grid: it peeks at test, so it is an upper bound, not a result. "
             "Validation HR@100 / nDCG@10: of the selected state and ridge. mean +- std over seeds; wall time includes "
             "scoring every state on test.", ""]
    for run in runs.values():
        if run["kind"] == "full":
            lines += [f"Full-data ∞-AE on {run['dataset']}: nDCG@10 {run['test']['ndcg@10']:.2f} "
                      f"(ridge {run['ridge']:g}).", ""]
    lines += ["| dataset | users | relaxation | tau | gamma | c | seeds | selected nDCG@10 | ceiling nDCG@10 | valid HR@100 | "
              "valid nDCG@10 | selected step | wall (s) | peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by_setting: dict[tuple, list[dict]] = {}
    for run in grid:
        settings = run["settings"]
        by_setting.setdefault((run["dataset"], run["users"], settings["relaxation"], settings["tau"], settings["gamma"],
                               settings["cardinality_reg"]), []).append(run)
    for (dataset, users, relaxation, tau, gamma, c), group in by_setting.items():
        lines.append(f"| {dataset} | {users} | {relaxation} | {tau:g} | {gamma} | {c:g} | "
                     f"{','.join(str(r['seed']) for r in group)} | "
                     f"{_cell([r['selected']['test']['ndcg@10'] for r in group])} | "
                     f"{_cell([r['ceiling']['ndcg@10'] for r in group])} | "
                     f"{_cell([r['selected']['valid']['hr@100'] for r in group])} | "
                     f"{_cell([r['selected']['valid']['ndcg@10'] for r in group])} | "
                     f"{np.mean([r['selected']['step'] for r in group]):.0f} | "
                     f"{np.mean([r['wall_s'] for r in group]):.0f} | {max(r['peak_rss_mib'] for r in group):.0f} |")
    lines += ["", "The `mean`-relaxation setting chosen per seed by validation, scored on test:", "",
              "| dataset | users | chosen by valid | seeds | settings chosen | test nDCG@10 | ceiling of the grid |",
              "|---|---|---|---|---|---|---|"]
    by_seed: dict[tuple, list[dict]] = {}
    for run in grid:
        if run["settings"]["relaxation"] == "mean":
            by_seed.setdefault((run["dataset"], run["users"], run["seed"]), []).append(run)
    for dataset, users in sorted({(d, u) for d, u, _ in by_seed}):
        seeds = sorted(s for d, u, s in by_seed if (d, u) == (dataset, users))
        for metric in SELECTIONS:
            chosen = [max(by_seed[dataset, users, s], key=lambda r: r["selected"]["valid"][metric]) for s in seeds]
            ceilings = [max(r["ceiling"]["ndcg@10"] for r in by_seed[dataset, users, s]) for s in seeds]
            names = "; ".join(f"{r['seed']}: tau {r['settings']['tau']:g} gamma {r['settings']['gamma']} "
                              f"c {r['settings']['cardinality_reg']:g}" for r in chosen)
            lines.append(f"| {dataset} | {users} | {metric} | {','.join(map(str, seeds))} | {names} | "
                         f"{_cell([r['selected']['test']['ndcg@10'] for r in chosen])} | {_cell(ceilings)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
