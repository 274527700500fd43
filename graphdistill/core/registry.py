"""Name -> factory tables, so the CLI and benchmarks resolve ``--method`` and ``--arch`` by name."""
from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from graphdistill.core.errors import InputError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table; lookups of unknown names raise :class:`InputError` listing the known ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = entry
            return entry
        return add

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise InputError(f"unknown {self.kind} {name!r}; choose one of {', '.join(sorted(self._entries))}")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))
