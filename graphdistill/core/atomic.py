"""Writes that never leave a half-written file or directory behind."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

import torch


CRASH_VARIABLE = "GRAPHDISTILL_CRASH_AT"
_crash_counts: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Fault injection for the crash-consistency tests: ``GRAPHDISTILL_CRASH_AT=name`` (or ``name@N`` for the
    N-th time, ``name@N:rankR`` for the process of rank ``R`` only) SIGKILLs this process at that point of a
    write; a trailing ``:hang`` stops it instead (SIGSTOP), as a process that hangs. Unset, it does nothing."""
    wanted = os.environ.get(CRASH_VARIABLE)
    if not wanted:
        return
    point, _, count = wanted.partition("@")
    count, _, rank = count.partition(":rank")
    rank, _, action = rank.partition(":")
    if point == name and (not rank or rank == os.environ.get("RANK", "0")):
        _crash_counts[name] += 1
        if _crash_counts[name] == int(count or 1):
            os.kill(os.getpid(), signal.SIGSTOP if action == "hang" else signal.SIGKILL)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same directory, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        crash_point("checkpoint-written")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_torch_file(path: str | os.PathLike, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a file torch cannot read is an input error naming it."""
    from graphdistill.core.errors import InputError, describe

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or pickled-object files: say which file and what it is not
        raise InputError(f"unreadable {what} file {path}: not a tensor file written by torch.save "
                         f"({type(exc).__name__}: {describe(exc)})") from exc


def cached_torch_file(path: str | os.PathLike, key: str, what: str, compute: Callable[[], dict[str, Any]],
                      key_field: str = "key") -> tuple[dict[str, Any], bool]:
    """``(tensors, read from the file)``: the dict stored at ``path`` when its ``key_field`` entry is ``key``, else
    ``compute()`` with that entry added, saved there atomically. The save is best effort: a read-only cache only
    costs the next call the computation."""
    stored = load_torch_file(path, what) if Path(path).is_file() else None
    if stored is not None and stored.get(key_field) == key:
        return stored, True
    stored = {**compute(), key_field: key}
    with contextlib.suppress(OSError):
        atomic_torch_save(stored, path)
    return stored, False


def read_output(path: str | os.PathLike, file_name: str, what: str) -> tuple[Path, Any, dict[str, Any]]:
    """``(file, loaded tensors, meta)`` of the output directory ``path`` (or of ``path``'s folder when it names
    the file itself): ``file_name`` loaded with :func:`load_torch_file`, ``meta.json`` as a dict (``{}`` if absent).

    Raises:
        InputError: no such path, no ``file_name`` in it, or a file torch cannot read.
    """
    from graphdistill.core.errors import InputError

    path = Path(path)
    if not path.exists():
        raise InputError(f"no {what} at {path}")
    directory = path if path.is_dir() else path.parent
    file = directory / file_name
    if not file.is_file():
        raise InputError(f"no {file_name} in {directory}")
    return file, load_torch_file(file, what), read_json_if_present(directory / "meta.json")


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON (callers write inside a staged directory or rename themselves)."""
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json_if_present(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON object in ``path``, ``{}`` when there is no such file; malformed JSON is an input error."""
    from graphdistill.core.errors import InputError

    path = Path(path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed {path}: {exc}") from exc


@contextlib.contextmanager
def staged_directory(out: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out``; on success it is renamed to ``out``, on error removed.

    Readers therefore see either no ``out`` or a complete one. With ``overwrite`` an existing ``out``
    is replaced only once the new content is complete.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield stage
        crash_point("output-staged")
        if out.exists():
            if not overwrite:
                raise FileExistsError(f"{out} appeared while writing; refusing to replace it")
            # Move the old output aside first: at every instant either it or the new one is at ``out``
            # (or, between the two renames, beside it under a recognisable name).
            retired = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, retired / out.name)
            crash_point("output-between-renames")
            os.replace(stage, out)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
