"""The one data-root rule of every modality: ``--data-root``, else ``$GRAPHDISTILL_DATA``, else none (the
modality's offline default, where it has one)."""
from __future__ import annotations

import os
from pathlib import Path

from graphdistill.core.errors import InputError

ENVIRONMENT_VARIABLE = "GRAPHDISTILL_DATA"
CACHE_VARIABLE = "GRAPHDISTILL_CACHE"


def resolve_data_root(explicit: str | os.PathLike | None = None) -> Path | None:
    """The data root a loader reads from, or ``None`` when neither the argument nor the variable is set.

    Raises:
        InputError: an explicit root (or the variable's) that is not an existing folder; a root that was
            asked for is never silently replaced by a default.
    """
    if explicit is not None and str(explicit) != "":
        source, root = "--data-root", Path(explicit)
    elif os.environ.get(ENVIRONMENT_VARIABLE):
        source, root = f"${ENVIRONMENT_VARIABLE}", Path(os.environ[ENVIRONMENT_VARIABLE])
    else:
        return None
    if not root.is_dir():
        raise InputError(f"data root {root} (from {source}) is not an existing folder")
    return root


def not_found(what: str, looked_at: list[Path], root: Path | None, alternative: str = "") -> InputError:
    """The error a loader raises when a dataset's files are nowhere: what it needs, every path it tried, and
    how to point it at them (``alternative``: another way, such as a download flag)."""
    if root is None:
        return InputError(f"{what} not found: no data root (pass --data-root DIR or set {ENVIRONMENT_VARIABLE}"
                          f"{alternative})")
    return InputError(f"{what} not found; looked at {', '.join(str(p) for p in looked_at)} (data root {root})")


def cache_dir() -> Path:
    """Where generated data (and downloads on a machine with internet) are kept: ``$GRAPHDISTILL_CACHE``, else
    ``$XDG_CACHE_HOME/graphdistill``, else ``~/.cache/graphdistill``. Never under a data root."""
    if os.environ.get(CACHE_VARIABLE):
        return Path(os.environ[CACHE_VARIABLE])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graphdistill"
