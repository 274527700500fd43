"""The Python API: the command line's ``condense`` / ``evaluate`` as functions, and ``load_condensed`` for any
modality's output. Keyword arguments are the command's flags (``--ratio-of`` is ``ratio_of``)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed
from graphdistill.core.modality import get_modality, modality_of_output


def _namespace(configure, options: dict[str, Any], optional: tuple[str, ...] = ()) -> argparse.Namespace:
    """The namespace the command line would build from ``options``: defaults filled, unknown keys and
    missing required flags refused."""
    parser = argparse.ArgumentParser(add_help=False)
    configure(parser)
    actions = {a.dest: a for a in parser._actions}
    unknown = sorted(set(options) - set(actions) - {"settings"})
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(actions))}, settings")
    values = {dest: action.default for dest, action in actions.items()}
    missing = [dest for dest, action in actions.items()
               if action.required and dest not in options and dest not in optional]
    groups_missing = [group for group in parser._mutually_exclusive_groups
                      if group.required and not any(a.dest in options for a in group._group_actions)]
    if missing or groups_missing:
        names = missing + ["/".join(a.dest for a in g._group_actions) for g in groups_missing]
        raise InputError(f"missing option(s): {', '.join(names)}")
    values.update(options)
    return argparse.Namespace(**values)


def condense(modality: str, *, out: str | Path | None = None, settings: dict[str, Any] | None = None,
             **options: Any) -> Condensed:
    """Condense as ``graphdistill condense <modality>`` does; returns the :class:`~graphdistill.core.Condensed`
    (``data`` tensors, full ``meta``, loop ``history``). With ``out`` the output is written there
    (checkpointed, resumable with ``resume=True``); without it nothing is written.

    ``settings`` are the method's config values (``--set``), as Python values.

    Example::

        condensed = graphdistill.condense("graph", dataset="cora", method="gcond", budget=70, seed=0,
                                          out="runs/cora-gcond")
    """
    target = get_modality(modality)
    args = _namespace(target.configure_condense, {"out": out, "quiet": True, **options}, optional=("out",))
    args.settings = settings or {}
    args.command_line = ["graphdistill.condense", modality, *(f"{k}={v!r}" for k, v in options.items()),
                         *([f"out={str(out)!r}"] if out is not None else []), *([f"settings={settings!r}"] if settings else [])]
    return target.run_condense(args)


def evaluate(modality: str, **options: Any) -> dict[str, Any]:
    """Evaluate as ``graphdistill evaluate <modality>`` does; returns the flat metrics dict.

    Example::

        metrics = graphdistill.evaluate("graph", dataset="cora", condensed="runs/cora-gcond", runs=5)
    """
    target = get_modality(modality)
    return target.run_evaluate(_namespace(target.configure_evaluate, {"quiet": True, **options}))


def load_condensed(path: str | Path) -> Any:
    """Load any modality's output, dispatching on its ``meta.json``: a PyG ``Data`` for graphs, a list of
    PyG ``Data`` for graph sets, ``(CSR matrix, item tokens)`` for interaction logs, ``(x, y)`` tensors for images. Everything is validated."""
    return modality_of_output(path).load(path)
