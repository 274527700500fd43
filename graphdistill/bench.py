"""``graphdistill bench SPEC.toml``: run a benchmark spec, one process per condensation, and write
``<results>/<spec>.json``, ``.md`` and PNG plots (metric vs budget, metric vs condensation time).

A spec is TOML::

    title = "Cora"
    [[entry]]
    name = "gcond"                  # unique in the spec
    modality = "graph"
    dataset = "cora"
    method = "gcond"                # absent: an evaluation-only entry (whole data, released files)
    budgets = [35, 70, 140]         # the modality's budget flag; absent for evaluation-only entries
    seeds = [0, 1]
    settings = { epochs = 600 }     # --set key=value for every condensation
    note = "..."                    # optional: shown beside the entry (e.g. how a time was measured)
    args = { ratio_of = "labelled" }  # more condense flags (true: a bare flag)
    [[entry.evaluation]]            # one or more; args are evaluate flags; "{budget}", "{seed}" and
    label = "gcn"                   # "{data_root}" in values are filled in per row
    args = { arch = "gcn", runs = 5 }

A top-level ``pivot = ["ndcg@10", "hr@10"]`` adds a table with one column per evaluation label and one row per
(dataset, budget, entry), each cell those metrics' mean +- std, next to the stored values of the condensed output
(a transfer table: which model trains well on which condensed set). A README block takes it with ``table=pivot``.

An entry with ``measure = "cost"`` and no evaluation records only what its condensations cost (wall time,
peak RSS, the graph's size); such rows also give ``<spec>-scaling.png``, peak RSS against the real graph's
edges on log axes, with the fitted bytes per edge.

Every finished row is written at once, so ``--resume`` skips what is done; rows of entries that are not
run are never touched, so no measured number is lost. The runner imports no adapter: it finds each
modality's budget flag and primary metric through the registry.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from graphdistill.core.atomic import read_json_if_present
from graphdistill.core.config import read_toml
from graphdistill.core.errors import InputError
from graphdistill.core.modality import get_modality

README_BLOCK = re.compile(r"(<!-- bench:(?P<name>[\w.-]+)(?P<filters>(?: [\w]+=[^ ]+)*) -->\n).*?(<!-- /bench:(?P=name) -->)",
                          re.S)


def configure_bench(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="benchmark spec (TOML), e.g. benchmarks/specs/smoke.toml")
    parser.add_argument("--resume", action="store_true", help="skip rows already in the results file")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these entries")
    parser.add_argument("--budget", action="append", default=[], metavar="B",
                        help="run only these budgets of the chosen entries (as written in the spec)")
    parser.add_argument("--render", action="store_true", help="run nothing: redraw Markdown, plots and --readme")
    parser.add_argument("--results", help="results folder (default: ../results beside the spec's folder)")
    parser.add_argument("--workdir", help="where condensed outputs are kept (default: runs/bench/<spec>)")
    parser.add_argument("--data-root", help="passed to every run (default: $GRAPHDISTILL_DATA)")
    parser.add_argument("--device", default="cpu", help="passed to every run (default: cpu)")
    parser.add_argument("--readme", help="re-render the <!-- bench:<spec> --> block of this Markdown file")


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and check a spec; every problem is an :class:`InputError` naming the entry."""
    spec = read_toml(path)
    entries = spec.get("entry")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: a spec needs at least one [[entry]]")
    names = set()
    for entry in entries:
        name = entry.get("name")
        if not name or name in names:
            raise InputError(f"{path}: every entry needs a unique name (got {name!r})")
        names.add(name)
        for key in ("modality", "dataset"):
            if key not in entry:
                raise InputError(f"{path}: entry {name!r} has no {key}")
        if "method" in entry and not entry.get("budgets"):
            raise InputError(f"{path}: entry {name!r} condenses ({entry['method']}) but lists no budgets")
        if entry.get("measure") == "cost":
            if "method" not in entry or entry.get("evaluation"):
                raise InputError(f"{path}: cost entry {name!r} needs a method and no [[entry.evaluation]]")
        elif not entry.get("evaluation"):
            raise InputError(f"{path}: entry {name!r} has no [[entry.evaluation]]")
    return spec


