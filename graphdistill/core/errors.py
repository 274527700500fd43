"""Errors that mean "the user's input is wrong", as opposed to a bug."""
from __future__ import annotations


class InputError(ValueError):
    """Bad user input (unknown name, impossible budget, malformed file, NaNs, ...).

    The CLI turns it into exit code 2 and a single line naming the problem, so the message must be
    self-contained: say what was wrong and, where possible, what would be accepted.
    """


def describe(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can span many lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
