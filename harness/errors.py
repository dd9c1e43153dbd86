"""The one exception type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class HarnessError(Exception):
    """A user-facing error: bad input, a missing dataset, an unreachable server.

    The message is a single line that names the file, line or setting at fault.
    """


class DataError(HarnessError):
    """Malformed or inconsistent dataset files."""


class SettingsError(HarnessError):
    """An unknown or ill-typed ``--set key=value``."""


def error_summary(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` in at most ``limit`` characters of the message, cut at a word.

    For folding a library's exception into a one-line HarnessError; an empty message gives just the type name.
    The whole exception stays reachable as the error's context (``harness --debug`` prints it).
    """
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    if len(first) > limit:
        cut = first[:limit].rsplit(" ", 1)[0] if " " in first[:limit] else first[:limit]
        first = cut.rstrip(" ,;:(") + " ..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