def _flags(args: dict[str, Any], fill: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for key, value in args.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not False and value is not None:
            flags += [flag, str(value).format(**fill)]
    return flags


def _settings(settings: dict[str, Any]) -> list[str]:
    return [part for key, value in settings.items() for part in ("--set", f"{key}={json.dumps(value)}")]


def _run_json(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class Results:
    """``<results>/<spec>.json``: spec title, machine, every row by key; saved atomically after each row, merged
    into what the file holds then."""

    def __init__(self, path: Path, title: str):
        self.path = path
        self.data = read_json_if_present(path) or {"rows": {}}
        self.data["title"] = title

    @property
    def rows(self) -> dict[str, dict[str, Any]]:
        return self.data["rows"]

    def add(self, key: str, row: dict[str, Any]) -> None:
        """Record ``row`` into the rows on disk now (every row of this run is already there), so that what another
        run or an editor wrote meanwhile stays."""
        on_disk = read_json_if_present(self.path)
        if on_disk is not None:
            self.data["rows"] = on_disk.get("rows", {})
        self.rows[key] = row
        self.save()

    def save(self) -> None:
        self.data["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1) + "\n")
        os.replace(tmp, self.path)


def _row_key(entry: str, budget: Any, seed: Any, label: str) -> str:
    return f"{entry}/{budget}/{seed}/{label}"


def run_bench(args: argparse.Namespace) -> int:
    spec_path = Path(args.spec)
    spec = load_spec(spec_path)
    stem = spec_path.stem
    results_dir = Path(args.results) if args.results else spec_path.resolve().parent.parent / "results"
    results = Results(results_dir / f"{stem}.json", spec.get("title", stem))
    results.data["pivot"] = spec.get("pivot", [])
    if not args.render:
        _run_entries(spec, stem, results, args)
    write_reports(results, results_dir / stem)
    if args.readme:
        render_readme(Path(args.readme), stem, results)
    print(f"results: {results.path}, {results_dir / stem}.md, {results_dir / stem}-budget.png")
    return 0


def _run_entries(spec: dict[str, Any], stem: str, results: Results, args: argparse.Namespace) -> None:
    from graphdistill.core.runinfo import environment

    import torch

    data_root = args.data_root or os.environ.get("GRAPHDISTILL_DATA")
    workdir = Path(args.workdir or Path("runs") / "bench" / stem)
    results.data["machine"] = environment(torch.device(args.device))
    command = " ".join(getattr(args, "command_line", None) or ["graphdistill", "bench", args.spec])
    base = [sys.executable, "-m", "graphdistill.cli"]
    unknown = set(args.only) - {e["name"] for e in spec["entry"]}
    if unknown:
        raise InputError(f"--only names no entry of the spec: {', '.join(sorted(unknown))}")
    for entry in spec["entry"]:
        if args.only and entry["name"] not in args.only:
            continue
        modality = get_modality(entry["modality"])
        common = ["--dataset", entry["dataset"], "--device", args.device, "--quiet"]
        if data_root:
            common += ["--data-root", str(Path(data_root).resolve())]
        for budget in entry.get("budgets", [None]):
            if args.budget and budget is not None and str(budget) not in args.budget:
                continue
            for seed in entry.get("seeds", [0]):
                fill = {"budget": budget, "seed": seed, "data_root": data_root or ""}
                cost_only = entry.get("measure") == "cost"
                labels = ["cost"] if cost_only else [e.get("label", "eval") for e in entry["evaluation"]]
                if args.resume and all(_row_key(entry["name"], budget, seed, l) in results.rows for l in labels):
                    continue
                condensed, condense_facts = None, {}
                if "method" in entry:
                    condensed, condense_facts = _condense(entry, modality, [*base, "condense", modality.name, *common],
                                                          workdir / entry["name"] / f"{budget}-{seed}", budget, seed,
                                                          fill, args.resume)
                if cost_only:
                    wall = condense_facts["condense_wall_s"]
                    results.add(_row_key(entry["name"], budget, seed, "cost"), {
                        "entry": entry["name"], "modality": modality.name, "dataset": entry["dataset"],
                        "method": entry["method"], "budget": budget, "seed": seed,
                        "settings": entry.get("settings", {}), "evaluation": "cost", "metric": "condense_wall_s",
                        "value": wall, "values": [wall], "scale": 1.0, "bench_command": command,
                        "note": entry.get("note"), **condense_facts})
                    print(f"{entry['name']} budget {budget} seed {seed}: {wall:.1f} s, "
                          f"{condense_facts['peak_rss_mib']:.0f} MiB", flush=True)
                for evaluation, label in zip(entry.get("evaluation", []), labels):
                    flags = _flags(evaluation.get("args", {}), fill)
                    if condensed:
                        flags += ["--condensed", condensed]
                    if "seed" not in evaluation.get("args", {}):
                        flags += ["--seed", str(seed)]
                    evaluate = [*base, "evaluate", modality.name, *common, *flags, "--json"]
                    started = time.perf_counter()
                    metrics = _run_json(evaluate)
                    row = {"entry": entry["name"], "modality": modality.name, "dataset": entry["dataset"],
                           "method": entry.get("method", entry["name"]), "budget": budget, "seed": seed,
                           "settings": entry.get("settings", {}), "evaluation": label,
                           "metric": modality.primary_metric, "value": metrics[modality.primary_metric],
                           "values": _per_run(metrics, modality.primary_metric),
                           "scale": 100.0 if modality.primary_metric.startswith("test_acc") else 1.0,
                           "metrics": metrics, "evaluate_wall_s": time.perf_counter() - started,
                           "evaluate_command": " ".join(evaluate[3:]), "bench_command": command,
                           "note": entry.get("note"), **condense_facts}
                    results.add(_row_key(entry["name"], budget, seed, label), row)
                    print(f"{entry['name']} budget {budget} seed {seed} {label}: "
                          f"{row['scale'] * row['value']:.2f}", flush=True)


def _condense(entry: dict[str, Any], modality: Any, command: list[str], out: Path, budget: Any, seed: Any,
              fill: dict[str, Any], resume: bool) -> tuple[str, dict[str, Any]]:
    """One condensation of ``entry`` in its own process (reused from ``out`` under ``--resume``), and the facts
    of its ``meta.json`` that a row keeps."""
    command = [*command, "--method", entry["method"], modality.budget_flag, str(budget), "--seed", str(seed),
               "--out", str(out), "--overwrite", "--json", *_settings(entry.get("settings", {})),
               *_flags(entry.get("args", {}), fill)]
    if not (resume and (out / "meta.json").is_file()):
        _run_json(command)
    meta = json.loads((out / "meta.json").read_text())
    return str(out), {"condense_wall_s": meta["wall_s"], "peak_rss_mib": meta["peak_rss_mib"],
                      "peak_device_mib": meta.get("peak_device_mib"), "condense_command": " ".join(command[3:]),
                      "meta": _meta_facts(meta)}


def _per_run(metrics: dict[str, Any], metric: str) -> list[float]:
    """Per-run values where the evaluation reports them (``test_accs``), else the one value."""
    runs = metrics.get("test_accs") if metric == "test_acc_mean" else None
    return [float(v) for v in runs] if runs else [float(metrics[metric])]


def _meta_facts(meta: dict[str, Any]) -> dict[str, Any]:
    """The small facts of a condensed output worth keeping next to its scores (not its history)."""
    keep = ("budget", "config", "num_nodes", "num_edges", "images", "compression", "ridge", "selected_epoch",
            "epochs_run", "krr_test_acc", "ipc_equivalent", "stored_floats", "graph")
    return {k: meta[k] for k in keep if k in meta}


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def aggregate(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per (entry, dataset, budget, evaluation): the metric's mean and std over every evaluation
    run of every seed, condensation wall time over seeds, the largest peak RSS."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows.values():
        groups.setdefault((row["entry"], row["dataset"], str(row["budget"]), row["evaluation"]), []).append(row)
    table = []
    for (entry, dataset, _, evaluation), members in groups.items():
        scale = members[0].get("scale", 1.0)
        values = [scale * v for row in members for v in row.get("values", [row["value"]])]
        walls = [row["condense_wall_s"] for row in members if row.get("condense_wall_s") is not None]
        rss = [row["peak_rss_mib"] for row in members if row.get("peak_rss_mib") is not None]
        mean, std = _mean_std(values)
        table.append({"entry": entry, "dataset": dataset, "method": members[0]["method"],
                      "budget": members[0]["budget"], "evaluation": evaluation, "metric": members[0]["metric"],
                      "seeds": sorted({row["seed"] for row in members}, key=str), "runs": len(values),
                      "mean": mean, "std": std, "wall": _mean_std(walls) if walls else None,
                      "rss": max(rss) if rss else None, "note": members[0].get("note")})
    return sorted(table, key=lambda g: (g["dataset"], g["evaluation"], _budget_order(g["budget"]), g["entry"]))


def _budget_order(budget: Any) -> tuple:
    return (0, float(budget)) if isinstance(budget, (int, float)) else (1, str(budget))


def markdown_table(results: Results, filters: dict[str, str] | None = None) -> str:
    """The aggregated table; ``filters`` keeps groups whose field equals the value (``evaluation=infae``;
    ``entry=a|b`` for several values)."""
    groups = [g for g in aggregate(results.rows)
              if all(str(g.get(k)) in v.split("|") for k, v in (filters or {}).items())]
    lines = ["| dataset | entry | method | budget | evaluation | seeds | runs | metric | mean +- std | "
             "condense wall (s) | peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in groups:
        wall = f"{g['wall'][0]:.1f} +- {g['wall'][1]:.1f}" if g["wall"] else "-"
        rss = f"{g['rss']:.0f}" if g["rss"] else "-"
        note = f" ({g['note']})" if g["note"] else ""
        lines.append(f"| {g['dataset']} | {g['entry']}{note} | {g['method']} | {g['budget'] if g['budget'] is not None else '-'} "
                     f"| {g['evaluation']} | {','.join(map(str, g['seeds']))} | {g['runs']} | {g['metric']} | "
                     f"{g['mean']:.2f} +- {g['std']:.2f} | {wall} | {rss} |")
    return "\n".join(lines) + "\n"


def _stored_values(row: dict[str, Any]) -> str:
    compression = row.get("meta", {}).get("compression")
    if compression:
        return f"{compression['stored_values']:,} ({compression['values_ratio']:.2f}x)"
    stored = row.get("metrics", {}).get("stored_values")
    # a row without condensation facts evaluated the original data itself
    return f"{stored:,} (1.00x)" if stored is not None and not row.get("meta") else "-"


def pivot_table(results: Results, filters: dict[str, str] | None = None) -> str:
    """One row per (dataset, budget, entry), one column per evaluation label; each cell the spec's ``pivot``
    metrics as mean +- std over seeds (in %), and the stored values against the original data."""
    metrics = results.data.get("pivot") or []
    rows = [row for row in results.rows.values() if row.get("evaluation") != "cost"
            and all(str(row.get(k)) in v.split("|") for k, v in (filters or {}).items())]
    labels = list(dict.fromkeys(row["evaluation"] for row in rows))
    cells: dict[tuple, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        cells.setdefault((row["dataset"], row["budget"], row["entry"]), {}).setdefault(row["evaluation"], []).append(row)
    lines = [f"| dataset | budget | entry | stored values | {' | '.join(labels)} |",
             "|---|---|---|---|" + "---|" * len(labels),
             f"| | | | | {' | '.join(' / '.join(metrics) for _ in labels)} |"]
    for (dataset, budget, entry), by_label in sorted(cells.items(), key=lambda kv: (
            kv[0][0], _budget_order(kv[0][1]) if kv[0][1] is not None else (-1, ""), kv[0][2])):
        members = next(iter(by_label.values()))
        row_cells = []
        for label in labels:
            runs = by_label.get(label, [])
            row_cells.append(" / ".join(
                "{:.2f} +- {:.2f}".format(*_mean_std([r.get("scale", 1.0) * r["metrics"][m] for r in runs]))
                for m in metrics) if runs else "-")
        lines.append(f"| {dataset} | {budget if budget is not None else 'full'} | {entry} | "
                     f"{_stored_values(members[0])} | {' | '.join(row_cells)} |")
    return "\n".join(lines) + "\n"


def write_reports(results: Results, prefix: Path) -> None:
    """``<prefix>.md`` (what was run, where, and the table) and the PNG plots."""
    data = results.data
    machine = data.get("machine", {})
    commands = sorted({row.get("bench_command") or "" for row in results.rows.values()} - {""})
    text = [f"# {data['title']}", "",
            f"Machine: {machine.get('processor', '?')}, {machine.get('cpu_count', '?')} CPUs, "
            f"{machine.get('platform', '?')}, device {machine.get('device', '?')}; torch {machine.get('torch', '?')}. "
            f"Updated {data.get('updated', '?')}.", "",
            "Metric: accuracies in %, recommendation metrics in % as reported; mean +- std over every "
            "evaluation run of every seed; condensation wall time over seeds; peak RSS of the condensing process.",
            "", markdown_table(results), "Commands:", "", *[f"- `{c}`" for c in commands], ""]
    if results.data.get("pivot"):
        text += [f"By evaluation ({' / '.join(results.data['pivot'])}, mean +- std over seeds):", "",
                 pivot_table(results)]
    fits = edge_fits(results)
    if fits:
        text += ["Peak RSS against the real graph's undirected edges (least squares, cost rows):", "",
                 *[f"- {method}: {slope:.0f} bytes per edge + {intercept / 2**20:.0f} MiB" for method, (slope, intercept)
                   in fits.items()], ""]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".md").write_text("\n".join(text))
    plot(results, prefix)


def _cost_points(results: Results) -> dict[str, list[tuple[float, float]]]:
    """Per method, ``(undirected edges, peak RSS bytes)`` of every cost row that knows its graph's size."""
    points: dict[str, list[tuple[float, float]]] = {}
    for row in results.rows.values():
        edges = row.get("meta", {}).get("graph", {}).get("edges")
        if row.get("evaluation") == "cost" and edges and row.get("peak_rss_mib"):
            points.setdefault(row["method"], []).append((edges / 2, row["peak_rss_mib"] * 2**20))
    return points


def edge_fits(results: Results) -> dict[str, tuple[float, float]]:
    """Per method with cost rows on at least two graph sizes: ``(bytes per edge, intercept bytes)``."""
    fits = {}
    for method, points in _cost_points(results).items():
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        if len(set(xs)) < 2:
            continue
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sum((x - mean_x) ** 2 for x in xs)
        fits[method] = (slope, mean_y - slope * mean_x)
    return fits


def plot(results: Results, prefix: Path) -> None:
    """``<prefix>-budget.png``: metric vs budget per method with error bars, one panel per dataset;
    ``<prefix>-time.png``: metric vs condensation wall time."""
    try:
        import matplotlib
    except ImportError:
        print("plots skipped: matplotlib is not installed (pip install 'graphdistill[images]')", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = aggregate(results.rows)
    datasets = sorted({g["dataset"] for g in groups})
    figure, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        lines: dict[str, list[dict[str, Any]]] = {}
        for g in groups:
            if g["dataset"] == dataset and isinstance(g["budget"], (int, float)):
                lines.setdefault(f"{g['entry']} [{g['evaluation']}]", []).append(g)
        for label, points in sorted(lines.items()):
            points.sort(key=lambda g: g["budget"])
            axis.errorbar([g["budget"] for g in points], [g["mean"] for g in points], [g["std"] for g in points],
                          marker="o", capsize=3, label=label)
        for g in groups:
            if g["dataset"] == dataset and g["budget"] is None:
                axis.axhline(g["mean"], linestyle="--", color="grey", label=f"{g['entry']} [{g['evaluation']}]")
        axis.set(title=dataset, xlabel="budget", ylabel=f"{groups[0]['metric']} (%)" if groups else "")
        axis.set_xscale("log")
        axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(prefix.parent / f"{prefix.name}-budget.png", dpi=110)
    plt.close(figure)
    timed = [g for g in groups if g["wall"]]
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for g in timed:
        axis.errorbar(g["wall"][0], g["mean"], yerr=g["std"], fmt="o", capsize=3)
        axis.annotate(f"{g['entry']} {g['budget']}", (g["wall"][0], g["mean"]), fontsize=6)
    axis.set(xlabel="condensation wall time (s)", ylabel=f"{groups[0]['metric']} (%)" if groups else "",
             title=results.data["title"])
    if timed:
        axis.set_xscale("log")
    figure.tight_layout()
    figure.savefig(prefix.parent / f"{prefix.name}-time.png", dpi=110)
    plt.close(figure)
    points, fits = _cost_points(results), edge_fits(results)
    if points:
        figure, axis = plt.subplots(figsize=(5.5, 3.8))
        for method, pairs in sorted(points.items()):
            pairs.sort()
            slope = f", {fits[method][0]:.0f} B/edge" if method in fits else ""
            axis.plot([p[0] for p in pairs], [p[1] / 2**20 for p in pairs], marker="o", label=f"{method}{slope}")
        axis.set(xscale="log", yscale="log", xlabel="undirected edges of the real graph", ylabel="peak RSS (MiB)",
                 title=results.data["title"])
        axis.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(prefix.parent / f"{prefix.name}-scaling.png", dpi=110)
        plt.close(figure)


def render_readme(readme: Path, stem: str, results: Results) -> None:
    """Replace every ``<!-- bench:<stem> [field=value ...] -->`` ... ``<!-- /bench:<stem> -->`` block of ``readme``
    with the table (filtered by the marker's ``field=value`` pairs)."""
    text = readme.read_text()
    found = [m for m in README_BLOCK.finditer(text) if m.group("name") == stem]
    if not found:
        raise InputError(f"{readme} has no <!-- bench:{stem} --> ... <!-- /bench:{stem} --> block")
    for match in reversed(found):
        filters = dict(pair.split("=", 1) for pair in match.group("filters").split())
        table = pivot_table if filters.pop("table", None) == "pivot" else markdown_table
        text = (text[:match.start()] + match.group(1) + table(results, filters) + match.group(4)
                + text[match.end():])
    readme.write_text(text)
