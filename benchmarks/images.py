"""Image benchmark: condense MNIST (or digits) with each method at each images-per-class, then train fresh
ConvNets on the result under the standard protocol; JSON + Markdown with accuracy mean +- std, condensation
wall time and peak RSS. Each condensation and evaluation runs in its own process through the CLI; finished
entries stay in the JSON file, so an interrupted benchmark resumes.

    python benchmarks/images.py --data-root ../shared/data --entries random:1 random:10 dm:10:iterations=2000
    python benchmarks/images.py --dataset digits --entries random:1 dm:1:iterations=200 --runs 3

An entry is ``method:ipc[:key=value,...]``; the settings are passed as ``--set`` (``parametrization=factorized``
for the factorized set).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import torch

from common import HERE, ResultsFile, absolute, cli, commands_lines, machine_line, mean_std, run_json

# This script's folder comes first on sys.path, where this very file would shadow the `images` package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

DEFAULT_ENTRIES = ["random:1", "random:10", "dc:1", "dsa:1", "dm:1", "dm:10", "kip:10",
                   "kip:10:kernel=convnet-rf,iterations=600", "dm:10:parametrization=factorized"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("GRAPHDISTILL_DATA"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--entries", nargs="+", default=DEFAULT_ENTRIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--runs", type=int, default=5, help="evaluation networks per condensed set")
    parser.add_argument("--epochs", type=int, default=0, help="evaluation epochs (0: the protocol's 1000 with DSA)")
    parser.add_argument("--augment", default="dsa", choices=["dsa", "dc", "none"],
                        help="evaluation augmentation: dsa (DSA / DM protocol) or dc (the DC paper's)")
    parser.add_argument("--keep", default=None,
                        help="folder that keeps each condensed set and reuses it (to evaluate it again)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="path prefix of .json/.md (default results/images-<dataset>)")
    args = parser.parse_args()
    args.data_root = absolute(args.data_root)

    from graphdistill.core.runinfo import environment

    store = ResultsFile(args.out or str(HERE / "results" / f"images-{args.dataset}"), render,
                        environment(torch.device(args.device)))
    common = ["--dataset", args.dataset, "--device", args.device, "--quiet"] + (
        ["--data-root", args.data_root] if args.data_root else [])
    for entry in args.entries:
        method, ipc, *rest = entry.split(":")
        settings = [s for s in ",".join(rest).split(",") if s]
        for seed in args.seeds:
            key = f"{entry}/{seed}/eval{args.epochs or 'protocol'}x{args.runs}" + (
                "" if args.augment == "dsa" else f"/{args.augment}")
            if key in store.runs:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                out = (Path(absolute(args.keep)) / f"{args.dataset}-{entry}-seed{seed}".replace(":", "_")
                       if args.keep else Path(tmp) / "run")
                if not (out / "meta.json").exists():
                    run_json(cli("condense", "images", *common, "--method", method, "--ipc", ipc, "--seed",
                                 str(seed), "--out", str(out), *[a for s in settings for a in ("--set", s)]))
                meta = json.loads((out / "meta.json").read_text())
                score = run_json(cli("evaluate", "images", *common, "--condensed", str(out), "--runs", str(args.runs),
                                     "--epochs", str(args.epochs), "--augment", args.augment, "--json"))
            store.add(key, {"entry": entry, "method": method, "ipc": int(ipc), "settings": settings, "seed": seed,
                            "test_accs": score["test_accs"], "test_acc_mean": score["test_acc_mean"],
                            "test_acc_std": score["test_acc_std"], "eval_epochs": score["epochs"],
                            "eval_augment": args.augment,
                            "condense_wall_s": meta["wall_s"], "peak_rss_mib": meta["peak_rss_mib"],
                            "eval_wall_s": score["wall_s"], "eval_peak_rss_mib": score["peak_rss_mib"],
                            "config": meta["config"], "ipc_equivalent": meta.get("ipc_equivalent"),
                            "images": meta["images"], "krr_test_acc": meta.get("krr_test_acc"),
                            "condense_command": meta.get("command")})
            print(f"{key}: {100 * score['test_acc_mean']:.2f} +- {100 * score['test_acc_std']:.2f} "
                  f"(condense {meta['wall_s']:.0f} s, evaluate {score['wall_s']:.0f} s)", flush=True)
    store.save()


def render(results: dict) -> str:
    lines = [f"# Image distillation ({results.get('updated', '')})", "", *commands_lines(results),
             machine_line(results), "",
             "Test accuracy (%) of fresh ConvNets (depth 3, width 128, instance norm) trained on the condensed set "
             "with SGD (momentum 0.9, wd 5e-4, lr 0.01 then 0.001 at the halfway epoch) and the `eval aug` "
             "augmentation (`dsa`: DSA, the DSA / DM papers' protocol; `dc`: the DC paper's per-image crop / "
             "scale / rotate, with which its MNIST numbers were measured); mean +- std over every evaluation "
             "network of every seed. `eval epochs` below 1000 is a shortened protocol and says so.", "",
             "| entry | images | ipc equiv. | seeds | eval aug | eval epochs | networks | test acc | "
             "KRR test acc (kip) | condense wall (s) | peak RSS (MiB) | evaluate wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    # A condensed set evaluated again with more networks (--keep) is one set: its largest evaluation counts.
    largest: dict[tuple, dict] = {}
    for run in results["runs"].values():
        key = (run["entry"], run.get("eval_augment", "dsa"), run["eval_epochs"], run["seed"])
        if key not in largest or len(run["test_accs"]) > len(largest[key]["test_accs"]):
            largest[key] = run
    groups: dict[tuple, list[dict]] = {}
    for (entry, augment, epochs, _), run in largest.items():
        groups.setdefault((entry, augment, epochs), []).append(run)
    for (entry, augment, epochs), runs in sorted(groups.items()):
        accs = [a for run in runs for a in run["test_accs"]]
        mean, std = mean_std(accs)
        wall, _ = mean_std([run["condense_wall_s"] for run in runs])
        equiv = runs[0].get("ipc_equivalent")
        krr = [run["krr_test_acc"] for run in runs if run.get("krr_test_acc") is not None]
        krr_cell = f"{100 * mean_std(krr)[0]:.2f}" if krr else "-"
        lines.append(f"| {entry} | {runs[0]['images']} | {equiv if equiv is None else round(equiv, 2)} | "
                     f"{','.join(str(r['seed']) for r in runs)} | {augment} | {epochs} | {len(accs)} | "
                     f"{100 * mean:.2f} +- {100 * std:.2f} | {krr_cell} | {wall:.1f} | "
                     f"{max(r['peak_rss_mib'] for r in runs):.0f} | "
                     f"{sum(r['eval_wall_s'] for r in runs) / len(runs):.0f} |")
    # Sets kept with --keep may have been condensed by an earlier command than the benchmark's own.
    made_by = sorted({(run["entry"], " ".join(run["condense_command"])) for run in results["runs"].values()
                      if run.get("condense_command")})
    if made_by:
        lines += ["", "Condensed sets reused from `--keep`, and the command that made each:", "",
                  *[f"- {entry}: `{command}`" for entry, command in made_by]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
