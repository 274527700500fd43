"""The contract a modality fulfils, and the one flow every modality's ``condense`` and ``evaluate`` run through.

A modality (node graphs, interaction logs, images, or one installed by another package) is an object of a
:class:`Modality` subclass, registered under the ``graphdistill.modalities`` entry-point group. The base
class owns the flow (arguments, configs, data root, seeding, output checks, lock, checkpoints, NaN checks,
``meta.json``); a subclass fills the parts (its data, budget, output format and evaluation protocol).
Neither this module nor the CLI imports an adapter.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import time
import warnings
from datetime import datetime, timezone
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Callable

import torch

from graphdistill.core import distributed
from graphdistill.core.config import build_config, parse_overrides, read_toml
from graphdistill.core.data_root import resolve_data_root
from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, Method, RunOptions
from graphdistill.core.output import check_output, output_modality, partial_directory, partial_path
from graphdistill.core.registry import Registry
from graphdistill.core.runinfo import (REAL_DATA_PLACEMENTS, environment, peak_device_mib, peak_rss_mib,
                                       resolve_device)

ENTRY_POINT_GROUP = "graphdistill.modalities"


class Modality:
    """One kind of data that graphdistill condenses.

    Class attributes a subclass sets:
        name: the subcommand (``graphdistill condense <name>``) and ``meta.json``'s ``modality``.
        help: one line for ``--help``.
        config_package: the package holding ``configs/<method>.toml`` (sections ``[default]``, ``[<dataset>]``).
        output_file: the file that marks an output directory of this modality (e.g. ``graph.pt``).
        budget_flag: the condense flag that sets the budget (``--budget``, ``--users``, ``--ipc``).
        primary_metric: the key of :meth:`evaluate`'s result that benchmarks plot (higher is better).
        datasets: what ``--dataset`` accepts, for the help text.
        default_method: ``--method`` when none is given.
        expert_config: the settings class of ``graphdistill experts <name>`` (trajectory buffers), ``None`` where
            the modality builds none; such a modality fills :meth:`build_experts`.
        places_real_data: the modality's methods and evaluation honour ``--real-data`` (keeping real data on the
            CPU under an accelerator ``--device``), which its condense and evaluate commands then offer.
    """

    name: str = ""
    help: str = ""
    config_package: str = ""
    output_file: str = ""
    budget_flag: str = ""
    primary_metric: str = ""
    datasets: str = ""
    default_method: str = ""
    expert_config: type | None = None
    places_real_data: bool = False

    # -- the parts a modality fills -------------------------------------------------------------------
    @property
    def methods(self) -> Registry[Method]:
        raise NotImplementedError

    def add_condense_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The budget flag (required) and the modality's own condense flags."""
        raise NotImplementedError

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        """What to evaluate (``--condensed`` and alternatives) and the protocol's knobs."""
        raise NotImplementedError

    def add_data_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Flags that change how the dataset is read (both subcommands); none by default."""

    def requirements(self, args: argparse.Namespace) -> list[tuple[str, str]]:
        """``(module, extra)`` pairs this invocation needs, checked before any work."""
        return []

    def shorthand_settings(self, args: argparse.Namespace) -> dict[str, Any]:
        """Config settings given as their own flags (e.g. ``--iterations``); ``--set`` still wins."""
        return {}

    def load_data(self, args: argparse.Namespace, root: Path | None) -> Any:
        """The dataset named by ``args.dataset`` from ``root`` (``None``: the modality's offline default, or
        an :class:`InputError` listing the paths looked at)."""
        raise NotImplementedError

    def digest(self, data: Any) -> str:
        """A digest of the loaded data (everything a run reads), for checkpoint fingerprints."""
        raise NotImplementedError

    def resolve_budget(self, data: Any, args: argparse.Namespace) -> Any:
        """The budget from the condense flags; impossible budgets are :class:`InputError`s."""
        raise NotImplementedError

    def budget_record(self, budget: Any) -> Any:
        """The budget as JSON for ``meta.json`` and fingerprints."""
        return budget

    def epoch_callback(self, data: Any, args: argparse.Namespace,
                       records: list[dict[str, Any]]) -> Callable[[int, float, Any], None] | None:
        """An optional per-epoch callback (e.g. periodic evaluation) appending to ``records``."""
        return None

    def finish(self, condensed: Condensed, data: Any, args: argparse.Namespace) -> Condensed:
        """Post-processing of a method's output (storage options); returns the condensed set to save."""
        return condensed

    def describe(self, condensed: Condensed, data: Any, args: argparse.Namespace) -> dict[str, Any]:
        """Modality facts for ``meta.json`` (sizes, storage, dataset provenance)."""
        return {}

    def save(self, out: Path, condensed: Condensed, overwrite: bool) -> None:
        """Write ``condensed.data`` and ``condensed.meta`` atomically (all files or none)."""
        raise NotImplementedError

    def load(self, path: str | Path) -> Any:
        """The user-facing object of a saved output (validated; problems are :class:`InputError`s naming
        the file and field)."""
        raise NotImplementedError

    def evaluate(self, args: argparse.Namespace, root: Path | None, device: torch.device) -> dict[str, Any]:
        """Train the protocol's models and return a flat dict of metrics."""
        raise NotImplementedError

    def summary(self, result: dict[str, Any]) -> str:
        """One human-readable line for an evaluation result (accuracy protocols by default)."""
        if "test_acc_mean" in result:
            return (f"test accuracy {100 * result['test_acc_mean']:.2f} +- {100 * result['test_acc_std']:.2f} "
                    f"over {result['runs']} runs ({result.get('arch', '')}, {result['wall_s']:.1f} s)")
        return f"{self.primary_metric} {result[self.primary_metric]:.4f} ({result['wall_s']:.1f} s)"

    # -- the flow the base class owns ------------------------------------------------------------------
    def configure_condense(self, parser: argparse.ArgumentParser) -> None:
        """Every flag of ``graphdistill condense <name>``."""
        self._common_arguments(parser)
        self._real_data_argument(parser)
        parser.add_argument("--method", default=self.default_method,
                            help=f"one of: {', '.join(self.methods)} (default: {self.default_method})")
        self.add_condense_arguments(parser)
        parser.add_argument("--seed", type=int, default=0, help="seed of every generator the run uses (default 0)")
        parser.add_argument("--out", required=True, help=f"output directory ({self.output_file} + meta.json)")
        parser.add_argument("--resume", action="store_true", help="continue from <out>.partial/checkpoint.pt")
        parser.add_argument("--overwrite", action="store_true",
                            help=f"replace --out if it is an empty directory or an earlier {self.name} output")
        parser.add_argument("--config", help="TOML file with settings (top level, [default] or [<dataset>])")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help="override one setting (a TOML literal)")
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
        group = parser.add_argument_group("more than one process (torch.distributed)")
        group.add_argument("--nproc", type=int, default=1,
                           help="local processes (torchrun --standalone semantics; ignored when a launcher such as "
                                "torchrun started this one; default 1)")
        group.add_argument("--backend", help="process-group backend (default: nccl on CUDA, gloo on CPU)")
        group.add_argument("--timeout", type=float, default=600.0,
                           help="seconds a process waits for the others before the run fails (default 600)")

    def configure_evaluate(self, parser: argparse.ArgumentParser) -> None:
        """Every flag of ``graphdistill evaluate <name>``."""
        self._common_arguments(parser)
        self._real_data_argument(parser)
        self.add_evaluate_arguments(parser)
        parser.add_argument("--seed", type=int, default=0, help="seed of the first evaluation run (default 0)")
        parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")

    def _common_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dataset", required=True, help=self.datasets)
        parser.add_argument("--data-root", help="folder holding the datasets (default: $GRAPHDISTILL_DATA, "
                                                "else the modality's offline default where it has one)")
        self.add_data_arguments(parser)
        parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0 (default: cpu)")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def _real_data_argument(self, parser: argparse.ArgumentParser) -> None:
        if self.places_real_data:
            parser.add_argument("--real-data", choices=REAL_DATA_PLACEMENTS, default="auto",
                                help="with an accelerator --device, where the real data lives: auto (there when it "
                                     "takes at most half its free memory, else on the CPU, each step's batch moved), "
                                     "cpu, same (default auto)")

    def check_requirements(self, args: argparse.Namespace) -> None:
        for module, extra in self.requirements(args):
            if importlib.util.find_spec(module) is None:
                raise InputError(f"this needs the Python package {module!r}: pip install 'graphdistill[{extra}]'")

    def config_for(self, method: Method, args: argparse.Namespace) -> Any:
        """Packaged defaults, then ``--config``, then flag shorthands, then ``--set`` (later layers win)."""
        layers = _sections(self.packaged_config(args.method), args.dataset)
        if getattr(args, "config", None):
            layers += _sections(read_toml(args.config), args.dataset)
        layers.append({k: v for k, v in self.shorthand_settings(args).items() if v is not None})
        layers.append(parse_overrides(getattr(args, "set", None) or []))
        layers.append(dict(getattr(args, "settings", None) or {}))
        return build_config(method.config_class, *layers)

    def packaged_config(self, method_name: str) -> dict[str, Any]:
        path = resources.files(self.config_package) / "configs" / f"{method_name}.toml"
        return read_toml(Path(str(path))) if path.is_file() else {}

    def run_condense(self, args: argparse.Namespace) -> Condensed:
        """The whole ``condense`` flow; returns the condensed set with its full ``meta``."""
        started = time.perf_counter()
        device = resolve_device(args.device)
        if distributed.launched():
            device = distributed.join(device, args.backend, args.timeout)
        here = distributed.world()
        method = self.methods[args.method]
        self.check_requirements(args)
        config = self.config_for(method, args)
        root = resolve_data_root(args.data_root)
        out = Path(args.out) if args.out is not None else None
        if out is not None and here.main:
            check_output(out, self.name, _markers(), args.overwrite, root)
        data = self.load_data(args, root)
        budget = self.resolve_budget(data, args)
        digest = self.digest(data)
        records: list[dict[str, Any]] = []
        run = RunOptions(seed=args.seed, device=device, real_data=getattr(args, "real_data", "same"),
                         resume=args.resume, progress=not args.quiet,
                         callback=self.epoch_callback(data, args, records),
                         # Method.condense adds the config, budget and seed (the one fingerprint rule).
                         fingerprint={"modality": self.name, "method": args.method, "dataset": args.dataset,
                                      "device": str(device), "data": digest})
        if out is not None:  # every rank takes part in checkpointing; only rank 0 touches the directory
            run = dataclasses.replace(run, checkpoint_path=partial_path(out) / "checkpoint.pt")
        with partial_directory(out) if out is not None and here.main else contextlib.nullcontext():
            condensed = method.condense(data, budget, config, run)
            if not here.main:
                return condensed
            condensed = self.finish(condensed, data, args)
            _check_finite(condensed)
            condensed.meta = {
                "modality": self.name, "dataset": args.dataset, "method": args.method,
                "budget": self.budget_record(budget), "seed": args.seed, "config": dataclasses.asdict(config),
                "data_digest": digest, **self.describe(condensed, data, args), **condensed.meta,
                "eval_history": records, "history": condensed.history, "processes": here.size,
                **_run_facts(device, started),
                "command": getattr(args, "command_line", None)}
            if out is not None:
                try:
                    self.save(out, condensed, args.overwrite)
                except OSError as exc:
                    raise InputError(f"cannot write {out}: {exc.strerror or exc}") from exc
        return condensed

    def build_experts(self, data: Any, args: argparse.Namespace, config: Any, device: torch.device) -> dict[str, Any]:
        """Train ``args.experts`` experts into the buffer ``args.out`` (resumable); returns its facts."""
        raise NotImplementedError

    def configure_experts(self, parser: argparse.ArgumentParser) -> None:
        """Every flag of ``graphdistill experts <name>``."""
        self._common_arguments(parser)
        parser.add_argument("--experts", type=int, required=True, help="experts the buffer should hold")
        parser.add_argument("--out", required=True, help="buffer directory (an interrupted build continues there)")
        parser.add_argument("--seed", type=int, default=0, help="expert i is seeded seed + i (default 0)")
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                            help=f"override one expert setting (a TOML literal): "
                                 f"{', '.join(f.name for f in dataclasses.fields(self.expert_config))}")
        parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    def run_experts(self, args: argparse.Namespace) -> dict[str, Any]:
        """The whole ``experts`` flow: settings, data, the build; returns the buffer's facts and the wall time."""
        started = time.perf_counter()
        config = build_config(self.expert_config, parse_overrides(args.set))
        data = self.load_data(args, resolve_data_root(args.data_root))
        facts = self.build_experts(data, args, config, resolve_device(args.device))
        return {**facts, "modality": self.name, "dataset": args.dataset, "wall_s": time.perf_counter() - started,
                "peak_rss_mib": peak_rss_mib()}

    def run_evaluate(self, args: argparse.Namespace) -> dict[str, Any]:
        """The whole ``evaluate`` flow; returns the flat metrics dict with wall time and peak memory."""
        started = time.perf_counter()
        self.check_requirements(args)
        device = resolve_device(args.device)
        result = self.evaluate(args, resolve_data_root(args.data_root), device)
        return {**result, "modality": self.name, "dataset": args.dataset,
                "wall_s": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib()}

    def condense_summary(self, condensed: Condensed, out: str | None) -> str:
        meta = condensed.meta
        where = f" -> {out}" if out else ""
        stop = ", stopped early (patience)" if meta.get("stopped_early") else ""
        kept = f", kept epoch {meta['selected_epoch']}" if meta.get("selected_epoch") else ""
        return (f"{self.name} {meta['dataset']}: {meta['method']} condensed to {self.budget_text(meta['budget'])} "
                f"in {meta['wall_s']:.1f} s{stop}{kept}{where}")

    def budget_text(self, budget: Any) -> str:
        return f"{self.budget_flag.lstrip('-')} {budget}"


