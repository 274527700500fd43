"""What a results or metadata file records about the run that made it."""
from __future__ import annotations

import os
import platform
import resource
import sys
from typing import Any

import torch


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def peak_device_mib(device: torch.device) -> float | None:
    """Peak memory allocated by torch on a CUDA ``device`` in MiB; ``None`` elsewhere."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def environment(device: torch.device | None = None) -> dict[str, Any]:
    """Versions and machine description."""
    from graphdistill import __version__

    info: dict[str, Any] = {
        "graphdistill": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
    }
    try:
        import torch_geometric
        info["torch_geometric"] = torch_geometric.__version__
    except ImportError:
        pass
    if device is not None:
        info["device"] = str(device)
        if device.type == "cuda":
            info["device_name"] = torch.cuda.get_device_name(device)
    return info


def resolve_device(name: str) -> torch.device:
    """Parse ``--device``; a CUDA device that is not there is an input error, not a crash."""
    from graphdistill.core.errors import InputError

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise InputError(f"invalid device {name!r}: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available")
    return device
