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


REAL_DATA_PLACEMENTS = ("auto", "cpu", "same")


def real_data_device(nbytes: int, device: torch.device, placement: str = "auto", share: float = 0.5) -> torch.device:
    """Where a method computing on ``device`` keeps real data of ``nbytes`` bytes.

    ``same``: on ``device``. ``cpu``: on the CPU, the method moving what each step needs to ``device``.
    ``auto``: on ``device`` when that is not an accelerator with less free memory than ``nbytes / share``, else on
    the CPU (said on stderr): a graph of ogbn-products' size does not fit next to its training on a small GPU.

    Raises:
        InputError: an unknown ``placement``.
    """
    from graphdistill.core.errors import InputError

    if placement not in REAL_DATA_PLACEMENTS:
        raise InputError(f"unknown real-data placement {placement!r}; choose one of {', '.join(REAL_DATA_PLACEMENTS)}")
    if device.type == "cpu" or placement == "same":
        return device
    if placement == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        return device
    free, _ = torch.cuda.mem_get_info(device)
    if nbytes <= share * free:
        return device
    print(f"graphdistill: the real data ({nbytes / 2**30:.2f} GiB) would take more than {share:.0%} of {device}'s free "
          f"memory ({free / 2**30:.2f} GiB); it stays on the CPU and each step's batch moves to {device}",
          file=sys.stderr)
    return torch.device("cpu")


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