def _sections(table: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    """A config file's layers: top-level keys, then ``[default]``, then ``[<dataset>]`` (any letter case)."""
    flat = {k: v for k, v in table.items() if not isinstance(v, dict)}
    own = next((v for k, v in table.items() if isinstance(v, dict) and k.lower() == dataset.lower()), {})
    return [flat, table.get("default", {}), own]


def _check_finite(condensed: Condensed) -> None:
    for name, tensor in condensed.data.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise InputError(f"the condensed {name} contains NaN or infinite values; lower the learning rate")


def _run_facts(device: torch.device, started: float) -> dict[str, Any]:
    return {"wall_s": time.perf_counter() - started, "peak_rss_mib": peak_rss_mib(),
            "peak_device_mib": peak_device_mib(device), "environment": environment(device),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def modalities() -> dict[str, Modality]:
    """Every installed modality, found through the ``graphdistill.modalities`` entry points.

    A modality whose package fails to import is skipped with a warning, so one broken plug-in does not
    take the command down.
    """
    found: dict[str, Modality] = {}
    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            modality = entry.load()
        except Exception as exc:  # a third-party plug-in's problem must not hide the others
            warnings.warn(f"modality {entry.name!r} ({entry.value}) failed to load: {exc}", stacklevel=2)
            continue
        if not isinstance(modality, Modality) or modality.name != entry.name:
            warnings.warn(f"entry point {entry.name!r} ({entry.value}) is not a Modality named {entry.name!r}",
                          stacklevel=2)
            continue
        found[entry.name] = modality
    return found


def get_modality(name: str) -> Modality:
    found = modalities()
    if name not in found:
        raise InputError(f"unknown modality {name!r}; installed: {', '.join(found) or 'none'}")
    return found[name]


def _markers() -> dict[str, str]:
    return {name: modality.output_file for name, modality in modalities().items()}


def modality_of_output(path: str | Path) -> Modality:
    """The modality that wrote the output directory ``path`` (``meta.json``, else its marker file)."""
    directory = Path(path)
    if not directory.is_dir():
        raise InputError(f"no condensed output at {directory}")
    name = output_modality(directory, _markers())
    if name is None:
        raise InputError(f"{directory} is not a graphdistill output (no meta.json naming a modality, no known file)")
    return get_modality(name)


__all__ = ["Modality", "modalities", "get_modality", "modality_of_output", "ENTRY_POINT_GROUP"]
