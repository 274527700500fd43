"""graphdistill: dataset distillation for graphs, interaction logs and images on one bilevel core."""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "condense", "evaluate", "load_condensed"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import graphdistill` (and the CLI's start) does not pay for torch.
    if name in ("condense", "evaluate", "load_condensed"):
        from graphdistill import api

        return getattr(api, name)
    raise AttributeError(f"module 'graphdistill' has no attribute {name!r}")
