"""Where a run may write: ``--out`` checks, the ``<out>.partial`` working directory and its lock."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Iterator

from graphdistill.core.errors import InputError

META_FILE = "meta.json"
LOCK_FILE = "lock"


def output_modality(directory: Path, markers: dict[str, str]) -> str | None:
    """The modality whose output ``directory`` is: ``meta.json``'s ``modality``, else (outputs of earlier
    versions) the modality whose marker file it holds; ``None`` when it is no graphdistill output."""
    meta = directory / META_FILE
    if meta.is_file():
        with contextlib.suppress(ValueError, OSError):
            recorded = json.loads(meta.read_text()).get("modality")
            if isinstance(recorded, str):
                return recorded
    return next((name for name, marker in markers.items() if (directory / marker).is_file()), None)


def _protected(path: Path, data_root: Path | None) -> str | None:
    """Why ``path`` may never be replaced or written into, or ``None``."""
    cwd = Path.cwd().resolve()
    if path == Path(path.anchor):
        return "it is the file-system root"
    if path == Path.home().resolve():
        return "it is the home directory"
    if path == cwd or path in cwd.parents:
        return "it is the working directory or one of its parents"
    if data_root is not None:
        root = data_root.resolve()
        if path == root or root in path.parents or path in root.parents:
            return f"it overlaps the data root {data_root}, which is only ever read"
    return None


def check_output(out: str | os.PathLike, modality: str, markers: dict[str, str], overwrite: bool,
                 data_root: Path | None = None) -> Path:
    """Refuse an ``--out`` that a run must not write, before any work is done.

    ``--overwrite`` replaces only an empty directory or an output of the same modality (``meta.json``
    says so); never ``/``, the home directory, the working directory or its parents, or the data root.
    """
    out = Path(out)
    resolved = out.resolve()
    reason = _protected(resolved, data_root)
    if reason:
        raise InputError(f"refusing --out {out}: {reason}")
    if resolved.exists() and not resolved.is_dir():
        raise InputError(f"--out {out} exists and is not a directory")
    if resolved.is_dir():
        if not overwrite:
            raise InputError(f"output directory {out} already exists (pass --overwrite to replace it)")
        found = output_modality(resolved, markers)
        if any(resolved.iterdir()) and found != modality:
            what = f"an output of modality {found}" if found else "not a graphdistill output"
            raise InputError(f"refusing to overwrite {out}: it is {what} (only an empty directory or an "
                             f"earlier {modality} output is replaced)")
    parent = next(p for p in [resolved.parent, *resolved.parent.parents] if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write --out {out}: {parent} is not a writable directory")
    return out


def _holder(lock: Path) -> str:
    with contextlib.suppress(ValueError, OSError):
        info = json.loads(lock.read_text())
        return f"PID {info['pid']} on {info['host']}"
    return "another process"


def partial_path(out: Path) -> Path:
    """``<out>.partial``: where a run keeps its checkpoints until its output is complete."""
    return out.with_name(out.name + ".partial")


@contextlib.contextmanager
def partial_directory(out: Path) -> Iterator[Path]:
    """``<out>.partial/``: the run's checkpoints, locked for this process while the run lasts.

    A second run with the same ``--out`` is refused at once naming the holder; a lock left by a process
    that died is released by the operating system and taken over with a message. The directory is
    kept on failure when it holds a checkpoint (for ``--resume``) and removed on success.
    """
    partial = partial_path(out)
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {partial}: {exc.strerror or exc}") from exc
    lock_path = partial / LOCK_FILE
    handle = open(lock_path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{partial} is in use by {_holder(lock_path)}; wait for that run or pick another --out")
    previous = lock_path.read_text().strip()
    if previous:
        print(f"graphdistill: taking over {partial} from {_holder(lock_path)}, which is no longer running",
              file=sys.stderr)
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    handle.flush()
    try:
        yield partial
    except BaseException:
        lock_path.unlink(missing_ok=True)
        handle.close()
        if not any(partial.iterdir()):
            partial.rmdir()
        raise
    shutil.rmtree(partial, ignore_errors=True)
    handle.close()
