"""Frozen dataclass configs filled from TOML files and ``--set key=value`` overrides."""
from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from graphdistill.core.errors import InputError

C = TypeVar("C")


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is an :class:`InputError` naming it."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise InputError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"malformed TOML in {path}: {exc}") from exc


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["lr_feat=1e-3", "distance=mse"]`` -> ``{"lr_feat": 0.001, "distance": "mse"}``.

    Values are read as TOML literals; anything that is not one is taken as a bare string.
    """
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects key=value, got {pair!r}")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        result[key.strip()] = value
    return result


def build_config(cls: type[C], *layers: Mapping[str, Any]) -> C:
    """Instantiate the frozen dataclass ``cls`` from ``layers`` (later layers win).

    Unknown keys and values of the wrong type raise :class:`InputError`.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key not in fields:
                raise InputError(f"unknown setting {key!r} for {cls.__name__}; known: {', '.join(sorted(fields))}")
            merged[key] = value
    defaults = cls()
    for key, value in merged.items():
        expected = type(getattr(defaults, key))
        if expected is not bool and isinstance(value, bool):
            raise InputError(f"setting {key!r} expects {expected.__name__}, got {str(value).lower()}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"setting {key!r} must be a finite number, got {value}")
        if expected is float and isinstance(value, int):
            merged[key] = float(value)
        elif expected is tuple and isinstance(value, list):
            merged[key] = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        elif not isinstance(value, expected):
            raise InputError(f"setting {key!r} expects {expected.__name__}, got {value!r}")
    return dataclasses.replace(defaults, **merged)
