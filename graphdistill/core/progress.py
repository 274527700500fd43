"""Progress bars that stay readable in a log: on a terminal a live tqdm bar; written to a file or pipe, plain
lines without terminal escape codes (nested bars are left out there)."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], enabled: bool = True, nested: bool = False, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on stderr: disabled unless ``enabled``; off a terminal the bar is ASCII,
    redrawn at most every 30 s, never moves the cursor (no escape codes), and ``nested`` bars are not drawn."""
    terminal = sys.stderr.isatty()
    if not terminal:
        kwargs.update(ascii=True, mininterval=30.0, dynamic_ncols=False, ncols=100, leave=True, position=0)
    return tqdm(iterable, disable=not enabled or (nested and not terminal), file=sys.stderr, **kwargs)
